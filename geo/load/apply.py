"""Writing a checked plan: one transaction, all or nothing, audited with who, when, which files.

- An empty database gets the street and is recorded as ``real`` (geo.db.migrate: a real street is
  only ever upgraded, never rebuilt).
- A demo database is replaced only when asked (``replace_demo``): the demo town, its tickets and
  its accounts (whose password is public) go, accounts of the street level with their own
  passwords (``admin``) stay and now answer for the new street; then it is ``real``.
- A real street is updated: rows matched by key are changed only where they differ, new ones
  added, and with ``sync`` the ones the files no longer hold removed.

Every file's name and SHA-256 is written to the audit log with the counts, in the same
transaction, and the column mappings used are remembered for the street. Anything that fails
rolls the whole transaction back.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from geo.access import audit, roles
from geo.access.users import DEMO_HASHER
from geo.db import migrate, store
from geo.db.schema import (
    Base, Building, Camera, CareLink, Community, Facility, Grid, Household, LoginSession,
    Meta, OpenSpace, Person, Resident, Road, Street, Ticket, User, Visit)
from geo.errors import ValidationError
from geo.i18n import t
from geo.load import checks, mapping, stored
from geo.load.plan import Plan
from geo.load.sources import describe

#: Roles whose own-password accounts survive replacing the demo (they answer for a whole street).
STREET_ROLES = ("street_leader", "street_staff")


class LoadRefused(ValidationError):
    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params
        super().__init__(f"{t('load.err_' + key, 'zh').format(**params)} / {t('load.err_' + key, 'en').format(**params)}")

    def message(self, lang: str = "zh") -> str:
        return t(f"load.err_{self.key}", lang).format(**self.params)


def apply(engine: Engine, plan: Plan, *, username: str, role: str | None = None, now: datetime,
          replace_demo: bool = False) -> dict[str, dict[str, int]]:
    """Write ``plan``; returns the counts per layer. Refuses (LoadRefused, nothing written) a plan
    with errors, a demo database without ``replace_demo``, and a demo replaced by a demo account."""
    if role is not None and not roles.may(role, "load_data"):
        raise PermissionError("您的角色不能导入街道数据 / your role may not load a street's data")
    if not plan.ok:
        raise LoadRefused("not_ok", n=len(checks.errors(plan.findings)))
    state = plan.state
    if (migrate.kind(engine) or "empty") != state:  # someone loaded or replaced meanwhile: plan again
        raise LoadRefused("changed")
    if state == "demo" and not replace_demo:
        raise LoadRefused("demo")
    if state == "empty":
        store.create_schema(engine)
    with engine.begin() as conn:
        if state == "demo":
            if _is_demo_account(conn, username):
                raise LoadRefused("demo_account")
            _wipe_demo(conn)
        sid = _write(conn, plan)
        if state == "empty":
            conn.execute(insert(Meta), [{"key": "built", "value": migrate.REAL}])
            migrate.stamp(conn)
        elif state == "demo":
            conn.execute(update(Meta).where(Meta.key == "built").values(value=migrate.REAL))
            conn.execute(update(User).values(street_id=sid))
        summary = plan.summary().to_dict(orient="index")
        for part in plan.bundle.parts:
            mapping.remember(conn, plan.street_code, part.target, part.mapping, at=now, by=username)
        detail = (f"{plan.street_code} {plan.street_name}: "
                  + "; ".join(f"{k} +{v['added']} ~{v['changed']} -{v['removed']}" for k, v in summary.items())
                  + f" | {describe(plan.bundle.sources)}")
        audit.record(conn, at=now, username=username, role=role, action="load.street", object_type="street",
                     object_id=sid, detail=detail)
        if store.is_postgis(engine):
            for table in ("street", "community", "grid", "building", "household", "resident", "facility", "camera",
                          "road"):
                conn.exec_driver_sql(f"ANALYZE {table}")
    return summary


def _is_demo_account(conn: Connection, username: str) -> bool:
    row = conn.execute(select(User.password_hash, User.role).where(User.username == username)).first()
    return row is None or _demo_hash(row[0]) or row[1] not in STREET_ROLES


def _demo_hash(stored_hash: str) -> bool:
    return f"m={DEMO_HASHER.memory_cost},t={DEMO_HASHER.time_cost}," in (stored_hash or "")


#: What replacing the demo keeps: the record of what was done, the accounts (emptied of their places), sign-in
#: state, the wall's token and the remembered column mappings. Every other table holds the demo town.
_KEPT_ON_REPLACE = frozenset({"audit_log", "app_user", "login_session", "login_throttle", "kiosk_token", "meta",
                              "load_mapping", "alembic_version"})


def _wipe_demo(conn: Connection) -> None:
    """Everything of the demo town, and its accounts; own-password street accounts stay. The audit
    log (what was done) and the wall's token are kept."""
    users = conn.execute(select(User.id, User.password_hash, User.role)).fetchall()
    gone = [u.id for u in users if _demo_hash(u.password_hash) or u.role not in STREET_ROLES]
    conn.execute(delete(LoginSession).where(LoginSession.user_id.in_(gone)))
    conn.execute(delete(User).where(User.id.in_(gone)))
    conn.execute(update(User).values(street_id=None, community_id=None, grid_id=None, person_id=None))
    conn.execute(update(Ticket).values(merged_into_id=None))
    for table in reversed(Base.metadata.sorted_tables):  # children first; a table added later is wiped too
        if table.name not in _KEPT_ON_REPLACE:
            conn.execute(delete(table))


