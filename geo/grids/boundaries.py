"""Grid boundary adjustment (网格调整): re-cut grids of one community, checked and audited.

Streets re-cut grids when a new estate is built or a grid outgrows 500
households and is re-balanced with its neighbour. The work is done in a
desktop GIS: ``grids_geojson`` gives the user's grids as GeoJSON, the edited
file comes back through ``read_upload``, ``plan_adjustment`` checks it without
writing (who may, whose grids, one community, the same territory tiled without
gaps or overlaps, measured in metres in geo.place.projection's metric CRS) and lists
what moves, and ``apply_adjustment`` writes it in one transaction with an audit
row per grid. Buildings follow their entrance point (Building.entrance_lon/lat,
the rule coverage counts people by); households and residents follow their
building; open tickets follow their location; closed tickets keep the grid they
were closed in, so past indicators do not change.

Optimistic locking: a plan carries a fingerprint of each grid's geometry as
read; if any changed before the plan is applied, nothing is written
(ConcurrentEditError) and the user plans again on the new boundaries.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.validation import explain_validity
from sqlalchemy import Connection, Engine, select, update

from geo import settings
from geo.access import audit, roles
from geo.coverage import coverage
from geo.place import projection
from geo.db import store
from geo.io import vector_files
from geo.tickets import workflow
from geo.errors import ConcurrentEditError, ValidationError
from geo.i18n import t
from geo.db.schema import Building, Camera, Community, Facility, Grid, Household, Resident, Ticket

#: File formats the uploader takes (geo.io.vector_files keys: .geojson/.json, .gpkg).
FORMATS = ("geojson", "gpkg")
#: Gap and overlap pieces thinner than this (metres) are digitising noise, not a change of territory.
TOLERANCE_M = 0.5
#: … and so are pieces smaller than this (m²).
TOLERANCE_M2 = TOLERANCE_M ** 2
#: A grid whose new outline is within this (metres, Hausdorff) of the old one is unchanged
#: (a round trip through a GIS may round coordinates to ~1 cm).
UNCHANGED_M = 0.05
#: Overlays in metres snap to this grid (GEOS snap-rounding): lon-lat outlines that are valid can fold
#: by a micrometre when projected, and an unsnapped overlay of those throws TopologyException.
GRID_SIZE_M = 0.001
#: New outlines are stored snapped to this lon-lat grid (~1 cm): shared edges then share their
#: vertices exactly, and no vertex pair is close enough to fold when projected to metres.
STORE_GRID_DEG = 1e-7


class BoundaryError(ValidationError):
    """An upload or plan that cannot be used; ``key`` and ``params`` give the i18n message."""

    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params
        super().__init__(f"{self.message('zh')} / {self.message('en')}")

    def message(self, lang: str = "zh") -> str:
        params = {k: v.reason(lang) if isinstance(v, vector_files.FileRefused) else v for k, v in self.params.items()}
        return t(f"boundaries.err_{self.key}", lang).format(**params)


@dataclass(frozen=True)
class Problem:
    """A reason the new boundaries cannot be applied: a gap, an overlap, or land beyond the old grids."""

    kind: str  # gap / overlap / beyond
    area_m2: float
    codes: tuple[str, ...]

    def message(self, lang: str = "zh") -> str:
        return t(f"boundaries.problem_{self.kind}", lang).format(area=self.area_m2, codes="、".join(self.codes))


@dataclass
class Plan:
    """What an adjustment would do, checked but not written.

    ``changes``: one row per changed grid (id, code, name, area_before_m2, area_after_m2,
    buildings_in/out, households_in/out, residents_in/out). ``moves``: the buildings that
    change grid (id, name, from_grid_id, to_grid_id, from_code, to_code, households,
    residents, geometry). ``old`` / ``new``: the changed grids' outlines (lon-lat).
    """

    community_id: int
    new: gpd.GeoDataFrame
    old: gpd.GeoDataFrame
    fingerprints: dict[int, str]
    changes: pd.DataFrame
    moves: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------- files out and in

def grids_geojson(engine: Engine, scope: roles.Scope) -> str:
    """The grids of ``scope`` as a GeoJSON FeatureCollection (lon-lat) for editing in QGIS."""
    grids = _grids(engine, scope)
    out = grids[["id", "code", "name", "community", "geometry"]]
    return out.to_json(drop_id=True, ensure_ascii=False)


def read_upload(data: bytes, filename: str) -> gpd.GeoDataFrame:
    """Edited grids (``code``, geometry in lon-lat) from a GeoJSON or GeoPackage file.

    The file is read through geo.io.vector_files (declared format confirmed by its
    content, one GDAL driver, nothing outside the upload). Refuses, with a
    BoundaryError a person can act on: a format we do not read, a file that is not
    what it says or cannot be read (the reason, never the file's content), no
    ``code`` property, a code twice, geometry that is not a polygon, an invalid
    polygon (where and why), and coordinates in metres with no CRS declared. A file
    that declares another CRS is reprojected.
    """
    name = vector_files.quote(filename)
    try:
        gdf = vector_files.read_vector(data, filename, formats=FORMATS)
    except vector_files.FileRefused as exc:
        if exc.key == "format":
            raise BoundaryError("format", name=name, kinds=vector_files.kinds(FORMATS)) from None
        raise BoundaryError("broken", name=name, detail=exc) from None
    declared = gdf.attrs.get("crs_declared", True)
    if "code" not in gdf.columns:
        raise BoundaryError("no_code", name=name)
    if not len(gdf):
        raise BoundaryError("empty", name=name)
    gdf = gdf.assign(code=gdf["code"].astype("string").str.strip())
    blank = gdf["code"].isna() | (gdf["code"] == "")
    if blank.any():
        raise BoundaryError("no_code", name=name)
    twice = sorted(gdf.loc[gdf["code"].duplicated(), "code"].unique())
    if twice:
        raise BoundaryError("duplicate", codes=vector_files.quote_list(twice))
    gdf = gpd.GeoDataFrame(gdf[["code"]], geometry=shapely.force_2d(gdf.geometry.values), crs=gdf.crs)
    _check_polygons(gdf)
    return _to_lonlat(gdf, name, declared=declared)


def _check_polygons(gdf: gpd.GeoDataFrame) -> None:
    geoms = gdf.geometry.values
    wrong = gdf["code"][~np.isin(shapely.get_type_id(geoms), (3, 6)) | shapely.is_empty(geoms)]
    if len(wrong):
        raise BoundaryError("not_polygon", codes=vector_files.quote_list(list(wrong)))
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        shown = list(zip(gdf["code"][bad], geoms[bad]))
        reasons = "; ".join(f"{vector_files.quote(code)}: {explain_validity(g)}"
                            for code, g in shown[:vector_files.QUOTE_COUNT])
        reasons += "…" if len(shown) > vector_files.QUOTE_COUNT else ""
        raise BoundaryError("invalid", reasons=reasons)


def _to_lonlat(gdf: gpd.GeoDataFrame, filename: str, *, declared: bool) -> gpd.GeoDataFrame:
    """``gdf`` in lon-lat: a declared projected CRS is reprojected; undeclared metres are refused."""
    if gdf.crs is None:
        gdf = gdf.set_crs(settings.STORAGE_CRS)
        declared = False
    if not CRS(gdf.crs).is_geographic:
        gdf = gdf.to_crs(settings.STORAGE_CRS)
    x0, y0, x1, y1 = gdf.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        if not declared:
            raise BoundaryError("metres", name=filename, x=x0, y=y0)
        raise BoundaryError("crs", name=filename, crs=vector_files.cut(CRS(gdf.crs).to_string()))
    return gdf.to_crs(settings.STORAGE_CRS).reset_index(drop=True)


# --------------------------------------------------------------------------- planning

def plan_adjustment(engine: Engine, user, new_geoms: gpd.GeoDataFrame) -> Plan:
    """Check new outlines (``code``, geometry, lon-lat) against the stored grids, writing nothing.

    Raises PermissionError for a role that may not edit boundaries and
    BoundaryError for codes outside the user's area (worded as codes that do not
    exist, so the refusal tells nothing about other areas), nothing changed, or
    grids of several communities.
    Gaps, overlaps and land beyond the old grids are returned as
    ``Plan.problems`` (all of them, with areas in m²) so a page can show each.
    """
    if not roles.may(user.role, "edit_boundaries"):
        raise PermissionError("您的角色不能调整网格边界 / your role may not change grid boundaries")
    mine = _grids(engine, user.scope).set_index("code")
    unknown = sorted(set(new_geoms["code"]) - set(mine.index))
    if unknown:
        raise BoundaryError("unknown", codes=vector_files.quote_list(unknown))
    new = gpd.GeoDataFrame(new_geoms[["code"]].copy(), geometry=new_geoms.geometry.values, crs=new_geoms.crs)
    new = projection.to_storage(new).join(mine[["id", "name", "community_id"]], on="code")
    _check_polygons(new)  # a frame built in code, not read from a file, is checked too
    new = new.set_geometry(shapely.set_precision(new.geometry.values, STORE_GRID_DEG))
    old = gpd.GeoDataFrame(mine.loc[new["code"]].reset_index(), geometry="geometry", crs=settings.STORAGE_CRS)
    crs = projection.metric_crs_for(old)
    old_m, new_m = projection.to_metric(old, crs=crs), projection.to_metric(new, crs=crs)
    changed = shapely.hausdorff_distance(old_m.geometry.values, new_m.geometry.values) > UNCHANGED_M
    if not changed.any():
        raise BoundaryError("unchanged")
    new, old = new[changed].reset_index(drop=True), old[changed].reset_index(drop=True)
    if new["community_id"].nunique() > 1:
        raise BoundaryError("communities", codes="、".join(new["code"]))
    near = set(store.ids_intersecting(engine, Grid, new.union_all().envelope)) - set(new["id"])
    plan_problems = _problems(old, new, _grids(engine, roles.WHOLE_STREET, ids=near), crs)
    moves = _moves(engine, new)
    return Plan(community_id=int(new["community_id"].iloc[0]),
                new=new[["id", "code", "name", "geometry"]], old=old[["id", "code", "name", "geometry"]],
                fingerprints=dict(zip(old["id"].astype(int), map(fingerprint, old.geometry.values))),
                changes=_changes(old, new, moves, crs), moves=moves, problems=plan_problems)


def fingerprint(geom) -> str:
    """A short hash of a geometry as stored (WKB), to see whether someone changed it meanwhile."""
    return hashlib.sha256(shapely.to_wkb(geom, byte_order=1, output_dimension=2)).hexdigest()[:16]


def _grids(engine: Engine | Connection, scope: roles.Scope, *, ids: set[int] | None = None) -> gpd.GeoDataFrame:
    """Grids of ``scope`` (only ``ids`` when given) with their community's name."""
    g = Grid.__table__
    stmt = (select(g.c.id, g.c.code, g.c.name, g.c.community_id, Community.name.label("community"), g.c.geom)
            .join(Community, Community.id == g.c.community_id))
    stmt = stmt.where(g.c.id == scope.grid_id) if scope.level == "grid" else stmt.where(scope.clause(g))
    if ids is not None:
        stmt = stmt.where(g.c.id.in_(sorted(int(i) for i in ids)))
    return store.to_gdf(store.read_frame(engine, stmt.order_by(g.c.code)))


