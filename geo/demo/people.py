"""The people around the grid in the demo street: live claims, volunteers' hours, patrols, leaders' visits,
estates' management and council matters — so every page of issue 17 opens on plausible data.

Made after the tickets and the logins (geo.demo.accounts), for the first street (the one the demo
logins answer for), from random streams of its own: the rest of the town is unchanged. Figures aim at
the seeds: 3,607 person-times by 320 volunteers a year (务川), monthly patrols with a few low ratings
(致和镇), leaders visiting their point each quarter (正安), half of the old courtyards 三无 and some of
them turned 三有 (什邡), councils at every step of 一征三议两公开 (二七区).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

import numpy as np
import shapely

from geo.demo import street
from geo.tickets import rules, workflow

#: What each team does, by specialty (titles of its activities).
ACTIVITIES = {
    "纠纷调解": ("矛盾纠纷排查", "邻里纠纷调解", "法律进院落调解会"),
    "环境清洁": ("楼道杂物清理", "小区卫生大扫除", "垃圾分类宣传", "绿化带清理"),
    "法律咨询": ("法律咨询进社区", "防范电信诈骗宣讲", "老年人权益讲座"),
    "邻里互助": ("独居老人上门探访", "爱心助餐送餐", "四点半课堂", "代办代购"),
    "治安巡逻": ("夜间治安巡逻", "消防安全检查", "电动车充电隐患排查"),
    "文明劝导": ("文明交通劝导", "不文明养犬劝导", "广场舞噪音劝导"),
}
SERVICES = ("陪同就医", "上门理发", "代买药品", "家电维修", "陪伴聊天", "辅导作业", "接送孩子")
PROPERTY_COMPANIES = ("锦华物业", "瑞祥物业", "天彭物业", "嘉怡物业", "蜀都物业", "和美物业")
UNITS = ("区供电公司", "区自来水公司", "区教育局", "区卫健局", "区住建局", "区税务局", "区粮食局", "区农机站")
MATTERS = (
    ("老旧小区加装电梯费用分摊", "property", "3栋、5栋居民反映老人上下楼困难，申请加装电梯"),
    ("小区停车位划线与收费方案", "property", "车辆乱停占用消防通道，居民要求规范停车"),
    ("垃圾分类投放点选址", "sanitation", "原垃圾堆放点靠近住户窗口，异味大"),
    ("院落自治公约修订", "dispute", "养犬、晾晒、噪音等邻里矛盾多发"),
    ("楼道照明改造", "streetlight_road", "多个单元楼道灯损坏，夜间出行不便"),
    ("广场舞活动时段约定", "dispute", "晚间广场舞音量大，影响临街住户休息"),
    ("增设电动车集中充电桩", "safety_hazard", "电动车推入楼道充电，存在火灾隐患"),
)
STAGE_FOR = ("done", "done", "published", "decided", "deliberated", "proposed", "collecting")
OPINIONS = {"for": ("支持，尽快实施", "同意方案，愿意配合", "赞成，建议先在一个单元试点"),
            "against": ("费用太高，不同意", "一楼住户不受益", "担心影响采光"),
            "other": ("建议分期实施", "希望公开费用明细", "建议征求租户意见")}


def fill(town: street.Town, ids: street.Ids, seed: int, now: datetime) -> None:
    """Add the people-around-the-grid rows to ``town`` (first street), in place."""
    for table in ("ticket", "ticket_event"):  # a town made without tickets (tests) has neither yet
        town.setdefault(table, [])
    first = town["street"][0]["id"]
    communities = {c["id"]: c for c in town["community"] if c["street_id"] == first}
    grids = {g["id"]: g for g in town["grid"] if g["community_id"] in communities}
    here = _Here(town, grids, communities, now)
    _party_users_available(town)
    _live_claims(town, ids, here, np.random.default_rng([seed, 17, 1]))
    _volunteers(town, ids, here, np.random.default_rng([seed, 17, 2]))
    _patrols(town, ids, here, np.random.default_rng([seed, 17, 3]))
    _leaders(town, ids, here, np.random.default_rng([seed, 17, 4]))
    _estates(town, here, np.random.default_rng([seed, 17, 5]))
    _councils(town, ids, here, np.random.default_rng([seed, 17, 6]))


class _Here:
    """The first street's rows, indexed the ways the steps below need them."""

    def __init__(self, town: street.Town, grids: dict, communities: dict, now: datetime):
        self.now, self.grids, self.communities = now, grids, communities
        self.buildings = defaultdict(list)
        for b in town["building"]:
            if b["grid_id"] in grids:
                self.buildings[b["grid_id"]].append(b)
        self.households = defaultdict(list)
        for h in town["household"]:
            if h["grid_id"] in grids:
                self.households[h["building_id"]].append(h)
        self.people = defaultdict(list)
        for p in town["person"]:
            if p.get("community_id") in communities or p.get("grid_id") in grids:
                self.people[p["role"]].append(p)
        self.tickets = [t for t in town["ticket"] if t["grid_id"] in grids]
        self.events = defaultdict(list)
        for e in town["ticket_event"]:
            self.events[e["ticket_id"]].append(e)

    def point_in(self, rng: np.random.Generator, grid_id: int) -> tuple[float, float]:
        b = self.buildings[grid_id][int(rng.integers(len(self.buildings[grid_id])))]
        return b["entrance_lon"], b["entrance_lat"]


