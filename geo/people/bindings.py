"""Who looks after whom: party members and 联户长 bound to households, building heads, the grid team.

- 包保: each in-service party member looks after 5–8 households (正安县 “双报到”: 每名在职党员分楼层包保
  联系服务5—8户群众), at most one member per household; a ninth is refused with the rule in words.
- 联户长: a household-link head for about 30 neighbouring households (道真县: 1,700 heads for 138 grids),
  one per household, at most ``LINK_MAX``.
- 楼栋长: one head per building.
- The grid team (“由社区干部担任网格长，楼栋长担任网格管理员，志愿者为网格协管员，居民组长或辖区单位负责人为网格监督员”,
  致和镇): 网格长, 网格员, 网格协管员, 网格监督员; only community or street staff appoint a grid head.

Every change is checked against the user's own area in SQL (the household, the person and the
grid must all lie in it), refused with a message that says what to do, and written with its
audit row in one transaction. Binding takes a lock on the person's row first, so two grid heads
adding households to one member at the same moment cannot both pass the limit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, delete, func, insert, select, update

from geo.access import audit, roles
from geo.access.masks import mask_name, mask_phone
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Building, CareLink, Community, Grid, Household, Person, Resident
from geo.errors import NotFoundError, ValidationError
from geo.people.households import clean_phone, household_in_scope, residents_summary

#: 包保: households per in-service party member (正安县 双报到), shown on the page and enforced.
PARTY_HOUSEHOLDS: tuple[int, int] = (5, 8)
#: 联户长: about this many neighbouring households each (道真县), and never more than LINK_MAX.
LINK_HOUSEHOLDS = 30
LINK_MAX = 40
#: The care-link kind of each role that looks after households.
KIND_OF = {"party_member": "party", "household_link_head": "link"}
#: The grid team's roles (致和镇's four), in the order a page lists them.
TEAM_ROLES = {"grid_head": ("网格长", "Grid head"), "grid_worker": ("网格员", "Grid worker"),
              "grid_assistant": ("网格协管员", "Assistant"), "grid_supervisor": ("网格监督员", "Supervisor")}
HELPER_ROLES = {"party_member": ("党员", "Party member"), "household_link_head": ("联户长", "Link head"),
                "building_head": ("楼栋长", "Building head")}
_PERSON_NOT_HERE = "人员 {id} 不存在或不在您的管辖范围内 / no such person in your area"


def rule_text(lang: str = "zh") -> str:
    """The binding rules as a page states them."""
    lo, hi = PARTY_HOUSEHOLDS
    if lang == "zh":
        return (f"每名党员包保 {lo}–{hi} 户（正安县“双报到”），每户一名包保党员；联户长每人联系约 {LINK_HOUSEHOLDS} 户"
                f"（不超过 {LINK_MAX} 户），每户一名联户长；每栋楼一名楼栋长。")
    return (f"Each party member looks after {lo}–{hi} households, one member per household; a link head about "
            f"{LINK_HOUSEHOLDS} (at most {LINK_MAX}), one per household; one head per building.")


def _check(user, action: str) -> None:
    if not roles.may(user.role, action):
        raise PermissionError("您的角色不能调整包保和网格力量 / your role may not change who looks after whom")


def _person(conn, scope: Scope, person_id: int) -> dict[str, Any]:
    p = Person.__table__
    row = conn.execute(select(p.c.id, p.c.role, p.c.name, p.c.grid_id, p.c.community_id, p.c.building_id)
                       .where(p.c.id == person_id, scope.clause(p))).mappings().first()
    if row is None:
        raise NotFoundError(_PERSON_NOT_HERE.format(id=person_id))
    return dict(row)


def _address(place: dict[str, Any]) -> str:
    return f"{place['building']}{place['unit_no']}单元{place['room']}"


# --------------------------------------------------------------------------- households

def bind_household(engine: Engine, user, person_id: int, household_id: int, *, now: datetime) -> int:
    """Bind a party member (包保) or a 联户长 to a household of their own grid; returns how many they now have.

    Refused with nothing written: a household or person outside the user's area (NotFoundError), a
    person of another grid or role, a household already looked after by someone else of that kind,
    the same pair twice, and a party member who already has 8 households (ValidationError saying
    the 5–8 rule).
    """
    _check(user, "bind_people")
    with engine.begin() as conn:
        store.lock_rows(conn, Person.__table__, [person_id])  # first: a colleague's bind to them waits
        who = _person(conn, user.scope, person_id)
        place = household_in_scope(conn, user.scope, household_id)
        kind = KIND_OF.get(who["role"])
        if kind is None:
            raise ValidationError(f"{who['name']} 不是党员或联户长，不能包保住户 / only party members and link heads "
                                  "look after households")
        if who["grid_id"] != place["grid_id"]:
            raise ValidationError(f"{who['name']} 不属于该户所在网格，只能联系本网格的住户 / they belong to another grid")
        c = CareLink.__table__
        taken = conn.execute(select(Person.id, Person.name).join(c, c.c.person_id == Person.id).where(
            c.c.household_id == household_id, c.c.kind == kind)).first()
        if taken is not None and taken[0] == person_id:
            raise ValidationError(f"{_address(place)} 已由 {who['name']} 联系 / already bound")
        if taken is not None:
            what = "包保党员" if kind == "party" else "联户长"
            raise ValidationError(f"{_address(place)} 已有{what} {taken[1]}，每户一名；请先解除再换人 / this household "
                                  f"already has one ({taken[1]}); unbind first")
        n = _households_of(conn, person_id, kind)
        limit = PARTY_HOUSEHOLDS[1] if kind == "party" else LINK_MAX
        if n >= limit:
            raise ValidationError(_too_many(who["name"], kind, n))
        conn.execute(insert(CareLink), [dict(person_id=person_id, household_id=household_id, kind=kind)])
        audit.record(conn, at=now, username=user.username, role=user.role, action="binding.household",
                     object_type="household", object_id=int(household_id), grid_id=place["grid_id"],
                     detail=f"{_address(place)} ← {HELPER_ROLES[who['role']][0]} {who['name']}（第 {n + 1} 户）")
    return n + 1


def _households_of(conn, person_id: int, kind: str) -> int:
    """How many households the person looks after (read under the lock on their row)."""
    c = CareLink.__table__
    return int(conn.execute(select(func.count()).select_from(c).where(c.c.person_id == person_id,
                                                                      c.c.kind == kind)).scalar_one())


def _too_many(name: str, kind: str, n: int) -> str:
    lo, hi = PARTY_HOUSEHOLDS
    if kind == "party":
        return (f"党员 {name} 已包保 {n} 户，不能再增加第 {n + 1} 户：每名党员包保 {lo}–{hi} 户（正安县“双报到”）。"
                f"请改由本网格其他党员包保，或先为其解除一户 / {name} already looks after {n} households; each party "
                f"member looks after {lo}–{hi}: choose another member, or unbind one first")
    return (f"联户长 {name} 已联系 {n} 户，达到上限 {LINK_MAX} 户（每名联户长约 {LINK_HOUSEHOLDS} 户）；请增设一名联户长 / "
            f"{name} already links {n} households (at most {LINK_MAX})")


def unbind_household(engine: Engine, user, person_id: int, household_id: int, *, now: datetime) -> int:
    """Remove one binding; returns how many households the person keeps (a page warns below 5)."""
    _check(user, "bind_people")
    c = CareLink.__table__
    with engine.begin() as conn:
        store.lock_rows(conn, Person.__table__, [person_id])
        who = _person(conn, user.scope, person_id)
        place = household_in_scope(conn, user.scope, household_id)
        gone = conn.execute(delete(c).where(c.c.person_id == person_id, c.c.household_id == household_id))
        if gone.rowcount != 1:
            raise ValidationError(f"{who['name']} 并未联系 {_address(place)}（可能刚被他人解除）/ not bound")
        left = _households_of(conn, person_id, KIND_OF.get(who["role"], "party"))
        audit.record(conn, at=now, username=user.username, role=user.role, action="binding.household_off",
                     object_type="household", object_id=int(household_id), grid_id=place["grid_id"],
                     detail=f"{_address(place)} ✕ {HELPER_ROLES.get(who['role'], ('', ''))[0]} {who['name']}"
                            f"（余 {left} 户）")
    return int(left)


# --------------------------------------------------------------------------- buildings and the grid team

def _grid_in(conn, scope: Scope, grid_id: int) -> dict[str, Any]:
    row = conn.execute(select(Grid.id, Grid.community_id, Grid.name).where(
        Grid.id == grid_id, scope.clause(Grid.__table__) if scope.level != "grid" else Grid.id == scope.grid_id)
    ).mappings().first()
    if row is None:
        raise NotFoundError(f"网格 {grid_id} 不存在或不在您的管辖范围内 / no such grid in your area")
    return dict(row)


def _street_of(conn, community_id: int) -> int | None:
    return conn.execute(select(Community.street_id).where(Community.id == community_id)).scalar()


def set_building_head(engine: Engine, user, building_id: int, *, now: datetime, person_id: int | None = None,
                      name: str | None = None, phone: str | None = None) -> int:
    """Make someone the head of a building (楼栋长): a building head of the grid (``person_id``), or a new
    one by ``name`` and ``phone``. The previous head is unbound from the building (kept in the grid).
    Returns the head's person id."""
    _check(user, "bind_people")
    with engine.begin() as conn:
        b = conn.execute(select(Building.id, Building.grid_id, Building.name).where(
            Building.id == building_id, user.scope.clause(Building.__table__))).mappings().first()
        if b is None:
            raise NotFoundError(f"楼栋 {building_id} 不存在或不在您的管辖范围内 / no such building in your area")
        grid = _grid_in(conn, user.scope, b["grid_id"])
        p = Person.__table__
        if person_id is not None:
            who = _person(conn, user.scope, person_id)
            if who["role"] != "building_head" or who["grid_id"] != b["grid_id"]:
                raise ValidationError(f"{who['name']} 不是本网格的楼栋长人选 / choose a building head of this grid")
        else:
            name = (name or "").strip()
            if not 2 <= len(name) <= 16:
                raise ValidationError("请填写楼栋长姓名（2–16 字） / give the building head's name")
            person_id = conn.execute(insert(Person).returning(Person.id), [dict(
                role="building_head", name=name, phone=clean_phone(phone), street_id=_street_of(conn, grid["community_id"]),
                community_id=grid["community_id"], grid_id=b["grid_id"], building_id=building_id,
                available=True)]).scalar_one()
            who = {"name": name}
        before = conn.execute(select(p.c.name).where(p.c.role == "building_head", p.c.building_id == building_id,
                                                     p.c.id != person_id)).scalars().all()
        conn.execute(update(p).where(p.c.role == "building_head", p.c.building_id == building_id,
                                     p.c.id != person_id).values(building_id=None))
        conn.execute(update(p).where(p.c.id == person_id).values(building_id=building_id))
        audit.record(conn, at=now, username=user.username, role=user.role, action="binding.building_head",
                     object_type="building", object_id=int(building_id), grid_id=b["grid_id"],
                     detail=f"{b['name']} 楼栋长：{'、'.join(before) or '—'} → {who['name']}")
    return int(person_id)


