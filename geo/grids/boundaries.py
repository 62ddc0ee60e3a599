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
from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from geo import settings
from geo.access import audit, masks, roles, sessions
from geo.coverage import coverage
from geo.place import projection
from geo.db import store
from geo.io import vector_files
from geo.tickets import workflow
from geo.errors import ConcurrentEditError, ValidationError
from geo.i18n import t
from geo.db.schema import (
    Building, Camera, Community, Estate, Facility, Grid, Household, OpenSpace, Person, Resident, Ticket)
from geo.db.schema import User as AppUser
from geo.grids import rules

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
#: A point this close (degrees, ~3 cm) to an outline is on it: snapping an outline to STORE_GRID_DEG
#: must not leave a camera standing on a grid's edge outside every grid.
ON_EDGE_DEG = 3e-7


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
    """What a change of grids would do, checked but not written.

    ``new``: the grids that change or are made (id, code, name, grid_type, geometry; a
    new grid has a negative id until applied). ``old``: the changed and retired grids as
    they are. ``retired``: the grids retired (id, code, name). ``changes``: one row per grid
    touched (area before/after, buildings/households/residents in and out, households and
    residents before and after). ``moves``: the buildings that change grid (id, name,
    from_grid_id, to_grid_id, from_code, to_code, households, residents, geometry).
    ``problems``: gaps, overlaps, land beyond. ``findings``: the grid rule on the grids
    that change (geo.grids.rules: severity "refuse" or "reason"). ``bindings``: who is
    bound to a retired grid and where they would go. ``recodes``: grids renumbered.
    """

    community_id: int
    new: gpd.GeoDataFrame
    old: gpd.GeoDataFrame
    fingerprints: dict[int, str]
    changes: pd.DataFrame
    moves: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    kind: str = "adjust"
    retired: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"id": [], "code": [], "name": []}))
    findings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=rules.FINDING_COLUMNS))
    bindings: pd.DataFrame = field(default_factory=pd.DataFrame)
    recodes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"id": [], "code_before": [],
                                                                        "code_after": []}))

    @property
    def refused(self) -> pd.DataFrame:
        """Findings of the grid rule that stop the plan (not contiguous, a building cut, a bad code)."""
        return self.findings[self.findings["severity"] == "refuse"]

    @property
    def needs_reason(self) -> pd.DataFrame:
        """Findings a stated reason lets through (outside the bounds, an estate cut)."""
        return self.findings[self.findings["severity"] == "reason"]

    @property
    def ok(self) -> bool:
        return not self.problems and not len(self.refused)

    @property
    def people_moving(self) -> int:
        """Residents whose grid changes (they follow their building)."""
        return int(self.moves["residents"].sum()) if len(self.moves) else 0


# --------------------------------------------------------------------------- files out and in

def grids_geojson(engine: Engine, scope: roles.Scope) -> str:
    """The grids of ``scope`` as a GeoJSON FeatureCollection (lon-lat) for editing in QGIS."""
    grids = grids_of(engine, scope)
    out = grids[["id", "code", "name", "community", "geometry"]]
    return out.to_json(drop_id=True, ensure_ascii=False)


