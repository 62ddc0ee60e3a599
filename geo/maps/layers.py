"""Map layers read from the store, shaped for drawing (the contract geo.maps.leaflet draws).

Each function returns a GeoDataFrame in lon-lat with the columns a map popup
or a label needs, already joined (grid → community name, grid head), so pages
stay free of SQL and joins.
"""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, select, true

from geo.db import schema, store
from geo.place import projection
from geo.tickets import workflow
from geo.access.roles import Scope
from geo.db.schema import Building, Camera, Community, Facility, Grid, Household, Person, Road, Street, Ticket


def streets(engine: Engine) -> dict[int, str]:
    """Street id → name in code order (a district database holds many)."""
    return dict(store.read_frame(engine, select(Street.id, Street.name).order_by(Street.code))
                .itertuples(index=False))


def _in_street(table, street_id: int | None):
    """SQL clause: rows of ``table`` inside street ``street_id`` (all rows when None).

    Lifted through the containment tree (grid → community → street) by the
    same rule as a user's scope, so one definition decides what "in the street" means.
    """
    if street_id is None:
        return true()
    if table is Street.__table__:
        return table.c.id == street_id
    return Scope("street", street_id=street_id).clause(table)


def grids(engine: Engine, street_id: int | None = None, *, where=None) -> gpd.GeoDataFrame:
    """Grids with their community, household and resident counts, and grid head.

    ``where``: a further clause on the grid table (one grid's map reads that grid, not every grid);
    the counts and heads are then read for those grids only."""
    where = _in_street(Grid.__table__, street_id) & Grid.retired_at.is_(None) & (where if where is not None else true())
    g = store.read_layer(engine, Grid, where=where)
    ids = select(Grid.id).where(where)
    comm = store.read_frame(engine, select(Community.id.label("community_id"),
                                           Community.name.label("community_name"))
                            .where(Community.id.in_(select(Grid.community_id).where(where))))
    load = store.read_frame(engine, select(Building.grid_id.label("id"),
                                           func.sum(Building.households).label("households"),
                                           func.sum(Building.residents).label("residents"))
                            .where(Building.grid_id.in_(ids))
                            .group_by(Building.grid_id))
    heads = store.read_frame(engine, select(Person.grid_id.label("id"), Person.name.label("grid_head"))
                             .where(Person.role == "grid_head", Person.grid_id.in_(ids)))
    heads = heads.drop_duplicates("id")
    out = g.merge(comm, on="community_id", how="left").merge(load, on="id", how="left")
    out = out.merge(heads, on="id", how="left")
    out[["households", "residents"]] = out[["households", "residents"]].fillna(0).astype(int)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=g.crs)


def open_tickets(engine: Engine, now: datetime, lang: str = "zh", *, scope: Scope,
                 street_id: int | None = None) -> gpd.GeoDataFrame:
    """Open tickets with an ``overdue`` flag as of ``now`` (category as a display name).

    ``scope`` (geo.access.roles.Scope) limits them to the viewer's area, in SQL; it is
    required, so no caller can forget it (roles.WHOLE_STREET says "all" aloud).
    """
    cols = ["id", "code", "category", "state", "urgent", "created_at", "due_at", "grid_id",
            "community_id", "level", "description"]
    where = (Ticket.state.in_(workflow.OPEN_STATES) & _in_street(Ticket.__table__, street_id)
             & scope.clause(Ticket.__table__))
    t = store.read_layer(engine, Ticket, columns=cols, where=where)
    t["overdue"] = workflow.overdue(t["state"], t["due_at"], now) if len(t) else []
    t["category_key"] = t["category"]
    t["category"] = t["category"].map(category_names(lang))
    names = store.read_frame(engine, select(Grid.id.label("grid_id"), Grid.name.label("grid_name"))
                             .where(_in_street(Grid.__table__, street_id)))
    return t.merge(names, on="grid_id", how="left")


def facilities(engine: Engine, street_id: int | None = None, *, where=None) -> gpd.GeoDataFrame:
    """Service facilities with the name of their community (for popups); ``where``: a further clause."""
    f = store.read_layer(engine, Facility, where=_in_street(Facility.__table__, street_id)
                         & (where if where is not None else true()))
    comm = store.read_frame(engine, select(Community.id.label("community_id"),
                                           Community.name.label("community_name"))
                            .where(_in_street(Community.__table__, street_id)))
    return gpd.GeoDataFrame(f.merge(comm, on="community_id", how="left"), geometry="geometry", crs=f.crs)


#: A community's or grid's map (street_layers(around=…)) reads this far around its area: the neighbours.
AROUND_M = 300.0


def area_outline(engine: Engine, scope: Scope):
    """The polygon of a community or grid scope (lon-lat; None at street level)."""
    model = {"community": Community, "grid": Grid}.get(scope.level)
    if model is None:
        return None
    key = scope.community_id if scope.level == "community" else scope.grid_id
    rows = store.read_layer(engine, model, columns=["id", "geom"], where=model.id == key)
    return shapely.union_all(rows.geometry.values) if len(rows) else shapely.Polygon()


