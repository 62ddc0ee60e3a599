"""The grid rule (网格划分标准): how big a grid may be, and the checks every set of grids must pass.

One public table, ``BOUNDS``: per grid type (片区型 / 小区型 / 楼院型 / 单位型) the
households and the people a grid should hold. The default is the standard the
seeds quote (什邡: "按照城市社区300—500户或1000—1500人的标准设置网格"), the same
for every type; a city sets its own in a file named by SHEQU_GRID_RULES_FILE (JSON
or TOML, read at start, ``load_rules_file``) or in code with ``set_bounds``.

One public function, ``check_grids``: give it grids, buildings (and optionally
estates and communities) as GeoDataFrames, from the database or from a file a
street loads, and it returns the households and people of each grid and every
finding: outside the bounds, not contiguous, cutting a building, cutting an
estate, a code that breaks the code rule, and (with communities) gaps and
overlaps in the tiling. Nothing here reads the database; ``report`` is the
standing report over a user's area, built on ``check_grids``.

Each finding has a severity: ``reason`` (outside the bounds, an estate cut: a plan
may still be applied with a stated reason, recorded in the audit) or ``refuse``
(everything else: a plan with it is not applied).
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select

from geo import settings
from geo.access import roles
from geo.db import store
from geo.db.schema import Building, Community, Estate, Grid
from geo.errors import ValidationError
from geo.i18n import t
from geo.place import projection

#: Grid types (schema Grid.grid_type) and their names in the domain's words.
GRID_TYPES: tuple[str, ...] = ("area", "estate", "courtyard", "unit")

_SHIFANG = "什邡：城市社区按 300—500 户或 1000—1500 人设置网格（DOMAIN.md；seeds/004）"


@dataclass(frozen=True)
class Bounds:
    """How big a grid of one type may be.

    ``measure`` says which count decides: ``households``, ``people``, ``either`` (the
    seeds' "300–500 户**或** 1,000–1,500 人": one of the two within is enough) or
    ``both``. Automatic cutting always keeps households within (floor and ceiling).
    """

    grid_type: str
    households: tuple[int, int]
    people: tuple[int, int]
    measure: str
    source: str

    def within(self, households, people) -> np.ndarray:
        """Whether grids with these counts (arrays) meet the rule."""
        hh = np.asarray(households, dtype=float)
        pp = np.asarray(people, dtype=float)
        ok_h = (hh >= self.households[0]) & (hh <= self.households[1])
        ok_p = (pp >= self.people[0]) & (pp <= self.people[1])
        return {"households": ok_h, "people": ok_p, "either": ok_h | ok_p, "both": ok_h & ok_p}[self.measure]


MEASURES = ("households", "people", "either", "both")

#: The bounds table, one row per grid type (the only place the numbers live).
BOUNDS: dict[str, Bounds] = {k: Bounds(k, (300, 500), (1000, 1500), "either", _SHIFANG) for k in GRID_TYPES}

#: Digits of the grid number after the community code (DOMAIN.md: 2 or 3 by local rule; the demo uses 3).
CODE_DIGITS: int = 3

#: Pieces thinner than this (metres) or smaller than its square are digitising noise, not land.
TOLERANCE_M = 0.5
#: A building is cut when more than this share of its footprint (and more than 1 m²) lies in another grid.
CUT_SHARE = 0.02


def bounds_for(grid_type: str | None) -> Bounds:
    """The bounds of ``grid_type`` (an unknown or missing type gets the 片区型 row)."""
    return BOUNDS.get(grid_type or "area", BOUNDS["area"])


def set_bounds(grid_type: str, *, households: tuple[int, int] | None = None, people: tuple[int, int] | None = None,
               measure: str | None = None, source: str = "local rule") -> Bounds:
    """Change one type's bounds (a city's own rule) for this process; returns the new row."""
    old = BOUNDS[_known_type(grid_type, "set_bounds")]
    new = replace(old, households=_pair(households or old.households, "households"),
                  people=_pair(people or old.people, "people"), measure=_measure(measure or old.measure), source=source)
    BOUNDS[grid_type] = new
    return new


def load_rules_file(path: str | Path) -> dict[str, Bounds]:
    """Apply a city's grid rule: JSON or TOML, one table per grid type, and optionally ``code_digits``.

    TOML::

        code_digits = 2
        [estate]
        households = [400, 600]
        people = [1200, 1800]
        measure = "either"          # households / people / either / both
        source = "某市网格化服务管理规范"

    A bad file is refused whole (nothing applied), with the file and entry named.
    Returns the rows that changed.
    """
    global CODE_DIGITS
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"grid rules file {path}: cannot read it ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValidationError(f"grid rules file {path}: expected a table of grid types")
    digits = raw.pop("code_digits", CODE_DIGITS)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 4:
        raise ValidationError(f"grid rules file {path}: code_digits must be 1–4, got {digits!r}")
    changed = {}
    for key, entry in raw.items():
        where = f"grid rules file {path}, {key!r}"
        _known_type(key, where)
        if not isinstance(entry, dict) or set(entry) - {"households", "people", "measure", "source"}:
            raise ValidationError(f"{where}: expected households, people, measure, source")
        old = BOUNDS[key]
        changed[key] = replace(old, households=_pair(entry.get("households", old.households), where),
                               people=_pair(entry.get("people", old.people), where),
                               measure=_measure(entry.get("measure", old.measure), where),
                               source=str(entry.get("source", path.name)))
    BOUNDS.update(changed)
    CODE_DIGITS = digits
    return changed


def _known_type(key: str, where: str) -> str:
    if key not in GRID_TYPES:
        raise ValidationError(f"{where}: unknown grid type {key!r}; known: {', '.join(GRID_TYPES)}")
    return key


def _pair(value, where: str) -> tuple[int, int]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value) and value[0] <= value[1])
    if not ok:
        raise ValidationError(f"{where}: bounds must be two whole numbers [min, max], got {value!r}")
    return int(value[0]), int(value[1])


def _measure(value, where: str = "measure") -> str:
    if value not in MEASURES:
        raise ValidationError(f"{where}: measure must be one of {', '.join(MEASURES)}, got {value!r}")
    return value


# --------------------------------------------------------------------------- codes

def code_ok(code: str, community_code: str) -> bool:
    """The code rule: the community's code followed by a grid number of CODE_DIGITS digits, not all zero."""
    rest = str(code).removeprefix(str(community_code)) if str(code).startswith(str(community_code)) else None
    return rest is not None and re.fullmatch(rf"\d{{{CODE_DIGITS}}}", rest) is not None and int(rest) > 0


