"""OpenStreetMap extracts: the walkable ways of a ``.osm.pbf`` file, read through pyrosm.

Kept with the other file readers: an uploaded extract reaches ``read_osm_pbf``
only through geo.io.vector_files (checked, staged in a private folder), and the
walking network (geo.coverage.network) is built from what comes out.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from geo.errors import ValidationError


def read_osm_pbf(path: str | Path, *, bounding_box=None) -> gpd.GeoDataFrame:
    """The walkable ways of an OpenStreetMap ``.osm.pbf`` extract, through pyrosm.

    pyrosm is optional (``pip install pyrosm``); its walking filter already drops
    motorways and ``foot=no``. ``bridge``/``tunnel``/``layer`` are kept so the
    builder does not join a bridge to the road beneath it.
    """
    try:
        from pyrosm import OSM
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ValidationError("reading .osm.pbf needs pyrosm (pip install pyrosm); "
                              "or export the lines to GeoPackage/GeoJSON and use geo.coverage.network.read_lines") from exc
    osm = OSM(str(path), bounding_box=bounding_box)
    edges = osm.get_network(network_type="walking", extra_attributes=["layer", "tunnel"])
    if edges is None or not len(edges):
        raise ValidationError(f"{path}: no walkable ways in this extract")
    keep = [c for c in ("id", "highway", "name", "bridge", "tunnel", "layer", "oneway") if c in edges]
    return check_lines(gpd.GeoDataFrame(edges[keep], geometry=edges.geometry, crs=edges.crs or 4326),
                        what=str(path))


def check_lines(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise ValidationError(f"{what}: the lines have no CRS")
    kinds = set(gdf.geometry.geom_type.dropna())
    if not kinds or not kinds <= {"LineString", "MultiLineString"}:
        raise ValidationError(f"{what}: expected LineString/MultiLineString roads, got {sorted(kinds)}")
    return gdf
