"""The validation report: every problem of a street's data, with where it is and how much.

Run on what an import would leave in the database (before anything is written), and on
demand on what is stored. Each ``Finding`` has a kind, a severity (``error`` stops an
import; ``warning`` and ``info`` are told), a plain Chinese message (English in geo.i18n),
the codes involved (a few), a count or an area in m², and a place on the map.

Areas are measured in the UTM zone of the data (geo.place.projection); slivers thinner than
``SLIVER_M`` are digitising noise, not overlaps or gaps. Grid sizes are checked against
``household_bounds`` (300–500 households, DOMAIN.md, 什邡's rule), the defaults until the
configurable bounds per grid type (issue 18, geo/grids) are merged: the lead points
``household_bounds`` at that table then.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.validation import explain_validity

from geo import settings
from geo.i18n import t
from geo.io import export, vector_files
from geo.load import codes
from geo.place import projection

#: Overlaps and gaps thinner than this (metres) are noise.
SLIVER_M = 0.5
#: A building counts as lying in a second grid when that grid holds this much of its footprint.
SECOND_GRID_SHARE = 0.10
SEVERITIES = ("error", "warning", "info")


def household_bounds(grid_type: str | None = None) -> tuple[int, int]:
    """Households a grid should hold (DOMAIN.md: 300–500, 什邡). Issue 18 makes these
    configurable per grid type in geo/grids; until then every type gets the default."""
    return 300, 500


@dataclass
class Finding:
    kind: str
    severity: str
    layer: str
    codes: tuple[str, ...] = ()
    count: int = 1
    area_m2: float | None = None
    geometry: object = None  # lon-lat: where it is (a point or the piece itself)
    params: dict = field(default_factory=dict)

    def message(self, lang: str = "zh") -> str:
        shown = vector_files.quote_list(list(self.codes)) if self.codes else ""
        return t(f"load.find_{self.kind}", lang).format(codes=shown, n=self.count, area=self.area_m2 or 0.0,
                                                       **self.params)

    @property
    def point(self) -> tuple[float, float] | None:
        if self.geometry is None or shapely.is_empty(self.geometry):
            return None
        p = shapely.point_on_surface(self.geometry)
        return float(p.x), float(p.y)


def errors(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity == "error"]


def table(found: list[Finding], lang: str = "zh") -> pd.DataFrame:
    """The report as a table (the page shows it, the Excel download holds it)."""
    rows = []
    for f in found:
        where = f.point
        rows.append({t("load.col_severity", lang): t(f"load.sev_{f.severity}", lang),
                     t("load.col_layer", lang): t(f"load.layer_{f.layer}", lang),
                     t("load.col_message", lang): f.message(lang),
                     t("load.col_count", lang): f.count,
                     t("load.col_area", lang): None if f.area_m2 is None else round(f.area_m2, 1),
                     t("load.col_lon", lang): None if where is None else round(where[0], 6),
                     t("load.col_lat", lang): None if where is None else round(where[1], 6)})
    return pd.DataFrame(rows)


def excel(found: list[Finding], lang: str = "zh") -> bytes:
    """The report as an Excel file (formulas neutralised: messages quote the files' codes)."""
    return export.excel_bytes({t("load.report_sheet", lang): table(found, lang)})


def gdf(found: list[Finding]) -> gpd.GeoDataFrame:
    """The findings with a place, for the map."""
    placed = [f for f in found if f.point is not None]
    return gpd.GeoDataFrame({"severity": [f.severity for f in placed], "kind": [f.kind for f in placed],
                             "finding": placed}, geometry=[f.geometry for f in placed], crs=settings.STORAGE_CRS)


# --------------------------------------------------------------------------- the checks

def run(frames: dict[str, pd.DataFrame]) -> list[Finding]:
    """Every check on a street's frames (as geo.load.plan.after or geo.load.stored give them)."""
    found: list[Finding] = []
    crs = projection.metric_crs_for(_any_geo(frames))
    found += _codes(frames)
    for layer in ("street", "community", "grid", "building", "facility", "camera", "road"):
        if layer in frames:
            found += _geometry(frames[layer], layer)
    found += _tiling(frames, crs)
    found += _buildings(frames, crs)
    found += _grid_sizes(frames)
    found += _points(frames)
    found += _register(frames)
    return found


def _any_geo(frames):
    for key in ("street", "community", "grid", "building", "facility"):
        frame = frames.get(key)
        if isinstance(frame, gpd.GeoDataFrame) and len(frame) and frame.geometry.notna().any():
            return frame[frame.geometry.notna()]
    return None


def _first(codes_: pd.Series, n: int = 5) -> tuple[str, ...]:
    return tuple(str(c) for c in list(dict.fromkeys(codes_.astype(str)))[:n])


def _codes(frames) -> list[Finding]:
    out = []
    street = frames.get("street")
    street_code = str(street["code"].iloc[0]) if street is not None and len(street) else None
    for layer, check in (("street", lambda c: codes.street_code(c)),
                         ("community", lambda c: codes.community_code(c, street_code)),
                         ("grid", None), ("camera", None), ("building", None), ("facility", None)):
        frame = frames.get(layer)
        if frame is None or not len(frame):
            continue
        key = frame["key"] if "key" in frame else frame["code"]
        blank = key.fillna("") == ""
        required = layer in ("street", "community", "grid", "camera")
        if blank.any() and (required or layer == "building"):
            out.append(Finding("code_missing", "error", layer, count=int(blank.sum()),
                               geometry=_where(frame[blank])))
        twice = key[~blank & key.duplicated(keep=False)]
        if len(twice):
            out.append(Finding("code_duplicate", "error", layer, codes=_first(twice), count=twice.nunique(),
                               geometry=_where(frame.loc[twice.index])))
        if layer == "grid":
            known = set(frames["community"]["code"]) if "community" in frames else set()
            bad = frame[~blank].apply(lambda r: codes.grid_code(r["code"], r["community_code"] or None), axis=1)
            for reason in sorted(set(bad.dropna())):
                hit = frame.loc[bad[bad == reason].index]
                out.append(Finding(reason, "error", layer, codes=_first(hit["code"]), count=len(hit),
                                   geometry=_where(hit)))
            orphan = frame[~blank & ~frame["community_code"].isin(known)]
            if len(orphan) and known:
                out.append(Finding("grid_no_community", "error", layer, codes=_first(orphan["code"]),
                                   count=len(orphan), geometry=_where(orphan)))
        elif check is not None:
            bad = frame.loc[~blank, "code"].map(check)
            for reason in sorted(set(bad.dropna())):
                hit = frame.loc[bad[bad == reason].index]
                out.append(Finding(reason, "error", layer, codes=_first(hit["code"]), count=len(hit),
                                   geometry=_where(hit)))
    return out


def _where(frame: pd.DataFrame):
    if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
        return None
    geoms = frame.geometry.values
    geoms = geoms[~shapely.is_missing(geoms)]
    return shapely.point_on_surface(geoms[0]) if len(geoms) else None


def _geometry(frame: pd.DataFrame, layer: str) -> list[Finding]:
    if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
        return []
    out = []
    geoms = frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        out.append(Finding("no_geometry", "error", layer, codes=_first(frame.loc[missing, "key"]),
                           count=int(missing.sum())))
    want = {"street": (3, 6), "community": (3, 6), "grid": (3, 6), "building": (0, 3, 6), "facility": (0,),
            "camera": (0,), "road": (1, 5)}[layer]
    wrong = ~missing & ~np.isin(shapely.get_type_id(geoms), want)
    if wrong.any():
        out.append(Finding("wrong_geometry", "error", layer, codes=_first(frame.loc[wrong, "key"]),
                           count=int(wrong.sum()), geometry=shapely.point_on_surface(geoms[wrong][0])))
    invalid = ~missing & ~wrong & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid)[:20]:
        reason = explain_validity(geoms[i])
        where = _validity_point(reason) or shapely.point_on_surface(geoms[i])
        out.append(Finding("invalid", "error", layer, codes=(str(frame["key"].iloc[i]),), geometry=where,
                           params={"reason": vector_files.cut(reason.split("[")[0].strip(), 60)}))
    if invalid.sum() > 20:
        out.append(Finding("invalid_more", "error", layer, count=int(invalid.sum()) - 20))
    return out