def next_codes(community_code: str, taken, n: int) -> list[str]:
    """``n`` codes for new grids: the community's code + the next free numbers (a retired grid's code
    is never given again: closed tickets and visits still name it)."""
    used = {int(c[len(community_code):]) for c in taken
            if str(c).startswith(community_code) and str(c)[len(community_code):].isdigit()}
    out, k = [], max(used, default=0)
    while len(out) < n:
        k += 1
        if k >= 10 ** CODE_DIGITS:
            raise ValidationError(f"社区 {community_code} 的网格编号已用尽 / no grid numbers left in {community_code}")
        out.append(f"{community_code}{k:0{CODE_DIGITS}d}")
    return out


def reading_order(geoms, row_m: float = 250.0) -> np.ndarray:
    """Indices of ``geoms`` (metric) in numbering order: west→east, then north→south (DOMAIN.md),
    rows ``row_m`` deep from the northernmost centroid (as the demo numbers its grids)."""
    c = shapely.get_coordinates(shapely.centroid(np.asarray(geoms, dtype=object)))
    row = np.floor((c[:, 1].max() - c[:, 1]) / row_m)
    return np.lexsort((c[:, 0], row))


# --------------------------------------------------------------------------- geometry helpers

def pieces(geom) -> np.ndarray:
    """The polygon parts of ``geom`` (metric) that are more than digitising noise."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    parts = parts[shapely.get_type_id(parts) == 3] if len(parts) else parts
    if not len(parts):
        return parts
    real = (shapely.area(parts) > TOLERANCE_M ** 2) & ~shapely.is_empty(shapely.buffer(parts, -TOLERANCE_M / 2))
    return parts[real]


def assign_points(grid_geoms, grid_codes, points) -> np.ndarray:
    """For each point, the index of the grid covering it (on a shared edge: the smallest code), or -1."""
    geoms = np.asarray(grid_geoms, dtype=object)
    points = np.asarray(points, dtype=object)
    out = np.full(len(points), -1)
    if not len(points) or not len(geoms):
        return out
    pi, gi = shapely.STRtree(geoms).query(points, predicate="covered_by")
    if len(pi):
        order = np.lexsort((np.asarray(grid_codes, dtype=str)[gi], pi))
        pi, gi = pi[order], gi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = gi[first]
    return out


def doors(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Each building's door as a point in ``buildings``' CRS: its entrance (entrance_lon/lat, lon-lat)
    when given, else a point inside its footprint."""
    geoms = buildings.geometry.values
    inside = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    if {"entrance_lon", "entrance_lat"} <= set(buildings.columns):
        lon = pd.to_numeric(buildings["entrance_lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(buildings["entrance_lat"], errors="coerce").to_numpy(float)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if ok.any():
            pts = gpd.GeoSeries(shapely.points(lon[ok], lat[ok]), crs=settings.STORAGE_CRS).to_crs(buildings.crs)
            inside = inside.copy()
            inside[ok] = pts.values
    return inside


# --------------------------------------------------------------------------- the check

@dataclass
class Check:
    """What ``check_grids`` found: ``grids`` (one row per grid: code, grid_type, households, residents,
    bounds, within, parts) and ``findings`` (one row per problem: code, kind, severity, message)."""

    grids: pd.DataFrame
    findings: pd.DataFrame

    @property
    def refused(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == "refuse"]

    @property
    def need_reason(self) -> pd.DataFrame:
        return self.findings[self.findings["severity"] == "reason"]


FINDING_COLUMNS = ["code", "kind", "severity", "message"]


def check_grids(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None = None, *,
                estates: gpd.GeoDataFrame | None = None, communities: gpd.GeoDataFrame | None = None,
                only: set[str] | None = None, lang: str = "zh") -> Check:
    """Check a set of grids against the grid rule; nothing is read or written.

    ``grids``: ``code``, geometry, and optionally ``grid_type`` (default 片区型) and
    ``community_code`` (for the code rule); if it has ``households`` / ``residents``
    and no ``buildings`` are given, those counts are used as they are.
    ``buildings``: footprints (polygons or points) with ``households`` and
    ``residents``, optionally ``entrance_lon`` / ``entrance_lat`` (a building belongs
    to the grid holding its door), or ``grid_code`` (the grid a register puts it in),
    and ``estate_id``, ``name``.
    ``estates``: ``id``, ``name``, polygons (an estate is cut when its buildings lie
    in several grids, or, without buildings, when its land does).
    ``communities``: ``code``, polygons: each community's grids must tile it.
    ``only``: report findings for these codes only (a plan's changed grids).
    Any CRS; measured in metres in the UTM zone of the data.
    """
    if grids.crs is None:
        raise ValidationError("grids have no CRS; set one (lon-lat is EPSG:4326)")
    crs = projection.metric_crs_for(grids)
    g = projection.to_metric(grids, crs=crs).reset_index(drop=True)
    geoms = shapely.make_valid(np.asarray(g.geometry.values, dtype=object))
    codes = g["code"].astype(str).to_numpy()
    types = g["grid_type"].fillna("area").to_numpy() if "grid_type" in g else np.full(len(g), "area")
    found: list[dict] = []

    def add(code: str, kind: str, severity: str, **params) -> None:
        if only is None or code in only:
            found.append(dict(code=code, kind=kind, severity=severity,
                              message=t(f"gridrules.{kind}", lang).format(code=code, **params)))

    b = projection.to_metric(buildings, crs=crs).reset_index(drop=True) if buildings is not None else None
    if b is not None:
        if "grid_code" in b:  # a register (or a plan) that says which grid each building is in
            index = {c: i for i, c in enumerate(codes)}
            owner = np.array([index.get(c, -1) for c in b["grid_code"].astype(str)])
        else:
            owner = assign_points(geoms, codes, doors(b))
        hh = np.bincount(owner[owner >= 0], weights=b["households"].to_numpy(float)[owner >= 0], minlength=len(g))
        pp = np.bincount(owner[owner >= 0], weights=b["residents"].to_numpy(float)[owner >= 0], minlength=len(g))
    else:
        owner = None
        hh = g["households"].to_numpy(float) if "households" in g else np.zeros(len(g))
        pp = g["residents"].to_numpy(float) if "residents" in g else np.zeros(len(g))
    parts = np.array([len(pieces(x)) for x in geoms])
    table = pd.DataFrame({"code": codes, "grid_type": types, "households": hh.astype(int), "residents": pp.astype(int)})
    rows = [bounds_for(x) for x in types]
    table["households_min"] = [r.households[0] for r in rows]
    table["households_max"] = [r.households[1] for r in rows]
    table["people_min"] = [r.people[0] for r in rows]
    table["people_max"] = [r.people[1] for r in rows]
    table["within"] = [bool(r.within(h, p)) for r, h, p in zip(rows, hh, pp)]
    table["parts"] = parts

    for r, row in zip(rows, table.itertuples()):
        if not row.within:
            low = row.households < r.households[0] if r.measure != "people" else row.residents < r.people[0]
            add(row.code, "bounds_low" if low else "bounds_high", "reason", households=row.households,
                people=row.residents, h0=r.households[0], h1=r.households[1], p0=r.people[0], p1=r.people[1])
        if row.parts > 1:
            add(row.code, "not_contiguous", "refuse", n=row.parts)
    if "community_code" in g:
        for code, community in zip(codes, g["community_code"].astype(str)):
            if not code_ok(code, community):
                add(code, "bad_code", "refuse", community=community, digits=CODE_DIGITS)
    if b is not None:
        _cut_buildings(b, geoms, codes, add)
        if "estate_id" in b:
            _cut_estates_by_buildings(b, owner, codes, estates, add)
    elif estates is not None:
        _cut_estates_by_land(projection.to_metric(estates, crs=crs), geoms, codes, add)
    if communities is not None:
        _tiling(projection.to_metric(communities, crs=crs), g, geoms, add)
    findings = pd.DataFrame(found, columns=FINDING_COLUMNS)
    return Check(grids=table, findings=findings)


def _cut_buildings(b: gpd.GeoDataFrame, geoms: np.ndarray, codes: np.ndarray, add) -> None:
    """Buildings whose footprint lies in two or more grids (beyond noise): each grid holding a piece is named."""
    fp = np.asarray(b.geometry.values, dtype=object)
    poly = np.isin(shapely.get_type_id(fp), (3, 6))
    if not poly.any() or not len(geoms):
        return
    bi, gi = shapely.STRtree(geoms).query(fp, predicate="intersects")
    keep = poly[bi]
    bi, gi = bi[keep], gi[keep]
    share = shapely.area(shapely.intersection(fp[bi], geoms[gi])) / np.maximum(shapely.area(fp[bi]), 1e-9)
    real = (share > CUT_SHARE) & (share * shapely.area(fp[bi]) > 1.0)
    bi, gi = bi[real], gi[real]
    n_grids = np.bincount(bi, minlength=len(fp))
    names = b["name"].astype(str).to_numpy() if "name" in b else np.array([f"#{i}" for i in range(len(fp))])
    cut = n_grids > 1
    per_grid: dict[str, list[str]] = {}
    for i, j in zip(bi, gi):
        if cut[i]:
            per_grid.setdefault(codes[j], []).append(names[i])
    for code, hit in per_grid.items():
        add(code, "cuts_building", "refuse", n=len(hit), names="、".join(hit[:5]) + ("…" if len(hit) > 5 else ""))


def _cut_estates_by_buildings(b, owner, codes, estates, add) -> None:
    est = pd.DataFrame({"estate": b["estate_id"], "grid": owner}).dropna()
    est = est[est["grid"] >= 0]
    spread = est.groupby("estate")["grid"].nunique()
    names = dict(zip(estates["id"], estates["name"])) if estates is not None and "name" in estates else {}
    for estate in spread[spread > 1].index:
        for gi in sorted(est.loc[est["estate"] == estate, "grid"].unique()):
            add(codes[int(gi)], "cuts_estate", "reason", estate=names.get(estate, f"#{int(estate)}"))


def _cut_estates_by_land(estates: gpd.GeoDataFrame, geoms, codes, add) -> None:
    eg = np.asarray(estates.geometry.values, dtype=object)
    ei, gi = shapely.STRtree(geoms).query(eg, predicate="intersects")
    share = shapely.area(shapely.intersection(eg[ei], geoms[gi])) / np.maximum(shapely.area(eg[ei]), 1e-9)
    real = share > 0.05
    ei, gi = ei[real], gi[real]
    n = np.bincount(ei, minlength=len(eg))
    names = estates["name"].astype(str).to_numpy() if "name" in estates else np.arange(len(eg)).astype(str)
    for i, j in zip(ei, gi):
        if n[i] > 1:
            add(codes[j], "cuts_estate", "reason", estate=names[i])


def _tiling(communities: gpd.GeoDataFrame, g: gpd.GeoDataFrame, geoms: np.ndarray, add) -> None:
    """Each community's grids cover it with no gap and no overlap, and no grid reaches beyond it."""
    for comm in communities.itertuples():
        mine = np.array([str(c).startswith(str(comm.code)) for c in g["code"]]) if "community_code" not in g \
            else (g["community_code"].astype(str) == str(comm.code)).to_numpy()
        if not mine.any():
            continue
        gs, cs = geoms[mine], g["code"].astype(str).to_numpy()[mine]
        held = shapely.union_all(gs, grid_size=0.001)
        for piece in pieces(shapely.difference(comm.geometry, held, grid_size=0.001)):
            add(str(comm.code), "gap", "refuse", area=float(piece.area))
        for piece in pieces(shapely.difference(held, comm.geometry, grid_size=0.001)):
            near = [c for c, x in zip(cs, gs) if shapely.intersects(x, piece)]
            add(near[0] if near else str(comm.code), "outside", "refuse", area=float(piece.area))
        left, right = shapely.STRtree(gs).query(gs, predicate="intersects")
        for i, j in zip(left, right):
            if i < j:
                area = float(shapely.area(pieces(shapely.intersection(gs[i], gs[j], grid_size=0.001))).sum())
                if area > 0:
                    add(cs[i], "overlap", "refuse", other=cs[j], area=area)


# --------------------------------------------------------------------------- from the database

def grids_frame(engine, scope: roles.Scope) -> gpd.GeoDataFrame:
    """The live grids of ``scope`` with their type and community code (lon-lat)."""
    g = Grid.__table__
    stmt = (select(g.c.id, g.c.code, g.c.name, g.c.grid_type, g.c.community_id,
                   Community.code.label("community_code"), g.c.geom)
            .join(Community, Community.id == g.c.community_id).where(g.c.retired_at.is_(None)))
    stmt = stmt.where(g.c.id == scope.grid_id) if scope.level == "grid" else stmt.where(scope.clause(g))
    return store.to_gdf(store.read_frame(engine, stmt.order_by(g.c.code)))


def buildings_frame(engine, community_ids) -> gpd.GeoDataFrame:
    """Buildings of these communities (footprint, door, counts, estate)."""
    b = Building.__table__
    ids = sorted(int(i) for i in community_ids)
    stmt = (select(b.c.id, b.c.name, b.c.grid_id, b.c.estate_id, b.c.households, b.c.residents,
                   b.c.entrance_lon, b.c.entrance_lat, b.c.geom)
            .where(b.c.grid_id.in_(select(Grid.id).where(Grid.community_id.in_(ids)))).order_by(b.c.id))
    return store.to_gdf(store.read_frame(engine, stmt))


def estates_frame(engine, community_ids) -> gpd.GeoDataFrame:
    e = Estate.__table__
    ids = sorted(int(i) for i in community_ids)
    stmt = select(e.c.id, e.c.name, e.c.geom).where(
        e.c.grid_id.in_(select(Grid.id).where(Grid.community_id.in_(ids)))).order_by(e.c.id)
    return store.to_gdf(store.read_frame(engine, stmt))


def report(engine: Engine, scope: roles.Scope, *, lang: str = "zh") -> Check:
    """The standing report over ``scope``'s grids: every grid's counts and every finding."""
    grids = grids_frame(engine, scope)
    if not len(grids):
        return Check(pd.DataFrame(columns=["code"]), pd.DataFrame(columns=FINDING_COLUMNS))
    ids = grids["community_id"].unique()
    comm = store.read_layer(engine, Community, columns=["id", "code", "geom"], where=Community.id.in_(
        [int(i) for i in ids])) if scope.level != "grid" else None
    check = check_grids(grids, buildings_frame(engine, ids), estates=estates_frame(engine, ids), communities=comm,
                        lang=lang)
    check.grids.insert(1, "name", grids["name"].to_numpy())
    return check


if settings.GRID_RULES_FILE:  # a city's own rule, read once at start
    load_rules_file(settings.GRID_RULES_FILE)