def _party_users_available(town: street.Town) -> None:
    """The demo's party member logins can take tickets (a real member sets it on their page)."""
    mine = {u["person_id"] for u in town.get("app_user", []) if u["role"] == "party_member" and u.get("person_id")}
    for p in town["person"]:
        if p["id"] in mine:
            p["available"] = True


# --------------------------------------------------------------------------- 党员接单, now

def _live_claims(town: street.Town, ids: street.Ids, here: _Here, rng: np.random.Generator) -> None:
    """This morning's reports in the party logins' grids, waiting for a member; and a few members on their way.

    Each ticket is made and moved by geo.tickets.rules (report, the grid's acceptance, a claim), minutes
    before ``now``, so its history is one the rules allow and no step has run out yet.
    """
    users = [u for u in town.get("app_user", []) if u["role"] in ("party_member", "grid_head") and u.get("grid_id")]
    grid_of = {u["username"]: u["grid_id"] for u in users}
    members = {p["id"]: p for p in here.people["party_member"]}
    plans = [("party1", "sanitation", "{b}楼道堆放纸箱杂物，请帮忙清理", 55, None),
             ("party1", "elderly_care", "{b}独居老人家中灯泡坏了，无法自行更换", 40, None),
             ("party2", "dispute", "{b}楼上漏水到楼下，两家发生争执", 50, None),
             ("gridhead3", "safety_hazard", "{b}楼道内有电动车充电，飞线", 45, 12),
             ("gridhead4", "fire_equipment", "{b}楼道灭火器压力不足", 60, 22),
             ("gridhead5", "sanitation", "{b}垃圾桶满溢，气味很大", 80, 41)]
    grid_actor = rules.Actor("网格员", workflow.GRID)
    for username, cat, words, ago, claimed_ago in plans:
        gid = grid_of.get(username)
        if gid is None or gid not in here.grids:
            continue
        b = here.buildings[gid][int(rng.integers(len(here.buildings[gid])))]
        created = here.now - timedelta(minutes=ago)
        tid = ids("ticket")
        community = here.communities[here.grids[gid]["community_id"]]
        t, first = rules.new_ticket(category=cat, description=words.format(b=b["name"]), created=created,
                                    reporter_name=street.person_names(rng, 1)[0],
                                    reporter_phone=street.phone_numbers(rng, 1)[0], code=f"GD{created:%Y%m%d}{tid:05d}",
                                    workflow_key=community.get("workflow"), source="resident",
                                    geom=shapely.Point(b["entrance_lon"], b["entrance_lat"]), street_id=community["street_id"],
                                    community_id=community["id"], grid_id=gid, routing_flag=None)
        t["id"] = tid
        moves = [(first, None)]
        accepter = grid_actor if t["workflow"] != workflow.ERQI.key else rules.Actor("街道党工委", workflow.STREET)
        moves.append((rules.apply(t, "accept", accepter, created + timedelta(minutes=8)), None))
        if claimed_ago is not None:
            grid_members = [m for m in members.values() if m["grid_id"] == gid]
            if grid_members:
                m = grid_members[int(rng.integers(len(grid_members)))]
                who = rules.Actor(m["name"], workflow.HANDLER, person_id=m["id"])
                moves.append((rules.apply(t, "claim", who, here.now - timedelta(minutes=claimed_ago),
                                          note=f"党员{m['name']}接单，30分钟内到场"), None))
        town["ticket"].append(t)
        for event, _ in moves:
            row = {k: v for k, v in event.items() if k != "username"}
            town["ticket_event"].append(dict(id=ids("ticket_event"), ticket_id=tid, **row))