def add_team_member(engine: Engine, user, grid_id: int, role: str, *, name: str, phone: str | None,
                    now: datetime) -> int:
    """Put a new member into a grid's team (网格长 / 网格员 / 协管员 / 监督员); returns their person id.

    A grid has one grid head, appointed by community or street staff only."""
    _check(user, "bind_people")
    if role not in TEAM_ROLES:
        raise ValidationError(f"未知的网格角色 {role!r} / unknown grid role")
    if role == "grid_head" and not roles.may(user.role, "appoint_grid_head"):
        raise PermissionError("网格长由社区或街道任命 / grid heads are appointed by community or street staff")
    name = (name or "").strip()
    if not 2 <= len(name) <= 16:
        raise ValidationError("请填写姓名（2–16 字） / give a name of 2–16 characters")
    with engine.begin() as conn:
        grid = _grid_in(conn, user.scope, grid_id)
        store.lock_rows(conn, Grid.__table__, [grid_id])  # two grid heads appointed at once: one is refused
        if role == "grid_head":
            head = conn.execute(select(Person.name).where(Person.role == "grid_head", Person.grid_id == grid_id)
                                ).scalar()
            if head:
                raise ValidationError(f"{grid['name']} 已有网格长 {head}，请先解除再任命 / this grid already has a "
                                      f"grid head ({head}); remove them first")
        pid = conn.execute(insert(Person).returning(Person.id), [dict(
            role=role, name=name, phone=clean_phone(phone), street_id=_street_of(conn, grid["community_id"]),
            community_id=grid["community_id"], grid_id=grid_id, available=True)]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="binding.team",
                     object_type="person", object_id=int(pid), grid_id=grid_id,
                     detail=f"{grid['name']} {TEAM_ROLES[role][0]}：+ {name}")
    return int(pid)