# --------------------------------------------------------------------------- the rows

def _write(conn: Connection, plan: Plan) -> int:
    a, d = plan.after, plan.diffs
    street = a["street"].iloc[0]
    sid = conn.execute(select(Street.id).where(Street.code == plan.street_code)).scalar()
    srow = {"code": plan.street_code, "name": plan.street_name or str(street["name"]), "geom": street.geometry}
    if sid is None:
        sid = _insert(conn, Street, [srow])
    elif "street" in d and d["street"].changed:
        _update(conn, Street, {sid: srow})
    comm_ids = _sync(conn, plan, "community", Community, lambda r, ids: {
        "street_id": sid, "code": r["code"], "name": r["name"], "geom": r.geometry})
    grid_ids = _sync(conn, plan, "grid", Grid, lambda r, ids: {
        "community_id": comm_ids[r["community_code"]], "code": r["code"], "name": r["name"],
        "grid_type": r["grid_type"] or "area", "geom": r.geometry})
    _sync(conn, plan, "road", Road, lambda r, ids: {
        "code": r["code"] or None, "name": (r["name"] or None) and str(r["name"])[:64], "kind": r["kind"],
        "level": None if pd.isna(r.get("level")) else int(r["level"]), "geom": r.geometry})
    building_ids = _sync(conn, plan, "building", Building, lambda r, ids: {
        "grid_id": grid_ids[r["grid_code"]], "code": r["code"] or None, "address": r["address"] or None,
        "name": r["name"] or r["address"] or r["code"], "floors": int(r["floors"]), "units": int(r["units"]),
        "households": int(r["households"]), "residents": int(r["residents"]),
        "entrance_lon": float(r["door_lon"]), "entrance_lat": float(r["door_lat"]), "geom": r.geometry})
    if "household" in d:
        b_grid = dict(zip(a["building"]["key"], a["building"]["grid_code"].map(grid_ids)))
        hh_ids = _sync(conn, plan, "household", Household, lambda r, ids: {
            "building_id": building_ids[r["building_ref"]], "grid_id": int(b_grid[r["building_ref"]]),
            "code": r["household_code"] or None, "unit_no": int(r["unit_no"]), "room": str(r["room"])[:8],
            "size": int(r["size"]), "elderly_alone": bool(r["elderly_alone"]), "low_income": bool(r["low_income"])},
            spatial=False)
        hh_grid = dict(zip(a["household"]["key"], a["household"]["building_ref"].map(b_grid)))
        _sync(conn, plan, "resident", Resident, lambda r, ids: {
            "household_id": hh_ids[r["household_key"]], "grid_id": int(hh_grid[r["household_key"]]),
            "name": str(r["name"])[:32], "gender": r["gender"] or "M", "birth_year": int(r["birth_year"])
            if pd.notna(r["birth_year"]) else 0, "phone": r["phone"] or None, "id_number": str(r["id_number"])[:18],
            "elderly_alone": bool(r["elderly_alone"]), "disabled": bool(r["disabled"]),
            "low_income": bool(r["low_income"]), "party_member": bool(r["party_member"])}, spatial=False)
    _follow_buildings(conn, building_ids)
    _sync(conn, plan, "facility", Facility, lambda r, ids: {
        "code": r["code"] or None, "type": r["type"], "name": r["name"], "address": r["address"] or None,
        "open_hours": r["open_hours"] or None, "grid_id": grid_ids.get(r["grid_code"]),
        "community_id": comm_ids.get(r["community_code"]), "geom": r.geometry})
    _sync(conn, plan, "camera", Camera, lambda r, ids: {
        "code": r["code"], "name": r["name"], "heading": _num(r["heading"], 0.0), "fov": _num(r["fov"], 90.0),
        "range_m": _num(r["range_m"], 50.0), "status": r["status"] or "online", "kind": r["kind"] or "雪亮",
        "grid_id": grid_ids.get(r["grid_code"]), "geom": r.geometry})
    return int(sid)


def _num(v, default: float) -> float:
    v = pd.to_numeric(v, errors="coerce")
    return default if pd.isna(v) else float(v)