def read_upload(data: bytes, filename: str) -> gpd.GeoDataFrame:
    """Edited grids (``code``, geometry in lon-lat) from a GeoJSON or GeoPackage file.

    A feature with an empty ``code`` is a new grid (optional ``name`` and ``grid_type``:
    area / estate / courtyard / unit); one with ``retire`` = 1 / true / 是 retires its
    grid (its land must be in the other features). Splitting a grid: its code on one
    part, empty codes on the others; merging: the kept grid's code on the union, the
    others marked ``retire``.

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
    gdf = gdf.assign(code=gdf["code"].astype("string").fillna("").str.strip())
    given = gdf["code"] != ""  # an empty code is a new grid: it gets the next free number
    twice = sorted(gdf.loc[given & gdf["code"].duplicated(), "code"].unique())
    if twice:
        raise BoundaryError("duplicate", codes=vector_files.quote_list(twice))
    keep = ["code"] + [c for c in ("retire", "name", "grid_type") if c in gdf.columns]
    gdf = gpd.GeoDataFrame(gdf[keep], geometry=shapely.force_2d(gdf.geometry.values), crs=gdf.crs)
    retiring = gdf["retire"].map(_truthy).to_numpy(bool) if "retire" in gdf else np.zeros(len(gdf), bool)
    _check_polygons(gdf[~retiring].assign(code=lambda d: d["code"].replace("", "(新)")))
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

#: What a plan does (audit wording and the page's title for it).
KINDS = ("adjust", "split", "merge", "new", "retire", "autocut")
#: Roles that follow their place on their own: a building head their building, a household-link head
#: the building they live in, a party member their home. Other grid roles are a grid's team.
PLACE_BOUND = ("building_head", "household_link_head", "party_member")
#: A reason given for breaking the grid rule is kept to this many characters (it goes in the audit).
REASON_CHARS = 500


def plan_adjustment(engine: Engine, user, new_geoms: gpd.GeoDataFrame, *, kind: str = "adjust",
                    renumber: bool = False) -> Plan:
    """Check new outlines against the stored grids, writing nothing.

    ``new_geoms``: ``code`` and geometry (lon-lat), one row per grid that changes.
    A row with an empty code is a new grid (it gets the community code + the next
    free number; ``name`` and ``grid_type`` columns are used when present); a row
    whose ``retire`` column is true retires that grid (its geometry is ignored: its
    land must be taken by the other rows). ``renumber``: number every grid of the
    community again, west→east then north→south.

    Raises PermissionError for a role that may not edit boundaries and
    BoundaryError for codes outside the user's area (worded as codes that do not
    exist, so the refusal tells nothing about other areas), nothing changed, or
    grids of several communities. Gaps, overlaps and land beyond the community are
    returned as ``Plan.problems`` (with areas in m²), and the grid rule's findings
    on the grids that change as ``Plan.findings`` (geo.grids.rules.check_grids).
    """
    may_edit(user)
    if kind not in KINDS:
        raise ValueError(f"unknown plan kind {kind!r}")
    mine = grids_of(engine, user.scope).set_index("code")
    frame = _normalise(new_geoms)
    given = frame[frame["code"] != ""]
    unknown = sorted(set(given["code"]) - set(mine.index))
    if unknown:
        raise BoundaryError("unknown", codes=vector_files.quote_list(unknown))
    retire = given[given["retire"]]
    keep = given[~given["retire"]]
    created = frame[frame["code"] == ""].reset_index(drop=True)
    drawn = pd.concat([keep, created], ignore_index=True)
    _check_polygons(gpd.GeoDataFrame(drawn.assign(code=drawn["code"].replace("", "(新)")), geometry="geometry",
                                     crs=settings.STORAGE_CRS))
    changed_old, changed_new = _changed(mine, keep)
    retired = gpd.GeoDataFrame(mine.loc[list(retire["code"])].reset_index(), geometry="geometry",
                               crs=settings.STORAGE_CRS)
    if not len(changed_new) and not len(created) and not len(retired):
        raise BoundaryError("unchanged")
    community_id = community_of(engine, user, pd.concat([changed_old, retired]), created)
    return _plan(engine, community_id, changed_old=changed_old, changed_new=changed_new, retired=retired,
                 created=created, kind=kind, renumber=renumber)


def may_edit(user) -> None:
    """PermissionError unless ``user``'s role may change grids (roles.PERMISSIONS["edit_boundaries"])."""
    if not roles.may(user.role, "edit_boundaries"):
        raise PermissionError("您的角色不能调整网格边界 / your role may not change grid boundaries")


def _normalise(new_geoms: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``code`` (blank = a new grid), ``retire`` (bool), ``name``, ``grid_type`` and the geometry, lon-lat."""
    df = pd.DataFrame({"code": new_geoms["code"].astype("string").fillna("").str.strip().astype(str).to_numpy()})
    df["retire"] = new_geoms["retire"].map(_truthy).to_numpy(bool) if "retire" in new_geoms else False
    for col in ("name", "grid_type"):
        df[col] = new_geoms[col].astype("string").fillna("").str.strip().astype(str).to_numpy() \
            if col in new_geoms else ""
    gdf = gpd.GeoDataFrame(df, geometry=list(new_geoms.geometry.values), crs=new_geoms.crs)
    return projection.to_storage(gdf).reset_index(drop=True)


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "y", "是", "撤销", "retire")


def _changed(mine: gpd.GeoDataFrame, keep: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(old, new) outlines of the existing grids in ``keep`` that really change (lon-lat)."""
    cols = ["id", "code", "name", "grid_type", "community_id"]
    if not len(keep):
        empty = gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=settings.STORAGE_CRS)
        return empty, empty.copy()
    new = gpd.GeoDataFrame(keep[["code"]].copy(), geometry=list(keep.geometry.values), crs=settings.STORAGE_CRS)
    new = new.join(mine[cols[:1] + cols[2:]], on="code")
    new = new.set_geometry(shapely.set_precision(new.geometry.values, STORE_GRID_DEG))
    old = gpd.GeoDataFrame(mine.loc[new["code"]].reset_index(), geometry="geometry", crs=settings.STORAGE_CRS)
    crs = projection.metric_crs_for(old)
    old_m, new_m = projection.to_metric(old, crs=crs), projection.to_metric(new, crs=crs)
    moved = shapely.hausdorff_distance(old_m.geometry.values, new_m.geometry.values) > UNCHANGED_M
    return old[moved].reset_index(drop=True), new[moved].reset_index(drop=True)


def community_of(engine: Engine, user, existing: pd.DataFrame, created: gpd.GeoDataFrame) -> int:
    """The one community a plan touches: that of its existing grids, else the one (in the user's area)
    holding most of the new grids' land."""
    if len(existing):
        if existing["community_id"].nunique() > 1:
            raise BoundaryError("communities", codes="、".join(existing["code"]))
        return int(existing["community_id"].iloc[0])
    if user.scope.level == "grid":
        raise BoundaryError("outside")
    area = shapely.union_all(created.geometry.values)
    c = Community.__table__
    stmt = select(c.c.id, c.c.code, c.c.geom).where(c.c.id.in_(store.ids_intersecting(engine, Community, area)))
    if user.scope.level == "community":
        stmt = stmt.where(c.c.id == user.scope.community_id)
    elif user.scope.street_id is not None:
        stmt = stmt.where(c.c.street_id == user.scope.street_id)
    comms = store.to_gdf(store.read_frame(engine, stmt))
    if not len(comms):
        raise BoundaryError("outside")
    crs = projection.metric_crs_for(comms)
    land = _metric(gpd.GeoDataFrame(geometry=[area], crs=settings.STORAGE_CRS), crs)[0]
    shared = shapely.area(shapely.intersection(_metric(comms, crs), land))
    if shared.max() <= TOLERANCE_M2:
        raise BoundaryError("outside")
    return int(comms["id"].iloc[int(np.argmax(shared))])