def _pieces(geom) -> np.ndarray:
    """The parts of ``geom`` (metric) that are more than digitising noise."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    parts = parts[shapely.get_type_id(parts) == 3] if len(parts) else parts
    if not len(parts):
        return parts
    real = (shapely.area(parts) > TOLERANCE_M2) & ~shapely.is_empty(shapely.buffer(parts, -TOLERANCE_M / 2))
    return parts[real]


def _problems(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, others: gpd.GeoDataFrame, crs: str) -> list[Problem]:
    """Gaps, overlaps (among the new grids and with unchanged ones) and land beyond the old grids."""
    old_m, new_m, oth_m = (_metric(f, crs) for f in (old, new, others))
    codes_old, codes_new, codes_oth = list(old["code"]), list(new["code"]), list(others["code"])
    old_all, new_all = shapely.union_all(old_m, grid_size=GRID_SIZE_M), shapely.union_all(new_m, grid_size=GRID_SIZE_M)
    found: list[Problem] = []
    gaps = _pieces(shapely.difference(old_all, new_all, grid_size=GRID_SIZE_M))
    for piece in gaps:
        touched = [c for c, g in zip(codes_old, old_m) if _meets(g, piece)]
        found.append(Problem("gap", float(shapely.area(piece)), tuple(touched)))
    for i in range(len(new_m)):
        for j in range(i + 1, len(new_m)):
            _overlap(found, new_m[i], new_m[j], (codes_new[i], codes_new[j]))
    near = shapely.STRtree(oth_m).query(new_m, predicate="intersects") if len(oth_m) else np.empty((2, 0), int)
    for i, j in near.T:
        _overlap(found, new_m[i], oth_m[j], (codes_new[i], codes_oth[j]))
    beyond = shapely.difference(shapely.difference(new_all, old_all, grid_size=GRID_SIZE_M),
                                shapely.union_all(oth_m, grid_size=GRID_SIZE_M), grid_size=GRID_SIZE_M)
    for piece in _pieces(beyond):
        touched = [c for c, g in zip(codes_new, new_m) if _meets(g, piece)]
        found.append(Problem("beyond", float(shapely.area(piece)), tuple(touched)))
    return found


def _metric(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """Outlines in metres, repaired where projecting folded a vertex (area unchanged)."""
    geoms = projection.to_metric(gdf, crs=crs).geometry.values
    return shapely.make_valid(np.asarray(geoms, dtype=object))


def _meets(grid, piece) -> bool:
    return shapely.area(shapely.intersection(grid, piece, grid_size=GRID_SIZE_M)) > 0


def _overlap(found: list[Problem], a, b, codes: tuple[str, str]) -> None:
    area = float(shapely.area(_pieces(shapely.intersection(a, b, grid_size=GRID_SIZE_M))).sum())
    if area > 0:
        found.append(Problem("overlap", area, codes))


def _moves(engine: Engine | Connection, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The buildings of the changed grids whose entrance now lies in another of them."""
    b = Building.__table__
    ids = [int(i) for i in new["id"]]
    stmt = select(b.c.id, b.c.name, b.c.grid_id, b.c.households, b.c.residents, b.c.entrance_lon,
                  b.c.entrance_lat, b.c.geom).where(b.c.grid_id.in_(ids)).order_by(b.c.id)
    df = store.read_frame(engine, stmt)
    geoms = np.array(list(df.pop("geom")), dtype=object) if len(df) else np.array([], dtype=object)
    lon, lat, _ = coverage.entrances(df["entrance_lon"], df["entrance_lat"], geoms)
    doors = shapely.points(lon, lat)
    df["to_grid_id"] = _assign(new, doors, df["grid_id"].to_numpy())
    moved = (df["to_grid_id"] != df["grid_id"]).to_numpy()
    codes = dict(zip(new["id"], new["code"]))
    out = df[moved].rename(columns={"grid_id": "from_grid_id"}).drop(columns=["entrance_lon", "entrance_lat"])
    out["from_code"], out["to_code"] = out["from_grid_id"].map(codes), out["to_grid_id"].map(codes)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=list(geoms[moved]), crs=settings.STORAGE_CRS)


