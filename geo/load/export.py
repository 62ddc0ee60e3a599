"""Every layer of a street out again: GeoJSON (one file per layer, zipped), one GeoPackage with
every layer, zipped Shapefiles, and an Excel workbook, so a street can round-trip its data
through QGIS (and back in through geo.load, which reads these column names).

The household register goes out without personal data (no names, ID numbers or phones: those
stay in the dashboard, shown masked and audited); households keep their number, building,
unit, room, size and care flags. Shapefile column names are cut to the format's 10 characters
with names the importer knows (door_lon, comm_code …); text is UTF-8 with a .cpg saying so.
Excel cells go through geo.io.export (formulas neutralised).
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Engine

from geo.io import export as table_export
from geo.load import stored

FORMATS = ("gpkg", "geojson", "shapefile", "xlsx")
COLUMNS: dict[str, tuple[str, ...]] = {
    "street": ("code", "name"), "community": ("code", "name"),
    "grid": ("code", "name", "grid_type", "community_code"),
    "building": ("code", "name", "address", "floors", "units", "households", "residents", "entrance_lon",
                 "entrance_lat"),
    "facility": ("code", "type", "name", "address", "open_hours"),
    "camera": ("code", "name", "heading", "fov", "range_m", "status", "kind"),
    "road": ("code", "name", "kind", "level"),
}
REGISTER = ("household_code", "building_code", "unit_no", "room", "size", "elderly_alone", "low_income")
SHORT = {"entrance_lon": "door_lon", "entrance_lat": "door_lat", "community_code": "comm_code",
         "household_code": "hh_code", "building_code": "bldg_code", "elderly_alone": "elderly"}


def layers(engine: Engine, street_id: int | None = None) -> dict[str, pd.DataFrame]:
    """What goes out: each layer with our column names (the register: households, no personal data)."""
    frames = stored.read(engine, street_id)
    out: dict[str, pd.DataFrame] = {}
    for name, cols in COLUMNS.items():
        f = frames[name]
        out[name] = gpd.GeoDataFrame(f[list(cols)].copy(), geometry=f.geometry.values, crs=f.crs)
    reg = frames["register"].drop_duplicates("household_id")
    out["register"] = pd.DataFrame({
        "household_code": reg["household_key"], "building_code": reg["building_ref"], "unit_no": reg["unit_no"],
        "room": reg["room"], "size": reg["size"], "elderly_alone": reg["household_elderly"].astype(bool),
        "low_income": reg["household_low"].astype(bool)}).reset_index(drop=True)
    return out


def export(engine: Engine, fmt: str, street_id: int | None = None) -> bytes:
    """Every layer in ``fmt`` (one of FORMATS) as the bytes of one file to download."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    frames = layers(engine, street_id)
    return {"gpkg": _gpkg, "geojson": _geojson, "shapefile": _shapefile, "xlsx": _xlsx}[fmt](frames)


def _gpkg(frames) -> bytes:
    with tempfile.TemporaryDirectory(prefix="shequ-export-") as tmp:
        path = Path(tmp) / "street.gpkg"
        for name, frame in frames.items():
            if isinstance(frame, gpd.GeoDataFrame):
                pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", append=path.exists())
            else:  # the register: a table without geometry in the same file
                pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", append=path.exists())
        return path.read_bytes()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _geojson(frames) -> bytes:
    files = {f"{name}.geojson": frame.to_json(drop_id=True, ensure_ascii=False, na="null").encode()
             for name, frame in frames.items() if isinstance(frame, gpd.GeoDataFrame)}
    files["register.csv"] = table_export.csv_bytes(frames["register"])
    return _zip(files)


def _shapefile(frames) -> bytes:
    files = {}
    with tempfile.TemporaryDirectory(prefix="shequ-export-") as tmp:
        for name, frame in frames.items():
            if not isinstance(frame, gpd.GeoDataFrame):
                continue
            path = Path(tmp) / f"{name}.shp"
            pyogrio.write_dataframe(frame.rename(columns=SHORT), path, driver="ESRI Shapefile", encoding="UTF-8")
            for part in Path(tmp).glob(f"{name}.*"):
                files[part.name] = part.read_bytes()
    files["register.csv"] = table_export.csv_bytes(frames["register"].rename(columns=SHORT))
    return _zip(files)


def _xlsx(frames) -> bytes:
    sheets = {}
    for name, frame in frames.items():
        if isinstance(frame, gpd.GeoDataFrame):
            geoms = frame.geometry.values
            table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
            if len(geoms) and (shapely.get_type_id(geoms) == 0).all():
                table["lon"], table["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
            else:
                table["wkt"] = shapely.to_wkt(geoms, rounding_precision=8)
            sheets[name] = table
        else:
            sheets[name] = frame
    return table_export.excel_bytes(sheets)