def _validity_point(reason: str):
    import re

    m = re.search(r"\[(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\]", reason)
    return shapely.Point(float(m.group(1)), float(m.group(2))) if m else None


def _metric(frame: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    geoms = projection.to_metric(frame, crs=crs).geometry.values
    return shapely.make_valid(np.asarray(geoms, dtype=object))


def _pieces(geom) -> np.ndarray:
    parts = shapely.get_parts(shapely.get_parts(geom))
    parts = parts[shapely.get_type_id(parts) == 3] if len(parts) else parts
    if not len(parts):
        return parts
    return parts[(shapely.area(parts) > SLIVER_M ** 2) & ~shapely.is_empty(shapely.buffer(parts, -SLIVER_M / 2))]


def _piece_findings(kind: str, severity: str, layer: str, pieces: np.ndarray, codes_: tuple[str, ...], crs: str
                    ) -> list[Finding]:
    if not len(pieces):
        return []
    area = float(shapely.area(pieces).sum())
    where = gpd.GeoSeries(list(pieces), crs=crs).to_crs(settings.STORAGE_CRS).values
    return [Finding(kind, severity, layer, codes=codes_, count=len(pieces), area_m2=area,
                    geometry=shapely.union_all(where))]


def _areas_ok(frames, layer) -> gpd.GeoDataFrame | None:
    frame = frames.get(layer)
    if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
        return None
    geoms = frame.geometry.values
    ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms) & np.isin(shapely.get_type_id(geoms), (3, 6))
    return frame[ok] if ok.any() else None


