"""The files of one import, read, mapped, placed and cleaned: what the checks and the plan look at.

``prepare`` takes ``Part``s (a file's layer, which of our layers it holds, its column mapping,
its coordinate choice) and gives a ``Bundle``: one frame per layer of ours, in WGS 84 lon-lat,
with our column names and clean values (codes without spaces or ".0", numbers as numbers, yes/no
as booleans, types as our keys), plus how each layer was placed. Area layers are placed first,
so each later layer is compared with the street's outlines (geo.load.position).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.load import codes, position
from geo.load.fields import CAMERA_STATUS, GRID_TYPES, LAYERS, ORDER, ROAD_KINDS
from geo.load.sources import Source, read
from geo.place import catalogue, coords

YES = {"是", "有", "y", "yes", "true", "1", "√", "✓", "t", "中共党员", "党员", "预备党员", "独居"}
#: Facility type names seen in offices' and OpenStreetMap's data → catalogue keys (besides the
#: catalogue's own keys and Chinese names).
FACILITY_ALIASES = {
    "党群服务中心": "party_centre", "党群中心": "party_centre", "服务站": "service_station",
    "社区服务站": "service_station", "community_centre": "service_station", "日间照料中心": "elderly_daycare",
    "养老服务站": "elderly_daycare", "卫生服务站": "clinic", "卫生服务中心": "clinic", "卫生室": "clinic",
    "诊所": "clinic", "clinic": "clinic", "doctors": "clinic", "kindergarten": "kindergarten",
    "托育": "nursery", "托儿所": "nursery", "childcare": "nursery", "超市": "supermarket",
    "supermarket": "supermarket", "食堂": "canteen", "老年食堂": "canteen", "菜市场": "market",
    "农贸市场": "market", "marketplace": "market", "警务室": "police_room", "police": "police_room",
    "文化站": "culture_station", "library": "culture_station", "调解室": "mediation_room", "驿站": "red_station",
}


@dataclass(frozen=True)
class Part:
    """One layer of one file and what to do with it."""

    source: Source
    target: str  # a key of geo.load.fields.LAYERS
    mapping: dict[str, str]  # our field → the file's column
    layer: str | None = None  # the layer inside the file (GeoPackage layer, zip member)
    choice: str = "auto"  # coordinates: auto / wgs84 / gcj02 / bd09 / EPSG:code


@dataclass
class Bundle:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    placements: dict[str, list[position.Placement]] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)

    @property
    def sources(self) -> list[Source]:
        seen = {}
        for p in self.parts:
            seen.setdefault(p.source.sha256, p.source)
        return list(seen.values())


def prepare(parts: list[Part], *, reference: gpd.GeoDataFrame | None = None, repair: bool = False) -> Bundle:
    """Read, map, place and clean every part; ``reference``: the street's stored outlines (lon-lat).
    ``repair``: invalid outlines are made valid (shapely.make_valid, keeping their polygonal parts),
    the repair the validation report offers for them."""
    bundle = Bundle(parts=list(parts))
    for target in ORDER:
        frames = []
        for part in (p for p in parts if p.target == target):
            ref = _areas(bundle, reference)
            frame, placed = _one(part, ref)
            if repair and LAYERS[target].geometry == "polygon":
                frame = frame.set_geometry(repair_polygons(frame.geometry.values))
            frames.append(frame)
            if placed is not None:
                bundle.placements.setdefault(target, []).append(placed)
        if frames:
            frame = pd.concat(frames, ignore_index=True)
            bundle.frames[target] = gpd.GeoDataFrame(frame, geometry="geometry", crs=settings.STORAGE_CRS) \
                if "geometry" in frame else frame
    return bundle


def repair_polygons(geoms: np.ndarray) -> np.ndarray:
    """Invalid polygons made valid, keeping only their polygonal parts (a bow-tie becomes two triangles)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_missing(geoms) & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(bad):
        parts = shapely.get_parts(shapely.make_valid(geoms[i]))
        parts = shapely.get_parts(parts[np.isin(shapely.get_type_id(parts), (3, 6))])
        geoms[i] = shapely.multipolygons(parts) if len(parts) > 1 else (parts[0] if len(parts) else None)
    return geoms


