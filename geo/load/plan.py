"""What an import would do, worked out before anything is written: the street after it, its
report, and per layer the rows added, changed (only what differs) and removed.

Rows are matched by key (``key_of``): a division code, a building's code (else address, else
name), a facility's code (else type and name), a road's code, a household's number (else
building, unit and room), a resident's ID number. A layer the import does not bring stays as
stored; a layer it brings replaces the stored rows it matches, and with ``sync`` removes the
stored rows it no longer holds. Importing the same files again therefore changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, select

from geo import settings
from geo.db import migrate
from geo.db.schema import AuditLog, Person, Ticket, User
from geo.load import checks, doors, stored
from geo.load.bundle import Bundle, building_key
from geo.load.checks import Finding

#: The columns compared to tell a changed row, per layer.
COMPARED: dict[str, tuple[str, ...]] = {
    "street": ("name", "geometry"), "community": ("name", "geometry"),
    "grid": ("name", "grid_type", "community_code", "geometry"),
    "building": ("code", "name", "address", "floors", "units", "households", "residents", "entrance_lon",
                 "entrance_lat", "grid_code", "geometry"),
    "facility": ("type", "name", "address", "open_hours", "geometry"),
    "camera": ("name", "heading", "fov", "range_m", "status", "kind", "geometry"),
    "road": ("name", "kind", "level", "geometry"),
    "household": ("building_ref", "unit_no", "room", "size", "elderly_alone", "low_income"),
    "resident": ("household_key", "name", "gender", "birth_year", "phone", "elderly_alone", "disabled",
                 "low_income", "party_member"),
}
#: Geometries closer than this (degrees, ~1 cm) are the same.
SAME_DEG = 1e-7


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    same: int = 0

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed), "removed": len(self.removed), "same": self.same}


@dataclass
class Plan:
    bundle: Bundle
    after: dict[str, pd.DataFrame]
    stored: dict[str, pd.DataFrame]
    diffs: dict[str, Diff]
    findings: list[Finding]
    state: str  # empty / demo / real
    street_code: str
    street_name: str
    sync: bool = False

    @property
    def ok(self) -> bool:
        return not checks.errors(self.findings)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({k: d.counts() for k, d in self.diffs.items()}).T


def key_of(layer: str, frame: pd.DataFrame) -> pd.Series:
    if layer in ("street", "community", "grid", "camera"):
        return frame["code"].fillna("").astype(str)
    if layer == "building":
        return pd.Series([building_key(*v) for v in zip(frame["code"], frame["address"], frame["name"])],
                         index=frame.index, dtype=str)
    if layer == "facility":
        return frame["code"].where(frame["code"] != "", frame["type"] + "|" + frame["name"])
    if layer == "road":
        wkt = frame.geometry.map(lambda x: x.wkt[:60] if x is not None else "")
        return frame["code"].where(frame["code"] != "", frame["kind"] + "|" + frame["name"] + "|" + wkt)
    raise KeyError(layer)


def state_of(engine: Engine) -> str:
    kind = migrate.kind(engine)
    return "empty" if kind is None else kind


def make(engine: Engine, bundle: Bundle, *, sync: bool = False, street_name: str | None = None,
         street_code: str | None = None) -> Plan:
    """The plan for ``bundle`` against the database (empty, demo or a real street)."""
    state = state_of(engine)
    street = bundle.frames.get("street")
    code = street_code or (str(street["code"].iloc[0]) if street is not None and len(street) else "")
    if not code and "community" in bundle.frames and len(bundle.frames["community"]):
        code = str(bundle.frames["community"]["code"].iloc[0])[:9]
    ids = stored.street_ids(engine, code) if state == "real" else []
    old = stored.read(engine, ids[0]) if ids else {}
    after = _after(bundle, old, sync=sync, street_code=code, street_name=street_name)
    diffs = {layer: _diff(layer, after.get(layer), old.get(layer), sync)
             for layer in (*(k for k in after if k in COMPARED and (k in bundle.frames or k == "building")),)}
    if "register" in bundle.frames:
        for level in ("household", "resident"):
            diffs[level] = _diff(level, after.get(level), old.get(level), sync)
    found = checks.run(after) + _placements(bundle)
    found += _removals(engine, diffs, old)
    name = street_name or (str(after["street"]["name"].iloc[0]) if "street" in after and len(after["street"]) else "")
    return Plan(bundle, after, old, diffs, found, state, code, name, sync)


def _after(bundle: Bundle, old: dict[str, pd.DataFrame], *, sync: bool, street_code: str,
           street_name: str | None) -> dict[str, pd.DataFrame]:
    after: dict[str, pd.DataFrame] = {}
    for layer in ("street", "community", "grid", "road", "building", "facility", "camera"):
        new, was = bundle.frames.get(layer), old.get(layer)
        if new is not None:
            new = new.assign(key=key_of(layer, new))
            if was is not None and len(was) and not sync:
                new = pd.concat([new, was[~was["key"].isin(set(new["key"]))]], ignore_index=True)
            after[layer] = gpd.GeoDataFrame(new, geometry="geometry", crs=settings.STORAGE_CRS)
        elif was is not None:
            after[layer] = was.copy()
    if "street" not in after and "community" in after and len(after["community"]):
        outline = shapely.union_all(shapely.make_valid(after["community"].geometry.values))
        after["street"] = gpd.GeoDataFrame({"code": [street_code], "name": [street_name or street_code],
                                            "key": [street_code]}, geometry=[outline], crs=settings.STORAGE_CRS)
    _register(bundle, old, after, sync)
    _doors(bundle, after)
    checks.locate(after)
    return after


def _register(bundle: Bundle, old, after, sync: bool) -> None:
    reg = bundle.frames.get("register")
    was = old.get("register")
    if reg is None:
        if was is not None:
            after["register"] = was
        return
    people = (reg["name"] != "") | (reg["id_number"] != "")
    residents = reg[people].copy()
    residents["key"] = residents["id_number"].where(residents["id_number"] != "",
                                                    residents["household_key"] + "|" + residents["name"])
    households = reg.groupby("household_key", sort=False).agg(
        household_code=("household_code", "first"), building_ref=("building_ref", "first"),
        unit_no=("unit_no", "first"), room=("room", "first"), given=("size", "first"),
        elderly_alone=("elderly_alone", "max"), low_income=("low_income", "max")).reset_index()
    people_n = residents.groupby("household_key").size()
    households["size"] = households["household_key"].map(people_n).fillna(households["given"]).fillna(0).astype(int)
    households["key"] = households["household_key"]
    if was is not None and len(was) and not sync:
        old_h = _households_of(was)
        households = pd.concat([households, old_h[~old_h["key"].isin(set(households["key"]))]], ignore_index=True)
        old_r = _residents_of(was)
        residents = pd.concat([residents, old_r[~old_r["key"].isin(set(residents["key"]))]], ignore_index=True)
    after["household"], after["resident"] = households, residents
    after["register"] = reg
    if was is not None and len(was):
        old["household"], old["resident"] = _households_of(was), _residents_of(was)


def _households_of(reg: pd.DataFrame) -> pd.DataFrame:
    h = reg.drop_duplicates("household_id")[["household_id", "household_key", "household_code", "building_ref",
                                             "unit_no", "room", "size", "household_elderly", "household_low"]]
    h = h.rename(columns={"household_id": "id", "household_elderly": "elderly_alone", "household_low": "low_income"})
    return h.assign(key=h["household_key"])


def _residents_of(reg: pd.DataFrame) -> pd.DataFrame:
    r = reg[reg["id"].notna()].copy()
    r["key"] = r["id_number"].where(r["id_number"].fillna("") != "", r["household_key"] + "|" + r["name"])
    return r


def _doors(bundle: Bundle, after) -> None:
    b = after.get("building")
    if b is None or not len(b):
        return
    lon, lat, how = doors.fill(b, after.get("road"))
    b["door_lon"], b["door_lat"], b["door_how"] = lon, lat, how
    new = "building" in bundle.frames
    if new:  # a door made here is stored as the building's entrance
        b["entrance_lon"], b["entrance_lat"] = lon, lat
    h = after.get("household")
    if h is not None:
        per = h.groupby("building_ref").agg(households=("key", "size"), residents=("size", "sum"))
        b["households"] = b["key"].map(per["households"]).fillna(b["households"]).fillna(0).astype(int)
        b["residents"] = b["key"].map(per["residents"]).fillna(b["residents"]).fillna(0).astype(int)
    for col in ("households", "residents", "floors", "units"):
        b[col] = pd.to_numeric(b[col], errors="coerce").fillna(0 if col in ("households", "residents") else 1).astype(int)


def _diff(layer: str, new: pd.DataFrame | None, was: pd.DataFrame | None, sync: bool) -> Diff:
    if new is None:
        return Diff()
    if was is None or not len(was):
        return Diff(added=list(new["key"]))
    old = was.drop_duplicates("key").set_index("key")
    cur = new.drop_duplicates("key").set_index("key")
    added = [k for k in cur.index if k not in old.index]
    removed = [k for k in old.index if k not in cur.index]
    both = [k for k in cur.index if k in old.index]
    changed = [k for k in both if _differs(layer, cur.loc[k], old.loc[k])]
    return Diff(added, changed, removed if sync else [], len(both) - len(changed))


def _differs(layer: str, a: pd.Series, b: pd.Series) -> bool:
    for col in COMPARED[layer]:
        if col not in a or col not in b:
            continue
        x, y = a[col], b[col]
        if col == "geometry":
            if (x is None) != (y is None) or (x is not None and not shapely.equals_exact(x, y, tolerance=SAME_DEG)):
                return True
        elif isinstance(x, float) or isinstance(y, float):
            xf, yf = pd.to_numeric(x, errors="coerce"), pd.to_numeric(y, errors="coerce")
            if not (pd.isna(xf) and pd.isna(yf)) and not np.isclose(xf, yf, atol=1e-7, equal_nan=False):
                return True
        elif _text(x) != _text(y):
            return True
    return False


def _text(v) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer, float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _placements(bundle: Bundle) -> list[Finding]:
    out = []
    for layer, placed in bundle.placements.items():
        for p in placed:
            if p.detected or p.source in ("zone_from_x", "zone_matched") or p.datum != "wgs84":
                kind = "pos_detected" if p.detected else ("pos_zone" if p.source.startswith("zone") else "pos_converted")
                out.append(Finding(kind, "info", layer, params={"datum": p.datum, "m": p.offset_m, "crs": p.crs}))
    return out


def _removals(engine: Engine, diffs: dict[str, Diff], old: dict[str, pd.DataFrame]) -> list[Finding]:
    """Grids to remove that tickets, people or accounts still point at: refused (say which)."""
    d = diffs.get("grid")
    if not d or not d.removed:
        return []
    ids = old["grid"].set_index("key").loc[d.removed, "id"].astype(int).tolist()
    with engine.connect() as conn:
        used = sum(int(conn.execute(select(func.count()).select_from(m).where(m.grid_id.in_(ids))).scalar_one())
                   for m in (Ticket, Person, User, AuditLog) if m is not AuditLog)
    return [Finding("grid_in_use", "error", "grid", codes=tuple(d.removed[:5]), count=used)] if used else []