# --------------------------------------------------------------------------- volunteers

def _volunteers(town: street.Town, ids: street.Ids, here: _Here, rng: np.random.Generator) -> None:
    """Leaders, served grids, a year of activities (about twice a month per team) and the time bank."""
    by_team = defaultdict(list)
    for v in here.people["volunteer"]:
        by_team[v["team_id"]].append(v)
    accounts: dict[int, dict] = {}
    start = here.now - timedelta(days=365)
    for team in town["volunteer_team"]:
        if team["community_id"] not in here.communities:
            continue
        crew = by_team[team["id"]]
        team["leader_id"] = crew[0]["id"] if crew else None
        team["created_at"] = here.now - timedelta(days=int(rng.integers(400, 1500)))
        community_grids = [g for g, row in here.grids.items() if row["community_id"] == team["community_id"]]
        if rng.random() < 0.3:  # some teams work for one grid
            team["grid_id"] = int(rng.choice(community_grids))
        titles = ACTIVITIES.get(team["specialty"], ("志愿服务活动",))
        for _ in range(int(rng.integers(18, 30))):
            at = start + timedelta(days=float(rng.uniform(0, 364)))
            at = datetime.combine(at.date(), time(int(rng.choice([8, 9, 14, 15, 19])), 0))
            if at >= here.now:
                continue
            gid = team.get("grid_id") or int(rng.choice(community_grids))
            lon, lat = here.point_in(rng, gid)
            hours = float(rng.choice([1.5, 2, 2, 2.5, 3, 4]))
            came = rng.choice(len(crew), size=min(len(crew), int(rng.integers(4, 11))), replace=False)
            aid = ids("volunteer_activity")
            town.setdefault("volunteer_activity", []).append(dict(
                id=aid, team_id=team["id"], community_id=team["community_id"], grid_id=gid,
                title=str(rng.choice(titles)), place=None, started_at=at, hours=hours, created_by="demo",
                created_at=min(here.now, at + timedelta(hours=hours + 1)), geom=shapely.Point(lon, lat)))
            for i in came:
                v = crew[int(i)]
                minutes = int(hours * 60)
                town.setdefault("volunteer_attendance", []).append(dict(activity_id=aid, person_id=v["id"],
                                                                        minutes=minutes))
                _entry(town, ids, accounts, v, minutes, at, "activity", activity_id=aid)
    _exchanges(town, ids, accounts, by_team, here, rng)
    town["time_account"] = list(accounts.values())