def remove_team_member(engine: Engine, user, person_id: int, *, now: datetime) -> None:
    """Take someone off a grid's team (they stay on record, bound to no grid)."""
    _check(user, "bind_people")
    with engine.begin() as conn:
        who = _person(conn, user.scope, person_id)
        if who["role"] not in TEAM_ROLES:
            raise ValidationError(f"{who['name']} 不是网格力量成员 / not a member of a grid team")
        if who["role"] == "grid_head" and not roles.may(user.role, "appoint_grid_head"):
            raise PermissionError("网格长由社区或街道任免 / grid heads are appointed by community or street staff")
        conn.execute(update(Person).where(Person.id == person_id).values(grid_id=None))
        audit.record(conn, at=now, username=user.username, role=user.role, action="binding.team_off",
                     object_type="person", object_id=int(person_id), grid_id=who["grid_id"],
                     detail=f"{TEAM_ROLES[who['role']][0]}：− {who['name']}")


# --------------------------------------------------------------------------- what a grid head reads

def team(engine: Engine, *, scope: Scope, grid_id: int) -> pd.DataFrame:
    """The grid's team: id, role, name, phone (masked), in TEAM_ROLES order."""
    p = Person.__table__
    df = store.read_frame(engine, select(p.c.id, p.c.role, p.c.name, p.c.phone).where(
        p.c.grid_id == grid_id, p.c.role.in_(list(TEAM_ROLES)), scope.clause(p)).order_by(p.c.id))
    df["phone"] = df["phone"].map(mask_phone)
    order = {r: i for i, r in enumerate(TEAM_ROLES)}
    return df.assign(_o=df["role"].map(order)).sort_values(["_o", "id"]).drop(columns="_o").reset_index(drop=True)