def _plan(engine: Engine, community_id: int, *, changed_old: gpd.GeoDataFrame, changed_new: gpd.GeoDataFrame,
          retired: gpd.GeoDataFrame, created: gpd.GeoDataFrame, kind: str, renumber: bool) -> Plan:
    """The plan for one community: new grids numbered, problems, moves, the grid rule, bindings."""
    comm = store.read_frame(engine, select(Community.code, Community.geom).where(Community.id == community_id))
    community_code, outline = str(comm["code"].iloc[0]), comm["geom"].iloc[0]
    everyone = grids_of(engine, roles.WHOLE_STREET, community_id=community_id, retired_too=True)
    live = everyone[everyone["retired_at"].isna()].reset_index(drop=True)
    codes = rules.next_codes(community_code, everyone["code"], len(created))
    default_type = changed_old["grid_type"].iloc[0] if len(changed_old) else (
        retired["grid_type"].iloc[0] if len(retired) else "area")
    born = gpd.GeoDataFrame({
        "id": -(np.arange(len(created)) + 1), "code": codes,
        "grid_type": [gt if gt in rules.GRID_TYPES else default_type for gt in created["grid_type"]],
        "name": [n or _grid_name(everyone, c, community_code) for n, c in zip(created["name"], codes)]},
        geometry=shapely.set_precision(np.asarray(created.geometry.values, dtype=object), STORE_GRID_DEG),
        crs=settings.STORAGE_CRS)
    cols = ["id", "code", "name", "grid_type", "geometry"]
    new = gpd.GeoDataFrame(pd.concat([changed_new[cols], born[cols]], ignore_index=True), geometry="geometry",
                           crs=settings.STORAGE_CRS).astype({"id": int})
    old = gpd.GeoDataFrame(pd.concat([changed_old[cols], retired[cols]], ignore_index=True), geometry="geometry",
                           crs=settings.STORAGE_CRS).astype({"id": int})
    area = shapely.union_all([*new.geometry.values, *old.geometry.values]).envelope
    near = set(store.ids_intersecting(engine, Grid, area)) - set(old["id"])
    others = grids_of(engine, roles.WHOLE_STREET, ids=near)
    crs = projection.metric_crs_for(gpd.GeoDataFrame(geometry=[area], crs=settings.STORAGE_CRS))
    found = _problems(old, new, others, crs, unheld=unheld_land(live, outline, crs))
    recodes = _recodes(live, new, retired, everyone, community_code, crs) if renumber else _no_recodes()
    if len(recodes):
        new["code"] = new["id"].map(recodes.set_index("id")["code_after"]).fillna(new["code"])
    retired_ids = set(retired["id"].astype(int))
    moves = _moves(engine, community_id, new, retired_ids, live)
    changes = _changes(old, new, moves, crs, _totals(engine, community_id))
    result = _resulting(live, new, retired)
    findings = _findings(engine, community_id, community_code, result, moves, set(new["code"]))
    both = pd.concat([old[["id", "geometry"]], others[["id", "geometry"]]], ignore_index=True)
    fingerprints = {int(i): fingerprint(g) for i, g in zip(both["id"], both["geometry"])}
    return Plan(community_id=community_id, new=new, old=old, fingerprints=fingerprints, changes=changes,
                moves=moves, problems=found, kind=kind,
                retired=pd.DataFrame(retired[["id", "code", "name"]]).reset_index(drop=True),
                findings=findings, bindings=_bindings(engine, retired, moves, new), recodes=recodes)


def _grid_name(everyone: pd.DataFrame, code: str, community_code: str) -> str:
    """A new grid's name, like the community's others: "<prefix>第N网格"."""
    prefix = next((str(n).split("第")[0] for n in everyone["name"] if "第" in str(n)), "")
    return f"{prefix}第{int(code[len(community_code):])}网格"


def fingerprint(geom) -> str:
    """A short hash of a geometry as stored (WKB), to see whether someone changed it meanwhile."""
    if geom is None or shapely.is_missing(geom):
        return "-"
    return hashlib.sha256(shapely.to_wkb(geom, byte_order=1, output_dimension=2)).hexdigest()[:16]