def _entry(town, ids, accounts, person, minutes, at, kind, **extra) -> None:
    acc = accounts.setdefault(person["id"], dict(person_id=person["id"], community_id=person["community_id"],
                                                 balance_min=0, earned_min=0, spent_min=0))
    acc["balance_min"] += minutes
    acc["earned_min" if minutes > 0 else "spent_min"] += abs(minutes)
    town.setdefault("time_entry", []).append(dict(
        id=ids("time_entry"), person_id=person["id"], community_id=person["community_id"], at=at, minutes=minutes,
        kind=kind, activity_id=extra.get("activity_id"), counterpart_id=extra.get("counterpart_id"),
        note=extra.get("note"), username="demo"))


def _exchanges(town, ids, accounts, by_team, here, rng) -> None:
    """Services between volunteers of one community, spent from what each had banked by then (never below 0)."""
    crews = defaultdict(list)
    for team in town["volunteer_team"]:
        if team["community_id"] in here.communities:
            crews[team["community_id"]] += by_team[team["id"]]
    for community_id, crew in crews.items():
        days = sorted(float(d) for d in rng.uniform(1, 120, int(rng.integers(6, 14))))
        for d in reversed(days):  # in time order: each spend sees every earlier one
            receiver, provider = (crew[int(i)] for i in rng.choice(len(crew), 2, replace=False))
            at = here.now - timedelta(days=d)
            minutes = int(rng.choice([60, 90, 120]))
            banked = sum(e["minutes"] for e in town.get("time_entry", [])
                         if e["person_id"] == receiver["id"] and e["at"] <= at)
            if banked < minutes:  # the bank never lends
                continue
            what = str(rng.choice(SERVICES))
            _entry(town, ids, accounts, receiver, -minutes, at, "received", counterpart_id=provider["id"], note=what)
            _entry(town, ids, accounts, provider, minutes, at, "served", counterpart_id=receiver["id"], note=what)


# --------------------------------------------------------------------------- patrols

def _patrols(town: street.Town, ids: street.Ids, here: _Here, rng: np.random.Generator) -> None:
    """The last three full months: every grid patrolled, each building rated for cleanliness and safety,
    some households for 清洁文明户; a low rating names the patrol's ticket of that week, when there is one."""
    first_of_month = here.now.date().replace(day=1)
    months = []
    d = first_of_month
    for _ in range(3):
        d = (d - timedelta(days=1)).replace(day=1)
        months.append(d)
    by_grid_week = defaultdict(list)
    for t in here.tickets:
        if t["source"] == "patrol":
            by_grid_week[(t["grid_id"], t["category"])].append(t)
    workers = defaultdict(list)
    for p in here.people["grid_worker"]:
        workers[p["grid_id"]].append(p["name"])
    for month in reversed(months):
        for gid in here.grids:
            day = month + timedelta(days=int(rng.integers(3, 25)))
            pid = ids("patrol")
            who = (workers.get(gid) or ["网格员"])[0]
            town.setdefault("patrol", []).append(dict(
                id=pid, grid_id=gid, month=f"{month:%Y-%m}", patrolled_on=day, patroller=who, note="月度巡查",
                created_at=datetime.combine(day, time(17, 0))))
            for b in here.buildings[gid]:
                for kind, cat in (("clean_building", "sanitation"), ("safe_building", "safety_hazard")):
                    stars = int(rng.choice([5, 4, 3, 2, 1], p=[0.42, 0.36, 0.15, 0.05, 0.02]))
                    _rating(town, ids, by_grid_week, pid, gid, kind, cat, b, None, stars, day, who, rng)
                homes = here.households[b["id"]]
                for i in rng.choice(len(homes), size=min(len(homes), int(rng.integers(0, 3))), replace=False):
                    stars = int(rng.choice([5, 4, 3, 2], p=[0.5, 0.35, 0.12, 0.03]))
                    _rating(town, ids, by_grid_week, pid, gid, "clean_household", "sanitation", b, homes[int(i)],
                            stars, day, who, rng)