def street_layers(engine: Engine, now: datetime, lang: str = "zh", *, scope: Scope,
                  street_id: int | None = None, around: float | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the street map, keyed as geo.maps.leaflet.street_map expects.

    ``street_id`` keeps the map to one street (a district database holds about
    twenty: drawing them all at once sends tens of megabytes to a browser);
    tickets are further limited to ``scope``. Roads carry no street key, so they
    are picked by the street's outline (in SQL on PostGIS). ``around`` (metres): a
    community's or grid's map reads only what lies within that much of its area (its
    neighbours, by bounding box through the spatial index), not the whole street; the
    street's outline is still drawn. Ignored at street level.
    """
    street = store.read_layer(engine, Street, where=_in_street(Street.__table__, street_id))
    outline = area_outline(engine, scope) if around is not None else None
    if outline is not None and not outline.is_empty:
        box = projection.padded_box([outline.bounds], around)
        def near(model):
            return _in_street(model.__table__, street_id) & store.in_box(engine, model.__table__, box)
        return {
            "street": street,
            "communities": store.read_layer(engine, Community, where=near(Community)),
            "grids": grids(engine, street_id, where=store.in_box(engine, Grid.__table__, box)),
            "roads": store.read_layer(engine, Road, where=store.in_box(engine, Road.__table__, box)),
            "buildings": store.read_layer(engine, Building, columns=[
                "id", "name", "grid_id", "floors", "households", "residents", "geom"], where=near(Building)),
            "facilities": facilities(engine, street_id, where=store.in_box(engine, Facility.__table__, box)),
            "cameras": store.read_layer(engine, Camera, where=near(Camera)),
            "tickets": open_tickets(engine, now, lang, scope=scope, street_id=street_id),
            "area": gpd.GeoDataFrame(geometry=[outline], crs=street.crs),  # what the map is framed on (not drawn)
        }
    if street_id is None:
        roads = store.read_layer(engine, Road)
    else:
        road_ids = store.ids_intersecting(engine, Road, shapely.union_all(street.geometry.values))
        roads = store.read_layer(engine, Road, where=Road.id.in_(road_ids))
    return {
        "street": street,
        "communities": store.read_layer(engine, Community, where=_in_street(Community.__table__, street_id)),
        "grids": grids(engine, street_id),
        "roads": roads,
        "buildings": store.read_layer(engine, Building, columns=[
            "id", "name", "grid_id", "floors", "households", "residents", "geom"],
            where=_in_street(Building.__table__, street_id)),
        "facilities": facilities(engine, street_id),
        "cameras": store.read_layer(engine, Camera, where=_in_street(Camera.__table__, street_id)),
        "tickets": open_tickets(engine, now, lang, scope=scope, street_id=street_id),
    }


def headline(engine: Engine, now: datetime, *, scope: Scope, street_id: int | None = None) -> dict[str, int]:
    """The figures shown above the map, all of the viewer's area (issue 13: a community's staff and a
    grid head saw the street's size beside their own tickets, and read it as theirs).

    Places, people, cameras and tickets are counted inside ``scope`` (and the street
    ``street_id``; all streets when None), so every figure on the page is of one area and
    matches the tickets the map draws for that viewer.
    """
    def where(model):
        return _in_street(model.__table__, street_id) & _in_scope(model, scope)

    with engine.connect() as conn:
        def scalar(stmt) -> int:
            return int(conn.execute(stmt).scalar_one() or 0)

        def count(model, *extra) -> int:
            return scalar(select(func.count()).select_from(model).where(where(model), *extra))

        open_rows = conn.execute(select(Ticket.state, Ticket.due_at)
                                 .where(Ticket.state.in_(workflow.OPEN_STATES), where(Ticket))).fetchall()
        states = [r[0] for r in open_rows]
        overdue = int(workflow.overdue(states, [r[1] for r in open_rows], now).sum()) if open_rows else 0
        return {
            "communities": count(Community),
            "grids": count(Grid, Grid.retired_at.is_(None)),
            "households": count(Household),
            "residents": scalar(select(func.sum(Building.residents)).where(where(Building))),
            "open_tickets": len(open_rows),
            "overdue": overdue,
            "cameras": count(Camera),
            "cameras_online": count(Camera, Camera.status == "online"),
            "facilities": count(Facility),
        }


def _in_scope(model, scope: Scope):
    """``scope`` for any table the headline counts; communities and grids by their own ids."""
    if model is Community:
        if scope.level == "community":
            return Community.id == scope.community_id
        if scope.level == "grid":
            return Community.id.in_(select(Grid.community_id).where(Grid.id == scope.grid_id))
        return true()  # the street is already ``street_id``'s clause
    if model is Grid:
        if scope.level == "grid":
            return Grid.id == scope.grid_id
        return Grid.community_id == scope.community_id if scope.level == "community" else true()
    return scope.clause(model.__table__)


def category_names(lang: str = "zh") -> pd.Series:
    from geo.tickets.categories import CATEGORIES

    return pd.Series({k: c.name(lang) for k, c in CATEGORIES.items()})


__all__ = ["streets", "grids", "open_tickets", "facilities", "street_layers", "headline",
           "category_names", "schema"]


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


#: Buildings drawn (with their numbers) around a point picked on the report form.
NEAR_POINT_M = 150.0


def buildings_near(engine: Engine, lon: float, lat: float, *, radius_m: float = NEAR_POINT_M) -> gpd.GeoDataFrame:
    """Buildings within about ``radius_m`` of a point (a bounding box, by the spatial index): what a
    person checks a reported spot against ("3栋门口"), drawn with their numbers."""
    pad_lat = radius_m / 111_000
    pad_lon = radius_m / (111_000 * max(0.2, float(np.cos(np.radians(lat)))))
    box = shapely.box(lon - pad_lon, lat - pad_lat, lon + pad_lon, lat + pad_lat)
    ids = store.ids_intersecting(engine, Building, box)
    return store.read_layer(engine, Building, columns=["id", "name", "grid_id", "floors", "households", "residents",
                                                       "geom"], where=Building.id.in_(ids or [-1]))