def grids_of(engine: Engine | Connection, scope: roles.Scope, *, ids: set[int] | None = None,
           community_id: int | None = None, retired_too: bool = False) -> gpd.GeoDataFrame:
    """Live grids of ``scope`` (only ``ids`` / ``community_id`` when given) with their community's name."""
    g = Grid.__table__
    stmt = (select(g.c.id, g.c.code, g.c.name, g.c.grid_type, g.c.community_id, g.c.retired_at,
                   Community.name.label("community"), g.c.geom)
            .join(Community, Community.id == g.c.community_id))
    stmt = stmt.where(g.c.id == scope.grid_id) if scope.level == "grid" else stmt.where(scope.clause(g))
    if not retired_too:
        stmt = stmt.where(g.c.retired_at.is_(None))
    if ids is not None:
        stmt = stmt.where(g.c.id.in_(sorted(int(i) for i in ids)))
    if community_id is not None:
        stmt = stmt.where(g.c.community_id == community_id)
    return store.to_gdf(store.read_frame(engine, stmt.order_by(g.c.code)))


def _pieces(geom) -> np.ndarray:
    """The parts of ``geom`` (metric) that are more than digitising noise (geo.grids.rules.pieces)."""
    return rules.pieces(geom)


def unheld_land(live: gpd.GeoDataFrame, outline, crs: str):
    """The community's land no live grid holds (metres): a plan may give it to a grid."""
    held = shapely.union_all(_metric(live, crs), grid_size=GRID_SIZE_M)
    out = _metric(gpd.GeoDataFrame(geometry=[outline], crs=settings.STORAGE_CRS), crs)[0]
    return _areal(shapely.difference(out, held, grid_size=GRID_SIZE_M))


def _areal(geom):
    """The polygons of an overlay's result (a snapped overlay may leave lines and points beside them)."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    return shapely.union_all(parts[np.isin(shapely.get_type_id(parts), (3, 6))]) if len(parts) else geom


def _problems(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, others: gpd.GeoDataFrame, crs: str, *,
              unheld=None) -> list[Problem]:
    """Gaps, overlaps (among the new grids and with unchanged ones) and land beyond: land the old grids
    did not hold and the community's unheld land does not offer."""
    old_m, new_m, oth_m = (_metric(f, crs) for f in (old, new, others))
    codes_old, codes_new, codes_oth = list(old["code"]), list(new["code"]), list(others["code"])
    old_all, new_all = shapely.union_all(old_m, grid_size=GRID_SIZE_M), shapely.union_all(new_m, grid_size=GRID_SIZE_M)
    found: list[Problem] = []
    for piece in _pieces(shapely.difference(old_all, new_all, grid_size=GRID_SIZE_M)):
        touched = [c for c, g in zip(codes_old, old_m) if _meets(g, piece)]
        found.append(Problem("gap", float(shapely.area(piece)), tuple(touched)))
    for i in range(len(new_m)):
        for j in range(i + 1, len(new_m)):
            _overlap(found, new_m[i], new_m[j], (codes_new[i], codes_new[j]))
    near = shapely.STRtree(oth_m).query(new_m, predicate="intersects") if len(oth_m) else np.empty((2, 0), int)
    for i, j in near.T:
        _overlap(found, new_m[i], oth_m[j], (codes_new[i], codes_oth[j]))
    beyond = _areal(shapely.difference(_areal(shapely.difference(new_all, old_all, grid_size=GRID_SIZE_M)),
                                       shapely.union_all(oth_m, grid_size=GRID_SIZE_M), grid_size=GRID_SIZE_M))
    if unheld is not None:
        beyond = shapely.difference(beyond, unheld, grid_size=GRID_SIZE_M)
    for piece in _pieces(beyond):
        touched = [c for c, g in zip(codes_new, new_m) if _meets(g, piece)]
        found.append(Problem("beyond", float(shapely.area(piece)), tuple(touched)))
    return found


def _metric(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """Outlines in metres, repaired where projecting folded a vertex (area unchanged)."""
    if not len(gdf):
        return np.array([], dtype=object)
    frame = gpd.GeoDataFrame(geometry=list(gdf.geometry.values), crs=gdf.crs or settings.STORAGE_CRS)
    return shapely.make_valid(np.asarray(projection.to_metric(frame, crs=crs).geometry.values, dtype=object))


def _meets(grid, piece) -> bool:
    return shapely.area(shapely.intersection(grid, piece, grid_size=GRID_SIZE_M)) > 0


def _overlap(found: list[Problem], a, b, codes: tuple[str, str]) -> None:
    area = float(shapely.area(_pieces(shapely.intersection(a, b, grid_size=GRID_SIZE_M))).sum())
    if area > 0:
        found.append(Problem("overlap", area, codes))


def _no_recodes() -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series(dtype=int), "code_before": pd.Series(dtype=str),
                         "code_after": pd.Series(dtype=str)})


def _recodes(live, new, retired, everyone, community_code: str, crs: str) -> pd.DataFrame:
    """Every resulting grid of the community numbered west→east, north→south; a retired grid's
    number is skipped (its code still names closed tickets and visits)."""
    result = _resulting(live, new, retired)
    order = rules.reading_order(_metric(result, crs))
    taken = set(everyone.loc[everyone["retired_at"].notna(), "code"])
    fresh, k = [], 0
    while len(fresh) < len(result):
        k += 1
        code = f"{community_code}{k:0{rules.CODE_DIGITS}d}"
        if code not in taken:
            fresh.append(code)
    out = pd.DataFrame({"id": result["id"].to_numpy()[order], "code_before": result["code"].to_numpy()[order],
                        "code_after": fresh})
    return out[out["code_before"] != out["code_after"]].reset_index(drop=True)