def _rating(town, ids, tickets, pid, gid, kind, cat, b, home, stars, day, who, rng) -> None:
    ticket_id = None
    if stars <= 2:  # the patrol's own report of the problem, that week (each report names one place)
        near = [t for t in tickets[(gid, cat)] if abs((t["created_at"].date() - day).days) <= 7]
        if near:
            ticket_id = near[0]["id"]
            tickets[(gid, cat)].remove(near[0])
    notes = {5: "整洁有序", 4: "总体良好", 3: "有少量杂物，已提醒", 2: "堆放杂物，需整改", 1: "存在明显隐患，限期整改"}
    town.setdefault("patrol_rating", []).append(dict(
        id=ids("patrol_rating"), patrol_id=pid, grid_id=gid, kind=kind,
        target=f"h{home['id']}" if home else f"b{b['id']}", building_id=b["id"],
        household_id=home["id"] if home else None, stars=stars, note=notes[stars], photo=None, ticket_id=ticket_id,
        rated_by=who, created_at=datetime.combine(day, time(16, 0))))


# --------------------------------------------------------------------------- leaders

def _leaders(town: street.Town, ids: street.Ids, here: _Here, rng: np.random.Generator) -> None:
    """A visit a quarter for the past year; this quarter's not yet made by some. The last leader's point is
    a community (正安: leaders link a street, a community and a grid)."""
    notes = ("调研老旧小区改造进展", "走访独居老人，了解助餐需求", "检查网格消防安全", "召开网格议事会，听取居民意见",
             "督办积压工单", "调研红色物业运行情况")
    leaders = here.people["leader"]
    if leaders:  # the demo leader's point is the street's busiest grid (leaders take the hard ones)
        open_here = defaultdict(int)
        for t in here.tickets:
            open_here[t["grid_id"]] += workflow.is_open(t["state"])
        busiest = max(sorted(here.grids), key=lambda g: open_here[g])
        leaders[0].update(contact_grid_id=busiest, community_id=here.grids[busiest]["community_id"])
        last = leaders[-1]
        last["contact_community_id"] = here.grids[last["contact_grid_id"]]["community_id"] \
            if last.get("contact_grid_id") in here.grids else None
        last["contact_grid_id"] = None if last["contact_community_id"] else last.get("contact_grid_id")
    today = here.now.date()
    for i, p in enumerate(leaders):
        grid_id = p.get("contact_grid_id")
        community_id = p.get("contact_community_id") or (here.grids[grid_id]["community_id"] if grid_id else None)
        if community_id is None:
            continue
        q = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)  # this quarter, then the four before it
        for k in range(5):
            last_day = min(today - timedelta(days=1), _next_quarter(q) - timedelta(days=1))
            if not (k == 0 and i % 2 == 1) and last_day >= q:  # every other leader is still due this quarter
                day = q + timedelta(days=int(rng.integers(0, (last_day - q).days + 1)))
                town.setdefault("leader_visit", []).append(dict(
                    id=ids("leader_visit"), person_id=p["id"], community_id=community_id, grid_id=grid_id,
                    visited_on=day, note=str(rng.choice(notes)), ticket_id=None, recorded_by=p["name"],
                    created_at=datetime.combine(day, time(18, 0))))
            q = _prev_quarter(q)


def _next_quarter(q: date) -> date:
    return date(q.year + (q.month == 10), 1 if q.month == 10 else q.month + 3, 1)


def _prev_quarter(q: date) -> date:
    return date(q.year - (q.month == 1), 10 if q.month == 1 else q.month - 3, 1)


# --------------------------------------------------------------------------- estates

