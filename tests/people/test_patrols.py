"""Patrols and ratings (巡查评比) on both backends: stars, titles, a low rating opening a ticket, the grids compared."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from geo.access import audit, auth, roles, users
from geo.db.schema import AuditLog, Building, Grid, Household, PatrolRating, Ticket
from geo.demo import accounts
from geo.errors import NotFoundError, ValidationError
from geo.people import patrols
from geo.tickets import service as ts

NOW = datetime(2026, 11, 23, 9)
TODAY = NOW.date()
ALL = roles.WHOLE_STREET


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def buildings(engine, grid_id: int, k: int = 3) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(select(Building.id).where(Building.grid_id == grid_id).order_by(Building.id).limit(k)
                            ).scalars().all()


def a_household(engine, building_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Household.id).where(Household.building_id == building_id).limit(1)).scalar_one()


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_a_low_rating_opens_a_ticket_at_the_building_routed_like_any_report(engine):
    worker = login(engine, "gridworker1")
    b1, b2, _ = buildings(engine, worker.grid_id)
    pid = patrols.patrol(engine, worker, worker.grid_id, patrolled_on=TODAY, now=NOW, note="月度巡查")
    assert patrols.patrol(engine, worker, worker.grid_id, patrolled_on=TODAY, now=NOW) == pid  # one a month
    hh = a_household(engine, b1)
    award = patrols.rate(engine, worker, pid, "clean_household", building_id=b1, household_id=hh, stars=5, now=NOW)
    assert award["awarded"] and "ticket_code" not in award
    tickets = count(engine, Ticket)
    low = patrols.rate(engine, worker, pid, "safe_building", building_id=b2, stars=1, now=NOW,
                       note="楼道内电动车充电，飞线", open_ticket=True)
    assert count(engine, Ticket) == tickets + 1
    with engine.connect() as conn:
        t = conn.execute(select(Ticket).where(Ticket.code == low["ticket_code"])).mappings().one()
        entrance = conn.execute(select(Building.entrance_lon, Building.entrance_lat, Building.grid_id)
                                .where(Building.id == b2)).one()
    assert (t["category"], t["source"], t["state"], t["grid_id"]) == ("safety_hazard", "patrol", "reported",
                                                                       entrance.grid_id)
    assert (t["minx"], t["miny"]) == pytest.approx((entrance.entrance_lon, entrance.entrance_lat))
    assert ts.route(engine, entrance.entrance_lon, entrance.entrance_lat).grid_id == t["grid_id"]  # same routing
    history = ts.history(engine, t["id"], scope=ALL)
    assert history.iloc[0]["actor"] == worker.label and "飞线" in t["description"]
    log = audit.read(engine, scope=ALL, username="gridworker1")
    assert {"patrol.start", "patrol.rate", "ticket.report"} <= set(log["action"])
    shown = patrols.ratings(engine, scope=worker.scope, month=patrols.month_of(TODAY)).set_index("id")
    assert shown.loc[low["id"], "ticket"] == low["ticket_code"] and shown.loc[low["id"], "low"]
    assert shown.loc[award["id"], "place"] == award["place"]
    assert __import__("re").fullmatch(r"\d+栋\d+单元\d+", award["place"])
    assert not shown["place"].str.contains(r"\*").any()  # addresses, never names


def test_the_latest_walk_of_the_month_counts_and_the_grids_are_compared(engine):
    worker, staff = login(engine, "gridworker1"), login(engine, "community1")
    b1, b2, b3 = buildings(engine, worker.grid_id)
    pid = patrols.patrol(engine, worker, worker.grid_id, patrolled_on=TODAY, now=NOW)
    first = patrols.rate(engine, worker, pid, "clean_building", building_id=b1, stars=3, now=NOW)
    again = patrols.rate(engine, worker, pid, "clean_building", building_id=b1, stars=5, now=NOW, note="已整改")
    assert again["id"] == first["id"] and count(engine, PatrolRating, PatrolRating.patrol_id == pid) == 1
    assert "3星 → 5星" in audit.read(engine, scope=ALL, action_prefix="patrol.rate")["detail"].iloc[0]
    patrols.rate(engine, worker, pid, "safe_building", building_id=b2, stars=4, now=NOW)
    patrols.rate(engine, worker, pid, "safe_building", building_id=b3, stars=2, now=NOW)
    with engine.connect() as conn:
        other = conn.execute(select(Grid.id).where(Grid.community_id == staff.community_id,
                                                   Grid.id != worker.grid_id).order_by(Grid.code)).scalars().first()
    p2 = patrols.patrol(engine, staff, other, patrolled_on=TODAY, now=NOW)
    patrols.rate(engine, staff, p2, "clean_building", building_id=buildings(engine, other, 1)[0], stars=2, now=NOW)
    month = patrols.month_of(TODAY)
    table = patrols.compare(engine, scope=staff.scope, month=month)
    assert table.iloc[0]["grid_id"] == worker.grid_id and table.iloc[1]["grid_id"] == other  # best first
    top = table.iloc[0]
    assert (top["rated"], top["mean_stars"], top["awarded_clean_building"], top["awarded_safe_building"],
            top["low"]) == (3, pytest.approx(11 / 3, abs=0.01), 1, 1, 1)
    assert (~table["patrolled"]).sum() == len(table) - 2  # every grid listed, the unpatrolled last
    stars = patrols.building_stars(engine, scope=worker.scope, month=month).set_index("building_id")
    assert stars.loc[b1, "clean_building"] == 5 and stars.loc[b3, "safe_building"] == 2
    assert stars.crs.to_epsg() == 4326 and stars.geometry.geom_type.eq("Point").all()
    assert patrols.months(engine, scope=worker.scope)[0] == month  # newest first (the demo patrolled before)


def test_refusals_write_nothing(engine):
    worker, party = login(engine, "gridworker1"), login(engine, "party1")
    b1 = buildings(engine, worker.grid_id, 1)[0]
    pid = patrols.patrol(engine, worker, worker.grid_id, patrolled_on=TODAY, now=NOW)
    with engine.connect() as conn:
        other_grid = conn.execute(select(Grid.id).where(Grid.id != worker.grid_id)).scalars().first()
    before = (count(engine, PatrolRating), count(engine, Ticket), count(engine, AuditLog))
    with pytest.raises(ValidationError, match="2 星及以下"):
        patrols.rate(engine, worker, pid, "safe_building", building_id=b1, stars=4, open_ticket=True, now=NOW)
    with pytest.raises(ValidationError, match="评到户"):
        patrols.rate(engine, worker, pid, "clean_household", building_id=b1, stars=4, now=NOW)
    with pytest.raises(ValidationError, match="1–5 星"):
        patrols.rate(engine, worker, pid, "clean_building", building_id=b1, stars=6, now=NOW)
    with pytest.raises(NotFoundError, match="不在本次巡查的网格内"):
        patrols.rate(engine, worker, pid, "clean_building", building_id=buildings(engine, other_grid, 1)[0],
                     stars=4, now=NOW)
    with pytest.raises(NotFoundError, match="管辖范围"):
        patrols.patrol(engine, worker, other_grid, patrolled_on=TODAY, now=NOW)
    with pytest.raises(PermissionError):
        patrols.rate(engine, party, pid, "clean_building", building_id=b1, stars=4, now=NOW)
    with pytest.raises(ValidationError, match="晚于今天"):
        patrols.patrol(engine, worker, worker.grid_id, patrolled_on=date(2027, 1, 1), now=NOW)
    assert (count(engine, PatrolRating), count(engine, Ticket), count(engine, AuditLog)) == before
    patrols.check_categories()
