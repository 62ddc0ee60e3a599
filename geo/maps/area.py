"""One grid's patch for its grid head: the layers of geo.maps.leaflet.street_map cut to the grid.

The grid's own boundary, buildings and open tickets; roads, facilities and
cameras in and near it (within ``near_m`` metres, measured in the metric
CRS). Everything is read through the caller's scope: a grid outside it is
NotFoundError, and tickets are filtered in SQL.
"""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine

from geo import settings
from geo.maps import layers
from geo.place import projection
from geo.db import store
from geo.tickets import workflow
from geo.people.households import grid_scope
from geo.access.roles import Scope
from geo.db.schema import Building, Camera, Facility, Grid, Road, Ticket

#: Facilities and cameras this close outside the grid still count as "near".
NEAR_M = 200.0


def _near_area(grid: gpd.GeoDataFrame, near_m: float):
    """The grid grown by ``near_m`` metres, back in lon-lat."""
    grown = projection.to_metric(grid).buffer(near_m)
    return projection.to_storage(gpd.GeoDataFrame(geometry=grown, crs=settings.METRIC_CRS)).geometry.iloc[0]


def grid_layers(engine: Engine, *, scope: Scope, grid_id: int, now: datetime, lang: str = "zh",
                near_m: float = NEAR_M) -> dict[str, gpd.GeoDataFrame]:
    """Layers for geo.maps.leaflet.street_map showing one grid and its surroundings."""
    here = grid_scope(engine, scope, grid_id)
    grid = layers.grids(engine, where=Grid.id == here.grid_id).reset_index(drop=True)  # this grid, not every grid
    area = _near_area(grid, near_m)
    near = {m: store.ids_intersecting(engine, m, area) for m in (Road, Facility, Camera)}
    tickets = store.read_layer(engine, Ticket, columns=[
        "id", "code", "category", "state", "urgent", "created_at", "due_at", "grid_id", "community_id", "level",
        "geom"], where=here.clause(Ticket.__table__) & Ticket.state.in_(workflow.OPEN_STATES))
    tickets["overdue"] = workflow.overdue(tickets["state"], tickets["due_at"], now) if len(tickets) else []
    tickets["category_key"] = tickets["category"]
    tickets["category"] = tickets["category"].map(layers.category_names(lang))
    return {
        "grids": grid,
        "roads": store.read_layer(engine, Road, where=Road.id.in_(near[Road])),
        "buildings": store.read_layer(engine, Building, columns=[
            "id", "name", "grid_id", "floors", "households", "residents", "geom"],
            where=Building.grid_id == here.grid_id),
        "facilities": store.read_layer(engine, Facility, where=Facility.id.in_(near[Facility])),
        "cameras": store.read_layer(engine, Camera, where=Camera.id.in_(near[Camera])),
        "tickets": tickets,
    }


def nearby(layer: gpd.GeoDataFrame, grid: gpd.GeoDataFrame) -> pd.DataFrame:
    """Points of ``layer`` with ``inside`` (in the grid) and ``distance_m`` to the grid's edge."""
    if layer is None or layer.empty:
        return pd.DataFrame(columns=["inside", "distance_m"])
    pts = projection.to_metric(layer)
    poly = projection.to_metric(grid).geometry.iloc[0]
    out = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    out["inside"] = shapely.covers(poly, pts.geometry.values)
    out["distance_m"] = pts.distance(poly).round(0).to_numpy()
    return out.sort_values(["inside", "distance_m"], ascending=[False, True]).reset_index(drop=True)