def _tiling(frames, crs: str) -> list[Finding]:
    """Overlaps between areas of a level, areas leaving their parent, gaps inside a parent."""
    out = []
    street, comm, grid = (_areas_ok(frames, k) for k in ("street", "community", "grid"))
    for layer, frame in (("community", comm), ("grid", grid)):
        if frame is None:
            continue
        geoms = _metric(frame, crs)
        keys = frame["code"].astype(str).to_numpy()
        pairs = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        for i, j in pairs.T[pairs[0] < pairs[1]]:
            pieces = _pieces(shapely.intersection(geoms[i], geoms[j], grid_size=0.001))
            out += _piece_findings("overlap", "error", layer, pieces, (keys[i], keys[j]), crs)
    if comm is not None and street is not None:
        s = shapely.union_all(_metric(street, crs), grid_size=0.001)
        for geom, code in zip(_metric(comm, crs), comm["code"].astype(str)):
            out += _piece_findings("outside_parent", "error", "community",
                                   _pieces(shapely.difference(geom, s, grid_size=0.001)), (code,), crs)
        out += _piece_findings("gap", "warning", "street", _pieces(shapely.difference(
            s, shapely.union_all(_metric(comm, crs), grid_size=0.001), grid_size=0.001)),
            tuple(street["code"].astype(str)), crs)
    if grid is not None and comm is not None:
        cm = dict(zip(comm["code"].astype(str), _metric(comm, crs)))
        gm = _metric(grid, crs)
        for geom, code, parent in zip(gm, grid["code"].astype(str), grid["community_code"].astype(str)):
            if parent in cm:
                out += _piece_findings("outside_parent", "error", "grid",
                                       _pieces(shapely.difference(geom, cm[parent], grid_size=0.001)), (code,), crs)
        by_parent = pd.Series(list(gm), index=grid["community_code"].astype(str).to_numpy())
        for parent, geom in cm.items():
            mine = by_parent[by_parent.index == parent].to_numpy()
            if len(mine):
                out += _piece_findings("gap", "warning", "community", _pieces(shapely.difference(
                    geom, shapely.union_all(mine, grid_size=0.001), grid_size=0.001)), (parent,), crs)
    return out


def locate(frames) -> None:
    """Each building's grid (the one covering its door; on a shared edge the smallest code) and how many
    grids hold a real share of its footprint; each facility's and camera's grid and community."""
    grid = _areas_ok(frames, "grid")
    b = frames.get("building")
    if b is not None and len(b):
        doors = shapely.points(b["door_lon"].to_numpy(float), b["door_lat"].to_numpy(float))
        b["grid_code"] = _covering(grid, doors)
        b["grids_held"] = _grids_held(grid, b)
    for layer in ("facility", "camera"):
        f = frames.get(layer)
        if f is not None and len(f):
            f["grid_code"] = _covering(grid, f.geometry.values)
            comm = _areas_ok(frames, "community")
            f["community_code"] = _covering(comm, f.geometry.values)


def _covering(areas: gpd.GeoDataFrame | None, points: np.ndarray) -> np.ndarray:
    out = np.full(len(points), "", dtype=object)
    if areas is None or not len(points):
        return out
    order = np.argsort(areas["code"].astype(str).to_numpy())
    geoms, keys = areas.geometry.values[order], areas["code"].astype(str).to_numpy()[order]
    valid = ~shapely.is_missing(points) & ~shapely.is_empty(points)
    pts, idx = points[valid], np.flatnonzero(valid)
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="covered_by")
    best = {}
    for p, g in zip(pi, gi):
        best[p] = min(best.get(p, g), g)
    for p, g in best.items():
        out[idx[p]] = keys[g]
    return out


def _grids_held(grid: gpd.GeoDataFrame | None, b: gpd.GeoDataFrame) -> np.ndarray:
    held = np.ones(len(b), int)
    if grid is None:
        return held
    crs = projection.metric_crs_for(b)
    geoms = b.geometry.values
    polys = np.isin(shapely.get_type_id(geoms), (3, 6)) & shapely.is_valid(geoms)
    if not polys.any():
        return held
    bm = _metric(b[polys], crs)
    gm = _metric(grid, crs)
    bi, gi = shapely.STRtree(gm).query(bm, predicate="intersects")
    share = shapely.area(shapely.intersection(bm[bi], gm[gi])) / np.maximum(shapely.area(bm[bi]), 1e-9)
    counts = np.bincount(bi[share >= SECOND_GRID_SHARE], minlength=len(bm))
    held[np.flatnonzero(polys)] = np.maximum(counts, 1)
    return held