def _estates(town: street.Town, here: _Here, rng: np.random.Generator) -> None:
    """Who manages each estate: commercial ones a property company (some 红色物业); work-unit ones their unit;
    old courtyards half 三无 (a third of those turned 三有 this year), the rest a unit, a company or nobody."""
    for e in town["estate"]:
        if e["grid_id"] not in here.grids:
            continue
        kind = e["kind"]
        company = f"{rng.choice(PROPERTY_COMPANIES)}服务有限公司"
        e.update(property_company=None, supervising_unit=None, red_property=False, three_have_on=None,
                 three_have_note=None)
        if kind == "commercial":
            e.update(has_property_company=True, property_company=company, red_property=bool(rng.random() < 0.4))
        elif kind == "unit":
            e.update(supervising_unit=str(rng.choice(UNITS)), has_property_company=bool(rng.random() < 0.5))
            e["property_company"] = company if e["has_property_company"] else None
        elif not e["has_property_company"] and not e["has_owners_committee"]:  # 三无
            if rng.random() < 0.35:
                e["three_have_on"] = here.now.date() - timedelta(days=int(rng.integers(20, 330)))
                e["three_have_note"] = "成立院落自治小组和党小组，制定院落公约，每月开展清扫和议事"
        else:
            roll = rng.random()
            if roll < 0.35:
                e.update(supervising_unit=str(rng.choice(UNITS)), has_property_company=False)
            elif roll < 0.7:
                e.update(has_property_company=True, property_company="社区托管物业", red_property=True)
            else:
                e.update(has_property_company=False)  # 无主管楼院: an owners' committee, no one to manage


# --------------------------------------------------------------------------- councils