def _insert(conn: Connection, model, rows: list[dict]) -> int | None:
    if not rows:
        return None
    if "geom" in model.__table__.c:
        rows = store.with_bbox(rows)
    if len(rows) == 1:
        return conn.execute(insert(model).returning(model.__table__.c.id), rows).scalar()
    store.bulk_insert(conn, model, rows)
    return None


def _update(conn: Connection, model, rows: dict[int, dict]) -> None:
    table = model.__table__
    for rid, row in rows.items():
        if "geom" in table.c:
            row = store.with_bbox([dict(row)])[0]
        conn.execute(update(table).where(table.c.id == rid).values(**row))


def _sync(conn: Connection, plan: Plan, layer: str, model, row_of, *, spatial: bool = True) -> dict[str, int]:
    """Add, change and remove the rows of one layer; returns key → id for every row of it after."""
    frame = plan.after.get(layer)
    diff = plan.diffs.get(layer)
    old = plan.stored.get(layer)
    old_ids = dict(zip(old["key"], old["id"].astype(int))) if old is not None and len(old) and "id" in old else {}
    if frame is None:
        return old_ids
    by_key = frame.drop_duplicates("key").set_index("key", drop=False)
    if diff is not None:
        if diff.removed:
            _remove(conn, layer, [old_ids[k] for k in diff.removed if k in old_ids])
        _update(conn, model, {old_ids[k]: row_of(by_key.loc[k], old_ids) for k in diff.changed})
        store.bulk_insert(conn, model, [row_of(by_key.loc[k], old_ids) for k in diff.added])
    return _ids(conn, layer, model)


def _ids(conn: Connection, layer: str, model) -> dict[str, int]:
    table = model.__table__
    if layer in ("street", "community", "grid", "camera"):
        rows = conn.execute(select(table.c.code, table.c.id)).fetchall()
        return {str(c): int(i) for c, i in rows}
    if layer == "household":
        reg = stored.read_register(conn, select(Grid.id))
        return dict(zip(reg["household_key"], reg["household_id"].astype(int)))
    if layer == "resident":
        return {}
    frame = stored.read(conn, register=False)[layer]
    return dict(zip(frame["key"], frame["id"].astype(int)))


def _remove(conn: Connection, layer: str, ids: list[int]) -> None:
    if not ids:
        return
    model = {"community": Community, "grid": Grid, "road": Road, "building": Building, "household": Household,
             "resident": Resident, "facility": Facility, "camera": Camera}[layer]
    if layer == "building":  # what hangs off a building goes with it (a register that no longer lists it)
        hh = select(Household.id).where(Household.building_id.in_(ids))
        conn.execute(update(Person).where(Person.building_id.in_(ids)).values(building_id=None))
        conn.execute(delete(CareLink).where(CareLink.household_id.in_(hh)))
        conn.execute(delete(Visit).where(Visit.household_id.in_(hh)))
        conn.execute(delete(Resident).where(Resident.household_id.in_(hh)))
        conn.execute(delete(Household).where(Household.building_id.in_(ids)))
    if layer == "household":
        conn.execute(delete(CareLink).where(CareLink.household_id.in_(ids)))
        conn.execute(delete(Visit).where(Visit.household_id.in_(ids)))
        conn.execute(delete(Resident).where(Resident.household_id.in_(ids)))
    if layer == "resident":
        conn.execute(update(Person).where(Person.resident_id.in_(ids)).values(resident_id=None))
    if layer in ("grid", "community"):
        conn.execute(update(Facility).where((Facility.grid_id if layer == "grid" else Facility.community_id)
                                            .in_(ids)).values(**{f"{layer}_id": None}))
    if layer == "grid":
        conn.execute(update(Camera).where(Camera.grid_id.in_(ids)).values(grid_id=None))
        conn.execute(update(OpenSpace).where(OpenSpace.grid_id.in_(ids)).values(grid_id=None))
    conn.execute(delete(model).where(model.id.in_(ids)))


def _follow_buildings(conn: Connection, building_ids: dict[str, int]) -> None:
    """Households and residents are in their building's grid (a building may have moved grid)."""
    h, b, r = Household.__table__, Building.__table__, Resident.__table__
    moved = conn.execute(select(h.c.id, b.c.grid_id).join(b, b.c.id == h.c.building_id)
                         .where(h.c.grid_id != b.c.grid_id)).fetchall()
    if not moved:
        return
    conn.execute(update(h).where(h.c.id == bindparam("hid")).values(grid_id=bindparam("gid")),
                 [{"hid": m[0], "gid": m[1]} for m in moved])
    conn.execute(update(r).where(r.c.household_id == bindparam("hid")).values(grid_id=bindparam("gid")),
                 [{"hid": m[0], "gid": m[1]} for m in moved])