def _resulting(live: gpd.GeoDataFrame, new: gpd.GeoDataFrame, retired: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The community's live grids once the plan is applied (lon-lat)."""
    cols = ["id", "code", "name", "grid_type", "geometry"]
    keep = live[~live["id"].isin(set(new["id"]) | set(retired["id"]))][cols]
    return gpd.GeoDataFrame(pd.concat([keep, new[cols]], ignore_index=True), geometry="geometry",
                            crs=settings.STORAGE_CRS)


def _buildings(conn: Engine | Connection, community_id: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The community's buildings (retired grids' included): rows, footprints and doors (lon-lat)."""
    b = Building.__table__
    stmt = select(b.c.id, b.c.name, b.c.grid_id, b.c.households, b.c.residents, b.c.entrance_lon,
                  b.c.entrance_lat, b.c.geom).where(
        b.c.grid_id.in_(select(Grid.id).where(Grid.community_id == community_id))).order_by(b.c.id)
    df = store.read_frame(conn, stmt)
    geoms = np.array(list(df.pop("geom")), dtype=object) if len(df) else np.array([], dtype=object)
    lon, lat, _ = coverage.entrances(df["entrance_lon"], df["entrance_lat"], geoms)
    return df, geoms, shapely.points(lon, lat)


def _moves(conn: Engine | Connection, community_id: int, new: gpd.GeoDataFrame, retired: set[int],
           live: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The community's buildings whose door lies in another grid under the new outlines."""
    df, geoms, door = _buildings(conn, community_id)
    df["to_grid_id"] = _assign(new, door, df["grid_id"].to_numpy(), retired, live)
    moved = (df["to_grid_id"] != df["grid_id"]).to_numpy()
    codes = {**dict(zip(live["id"], live["code"])), **dict(zip(new["id"], new["code"]))}
    out = df[moved].rename(columns={"grid_id": "from_grid_id"}).drop(columns=["entrance_lon", "entrance_lat"])
    out["from_code"], out["to_code"] = out["from_grid_id"].map(codes), out["to_grid_id"].map(codes)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=list(geoms[moved]), crs=settings.STORAGE_CRS)


def _assign(new: gpd.GeoDataFrame, points: np.ndarray, current: np.ndarray, retired: set[int] = frozenset(),
            live: gpd.GeoDataFrame | None = None) -> np.ndarray:
    """The grid each point belongs to under the new outlines.

    A point stays in its own grid while that grid (as changed, or as it is) still covers it, so a
    door on a shared edge stays put; otherwise it goes to the first new outline covering it, by
    code; a point of a retired grid that no outline covers goes to the nearest; any other stays.
    A point its grid did not hold before (``live``: the outlines as they are) but another grid did
    is not in the land that changes and stays filed where it was, unless its grid is retired; one
    that no grid held (unheld land) goes to the new outline that now holds it.
    """
    current = np.asarray(current)
    if not len(points):
        return current
    order = np.argsort(new["code"].to_numpy())
    ids = new["id"].to_numpy()[order]
    shapes = new.geometry.values[order]
    covers = np.array([shapely.dwithin(g, points, ON_EDGE_DEG) for g in shapes]).reshape(len(ids), len(points))
    was = {int(i): g for i, g in zip(live["id"], live.geometry.values)} if live is not None else {}
    own = {**was, **{int(i): g for i, g in zip(ids, shapes)}, **{int(r): None for r in retired}}
    held = np.zeros(len(points), bool)  # by some grid, as the outlines are
    if was:
        held[shapely.STRtree(list(was.values())).query(points, predicate="dwithin", distance=ON_EDGE_DEG)[0]] = True
    stays = np.array([_still_covers(own, int(c), p) or (int(c) not in retired and h and not _still_covers(was, int(c), p))
                      for c, p, h in zip(current, points, held)], dtype=bool)
    first = np.where(covers.any(axis=0), ids[covers.argmax(axis=0)], current)
    lost = ~stays & ~covers.any(axis=0) & np.isin(current, list(retired))
    if lost.any() and len(ids):
        first[lost] = [ids[int(np.argmin(shapely.distance(shapes, p)))] for p in points[lost]]
    return np.where(stays, current, first)


def _still_covers(own: dict, grid_id: int, point) -> bool:
    """Whether ``grid_id`` (as it will be) still holds ``point``: a retired grid never does; a grid the
    plan does not know (another community's) is left alone."""
    if grid_id not in own:
        return True
    return own[grid_id] is not None and bool(shapely.dwithin(own[grid_id], point, ON_EDGE_DEG))


def _totals(engine: Engine | Connection, community_id: int) -> pd.DataFrame:
    """Households and residents per grid of the community, as stored."""
    b = Building.__table__
    df = store.read_frame(engine, select(b.c.grid_id.label("id"), func.sum(b.c.households).label("households"),
                                         func.sum(b.c.residents).label("residents"))
                          .where(b.c.grid_id.in_(select(Grid.id).where(Grid.community_id == community_id)))
                          .group_by(b.c.grid_id))
    return df.set_index("id").astype(int)