def households_helpers(engine: Engine, *, scope: Scope, grid_id: int) -> pd.DataFrame:
    """Each household of the grid with who looks after it: party member, 联户长, building head.

    Columns: id, address, head (masked), vulnerable, party_id, party, link_id, link, building_head,
    nobody (no party member, no link head and no building head). Helpers are named (亮身份).
    """
    h, c = Household.__table__, CareLink.__table__
    party, link = Person.__table__.alias("party"), Person.__table__.alias("link")
    bhead = Person.__table__.alias("bhead")
    cp, cl = c.alias("cp"), c.alias("cl")
    head = Resident.__table__.alias("head")
    first = residents_summary(scope, grid_id)  # the grid's residents only (issue 15: not the whole database)
    stmt = (select(h.c.id, Building.name.label("building"), h.c.unit_no, h.c.room, head.c.name.label("head"),
                   h.c.elderly_alone, h.c.low_income, first.c.disabled,
                   party.c.id.label("party_id"), party.c.name.label("party"),
                   link.c.id.label("link_id"), link.c.name.label("link"), bhead.c.name.label("building_head"))
            .join(Building, Building.id == h.c.building_id)
            .outerjoin(first, first.c.household_id == h.c.id).outerjoin(head, head.c.id == first.c.head_id)
            .outerjoin(cp, and_(cp.c.household_id == h.c.id, cp.c.kind == "party"))
            .outerjoin(party, party.c.id == cp.c.person_id)
            .outerjoin(cl, and_(cl.c.household_id == h.c.id, cl.c.kind == "link"))
            .outerjoin(link, link.c.id == cl.c.person_id)
            .outerjoin(bhead, and_(bhead.c.building_id == h.c.building_id, bhead.c.role == "building_head"))
            .where(h.c.grid_id == grid_id, scope.clause(h)).order_by(h.c.id))
    df = store.read_frame(engine, stmt).drop_duplicates("id").reset_index(drop=True)
    df["address"] = [f"{b}{u}单元{r}" for b, u, r in zip(df["building"], df["unit_no"], df["room"])]
    df["head"] = df["head"].map(mask_name)
    df["vulnerable"] = (df["elderly_alone"].astype(bool) | df["low_income"].astype(bool)
                        | df["disabled"].fillna(0).astype(bool))
    df["nobody"] = df["party"].isna() & df["link"].isna() & df["building_head"].isna()
    return df[["id", "address", "head", "vulnerable", "party_id", "party", "link_id", "link", "building_head",
               "nobody"]]


