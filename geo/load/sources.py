"""The files of an import, read through geo.io.vector_files (the one door) into layers.

A ``Source`` is one uploaded (or local) file with its SHA-256, which the audit log keeps.
``layers`` lists what it holds (every GeoPackage layer, every Shapefile of a zip, the
sheet of a register); ``read`` gives one of them as a frame: features with geometry, or
a table whose longitude/latitude columns become points (coordinates not declared: geo.load.
position decides), or a plain table (a household register). A local file is measured
before it is read, so a 2 GB file is refused without loading it (a single feature with more
vertices than any real outline has is refused by geo.io.vector_files before anything is measured).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.coverage import network
from geo.io import vector_files
from geo.io.vector_files import FileRefused

#: What an import reads: every vector format (an .osm.pbf gives its walkable ways: the road network), registers.
FORMATS = ("geojson", "gpkg", "shapefile", "kml", "kmz", "osm_pbf", "csv", "xlsx")


@dataclass(frozen=True)
class Source:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_table(self) -> bool:
        return self.name.lower().endswith((".csv", ".xlsx"))


def from_path(path: str | Path, *, limits: vector_files.Limits | None = None) -> Source:
    """A local file as a Source, refused by its size before a byte is read."""
    path = Path(path)
    limits = limits or vector_files.Limits()
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileRefused("too_big", path.name, mb=size / 2**20, limit=limits.max_bytes / 2**20)
    return Source(path.name, path.read_bytes())


def layers(source: Source) -> list[vector_files.Layer]:
    """What the file holds: one entry per layer (a register: one, with no geometry)."""
    if source.is_table:
        return [vector_files.Layer(Path(source.name).stem, None, -1)]
    return vector_files.list_layers(source.data, source.name, formats=FORMATS)


def read(source: Source, layer: str | None = None, *, lon: str | None = None, lat: str | None = None
         ) -> pd.DataFrame | gpd.GeoDataFrame:
    """One layer of the file. A table with ``lon``/``lat`` columns (names as in the file) comes
    back as points without a declared CRS; blank or non-numeric coordinates stay empty."""
    if source.is_table:
        frame = vector_files.read_table(source.data, source.name)
        if lon and lat and lon in frame and lat in frame:
            x = pd.to_numeric(frame[lon].str.strip(), errors="coerce").to_numpy(float)
            y = pd.to_numeric(frame[lat].str.strip(), errors="coerce").to_numpy(float)
            points = shapely.points(x, y)
            points[~(np.isfinite(x) & np.isfinite(y))] = None
            gdf = gpd.GeoDataFrame(frame, geometry=points, crs=None)
            gdf.attrs["crs_declared"] = False
            return gdf
        return frame
    gdf = vector_files.read_vector(source.data, source.name, formats=FORMATS, layer=layer, tables=True)
    if not isinstance(gdf, gpd.GeoDataFrame):  # a register kept as a table of a GeoPackage
        if len(gdf) > vector_files.Limits().max_rows:
            raise FileRefused("too_many_rows", source.name, n=len(gdf), limit=vector_files.Limits().max_rows)
        return gdf.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    declared = gdf.attrs.get("crs_declared", True)
    if source.name.lower().endswith(".osm.pbf"):  # bridges and tunnels as levels, kept in the road table
        gdf["level"] = network.levels_of(gdf)
    gdf = gdf.set_geometry(shapely.force_2d(gdf.geometry.values), crs=gdf.crs)
    gdf.attrs["crs_declared"] = declared
    for col in gdf.columns:  # attribute values as text, as a register's are: one way of cleaning them
        if col != gdf.geometry.name:
            gdf[col] = gdf[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return gdf


def columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != getattr(frame, "_geometry_column_name", None) and c != "geometry"]


def describe(sources: Sequence[Source]) -> str:
    """File names and hashes for the audit log: "grids.gpkg sha256:ab12…; …"."""
    return "; ".join(f"{vector_files.quote(s.name)} sha256:{s.sha256}" for s in sources)


