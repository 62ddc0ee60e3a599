"""Map layers read from the store, shaped for drawing (the contract geo.maps draws).

Each function returns a GeoDataFrame in lon-lat with the columns a map popup
or a label needs, already joined (grid → community name, grid head), so pages
stay free of SQL and joins.
"""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, func, select

from geo import schema, store, workflow
from geo.schema import Building, Camera, Community, Facility, Grid, Household, Person, Road, Street, Ticket


def grids(engine: Engine) -> gpd.GeoDataFrame:
    """Grids with their community, household and resident counts, and grid head."""
    g = store.read_layer(engine, Grid)
    comm = store.read_frame(engine, select(Community.id.label("community_id"),
                                           Community.name.label("community_name")))
    load = store.read_frame(engine, select(Building.grid_id.label("id"),
                                           func.sum(Building.households).label("households"),
                                           func.sum(Building.residents).label("residents"))
                            .group_by(Building.grid_id))
    heads = store.read_frame(engine, select(Person.grid_id.label("id"), Person.name.label("grid_head"))
                             .where(Person.role == "grid_head"))
    heads = heads.drop_duplicates("id")
    out = g.merge(comm, on="community_id", how="left").merge(load, on="id", how="left")
    out = out.merge(heads, on="id", how="left")
    out[["households", "residents"]] = out[["households", "residents"]].fillna(0).astype(int)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=g.crs)


def open_tickets(engine: Engine, now: datetime, lang: str = "zh", *, scope=None) -> gpd.GeoDataFrame:
    """Open tickets with an ``overdue`` flag as of ``now`` (category as a display name).

    ``scope`` (geo.roles.Scope) limits them to the viewer's area, in SQL.
    """
    cols = ["id", "code", "category", "state", "urgent", "created_at", "due_at", "grid_id",
            "community_id", "level", "description"]
    where = Ticket.state.in_(workflow.OPEN_STATES)
    if scope is not None:
        where = where & scope.clause(Ticket.__table__)
    t = store.read_layer(engine, Ticket, columns=cols, where=where)
    t["overdue"] = workflow.overdue(t["state"], t["due_at"], now) if len(t) else []
    t["category_key"] = t["category"]
    t["category"] = t["category"].map(category_names(lang))
    return t


def street_layers(engine: Engine, now: datetime, lang: str = "zh", *, scope=None) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the street map, keyed as geo.maps.street_map expects (tickets within ``scope``)."""
    return {
        "street": store.read_layer(engine, Street),
        "communities": store.read_layer(engine, Community),
        "grids": grids(engine),
        "roads": store.read_layer(engine, Road),
        "buildings": store.read_layer(engine, Building, columns=[
            "id", "name", "grid_id", "floors", "households", "residents", "geom"]),
        "facilities": store.read_layer(engine, Facility),
        "cameras": store.read_layer(engine, Camera),
        "tickets": open_tickets(engine, now, lang, scope=scope),
    }


def headline(engine: Engine, now: datetime) -> dict[str, int]:
    """The figures shown above the map: size of the street and today's load."""
    with engine.connect() as conn:
        def scalar(stmt) -> int:
            return int(conn.execute(stmt).scalar_one() or 0)

        open_rows = conn.execute(select(Ticket.state, Ticket.due_at)
                                 .where(Ticket.state.in_(workflow.OPEN_STATES))).fetchall()
        states = [r[0] for r in open_rows]
        overdue = int(workflow.overdue(states, [r[1] for r in open_rows], now).sum()) if open_rows else 0
        return {
            "communities": scalar(select(func.count()).select_from(Community)),
            "grids": scalar(select(func.count()).select_from(Grid)),
            "households": scalar(select(func.count()).select_from(Household)),
            "residents": scalar(select(func.sum(Building.residents))),
            "open_tickets": len(open_rows),
            "overdue": overdue,
            "cameras": scalar(select(func.count()).select_from(Camera)),
            "cameras_online": scalar(select(func.count()).select_from(Camera).where(Camera.status == "online")),
            "facilities": scalar(select(func.count()).select_from(Facility)),
        }


def category_names(lang: str = "zh") -> pd.Series:
    from geo.categories import CATEGORIES

    return pd.Series({k: c.name(lang) for k, c in CATEGORIES.items()})


__all__ = ["grids", "open_tickets", "street_layers", "headline", "category_names", "schema"]


def community_names(engine: Engine, scope=None) -> dict[int, str]:
    """Community id → name, limited to the caller's area (for pickers)."""
    stmt = select(Community.id, Community.name).order_by(Community.code)
    if scope is not None and scope.level != "street":
        stmt = stmt.where(Community.id == scope.community_id)
    return dict(store.read_frame(engine, stmt).itertuples(index=False))


def grid_names(engine: Engine, community_id: int | None = None, scope=None) -> dict[int, str]:
    """Grid id → name, of one community or all, limited to the caller's area."""
    stmt = select(Grid.id, Grid.name).order_by(Grid.code)
    if community_id is not None:
        stmt = stmt.where(Grid.community_id == community_id)
    if scope is not None:
        stmt = stmt.where(scope.clause(Grid.__table__)) if scope.level != "grid" else stmt.where(
            Grid.id == scope.grid_id)
    return dict(store.read_frame(engine, stmt).itertuples(index=False))


def point_layer(lon: float, lat: float, **fields) -> gpd.GeoDataFrame:
    """A one-ticket layer at (lon, lat): a clicked spot, or the ticket being looked at."""
    import shapely

    row = dict(id=0, code="", category="", state="reported", urgent=False, created_at=None, due_at=None,
               overdue=False)
    row.update(fields)
    return store.to_gdf(pd.DataFrame([{**row, "geom": shapely.Point(lon, lat)}]))