def _changes(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, moves: gpd.GeoDataFrame, crs: str,
             totals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per grid the plan touches (changed, new, retired): areas, what comes in and goes out,
    and the households and residents before and after."""
    rows = pd.concat([new[["id", "code", "name"]], old.loc[~old["id"].isin(new["id"]), ["id", "code", "name"]]],
                     ignore_index=True)
    area_old = dict(zip(old["id"], shapely.area(_metric(old, crs)))) if len(old) else {}
    area_new = dict(zip(new["id"], shapely.area(_metric(new, crs)))) if len(new) else {}
    out = rows.assign(area_before_m2=rows["id"].map(area_old).fillna(0.0).astype(float),
                      area_after_m2=rows["id"].map(area_new).fillna(0.0).astype(float))
    count = moves.assign(buildings=1)
    for what in ("buildings", "households", "residents"):
        gained = count.groupby("to_grid_id")[what].sum()
        lost = count.groupby("from_grid_id")[what].sum()
        out[f"{what}_in"] = out["id"].map(gained).fillna(0).astype(int)
        out[f"{what}_out"] = out["id"].map(lost).fillna(0).astype(int)
    if totals is not None:
        for what in ("households", "residents"):
            before = out["id"].map(totals[what]).fillna(0).astype(int)
            out[f"{what}_before"] = before
            out[f"{what}_after"] = before + out[f"{what}_in"] - out[f"{what}_out"]
    return out


def _findings(engine: Engine, community_id: int, community_code: str, result: gpd.GeoDataFrame,
              moves: gpd.GeoDataFrame, codes: set[str]) -> pd.DataFrame:
    """The grid rule on the grids the plan changes or makes (the others are the standing report's)."""
    b = rules.buildings_frame(engine, [community_id])
    to = dict(zip(moves["id"], moves["to_grid_id"]))
    b["grid_id"] = [to.get(i, g) for i, g in zip(b["id"], b["grid_id"])]
    b["grid_code"] = b["grid_id"].map(dict(zip(result["id"], result["code"])))
    grids = result.assign(community_code=community_code)
    return rules.check_grids(grids, b, estates=rules.estates_frame(engine, [community_id]), only=codes).findings


def _bindings(engine: Engine, retired: gpd.GeoDataFrame, moves: gpd.GeoDataFrame, new: gpd.GeoDataFrame
              ) -> pd.DataFrame:
    """Who is bound to a grid being retired: its team (by role), leaders' contact points and logins,
    each with the grid proposed to take them (the one receiving most of its households); people bound
    to a place (building heads, household-link heads, party members) follow their place instead."""
    cols = ["kind", "id", "role", "name", "from_grid_id", "from_code", "to_grid_id", "follows_place"]
    if not len(retired):
        return pd.DataFrame(columns=cols)
    ids = [int(i) for i in retired["id"]]
    p, u = Person.__table__, AppUser.__table__
    people = store.read_frame(engine, select(p.c.id, p.c.role, p.c.name, p.c.grid_id, p.c.contact_grid_id)
                              .where(or_(p.c.grid_id.in_(ids), p.c.contact_grid_id.in_(ids))).order_by(p.c.id))
    logins = store.read_frame(engine, select(u.c.id, u.c.role, u.c.username.label("name"), u.c.grid_id)
                              .where(u.c.grid_id.in_(ids)).order_by(u.c.id))
    codes = dict(zip(retired["id"].astype(int), retired["code"]))
    rows = []
    for r in people.itertuples():
        if r.grid_id in codes:
            rows.append(dict(kind="person", id=r.id, role=r.role, name=_shown(r.role, r.name),
                             from_grid_id=int(r.grid_id), follows_place=r.role in PLACE_BOUND))
        if r.contact_grid_id in codes:
            rows.append(dict(kind="contact", id=r.id, role=r.role, name=r.name, from_grid_id=int(r.contact_grid_id),
                             follows_place=False))
    for r in logins.itertuples():
        rows.append(dict(kind="user", id=r.id, role=r.role, name=r.name, from_grid_id=int(r.grid_id),
                         follows_place=False))
    out = pd.DataFrame(rows, columns=["kind", "id", "role", "name", "from_grid_id", "follows_place"])
    out["from_code"] = out["from_grid_id"].map(codes)
    out["to_grid_id"] = out["from_grid_id"].map(successors(retired, moves, new))
    return out[cols]


def _shown(role: str, name: str) -> str:
    """Names of a grid's staff as the map shows them; residents' (party members, link heads) masked."""
    return masks.mask_name(name) if role in ("party_member", "household_link_head", "volunteer") else name


def successors(retired: gpd.GeoDataFrame, moves: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> dict[int, int]:
    """Retired grid → the grid receiving most of its households (else most of its land)."""
    out = {}
    for rid, geom in zip(retired["id"].astype(int), retired.geometry.values):
        mine = moves[moves["from_grid_id"] == rid]
        if len(mine) and mine["households"].sum() > 0:
            out[rid] = int(mine.groupby("to_grid_id")["households"].sum().idxmax())
        elif len(new) and geom is not None:
            out[rid] = int(new["id"].iloc[int(np.argmax(shapely.area(shapely.intersection(new.geometry.values,
                                                                                           geom))))])
    return out


# --------------------------------------------------------------------------- applying

def apply_adjustment(engine: Engine, user, plan: Plan, *, now: datetime, reason: str | None = None,
                     reassign: dict[int, int] | None = None) -> pd.DataFrame:
    """Write a checked plan in one transaction; returns the per-grid changes as written.

    Refuses a plan with problems or refused findings (BoundaryError), a plan breaking
    the grid rule's bounds (or cutting an estate) without a ``reason`` (BoundaryError
    "reason"; the reason goes in the audit), and a plan whose grids or their
    neighbours someone changed since it was read (ConcurrentEditError): then nothing
    is written. The moves are worked out again inside the transaction from the new
    outlines, so a building added meanwhile goes where its door is. New grids are
    made first; a retired grid keeps its row and code for history and holds no land;
    its team, leaders' contact points and logins go to ``reassign[retired id]`` (a grid
    id of the plan; default: the grid taking most of its households).
    """
    may_edit(user)
    if not plan.ok:
        raise BoundaryError("not_ok", n=len(plan.problems) + len(plan.refused))
    reason = (reason or "").strip()[:REASON_CHARS]
    if len(plan.needs_reason) and not reason:
        raise BoundaryError("reason", n=len(plan.needs_reason))
    g = Grid.__table__
    with engine.begin() as conn:
        # Locks these rows (PostGIS) or the database (SQLite) until commit, so nobody can change them
        # between the check below and our write.
        store.lock_rows(conn, g, plan.fingerprints)
        current = grids_of(conn, roles.WHOLE_STREET, ids=set(plan.fingerprints))
        seen = dict(zip(current["id"].astype(int), map(fingerprint, current.geometry.values)))
        if seen != plan.fingerprints:
            raise ConcurrentEditError(t("boundaries.err_conflict", "zh") + " / " + t("boundaries.err_conflict", "en"))
        live = grids_of(conn, roles.WHOLE_STREET, community_id=plan.community_id)
        new, made = _create(conn, plan)
        retired = set(plan.retired["id"].astype(int))
        moves = _moves(conn, plan.community_id, new, retired, live)
        totals = _totals(conn, plan.community_id)
        _write_codes(conn, plan.recodes, made)
        changed = new[new["id"].isin(plan.old["id"])]
        for row in store.with_bbox([{"id": int(i), "geom": geom} for i, geom in zip(changed["id"], changed.geometry)]):
            conn.execute(update(g).where(g.c.id == row.pop("id")).values(**row))
        if retired:
            conn.execute(update(g).where(g.c.id.in_(sorted(retired))).values(
                geom=None, minx=None, miny=None, maxx=None, maxy=None, retired_at=now, retired_by=user.username))
        _move_people_and_tickets(conn, new, moves, retired, live, community_id=plan.community_id)
        gone = gpd.GeoDataFrame(plan.retired[["id"]], geometry=list(plan.old.set_index("id").geometry.reindex(
            plan.retired["id"]).values), crs=settings.STORAGE_CRS)
        targets = successors(gone, moves, new)
        targets.update({int(k): made.get(int(v), int(v)) for k, v in (reassign or {}).items()})
        _reassign(conn, retired, targets, now=now)
        crs = projection.metric_crs_for(plan.old if len(plan.old) else plan.new)
        changes = _changes(plan.old, new, moves, crs, totals)
        _audit(conn, user, plan, changes, made, now=now, reason=reason)
    return changes


def _create(conn: Connection, plan: Plan) -> tuple[gpd.GeoDataFrame, dict[int, int]]:
    """Insert the plan's new grids: ``plan.new`` with their real ids, and placeholder id → real id."""
    new = plan.new.copy()
    g = Grid.__table__
    made: dict[int, int] = {}
    for i, row in new[new["id"] < 0].iterrows():
        values = store.with_bbox([{"geom": row.geometry}])[0]
        rid = conn.execute(insert(g).values(community_id=plan.community_id, code=f"~{-int(row['id'])}",
                                            name=row["name"], grid_type=row["grid_type"], **values)
                           .returning(g.c.id)).scalar_one()
        made[int(row["id"])] = int(rid)
        new.loc[i, "id"] = int(rid)
    for placeholder, rid in made.items():  # codes last: a renumbered grid may be giving its code away
        code = new.loc[new["id"] == rid, "code"].iloc[0]
        if not (plan.recodes["id"] == placeholder).any():
            conn.execute(update(g).where(g.c.id == rid).values(code=code))
    return new.astype({"id": int}), made


def _write_codes(conn: Connection, recodes: pd.DataFrame, made: dict[int, int]) -> None:
    """New codes for renumbered grids, in two steps (codes are unique: 002→003 while 003→004)."""
    g = Grid.__table__
    ids = [made.get(int(r.id), int(r.id)) for r in recodes.itertuples()]
    for rid in ids:
        conn.execute(update(g).where(g.c.id == rid).values(code=f"~r{rid}"))
    for rid, r in zip(ids, recodes.itertuples()):
        conn.execute(update(g).where(g.c.id == rid).values(code=r.code_after))


def _move_people_and_tickets(conn: Connection, new: gpd.GeoDataFrame, moves: gpd.GeoDataFrame,
                             retired: set[int] = frozenset(), live: gpd.GeoDataFrame | None = None, *,
                             community_id: int) -> None:
    """Buildings, their households, residents and the people bound to them, then what stands in the
    land: open tickets, facilities, cameras, estates and open spaces."""
    h, p = Household.__table__, Person.__table__
    for to_grid, group in moves.groupby("to_grid_id"):
        bids = [int(i) for i in group["id"]]
        homes = select(h.c.id).where(h.c.building_id.in_(bids))
        conn.execute(update(Building.__table__).where(Building.id.in_(bids)).values(grid_id=int(to_grid)))
        conn.execute(update(h).where(h.c.building_id.in_(bids)).values(grid_id=int(to_grid)))
        conn.execute(update(Resident.__table__).where(Resident.household_id.in_(homes)).values(grid_id=int(to_grid)))
        conn.execute(update(p).where(p.c.role.in_(("building_head", "household_link_head")),
                                     p.c.building_id.in_(bids)).values(grid_id=int(to_grid)))
        conn.execute(update(p).where(p.c.role == "party_member", p.c.resident_id.in_(
            select(Resident.id).where(Resident.household_id.in_(homes)))).values(grid_id=int(to_grid)))
    tk = Ticket.__table__
    grids = select(Grid.id).where(Grid.community_id == community_id)  # unheld land may hold any of them
    _follow(conn, tk, new, grids, retired, live, tk.c.state.in_(workflow.OPEN_STATES), bump_version=True)
    for table in (Facility.__table__, Camera.__table__, Estate.__table__, OpenSpace.__table__):
        _follow(conn, table, new, grids, retired, live)


def _follow(conn: Connection, table, new: gpd.GeoDataFrame, grids, retired: set[int],
            live: gpd.GeoDataFrame | None, *where, bump_version: bool = False) -> None:
    """Rows of the community's grids (open tickets, facilities, cameras, estates, open spaces) in the land
    that changes go where their point (for a polygon, a point inside it) now lies (``_assign``).

    ``bump_version``: tickets carry an optimistic-lock version, and a page holding the
    old one must re-read the ticket.
    """
    rows = conn.execute(select(table.c.id, table.c.grid_id, table.c.geom).where(
        table.c.grid_id.in_(grids), *where)).fetchall()
    if not rows:
        return
    points = shapely.point_on_surface(np.array([r[2] for r in rows], dtype=object))
    current = np.array([r[1] for r in rows])
    target = _assign(new, points, current, retired, live)
    extra = {"version": table.c.version + 1} if bump_version else {}
    for rid, src, dst in zip([r[0] for r in rows], current, target):
        if dst != src:
            conn.execute(update(table).where(table.c.id == rid).values(grid_id=int(dst), **extra))


def _reassign(conn: Connection, retired: set[int], targets: dict[int, int], *, now: datetime) -> None:
    """A retired grid's team, leaders' contact points and logins go to their target grid (place-bound
    people have followed their place already); a login's sessions end, as on any change of area."""
    p, u = Person.__table__, AppUser.__table__
    for rid in sorted(retired):
        to = targets.get(rid)
        if to is None:
            continue
        conn.execute(update(p).where(p.c.grid_id == rid, p.c.role.notin_(PLACE_BOUND)).values(grid_id=to))
        conn.execute(update(p).where(p.c.contact_grid_id == rid).values(contact_grid_id=to))
        for uid in conn.execute(select(u.c.id).where(u.c.grid_id == rid)).scalars().all():
            conn.execute(update(u).where(u.c.id == uid).values(grid_id=to))
            sessions.revoke_user(conn, uid, now=now)


def _audit(conn: Connection, user, plan: Plan, changes: pd.DataFrame, made: dict[int, int], *, now: datetime,
           reason: str) -> None:
    """One row per grid: grid.boundary (changed), grid.create (new), grid.retire (retired), grid.recode."""
    kind = t(f"gridplan.kind_{plan.kind}", "zh")
    why = f"；理由/reason: {reason}" if reason else ""
    created, retired = set(made.values()), set(plan.retired["id"].astype(int))
    for r in changes.itertuples():
        action = "grid.create" if r.id in created else "grid.retire" if r.id in retired else "grid.boundary"
        audit.record(conn, at=now, username=user.username, role=user.role, action=action,
                     object_type="grid", object_id=int(r.id), grid_id=int(r.id), detail=f"[{kind}] {_detail(r)}{why}")
    for r in plan.recodes.itertuples():
        rid = made.get(int(r.id), int(r.id))
        audit.record(conn, at=now, username=user.username, role=user.role, action="grid.recode",
                     object_type="grid", object_id=rid, grid_id=rid, detail=f"[{kind}] {r.code_before} → {r.code_after}")


def _detail(r) -> str:
    text = (f"{r.code} 面积/area {r.area_before_m2:,.0f} → {r.area_after_m2:,.0f} m² "
            f"({r.area_after_m2 - r.area_before_m2:+,.0f}); 楼栋/buildings +{r.buildings_in} −{r.buildings_out}, "
            f"户/households +{r.households_in} −{r.households_out}, 人/residents +{r.residents_in} −{r.residents_out}")
    if hasattr(r, "households_after"):
        text += f"; 现/now {r.households_after} 户/households {r.residents_after} 人/residents"
    return text