def _buildings(frames, crs: str) -> list[Finding]:
    b = frames.get("building")
    if b is None or not len(b) or "grid_code" not in b:
        return []
    out = []
    lost = b[(b["grid_code"] == "") & ~shapely.is_missing(b.geometry.values)]  # (no outline: told as such)
    if len(lost):
        out.append(Finding("building_no_grid", "error", "building", codes=_first(lost["key"]), count=len(lost),
                           geometry=shapely.multipoints(np.c_[lost["door_lon"], lost["door_lat"]])
                           if lost["door_lon"].notna().any() else None))
    two = b[b["grids_held"] > 1]
    if len(two):
        out.append(Finding("building_two_grids", "warning", "building", codes=_first(two["key"]), count=len(two),
                           geometry=shapely.union_all(two.geometry.values)))
    for how in ("road", "inside"):
        made = b[b.get("door_how", pd.Series("", index=b.index)) == how]
        if len(made):
            out.append(Finding(f"door_{how}", "info", "building", codes=_first(made["key"]), count=len(made),
                               geometry=shapely.multipoints(np.c_[made["door_lon"], made["door_lat"]])))
    return out


def _grid_sizes(frames) -> list[Finding]:
    grid, b = frames.get("grid"), frames.get("building")
    if grid is None or not len(grid) or b is None or "grid_code" not in b:
        return []
    held = b.groupby("grid_code")["households"].sum()
    if not held.sum():
        return []
    out = []
    for r in grid.itertuples():
        n = int(held.get(str(r.code), 0))
        lo, hi = household_bounds(r.grid_type)
        if not lo <= n <= hi:
            out.append(Finding("grid_size", "warning", "grid", codes=(str(r.code),), count=n,
                               geometry=shapely.point_on_surface(r.geometry) if r.geometry is not None else None,
                               params={"lo": lo, "hi": hi}))
    return out


def _points(frames) -> list[Finding]:
    street = _areas_ok(frames, "street")
    out = []
    for layer in ("facility", "camera"):
        f = frames.get(layer)
        if f is None or not len(f):
            continue
        geoms = f.geometry.values
        none = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if none.any():
            out.append(Finding("no_geometry", "error", layer, codes=_first(f.loc[none, "key"]), count=int(none.sum())))
        if street is not None:
            outside = ~none & ~shapely.covers(shapely.union_all(street.geometry.values), geoms)
            if outside.any():
                out.append(Finding("outside_street", "warning", layer, codes=_first(f.loc[outside, "key"]),
                                   count=int(outside.sum()), geometry=shapely.multipoints(
                                       shapely.get_coordinates(geoms[outside]))))
        if layer == "facility" and "type_given" in f:
            unknown = f[f["type"] == ""]
            if len(unknown):
                out.append(Finding("facility_type", "error", layer, codes=_first(unknown["type_given"]),
                                   count=len(unknown), geometry=_where(unknown)))
        if layer == "camera":
            unknown = f[f["status"] == ""]
            if len(unknown):
                out.append(Finding("camera_status", "warning", layer, codes=_first(unknown["key"]),
                                   count=len(unknown)))
    return out


def _register(frames) -> list[Finding]:
    reg = frames.get("register")
    if reg is None or not len(reg):
        return []
    out = []
    known = set(frames["building"]["key"]) if "building" in frames else set()
    lost = reg[~reg["building_ref"].isin(known)]
    if len(lost):
        out.append(Finding("household_no_building", "error", "register", codes=_first(lost["building_ref"]),
                           count=int(lost["household_key"].nunique())))
    ids = reg["id_number"].fillna("")
    if "name" in reg and (reg["name"].fillna("") != "").any():
        bad = ids.map(codes.id_number)
        for reason in sorted(set(bad.dropna())):
            out.append(Finding(reason, "warning", "register", count=int((bad == reason).sum())))
        twice = ids[(ids != "") & ids.duplicated(keep=False)]
        if len(twice):
            out.append(Finding("id_duplicate", "error", "register", count=int(twice.nunique())))
        phones = reg["phone"].fillna("").map(codes.phone)
        if phones.notna().any():
            out.append(Finding("phone_form", "warning", "register", count=int(phones.notna().sum())))
        sizes = reg.groupby("household_key").agg(given=("size", "first"), people=("household_key", "size"))
        off = sizes[sizes["given"].notna() & (sizes["given"] != sizes["people"])]
        if len(off):
            out.append(Finding("household_size", "warning", "register", count=len(off)))
    return out
