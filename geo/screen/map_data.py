"""What the big screen's map shows that changes: load per grid, tickets per H3 cell, alerts, and the static basemap.

At district scale the browser never receives every ticket: density goes to H3 cells
(``ticket_cells``), load to grids (``grid_load``), and only the few overdue or urgent
tickets travel as points (``alerts``). The drawing itself is geo.screen.screen_map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from geo.place import projection
from geo.tickets import workflow
from geo.db import store
from geo.maps.layers import category_names
from geo.access.roles import Scope
from geo.screen import figures, panels
from geo.db.schema import (
    Camera, Community, Facility, Grid, Road, Street)





def grid_load(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open and overdue tickets per grid (the extrusion / colour of the grid layer)."""
    out = panels.open_overdue(frame, now, "grid_id")
    return out.fillna(0).astype(int).rename_axis("grid_id").reset_index()


def ticket_cells(frame: pd.DataFrame, now: datetime, *, days: int = figures.PERIOD_DAYS,
                 resolution: int = figures.H3_RESOLUTION) -> pd.DataFrame:
    """Tickets reported in the window, counted per H3 cell: hex, count (most first)."""
    start = pd.Timestamp(now - timedelta(days=days))
    recent = frame[(frame["created_at"] >= start) & (frame["created_at"] <= pd.Timestamp(now))
                   & frame["lon"].notna()]
    cells = [h3.latlng_to_cell(lat, lon, resolution) for lat, lon in zip(recent["lat"], recent["lon"])]
    counts = pd.Series(cells, dtype=object).value_counts()
    return pd.DataFrame({"hex": counts.index.astype(str), "count": counts.to_numpy().astype(int)})


def cell_counts(points: pd.DataFrame, by: str, *, resolution: int = figures.WIDE_H3_RESOLUTION) -> pd.DataFrame:
    """Points counted per H3 cell and per value of ``by``: lon, lat (the cell's centre), n, and one
    column per value. What a district map draws instead of thousands of cameras or facilities."""
    if not len(points):
        return pd.DataFrame(columns=["lon", "lat", "n"])
    cells = [h3.latlng_to_cell(lat, lon, resolution) for lat, lon in zip(points["lat"], points["lon"])]
    table = pd.crosstab(pd.Series(cells, name="hex"), points[by].to_numpy())
    centres = np.array([h3.cell_to_latlng(c) for c in table.index])
    out = table.reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    return out.assign(lon=centres[:, 1], lat=centres[:, 0], n=table.sum(axis=1).to_numpy())


def alerts(frame: pd.DataFrame, now: datetime, *, lang: str = "zh") -> pd.DataFrame:
    """Open tickets that must stand out: overdue or urgent (few, so sent as points)."""
    is_open = frame["state"].isin(workflow.OPEN_STATES).to_numpy()
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    keep = is_open & (overdue | frame["urgent"].to_numpy())
    out = frame.loc[keep, ["code", "category", "urgent", "lon", "lat", "due_at", "grid_id"]].copy()
    out["overdue"] = overdue[keep]
    out["hours_over"] = ((pd.Timestamp(now) - out["due_at"]).dt.total_seconds() / 3600).clip(lower=0).round(1)
    out["category"] = out["category"].map(category_names(lang)).fillna(out["category"])
    return out.drop(columns="due_at").sort_values(["overdue", "hours_over"], ascending=False, ignore_index=True)


def on_the_way(frame: pd.DataFrame, now: datetime, *, lang: str = "zh") -> pd.DataFrame:
    """Tickets a party member is on the way to (党员接单): code, category, lon, lat, minutes_left (negative:
    late), grid_id — each gets a ring on the wall's map."""
    way = frame[figures.waiting_arrival(frame)]
    out = way[["code", "category", "lon", "lat", "grid_id"]].copy()
    out["minutes_left"] = ((pd.to_datetime(way["arrive_by"]) - pd.Timestamp(now)).dt.total_seconds() / 60).round(0)
    out["category"] = out["category"].map(category_names(lang)).fillna(out["category"])
    return out.sort_values("minutes_left", ignore_index=True)


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float = figures.SIMPLIFY_M) -> gpd.GeoDataFrame:
    """Geometries simplified in metres (never in degrees), back in lon-lat."""
    if not len(gdf):
        return gdf
    m = projection.to_metric(gdf)
    m = m.set_geometry(m.geometry.simplify(tolerance_m, preserve_topology=True))
    return projection.to_storage(m)


