"""OpenStreetMap extracts: the walkable ways of a ``.osm.pbf`` file, read through pyrosm.

Kept with the other file readers: an uploaded extract reaches ``read_osm_pbf``
only through geo.io.vector_files (checked, staged in a private folder), and the
walking network (geo.coverage.network) is built from what comes out.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import ValidationError


#: Ways nobody walks on (pyrosm's walking filter, less ``cycleway``, which is kept when shared).
NOT_WALKED = frozenset({"abandoned", "construction", "no", "planned", "platform", "proposed", "raceway", "razed",
                        "rest_area", "services", "bus_guideway", "motor", "motorway", "motorway_link"})
CLOSED = frozenset({"no", "private"})
#: A cycleway people may walk on: shared foot/cycle paths (foot=yes/designated/permissive).
FOOT_OK = frozenset({"yes", "designated", "permissive"})
#: Entrances of one pedestrian area joined across it (n·(n−1)/2 straight crossings).
MAX_AREA_ENTRANCES = 40


def read_osm_pbf(path: str | Path, *, bounding_box=None) -> gpd.GeoDataFrame:
    """The ways pedestrians use in an OpenStreetMap ``.osm.pbf`` extract, through pyrosm.

    pyrosm is optional (``pip install pyrosm``). Beyond its walking filter: shared foot/cycle
    paths (``highway=cycleway`` with ``foot=yes/designated``) are kept, squares mapped as
    pedestrian areas (``area=yes``) are walked across (their outline, and a straight line
    between every two places where a path meets them), and ``tunnel=building_passage`` (a
    passage through a building, at street level) is ground level, not a tunnel.
    ``bridge``/``tunnel``/``layer`` are kept so the builder does not join a bridge to the
    road beneath it. ``osm_code`` is ``osm:w<way id>`` (``osm:a<id>`` for an area's crossings).
    """
    try:
        from pyrosm import OSM
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ValidationError("reading .osm.pbf needs pyrosm (pip install pyrosm); "
                              "or export the lines to GeoPackage/GeoJSON and use geo.coverage.network.read_lines") from exc
    osm = OSM(str(path), bounding_box=bounding_box)
    edges = osm.get_network(network_type="all", extra_attributes=["layer", "tunnel", "foot", "access"])
    if edges is None or not len(edges):
        raise ValidationError(f"{path}: no walkable ways in this extract")
    edges = edges[_walkable(edges)]
    keep = [c for c in ("id", "highway", "name", "bridge", "tunnel", "layer", "oneway") if c in edges]
    lines = gpd.GeoDataFrame(edges[keep], geometry=edges.geometry, crs=edges.crs or 4326)
    if "tunnel" in lines:  # a passage through a building is walked at street level
        lines["tunnel"] = lines["tunnel"].where(lines["tunnel"] != "building_passage", None)
    lines["osm_code"] = "osm:w" + lines["id"].astype("int64").astype(str)
    crossings = _pedestrian_areas(osm, lines)
    if len(crossings):
        lines = gpd.GeoDataFrame(pd.concat([lines, crossings], ignore_index=True), geometry="geometry", crs=lines.crs)
    if not len(lines):
        raise ValidationError(f"{path}: no walkable ways in this extract")
    return check_lines(lines.reset_index(drop=True), what=str(path))


def _walkable(edges: pd.DataFrame) -> np.ndarray:
    def col(name: str) -> pd.Series:
        return edges[name].fillna("").astype(str).str.lower() if name in edges else pd.Series("", index=edges.index)

    highway, foot, access = col("highway"), col("foot"), col("access")
    shared = foot.isin(FOOT_OK)
    return (~highway.isin(NOT_WALKED) & ~foot.isin(CLOSED) & (~access.isin(CLOSED) | shared)
            & ((highway != "cycleway") | shared)).to_numpy()


def _pedestrian_areas(osm, lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Pedestrian squares (area=yes): their outline and straight crossings between the places paths meet them."""
    try:
        areas = osm.get_data_by_custom_criteria(custom_filter={"highway": ["pedestrian", "footway"]},
                                                osm_keys_to_keep=["highway"], filter_type="keep",
                                                keep_nodes=False, keep_relations=True)
    except Exception:  # noqa: BLE001 - an extract without such ways: nothing to cross
        return gpd.GeoDataFrame(geometry=[], crs=lines.crs)
    if areas is None or not len(areas) or "area" not in areas:
        return gpd.GeoDataFrame(geometry=[], crs=lines.crs)
    areas = areas[(areas["area"] == "yes") & areas.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    rows, geoms = [], []
    others = shapely.STRtree(lines.geometry.values)
    for area in areas.itertuples():
        poly = shapely.make_valid(area.geometry)
        ring = shapely.boundary(poly)
        near = lines.geometry.values[others.query(poly, predicate="intersects")]
        meets = shapely.get_parts(shapely.intersection(ring, shapely.union_all(near))) if len(near) else []
        points = np.unique(np.round(shapely.get_coordinates(meets), 7), axis=0)[:MAX_AREA_ENTRANCES]
        parts = list(shapely.get_parts(shapely.line_merge(ring)))
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                seg = shapely.LineString([points[i], points[j]])
                if shapely.covers(shapely.buffer(poly, 1e-7), seg):
                    parts.append(seg)
        code = f"osm:a{int(area.id)}"
        for part in parts:
            rows.append({"id": int(area.id), "highway": "pedestrian", "name": getattr(area, "name", None),
                         "osm_code": code})
            geoms.append(part)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=lines.crs)


def check_lines(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise ValidationError(f"{what}: the lines have no CRS")
    kinds = set(gdf.geometry.geom_type.dropna())
    if not kinds or not kinds <= {"LineString", "MultiLineString"}:
        raise ValidationError(f"{what}: expected LineString/MultiLineString roads, got {sorted(kinds)}")
    return gdf