def _councils(town: street.Town, ids: street.Ids, here: _Here, rng: np.random.Generator) -> None:
    """Three to five matters per community at every step of 一征三议两公开, some grid councils', each linked
    to tickets of its kind from the same area."""
    for community_id, c in here.communities.items():
        grids = [g for g, row in here.grids.items() if row["community_id"] == community_id]
        picks = rng.choice(len(MATTERS), size=int(rng.integers(3, 6)), replace=False)
        for n, i in enumerate(picks):
            title, cat, summary = MATTERS[int(i)]
            stage = STAGE_FOR[(n + community_id) % len(STAGE_FOR)]
            grid_id = int(rng.choice(grids)) if rng.random() < 0.4 else None
            raised = here.now.date() - timedelta(days=int(rng.integers(20, 200)))
            mid = ids("council_matter")
            row = dict(id=mid, community_id=community_id, grid_id=grid_id, title=title, summary=summary, stage=stage,
                       raised_on=raised, proposal=None, deliberation=None, decision=None, votes_for=None,
                       votes_against=None, decided_on=None, notice=None, published_on=None, outcome=None,
                       outcome_on=None, created_by="社区工作人员", created_at=datetime.combine(raised, time(10, 0)),
                       updated_at=datetime.combine(raised, time(10, 0)), version=1)
            order = ("collecting", "proposed", "deliberated", "decided", "published", "done")
            reached = order.index(stage)
            day = raised
            for step in order[1:reached + 1]:
                day = min(here.now.date(), day + timedelta(days=int(rng.integers(3, 12))))
                row["version"] += 1
                if step == "proposed":
                    row["proposal"] = f"社区党组织提议：{title}，先行征求全体住户意见后实施"
                elif step == "deliberated":
                    row["deliberation"] = "社区两委联席会议商议，同意提交居民代表会议表决"
                elif step == "decided":
                    votes = int(rng.integers(20, 60))
                    against = int(rng.integers(0, votes // 4))
                    row.update(decision=f"居民代表会议表决通过：{title}", votes_for=votes, votes_against=against,
                               decided_on=day)
                elif step == "published":
                    row.update(notice=f"关于“{title}”的决议已经居民代表会议通过，现予公示七天", published_on=day)
                elif step == "done":
                    row.update(outcome="已按决议实施完毕，居民满意", outcome_on=day)
            town.setdefault("council_matter", []).append(row)
            for _ in range(int(rng.integers(5, 16))):
                stance = str(rng.choice(["for", "against", "other"], p=[0.6, 0.15, 0.25]))
                town.setdefault("council_opinion", []).append(dict(
                    id=ids("council_opinion"), matter_id=mid, stance=stance, text=str(rng.choice(OPINIONS[stance])),
                    channel=str(rng.choice(["visit", "meeting", "online", "box"])),
                    collected_on=raised + timedelta(days=int(rng.integers(0, 5))), collected_by="网格员"))
            related = [t for t in here.tickets if t["category"] == cat and t["community_id"] == community_id
                       and (grid_id is None or t["grid_id"] == grid_id) and t["created_at"].date() <= raised]
            for t in related[-int(rng.integers(1, 4)):]:
                town.setdefault("council_ticket", []).append(dict(matter_id=mid, ticket_id=t["id"]))


def summary(town: street.Town, now: datetime) -> dict[str, dict[str, object]]:
    """The street's figures for each feature (printed by ``python -m geo.demo``)."""
    from geo.tickets import indicators

    import pandas as pd

    frame = pd.DataFrame(town["ticket"])
    arrivals = indicators.compute(frame, now)  # the 30-minute figures among them
    claims = sum(e["action"] == "claim" for e in town["ticket_event"])
    on_way = sum(1 for t in town["ticket"] if t["state"] == "in_progress" and t.get("arrive_by") and not t.get("arrived_at")
                 and t["arrive_by"] > now)
    links = [c for c in town["care_link"]]
    party = defaultdict(int)
    for c in links:
        if c["kind"] == "party":
            party[c["person_id"]] += 1
    year = [a for a in town.get("volunteer_activity", []) if a["started_at"] >= now - timedelta(days=365)]
    acts = {a["id"] for a in year}
    att = [x for x in town.get("volunteer_attendance", []) if x["activity_id"] in acts]
    ratings = town.get("patrol_rating", [])
    from geo.people.councils import STAGES
    from geo.people.estates import STATUSES, status

    statuses = defaultdict(int)
    for e in town["estate"]:
        statuses[status(property_company=e.get("property_company") if e["has_property_company"] else None,
                        owners_committee=e["has_owners_committee"], supervising_unit=e.get("supervising_unit"),
                        red_property=bool(e.get("red_property")), three_have_on=e.get("three_have_on"))] += 1
    stages = defaultdict(int)
    for m in town.get("council_matter", []):
        stages[m["stage"]] += 1
    return {
        "党员接单": {"认领(历史)": claims, "应到场": arrivals["arrival_due"],
                     "30分钟到场率": f"{arrivals['arrival_rate'] * 100:.1f}%",
                     "到场中位数(分钟)": arrivals["arrival_median_min"], "超时到场": arrivals["arrived_late"],
                     "超时未到场": arrivals["arrival_missing"], "在途": on_way},
        "包保与联户": {"包保党员": len(party), "包保户": sum(party.values()),
                       "联户长联系户": sum(c["kind"] == "link" for c in links),
                       "楼栋长": sum(p["role"] == "building_head" for p in town["person"])},
        "志愿服务(近一年)": {"队伍": len(town["volunteer_team"]),
                           "志愿者": sum(p["role"] == "volunteer" for p in town["person"]), "活动": len(year),
                           "人次": len(att), "时长(小时)": round(sum(x["minutes"] for x in att) / 60),
                           "互助兑换(次)": sum(e["kind"] == "received" for e in town.get("time_entry", []))},
        "巡查评比": {"巡查": len(town.get("patrol", [])), "评分": len(ratings),
                     "达标(4星+)": sum(r["stars"] >= 4 for r in ratings), "低分(2星-)": sum(r["stars"] <= 2 for r in ratings),
                     "低分生成工单": sum(r["ticket_id"] is not None for r in ratings)},
        "领导联系点": {"领导": sum(p["role"] == "leader" for p in town["person"]),
                       "调研(近一年)": len(town.get("leader_visit", []))},
        "小区物业": {STATUSES[k][0]: statuses[k] for k in STATUSES},
        "议事协商": {STAGES[k].name_zh: stages[k] for k in STAGES},
    }