def helpers_households(engine: Engine, *, scope: Scope, grid_id: int) -> pd.DataFrame:
    """Each helper of the grid (party members, 联户长, building heads) with their households.

    Columns: id, role, name, phone (masked), count, households (addresses), rule: "ok", "few" (a
    party member with 1–4: under the 5–8 rule), "none" (a member with none: not in 包保), "full".
    """
    p, c = Person.__table__, CareLink.__table__
    people = store.read_frame(engine, select(p.c.id, p.c.role, p.c.name, p.c.phone, p.c.building_id, p.c.workplace)
                              .where(p.c.grid_id == grid_id, p.c.role.in_(list(HELPER_ROLES)), scope.clause(p))
                              .order_by(p.c.role, p.c.id))
    h = Household.__table__
    links = store.read_frame(engine, select(c.c.person_id, Building.name.label("building"), h.c.unit_no, h.c.room)
                             .join(h, h.c.id == c.c.household_id).join(Building, Building.id == h.c.building_id)
                             .where(h.c.grid_id == grid_id, scope.clause(h)).order_by(h.c.id))
    names = dict(store.read_frame(engine, select(Building.id, Building.name).where(Building.grid_id == grid_id))
                 .itertuples(index=False))
    text = {pid: "；".join(f"{b}{u}单元{r}" for b, u, r in zip(g["building"], g["unit_no"], g["room"]))
            for pid, g in links.groupby("person_id")}
    n = links.groupby("person_id").size()
    people["count"] = people["id"].map(n).fillna(0).astype(int)
    people["households"] = people["id"].map(text).fillna("")
    is_head = people["role"] == "building_head"
    people.loc[is_head, "households"] = people.loc[is_head, "building_id"].map(names).fillna("")
    lo, hi = PARTY_HOUSEHOLDS
    party = people["role"] == "party_member"
    people["rule"] = "ok"
    people.loc[party & (people["count"] == 0), "rule"] = "none"
    people.loc[party & people["count"].between(1, lo - 1), "rule"] = "few"
    people.loc[party & (people["count"] >= hi), "rule"] = "full"
    people.loc[(people["role"] == "household_link_head") & (people["count"] >= LINK_MAX), "rule"] = "full"
    people["phone"] = people["phone"].map(mask_phone)
    return people.drop(columns=["building_id"])


def coverage(table: pd.DataFrame) -> dict[str, int]:
    """Figures of ``households_helpers``: households, with a party member, with a link head, with nobody,
    vulnerable ones without a party member."""
    return {"households": len(table), "party": int(table["party"].notna().sum()),
            "link": int(table["link"].notna().sum()), "nobody": int(table["nobody"].sum()),
            "vulnerable_without_party": int((table["vulnerable"] & table["party"].isna()).sum())}


__all__ = ["PARTY_HOUSEHOLDS", "LINK_HOUSEHOLDS", "LINK_MAX", "TEAM_ROLES", "HELPER_ROLES", "rule_text",
           "bind_household", "unbind_household", "set_building_head", "add_team_member", "remove_team_member",
           "team", "households_helpers", "helpers_households", "coverage"]