@dataclass
class Basemap:
    """What does not change between refreshes: outlines, roads, grid shapes, facilities.

    ``wide``: the scope spans several streets, so facilities come per H3 cell
    (columns lon, lat, n) rather than one by one (type, name, lon, lat).
    """

    street: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    facilities: pd.DataFrame
    bounds: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))
    wide: bool = False


def tolerance_m(bounds: tuple[float, float, float, float], *, wide: bool) -> float:
    """How far outlines may move when simplified: SIMPLIFY_M, or half a map pixel across several streets."""
    if not wide:
        return figures.SIMPLIFY_M
    x0, y0, x1, y1 = bounds
    width_m = (x1 - x0) * 111_320 * np.cos(np.radians((y0 + y1) / 2))
    return max(figures.SIMPLIFY_M, width_m / figures.MAP_WIDTH_PX / 2)


def basemap(engine: Engine, scope: Scope, *, wide: bool | None = None) -> Basemap:
    """The static layers of the scope, simplified for a wall (a few metres lost, bytes saved).

    ``wide`` (default: the scope spans several streets) keeps only arterials and counts facilities per cell.
    """
    gids = figures.grid_ids(scope)
    wide = figures.streets_in(engine, scope) > 1 if wide is None else wide
    grids = store.read_layer(engine, Grid, columns=["id", "code", "name", "community_id", "geom"],
                             where=Grid.id.in_(gids) & Grid.retired_at.is_(None))  # a retired grid holds no land
    comm_ids = sorted(grids["community_id"].unique().tolist())
    communities = store.read_layer(engine, Community, columns=["id", "name", "street_id", "geom"],
                                   where=Community.id.in_(comm_ids or [-1]))
    street_ids = sorted(communities["street_id"].unique().tolist())
    street = store.read_layer(engine, Street, columns=["id", "name", "geom"], where=Street.id.in_(street_ids or [-1]))
    # the view fits the area shown: one grid's own land when the wall is down to a grid (issue 19, item 3)
    fit = grids if scope.level == "grid" else communities
    area = shapely.union_all(fit.geometry.values) if len(fit) else None
    x0, y0, x1, y1 = area.bounds if area is not None else (0, 0, 0, 0)
    tol = tolerance_m((x0, y0, x1, y1), wide=wide)
    roads = store.read_layer(engine, Road, columns=["id", "kind", "geom"], where=(
        Road.kind.in_(figures.WIDE_ROADS if wide else figures.BASEMAP_ROADS) & (Road.maxx >= x0) & (Road.minx <= x1)
        & (Road.maxy >= y0) & (Road.miny <= y1)))
    if area is not None and not figures.is_whole(scope) and len(roads):
        roads = roads[roads.intersects(area)]
    facilities = store.read_frame(engine, select(Facility.type, Facility.name, Facility.minx.label("lon"),
                                                 Facility.miny.label("lat"))
                                  .where(figures.in_scope(Facility.grid_id, scope)))
    if wide:
        facilities = cell_counts(facilities, "type")[["lon", "lat", "n"]]
    return Basemap(street=_simplified(street, tol), communities=_simplified(communities, tol),
                   grids=_simplified(grids, tol), roads=_simplified(roads, tol), facilities=facilities,
                   bounds=(x0, y0, x1, y1), wide=wide)


def camera_points(engine: Engine, scope: Scope, *, wide: bool) -> pd.DataFrame:
    """Cameras for the map: lon, lat, n and the counts online / offline / fault.

    One row per camera (n = 1), or across several streets one per H3 cell.
    """
    cams = store.read_frame(engine, select(Camera.status, Camera.minx.label("lon"), Camera.miny.label("lat"))
                            .where(figures.in_scope(Camera.grid_id, scope)))
    cams["status"] = cams["status"].where(cams["status"].isin(("online", "fault")), "offline")
    if wide:
        out = cell_counts(cams, "status")
    else:
        out = pd.get_dummies(cams["status"]).astype(int).assign(lon=cams["lon"], lat=cams["lat"], n=1)
    for col in ("online", "offline", "fault"):
        if col not in out:
            out[col] = 0
    return out[["lon", "lat", "n", "online", "offline", "fault"]].reset_index(drop=True)