def _areas(bundle: Bundle, reference: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    have = [bundle.frames[k][["geometry"]] for k in ("street", "community", "grid") if k in bundle.frames]
    if reference is not None and len(reference):
        have.append(reference[["geometry"]])
    return gpd.GeoDataFrame(pd.concat(have, ignore_index=True), geometry="geometry",
                            crs=settings.STORAGE_CRS) if have else None


def _one(part: Part, ref: gpd.GeoDataFrame | None) -> tuple[pd.DataFrame, position.Placement | None]:
    spec = LAYERS[part.target]
    mapping = {k: v for k, v in part.mapping.items() if v}
    raw = read(part.source, part.layer, lon=mapping.get("lon"), lat=mapping.get("lat"))
    out = pd.DataFrame({key: raw[col] if col in raw else "" for key, col in mapping.items()
                        if key not in ("lon", "lat")}, index=raw.index)
    for f in spec.fields:
        if f.key in ("lon", "lat"):
            continue
        out[f.key] = clean(out[f.key] if f.key in out else pd.Series("", index=raw.index, dtype=str), f.kind)
    out["source"] = part.source.name
    placed = None
    if isinstance(raw, gpd.GeoDataFrame) and spec.geometry is not None:
        geo = gpd.GeoDataFrame(out, geometry=raw.geometry.values, crs=raw.crs)
        geo.attrs["crs_declared"] = raw.attrs.get("crs_declared", True)
        located = geo[~geo.geometry.isna()]
        if len(located):
            moved, placed = position.place(located, choice=part.choice, reference=ref,
                                           polygons=spec.geometry == "polygon")
            geo.loc[moved.index, "geometry"] = moved.geometry.values
            geo = geo.set_crs(settings.STORAGE_CRS, allow_override=True)
            if part.target == "building" and {"entrance_lon", "entrance_lat"} <= set(out):
                _move_doors(geo, placed)
        out = geo
    elif spec.geometry is not None:
        out = gpd.GeoDataFrame(out, geometry=[None] * len(out), crs=settings.STORAGE_CRS)
    return _derive(part.target, out), placed


def _move_doors(geo: gpd.GeoDataFrame, placed: position.Placement) -> None:
    """Entrance columns are in the file's coordinates too: move them as the outlines were moved."""
    lon, lat = geo["entrance_lon"].to_numpy(float), geo["entrance_lat"].to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return
    if placed.crs != settings.STORAGE_CRS:
        from pyproj import Transformer

        lon[ok], lat[ok] = Transformer.from_crs(placed.crs, settings.STORAGE_CRS, always_xy=True).transform(
            lon[ok], lat[ok])
    if placed.datum != "wgs84":
        lon[ok], lat[ok] = coords.convert_lonlat(lon[ok], lat[ok], placed.datum, "wgs84")
    geo["entrance_lon"], geo["entrance_lat"] = lon, lat


def clean(values: pd.Series, kind: str) -> pd.Series:
    """A column of text as the values of a field of ``kind``."""
    text = values.fillna("").astype(str).str.strip()
    if kind in ("code", "idno", "phone"):
        return text.map(lambda v: codes.clean(v, upper=kind == "idno"))
    if kind == "int":
        return pd.to_numeric(text.str.replace(r"\.0+$", "", regex=True), errors="coerce").astype("Int64")
    if kind in ("float", "lon", "lat"):
        return pd.to_numeric(text, errors="coerce").astype(float)
    if kind == "bool":
        return text.str.lower().isin(YES)
    return text


def _derive(target: str, out: pd.DataFrame) -> pd.DataFrame:
    """Values that follow from others: a grid's community, our keys for types and statuses."""
    if target == "grid":
        out["grid_type"] = out["grid_type"].map(lambda v: GRID_TYPES.get(v, GRID_TYPES.get(str(v).lower(), "" if v else "area")))
        out["community_code"] = out["community_code"].where(out["community_code"] != "",
                                                             out["code"].map(codes.community_of_grid))
    elif target == "facility":
        out["type_given"] = out["type"]
        out["type"] = out["type"].map(facility_type)
    elif target == "camera":
        out["status"] = out["status"].map(lambda v: CAMERA_STATUS.get(str(v).strip().lower(), "online" if not v else ""))
        out["kind"] = out["kind"].where(out["kind"] != "", "雪亮")
        for col, default in (("heading", 0.0), ("fov", 90.0), ("range_m", 50.0)):  # what is stored when not given
            out[col] = out[col].fillna(default)
    elif target == "road":
        out["kind"] = out["kind"].map(lambda v: ROAD_KINDS.get(str(v).strip().lower(), "street"))
    elif target == "register":
        out = register_keys(out)
    return out


def facility_type(value: str) -> str:
    """A catalogue key for a type as written (key, Chinese name or a known alias), "" if unknown."""
    text = str(value).strip()
    if text in catalogue.FACILITY_TYPES:
        return text
    for key, ftype in catalogue.FACILITY_TYPES.items():
        if text == ftype.name("zh"):
            return key
    return FACILITY_ALIASES.get(text, FACILITY_ALIASES.get(text.lower(), ""))


def building_key(code, address, name) -> str:
    """How a building is matched: its code, else its address, else its name."""
    return str(code or address or name or "")


def register_keys(reg: pd.DataFrame) -> pd.DataFrame:
    """Each register row's building reference, household key and, from the ID number, gender and
    birth year where the register gives none; unit and room parsed from an address when blank."""
    reg = reg.copy()
    parsed = reg["address"].str.extract(r"(?:(\d+)\s*单元)?\s*(\d+[A-Za-z]?)\s*(?:室|号|房)?\s*$")
    reg["unit_no"] = reg["unit_no"].fillna(pd.to_numeric(parsed[0], errors="coerce").astype("Int64")).fillna(1)
    reg["room"] = reg["room"].where(reg["room"] != "", parsed[1].fillna(""))
    reg["building_ref"] = reg["building_code"].where(reg["building_code"] != "", reg["address"])
    reg["household_key"] = reg["household_code"].where(
        reg["household_code"] != "", reg["building_ref"] + "|" + reg["unit_no"].astype(str) + "|" + reg["room"])
    ids = reg["id_number"]
    reg["gender"] = reg["gender"].map(lambda g: {"男": "M", "女": "F", "m": "M", "f": "F"}.get(str(g).strip().lower(), ""))
    reg["gender"] = reg["gender"].where(reg["gender"] != "", ids.map(lambda v: codes.gender_of(v) or ""))
    year = pd.to_numeric(reg["birth"].str.extract(r"((?:19|20)\d\d)")[0], errors="coerce")
    from_id = pd.to_numeric(ids.str.slice(6, 10).where(ids.str.len() == 18), errors="coerce")
    reg["birth_year"] = year.fillna(from_id).astype("Int64")
    return reg


def guess_parts(sources: list[Source], *, remembered=None) -> list[Part]:
    """A first guess for every layer of every file: which of our layers it holds (by its name,
    geometry and columns) and how its columns map (the street's remembered mapping first:
    ``remembered(layer)`` gives it). Layers nothing fits are left out; a person corrects the rest."""
    from geo.load import mapping, sources as src

    parts = []
    for source in sources:
        for layer in src.layers(source):
            frame = src.read(source, None if source.is_table else layer.name)
            cols = src.columns(frame)
            target = (mapping.guess_layer(layer.name, cols, layer.geometry_type)
                      or mapping.guess_layer(source.name, cols, layer.geometry_type))
            if target is None:
                continue
            known = remembered(target) if remembered else None
            chosen = {k: v for k, v in (known or {}).items() if v in cols} or mapping.guess(cols, target)
            parts.append(Part(source, target, chosen, None if source.is_table else layer.name))
    return parts
