"""Leaders' contact points, estates and red property, councils — on both backends: scoped, audited, public."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from geo.access import audit, auth, roles, users
from geo.db.schema import AuditLog, CouncilMatter, Estate, Grid, LeaderVisit, Person, Ticket
from geo.demo import accounts
from geo.errors import ConcurrentEditError, NotFoundError, ValidationError
from geo.people import councils, estates, leaders
from geo.tickets import service as ts

NOW = datetime(2026, 11, 23, 9)
TODAY = NOW.date()
ALL = roles.WHOLE_STREET


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


# --------------------------------------------------------------------------- 领导联系点

def test_a_leader_sees_their_point_visits_it_and_a_visit_may_open_a_ticket(engine):
    leader, staff = login(engine, "leader"), login(engine, "staff")
    points = leaders.contact_points(engine, scope=leader.scope, today=TODAY)
    assert len(points) >= 5 and set(points["level"]) == {"grid", "community"} and points.geometry.notna().all()
    with engine.connect() as conn:  # due: no visit since the quarter began (2026-10-01)
        visited = set(conn.execute(select(LeaderVisit.person_id).where(LeaderVisit.visited_on >= date(2026, 10, 1))
                                   ).scalars())
    assert set(points.loc[~points["due"], "person_id"]) == visited and points["due"].any()
    before = points.set_index("person_id").loc[leader.person_id, "visits_quarter"]
    mine = leaders.my_point(engine, leader, today=TODAY)
    assert mine is not None and mine["person_id"] == leader.person_id
    scope = leaders.point_scope(mine)
    assert scope.grid_id == mine["grid_id"]
    open_here = ts.query(engine, now=NOW, scope=scope, open_only=True)
    assert mine["open_tickets"] == len(open_here)
    v = leaders.record_visit(engine, leader, leader.person_id, visited_on=TODAY, now=NOW, note="调研老旧小区改造",
                             ticket={"category": "streetlight_road", "description": "小区主干道路灯不亮"})
    t = ts.get(engine, int(ts.query(engine, now=NOW, scope=ALL, search=v["ticket_code"])["id"].iloc[0]), scope=ALL)
    assert t["grid_id"] == mine["grid_id"]  # routed like any report, from the point
    again = leaders.contact_points(engine, scope=leader.scope, today=TODAY).set_index("person_id")
    assert not again.loc[leader.person_id, "due"] and again.loc[leader.person_id, "visits_quarter"] == before + 1
    assert leaders.visits(engine, scope=leader.scope, person_id=leader.person_id).iloc[0]["ticket"] == v["ticket_code"]
    other = int(points[points["person_id"] != leader.person_id]["person_id"].iloc[0])
    with pytest.raises(PermissionError, match="本人"):  # a leader records only their own visits
        leaders.record_visit(engine, leader, other, visited_on=TODAY, now=NOW)
    leaders.record_visit(engine, staff, other, visited_on=TODAY - timedelta(days=1), now=NOW, note="代为登记")
    with engine.connect() as conn:
        community = conn.execute(select(Grid.community_id).order_by(Grid.id)).scalars().first()
    leaders.set_contact_point(engine, staff, other, community_id=community, now=NOW)
    moved = leaders.contact_points(engine, scope=staff.scope, today=TODAY).set_index("person_id").loc[other]
    assert moved["level"] == "community" and moved["community_id"] == community
    with pytest.raises(PermissionError):
        leaders.set_contact_point(engine, login(engine, "community1"), other, community_id=community, now=NOW)
    assert set(audit.read(engine, scope=ALL, action_prefix="contact.")["action"]) == {"contact.visit", "contact.point"}


# --------------------------------------------------------------------------- 红色物业, 三无小区

def test_estates_classified_once_and_three_none_turns_three_have(engine):
    staff = login(engine, "community1")
    with engine.begin() as conn:  # one estate of the community with no management at all
        eid = conn.execute(select(Estate.id).join(Grid, Grid.id == Estate.grid_id).where(
            Grid.community_id == staff.community_id).order_by(Estate.id)).scalars().first()
        conn.execute(update(Estate).where(Estate.id == eid).values(
            has_property_company=False, property_company=None, has_owners_committee=False, supervising_unit=None,
            red_property=False, three_have_on=None))
    table = estates.estates(engine, scope=staff.scope).set_index("id")
    assert table.loc[eid, "status"] == "three_none"
    figures = estates.figures(table.reset_index())
    assert figures["three_none"] >= 1 and figures["unmanaged_households"] >= table.loc[eid, "households"] > 0
    # a ticket inside the estate is listed with it
    spot = table.loc[eid, "geometry"].representative_point()
    t = ts.report(engine, category="property", description="院内化粪池堵塞", lon=spot.x, lat=spot.y, now=NOW)
    table = estates.estates(engine, scope=staff.scope).set_index("id")
    assert t["code"] in table.loc[eid, "ticket_codes"] and table.loc[eid, "open_tickets"] >= 1
    with pytest.raises(ValidationError, match="组织、制度和活动"):
        estates.record_three_have(engine, staff, eid, on=TODAY, note="", now=NOW)
    estates.record_three_have(engine, staff, eid, on=TODAY - timedelta(days=10), now=NOW,
                              note="成立院落自治小组，制定院落公约，每月第一个周六集中清扫")
    row = estates.estates(engine, scope=staff.scope).set_index("id").loc[eid]
    assert row["status"] == "three_have" and row["three_have_on"] == TODAY - timedelta(days=10)
    with pytest.raises(ValidationError, match="已于"):
        estates.record_three_have(engine, staff, eid, on=TODAY, note="再次登记三有", now=NOW)
    assert estates.update_management(engine, staff, eid, property_company="彭州红叶物业", owners_committee=True,
                                     supervising_unit=None, red_property=True, now=NOW) == "three_have"
    detail = audit.read(engine, scope=ALL, action_prefix="estate.update")["detail"].iloc[0]
    assert "物业公司 无 → 彭州红叶物业" in detail and "红色物业 无 → 有" in detail
    assert estates.status(property_company="某物业", owners_committee=False, supervising_unit=None, red_property=True,
                          three_have_on=None) == "red_property"
    assert estates.status(property_company=None, owners_committee=True, supervising_unit=None, red_property=False,
                          three_have_on=None) == "no_supervisor"


def test_estate_changes_refused_outside_area_or_role(engine):
    head, staff = login(engine, "gridhead1"), login(engine, "community1")
    with engine.connect() as conn:
        foreign = conn.execute(select(Estate.id).join(Grid, Grid.id == Estate.grid_id).where(
            Grid.community_id != staff.community_id)).scalars().first()
        mine = conn.execute(select(Estate.id).join(Grid, Grid.id == Estate.grid_id).where(
            Grid.community_id == staff.community_id)).scalars().first()
    before = count(engine, AuditLog)
    with pytest.raises(NotFoundError, match="管辖范围"):
        estates.update_management(engine, staff, foreign, property_company=None, owners_committee=False,
                                  supervising_unit=None, red_property=False, now=NOW)
    with pytest.raises(PermissionError):
        estates.update_management(engine, head, mine, property_company=None, owners_committee=False,
                                  supervising_unit=None, red_property=False, now=NOW)
    with pytest.raises(ValidationError, match="红色物业须有物业"):
        estates.update_management(engine, staff, mine, property_company=" ", owners_committee=True,
                                  supervising_unit=None, red_property=True, now=NOW)
    assert count(engine, AuditLog) == before
    assert set(estates.estates(engine, scope=head.scope)["grid_id"]) <= {head.grid_id}


# --------------------------------------------------------------------------- 一征三议两公开

def test_a_matter_goes_through_one_collection_three_discussions_two_publications(engine):
    head, staff = login(engine, "gridhead1"), login(engine, "community1")
    tickets = ts.query(engine, now=NOW, scope=head.scope)["id"].head(2).tolist()
    mid = councils.raise_matter(engine, head, title="加装电梯费用分摊", summary="3栋居民反映上下楼难",
                                ticket_ids=tickets, now=NOW)
    m = councils.matter(engine, mid, scope=head.scope)
    assert m["grid_id"] == head.grid_id and m["stage"] == "collecting" and len(m["tickets"]) == 2
    with pytest.raises(ValidationError, match="先征集居民意见"):
        councils.advance(engine, head, mid, expected_version=1, now=NOW, proposal="按楼层分摊")
    councils.add_opinion(engine, head, mid, stance="for", text="支持加装，愿意按楼层分摊", channel="visit",
                         collected_on=TODAY, now=NOW)
    councils.add_opinion(engine, head, mid, stance="against", text="一楼住户不受益，不愿出资", channel="meeting",
                         collected_on=TODAY, now=NOW)
    with pytest.raises(ValidationError, match="提议内容"):
        councils.advance(engine, head, mid, expected_version=1, now=NOW)
    v = 1
    for fields in ({"proposal": "按楼层系数分摊，一楼免出资"}, {"deliberation": "两委联席会议同意提交居民会议"},
                   {"decision": "通过加装方案", "votes_for": 21, "votes_against": 3, "decided_on": TODAY}):
        councils.advance(engine, head, mid, expected_version=v, now=NOW, **fields)
        v += 1
    def public_ids(**where):
        return set(councils.public_list(engine, community_id=head.community_id, **where)["id"])

    assert mid not in public_ids(grid_id=head.grid_id)  # not public yet
    with pytest.raises(ConcurrentEditError):
        councils.advance(engine, head, mid, expected_version=1, now=NOW, notice="公示", published_on=TODAY)
    councils.advance(engine, head, mid, expected_version=v, now=NOW, notice="经居民会议表决通过，公示七天",
                     published_on=TODAY)
    public = councils.public_list(engine, community_id=head.community_id, grid_id=head.grid_id)
    assert list(public.columns) == list(councils.PUBLIC_FIELDS)
    public = public[public["id"] == mid]
    assert list(public["title"]) == ["加装电梯费用分摊"]
    assert (public[["opinions", "opinions_for", "opinions_against", "votes_for"]].iloc[0].tolist() == [2, 1, 1, 21])
    text = public.astype(str).to_string()
    assert head.display_name not in text and head.username not in text and "不愿出资" not in text  # no people
    assert mid not in public_ids()  # a grid council's matter: not on the community-wide list
    shown = councils.for_ticket(engine, tickets[0], scope=head.scope)
    assert shown.iloc[0]["decision"] == "通过加装方案"  # the linked ticket shows the decision
    councils.advance(engine, head, mid, expected_version=v + 1, now=NOW, outcome="电梯已完工投用", outcome_on=TODAY)
    with pytest.raises(ValidationError, match="流程已完成"):
        councils.advance(engine, head, mid, expected_version=v + 2, now=NOW)
    assert mid in set(councils.matters(engine, scope=staff.scope)["id"])
    log = audit.read(engine, scope=ALL, action_prefix="council.")
    assert len(log) == 1 + 2 + 5 and set(log["username"]) == {"gridhead1"}


def test_council_refusals(engine):
    head, staff = login(engine, "gridhead1"), login(engine, "community1")
    with engine.connect() as conn:
        other = conn.execute(select(Grid.id).where(Grid.community_id == staff.community_id,
                                                   Grid.id != head.grid_id)).scalars().first()
        foreign_ticket = conn.execute(select(Ticket.id).where(Ticket.grid_id != head.grid_id)).scalars().first()
    matters_before = count(engine, CouncilMatter)
    community_matter = councils.raise_matter(engine, staff, title="社区停车位划线方案", summary="", now=NOW)
    other_grid = councils.raise_matter(engine, staff, title="邻格垃圾分类亭选址", summary="", grid_id=other, now=NOW)
    readable = set(councils.matters(engine, scope=head.scope)["id"])
    assert community_matter in readable and other_grid not in readable
    with pytest.raises(NotFoundError):  # a grid head reads the community's matter but does not run it
        councils.add_opinion(engine, head, community_matter, stance="for", text="同意", channel="visit",
                             collected_on=TODAY, now=NOW)
    with pytest.raises(NotFoundError, match="工单"):
        councils.raise_matter(engine, head, title="别的网格的工单", summary="", ticket_ids=[foreign_ticket], now=NOW)
    councils.add_opinion(engine, staff, community_matter, stance="for", text="同意划线", channel="online",
                         collected_on=TODAY, now=NOW)
    for v, f in enumerate(({"proposal": "划线 40 个"}, {"deliberation": "同意"}), start=1):
        councils.advance(engine, staff, community_matter, expected_version=v, now=NOW, **f)
    with pytest.raises(ValidationError, match="未通过"):
        councils.advance(engine, staff, community_matter, expected_version=3, now=NOW, decision="划线",
                         votes_for=5, votes_against=9, decided_on=TODAY)
    with pytest.raises(PermissionError):
        councils.raise_matter(engine, login(engine, "gridworker1"), title="网格员发起的议题", summary="", now=NOW)
    assert count(engine, CouncilMatter) == matters_before + 2