def _assign(new: gpd.GeoDataFrame, points: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The grid each point belongs to under the new outlines: its own grid while that still covers
    it (a door on a shared edge stays put), else the first covering one by code, else unchanged."""
    if not len(points):
        return current
    order = np.argsort(new["code"].to_numpy())
    ids = new["id"].to_numpy()[order]
    covers = np.array([shapely.covers(g, points) for g in new.geometry.values[order]])  # grids × points
    stays = (covers & (ids[:, None] == current[None, :])).any(axis=0)
    first = np.where(covers.any(axis=0), ids[covers.argmax(axis=0)], current)
    return np.where(stays, current, first)


def _changes(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, moves: gpd.GeoDataFrame, crs: str) -> pd.DataFrame:
    out = pd.DataFrame({"id": new["id"], "code": new["code"], "name": new["name"],
                        "area_before_m2": projection.to_metric(old, crs=crs).area.to_numpy(),
                        "area_after_m2": projection.to_metric(new, crs=crs).area.to_numpy()})
    for what in ("buildings", "households", "residents"):
        count = moves.assign(buildings=1)
        gained = count.groupby("to_grid_id")[what].sum()
        lost = count.groupby("from_grid_id")[what].sum()
        out[f"{what}_in"] = out["id"].map(gained).fillna(0).astype(int)
        out[f"{what}_out"] = out["id"].map(lost).fillna(0).astype(int)
    return out


# --------------------------------------------------------------------------- applying

def apply_adjustment(engine: Engine, user, plan: Plan, *, now: datetime) -> pd.DataFrame:
    """Write a checked plan in one transaction; returns the per-grid changes as written.

    Refuses a plan with problems (BoundaryError) and a plan whose grids someone
    changed since it was read (ConcurrentEditError): then nothing is written.
    The moves are worked out again inside the transaction from the new
    outlines, so a building added meanwhile goes where its door is.
    """
    if not roles.may(user.role, "edit_boundaries"):
        raise PermissionError("您的角色不能调整网格边界 / your role may not change grid boundaries")
    if plan.problems:
        raise BoundaryError("not_ok", n=len(plan.problems))
    ids = [int(i) for i in plan.new["id"]]
    g = Grid.__table__
    with engine.begin() as conn:
        # A no-op write first: it locks these rows (PostGIS) or the database (SQLite) until commit,
        # so nobody can change them between the check below and our write.
        conn.execute(update(g).where(g.c.id.in_(ids)).values(code=g.c.code))
        current = _grids(conn, user.scope, ids=ids)
        seen = dict(zip(current["id"].astype(int), map(fingerprint, current.geometry.values)))
        if seen != plan.fingerprints:
            raise ConcurrentEditError(t("boundaries.err_conflict", "zh") + " / " + t("boundaries.err_conflict", "en"))
        moves = _moves(conn, plan.new)
        for row in store.with_bbox([{"id": int(i), "geom": geom} for i, geom in zip(plan.new["id"], plan.new.geometry)]):
            conn.execute(update(g).where(g.c.id == row.pop("id")).values(**row))
        _move_people_and_tickets(conn, plan.new, moves)
        crs = projection.metric_crs_for(plan.old)
        changes = _changes(plan.old, plan.new, moves, crs)
        for r in changes.itertuples():
            audit.record(conn, at=now, username=user.username, role=user.role, action="grid.boundary",
                         object_type="grid", object_id=int(r.id), grid_id=int(r.id), detail=_detail(r))
    return changes


def _move_people_and_tickets(conn: Connection, new: gpd.GeoDataFrame, moves: gpd.GeoDataFrame) -> None:
    """Buildings, their households and residents, and the open tickets of the changed grids."""
    h = Household.__table__
    for to_grid, group in moves.groupby("to_grid_id"):
        bids = [int(i) for i in group["id"]]
        conn.execute(update(Building.__table__).where(Building.id.in_(bids)).values(grid_id=int(to_grid)))
        conn.execute(update(h).where(h.c.building_id.in_(bids)).values(grid_id=int(to_grid)))
        conn.execute(update(Resident.__table__).where(Resident.household_id.in_(
            select(h.c.id).where(h.c.building_id.in_(bids)))).values(grid_id=int(to_grid)))
    tk = Ticket.__table__
    _follow(conn, tk, new, tk.c.state.in_(workflow.OPEN_STATES), bump_version=True)
    for points in (Facility.__table__, Camera.__table__):  # what the screen and the grid's figures count per grid
        _follow(conn, points, new)


def _follow(conn: Connection, table, new: gpd.GeoDataFrame, *where, bump_version: bool = False) -> None:
    """Point rows of the changed grids (open tickets, facilities, cameras) go where their point now lies.

    ``bump_version``: tickets carry an optimistic-lock version, and a page holding the
    old one must re-read the ticket.
    """
    rows = conn.execute(select(table.c.id, table.c.grid_id, table.c.geom).where(
        table.c.grid_id.in_([int(i) for i in new["id"]]), *where)).fetchall()
    if not rows:
        return
    points = np.array([r[2] for r in rows], dtype=object)
    current = np.array([r[1] for r in rows])
    target = _assign(new, points, current)
    extra = {"version": table.c.version + 1} if bump_version else {}
    for rid, src, dst in zip([r[0] for r in rows], current, target):
        if dst != src:
            conn.execute(update(table).where(table.c.id == rid).values(grid_id=int(dst), **extra))


def _detail(r) -> str:
    return (f"{r.code} 面积/area {r.area_before_m2:,.0f} → {r.area_after_m2:,.0f} m² "
            f"({r.area_after_m2 - r.area_before_m2:+,.0f}); 楼栋/buildings +{r.buildings_in} −{r.buildings_out}, "
            f"户/households +{r.households_in} −{r.households_out}, 人/residents +{r.residents_in} −{r.residents_out}")
