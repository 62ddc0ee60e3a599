"""Volunteers on both backends: teams, activities with hours, the time bank that never goes below zero."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from geo.access import audit, auth, roles, users
from geo.db import store
from geo.db.schema import AuditLog, Grid, TimeAccount, TimeEntry
from geo.demo import accounts
from geo.errors import NotFoundError, ValidationError
from geo.people import volunteers

NOW = datetime(2026, 11, 23, 9)
ALL = roles.WHOLE_STREET


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def inside(engine, grid_id: int) -> tuple[float, float]:
    p = store.read_layer(engine, Grid, columns=["id", "geom"], where=Grid.id == grid_id).geometry.iloc[0]
    p = p.representative_point()
    return p.x, p.y


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def new_team(engine, staff, grid_id, *people: str) -> tuple[int, list[int]]:
    tid = volunteers.create_team(engine, staff, name="楼道清洁志愿服务队", specialty="环境清洁", grid_id=grid_id, now=NOW)
    return tid, [volunteers.add_member(engine, staff, tid, name=n, phone=None, now=NOW) for n in people]


def test_a_team_its_activity_and_the_years_figures(engine):
    staff, head = login(engine, "community1"), login(engine, "gridhead1")
    tid, (a, b, c) = new_team(engine, staff, head.grid_id, "王芳", "李强", "赵敏")
    volunteers.set_leader(engine, staff, tid, b, now=NOW)
    lon, lat = inside(engine, head.grid_id)
    volunteers.record_activity(engine, head, tid, title="清理楼道杂物", started_at=NOW - timedelta(days=2),
                               hours=2.5, lon=lon, lat=lat, attendees=[a, b, c], now=NOW, place="3栋楼道")
    assert [volunteers.balance(engine, p) for p in (a, b, c)] == [2.5, 2.5, 2.5]
    team = volunteers.members(engine, scope=head.scope, team_id=tid).set_index("id")
    assert team.loc[b, "leader"] and not team.loc[a, "leader"] and team.loc[a, "earned_h"] == 2.5
    year = volunteers.yearly(engine, scope=staff.scope, year=NOW.year).set_index("team_id")
    assert year.loc[tid, ["volunteers", "active", "activities", "person_times"]].tolist() == [3, 3, 1, 3]
    assert year.loc[tid, "hours"] == pytest.approx(7.5)
    assert tid in set(volunteers.teams(engine, scope=head.scope)["id"])  # it serves the grid head's grid
    listed = volunteers.activities(engine, scope=head.scope)
    assert listed.iloc[0]["title"] == "清理楼道杂物" and listed.iloc[0]["person_times"] == 3
    per_community = volunteers.yearly(engine, scope=staff.scope, year=NOW.year, by="community")
    assert per_community["person_times"].sum() >= 3
    log = audit.read(engine, scope=ALL, action_prefix="volunteer.")
    assert set(log["action"]) == {"volunteer.team", "volunteer.member", "volunteer.leader", "volunteer.activity"}


def test_the_time_bank_spends_only_what_is_there(engine):
    staff = login(engine, "community1")
    tid, (a, b) = new_team(engine, staff, None, "王芳", "李强")
    lon, lat = inside(engine, login(engine, "gridhead1").grid_id)
    volunteers.record_activity(engine, staff, tid, title="敬老院义诊", started_at=NOW - timedelta(hours=5),
                               hours=2.5, lon=lon, lat=lat, attendees=[a], now=NOW)
    got = volunteers.exchange(engine, staff, receiver_id=a, provider_id=b, hours=2, note="陪同就医", now=NOW)
    assert got == {"receiver": 0.5, "provider": 2.0}
    entries, audits = count(engine, TimeEntry), count(engine, AuditLog)
    with pytest.raises(ValidationError, match="余额为 0.5 小时，不足 1 小时"):
        volunteers.exchange(engine, staff, receiver_id=a, provider_id=b, hours=1, note="代买药品", now=NOW)
    assert (count(engine, TimeEntry), count(engine, AuditLog)) == (entries, audits)
    assert (volunteers.balance(engine, a), volunteers.balance(engine, b)) == (0.5, 2.0)
    with pytest.raises(ValidationError, match="两名不同"):
        volunteers.exchange(engine, staff, receiver_id=a, provider_id=a, hours=0.5, note="自己", now=NOW)
    with pytest.raises(ValidationError, match="0–8 小时"):
        volunteers.exchange(engine, staff, receiver_id=b, provider_id=a, hours=-1, note="倒扣", now=NOW)


def test_two_spends_racing_for_the_last_hours_never_go_below_zero(engine):
    staff = login(engine, "community1")
    tid, (a, b, c) = new_team(engine, staff, None, "王芳", "李强", "赵敏")
    lon, lat = inside(engine, login(engine, "gridhead1").grid_id)
    volunteers.record_activity(engine, staff, tid, title="社区巡逻", started_at=NOW - timedelta(hours=6), hours=4,
                               lon=lon, lat=lat, attendees=[a], now=NOW)
    barrier, done, refused = threading.Barrier(2), [], []

    def spend(provider):
        barrier.wait()
        try:
            done.append(volunteers.exchange(engine, staff, receiver_id=a, provider_id=provider, hours=3,
                                            note="上门理发", now=NOW))
        except ValidationError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=spend, args=(p,)) for p in (b, c)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert len(done) == 1 and len(refused) == 1 and "不足 3 小时" in refused[0]
    assert volunteers.balance(engine, a) == 1.0
    assert sorted([volunteers.balance(engine, b), volunteers.balance(engine, c)]) == [0.0, 3.0]
    with engine.connect() as conn:
        assert conn.execute(select(func.min(TimeAccount.balance_min))).scalar_one() >= 0


def test_the_database_itself_refuses_a_negative_balance(engine):
    staff = login(engine, "community1")
    tid, (a,) = new_team(engine, staff, None, "王芳")
    lon, lat = inside(engine, login(engine, "gridhead1").grid_id)
    volunteers.record_activity(engine, staff, tid, title="植树", started_at=NOW - timedelta(hours=3), hours=1,
                               lon=lon, lat=lat, attendees=[a], now=NOW)
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(update(TimeAccount).where(TimeAccount.person_id == a).values(balance_min=-1))
    assert volunteers.balance(engine, a) == 1.0


def test_refused_outside_the_area_or_role(engine):
    staff, head, worker = login(engine, "community1"), login(engine, "gridhead1"), login(engine, "gridworker1")
    with engine.connect() as conn:
        other_grid = conn.execute(select(Grid.id).where(Grid.community_id == staff.community_id,
                                                        Grid.id != head.grid_id)).scalars().first()
        far = conn.execute(select(Grid.id).where(Grid.community_id != staff.community_id)).scalars().first()
    other_team, (x,) = new_team(engine, staff, other_grid, "孙丽")  # serves another grid of the community
    mine, (a,) = new_team(engine, staff, head.grid_id, "王芳")
    with pytest.raises(NotFoundError, match="管辖范围"):
        volunteers.record_activity(engine, head, other_team, title="义务理发", started_at=NOW, hours=1,
                                   lon=inside(engine, head.grid_id)[0], lat=inside(engine, head.grid_id)[1],
                                   attendees=[x], now=NOW)
    with pytest.raises(ValidationError, match="不在您的管辖范围"):
        volunteers.record_activity(engine, head, mine, title="义务理发", started_at=NOW, hours=1,
                                   lon=inside(engine, far)[0], lat=inside(engine, far)[1], attendees=[a], now=NOW)
    with pytest.raises(ValidationError, match="本队志愿者"):
        volunteers.record_activity(engine, staff, mine, title="义务理发", started_at=NOW, hours=1,
                                   lon=inside(engine, head.grid_id)[0], lat=inside(engine, head.grid_id)[1],
                                   attendees=[a, x], now=NOW)
    with pytest.raises(PermissionError):
        volunteers.create_team(engine, worker, name="网格员自建队", specialty="邻里互助", now=NOW)
    with pytest.raises(NotFoundError):
        volunteers.exchange(engine, head, receiver_id=x, provider_id=a, hours=1, note="修水管", now=NOW)
    assert volunteers.balance(engine, a) == 0.0
