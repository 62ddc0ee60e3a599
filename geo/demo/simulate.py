"""A year of tickets for the demo street, driven through the ticket workflow.

Every ticket is made and moved by geo.tickets.rules, so each history is one
the rules allow (replayed in the tests); timings, escalations and ratings
follow what the articles describe (most fixed in days, some late, a few reopened).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from shapely.geometry import Point

from geo.tickets import categories, rules, workflow
from geo.demo import street

#: What residents really write, per category ({b}: the building). Chosen by ticket id, so the
#: random stream (and with it the rest of the town) does not depend on this table.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "streetlight_road": ("{b}前路灯不亮，夜间出行不便", "{b}旁人行道地砖破损松动", "{b}附近路面坑洼，下雨积水",
                         "{b}路口井盖缺失，存在安全隐患"),
    "water": ("{b}停水一天未恢复", "{b}二次供水水压不足，高层没水", "{b}楼下供水管爆裂漏水", "{b}自来水发黄有异味"),
    "sanitation": ("{b}垃圾桶满溢三天未清运", "{b}楼道堆放杂物无人清理", "{b}旁绿化带堆有建筑垃圾",
                   "{b}附近下水道堵塞，污水外溢"),
    "property": ("{b}电梯故障停运", "{b}单元门禁损坏", "{b}顶楼漏水，物业迟迟未处理", "{b}楼下停车乱，消防车进不来"),
    "dispute": ("{b}楼上漏水引发邻里纠纷", "{b}住户养狗扰民，多次协商未果", "{b}夜间装修噪音扰民",
                "{b}公共楼道被邻居长期占用"),
    "safety_hazard": ("{b}有住户把电动车推进楼道充电", "{b}外墙瓷砖松动，有脱落风险", "{b}燃气管道老化有异味",
                      "{b}私拉电线飞线充电"),
    "fire_equipment": ("{b}消防栓打开无水", "{b}灭火器过期未更换", "{b}消防通道被车辆堵塞", "{b}楼道应急灯损坏"),
    "public_order": ("{b}附近夜间有人聚集喧哗", "{b}发现可疑人员撬锁", "{b}门口占道经营", "{b}楼下电动车被盗"),
    "employment": ("{b}住户失业，求助推荐工作", "{b}应届毕业生咨询就业补贴", "{b}残疾居民申请就业帮扶",
                   "{b}居民咨询技能培训报名"),
    "elderly_care": ("{b}独居老人需要上门助餐", "{b}高龄老人申请居家养老服务", "{b}老人行动不便，需代办社保认证",
                     "{b}独居老人多日未出门，请上门查看"),
    "legal_aid": ("{b}居民咨询房屋租赁纠纷", "{b}住户遭遇电信诈骗求助", "{b}居民咨询遗产继承", "{b}老人咨询子女赡养纠纷"),
    "epidemic": ("{b}返乡人员登记排查", "{b}有居民发热，需登记随访", "{b}居民咨询疫苗接种点", "{b}重点人群健康监测"),
    "wage_arrears": ("{b}住户被拖欠工资三个月", "{b}附近工地农民工讨薪", "{b}住户反映装修公司欠薪",
                     "{b}门口餐馆员工工资未发放"),
}
DEPARTMENT_STAFF = ["李科长", "王主任", "张队长", "刘所长", "陈站长"]


def _description(cat, building: str, tid: int) -> str:
    """A resident's words for a ticket of ``cat`` at ``building`` (tests/demo/test_demo.py: every category has lines)."""
    lines = DESCRIPTIONS[cat.key]
    return lines[tid % len(lines)].format(b=building)



# --------------------------------------------------------------------------- tickets

class TicketSimulator:
    """A year of tickets, each moved through ``geo.tickets.workflow`` step by step.

    A loop over states: in each state whoever holds the ticket makes a move
    after a delay (working time for ordinary tickets, clock time for urgent
    ones and for residents), unless the clock comes first. Whenever the step's
    escalation (``tickets.escalation_at``: at once for urgent tickets, at the
    step limit otherwise) falls before that person's move, the system
    escalation is applied at that moment and the loop goes on from the new
    state, as ``ticket_service.escalate_due`` does on a live database. So every
    stored history is one the rules allow, escalations included. A ticket
    whose next step would fall after ``now`` stops where it is: that is how
    the demo has open and overdue tickets today.

    Every exit is exercised: reject with each reason, return, merge of
    duplicates, close unfixed, reopen after a bad rating (also after a
    closure), dispatch to a department, a party member or a volunteer. The
    street's last community is a pilot of the 二七 一领四单 loop
    (``Community.workflow``), so some tickets run on that workflow.
    """

    DUPLICATE_SHARE = 0.02  # reports of a problem someone nearby already reported
    REJECT_SHARE = 0.03
    SLOW_SHARE = 0.04  # a desk that lets its step limit run out (the clock escalates)
    #: How staff follow up before rating on a resident's behalf: mostly by phone, as 12345 回访 does.
    FOLLOW_UPS = ("phone", "phone", "phone", "phone", "phone", "visit", "visit", "on_site", "hotline", "hotline")

    def __init__(self, rng: np.random.Generator, ids: street.Ids, town: street.Town, sb: street.StreetBuilder,
                 now: datetime):
        self.rng, self.ids, self.town, self.sb, self.now = rng, ids, town, sb, now
        self.members: dict[int, list[dict]] = {}
        self.volunteers: dict[int, list[dict]] = {}
        self.community_staff: dict[int, list[str]] = {}
        self.street_staff: list[str] = []
        for p in town["person"]:
            if p.get("street_id") != sb.street_id:
                continue
            if p["role"] == "party_member" and p.get("available"):
                self.members.setdefault(p["grid_id"], []).append(p)
            elif p["role"] == "volunteer" and p.get("available", True):
                self.volunteers.setdefault(p["grid_id"], []).append(p)
            elif p["role"] == "community_staff":
                self.community_staff.setdefault(p["community_id"], []).append(p["name"])
            elif p["role"] == "street_staff":
                self.street_staff.append(p["name"])
        self.members_all = [p for ps in self.members.values() for p in ps]
        self.people = {p["id"]: p for p in town["person"] if p.get("street_id") == sb.street_id}
        communities = sorted((c for c in town["community"] if c["street_id"] == sb.street_id),
                             key=lambda c: c["code"])
        if len(communities) >= 2:  # the last community pilots 一领四单
            communities[-1]["workflow"] = workflow.ERQI.key
        self.workflow_of = {c["id"]: c.get("workflow") for c in communities}
        self.community_name = {c["id"]: c["name"] for c in communities}
        self.cats = list(categories.CATEGORIES.values())
        w = np.array([c.weight for c in self.cats])
        self.p = w / w.sum()
        self.events: dict[int, list[dict]] = {}
        self.recent: list[dict] = []  # tickets of the last three days: duplicates are reported of them

    def run(self, n: int) -> None:
        rng = self.rng
        bld = self.sb.buildings
        weights = np.array([b["row"]["residents"] for b in bld], dtype=float)
        weights /= weights.sum()
        days = np.sort(rng.uniform(0, 365, n))[::-1]
        for i in range(n):
            start = self.now - timedelta(days=float(days[i]))
            start = start.replace(hour=int(rng.choice(np.arange(7, 22))), minute=int(rng.integers(60)))
            if start > self.now:
                start = self.now - timedelta(minutes=int(rng.integers(5, 600)))
            original = self._duplicate_of(start) if rng.random() < self.DUPLICATE_SHARE else None
            b = original["building"] if original else bld[int(rng.choice(len(bld), p=weights))]
            self._ticket(start, b, original)

    def _duplicate_of(self, when: datetime) -> dict | None:
        """A ticket reported in the three days before ``when`` and still open then, if any."""
        self.recent = [r for r in self.recent if r["created"] >= when - timedelta(days=3)]
        live = [r for r in self.recent if r["created"] <= when and self._state_at(r["id"], when) in
                workflow.OPEN_STATES]
        return live[int(self.rng.integers(len(live)))] if live else None

    def _state_at(self, tid: int, when: datetime) -> str | None:
        state = None
        for e in self.events.get(tid, []):
            if e["at"] > when:
                break
            state = e["to_state"]
        return state

    def _where(self, b: dict) -> Point:
        grid = self.sb.grid_polys[b["grid_id"]]
        for _ in range(20):
            p = Point(b["entrance"].x + self.rng.normal(0, 15), b["entrance"].y + self.rng.normal(0, 15))
            if grid.contains(p):
                return p
        return grid.representative_point()

    def _ticket(self, created: datetime, b: dict, original: dict | None) -> None:
        rng, sb = self.rng, self.sb
        cat = categories.CATEGORIES[original["category"]] if original else \
            self.cats[int(rng.choice(len(self.cats), p=self.p))]
        urgent = original["urgent"] if original else bool(rng.random() < cat.urgent_share)
        tid = self.ids("ticket")
        grid_id = b["grid_id"]
        community_id = sb.grid_community[grid_id]
        t, first = rules.new_ticket(
            category=cat.key, description=_description(cat, b["row"]["name"], tid), created=created,
            urgent=urgent, source=str(rng.choice(["resident", "patrol", "video", "hotline"],
                                                 p=[0.55, 0.25, 0.08, 0.12])),
            reporter_name=street.person_names(rng, 1)[0], reporter_phone=street.phone_numbers(rng, 1)[0],
            workflow_key=self.workflow_of.get(community_id), code=f"GD{created:%Y%m%d}{tid:05d}",
            geom=sb.ll(self._where(b)), street_id=sb.street_id, community_id=community_id, grid_id=grid_id,
            routing_flag=None)
        t["id"] = tid
        self.town.setdefault("ticket", []).append(t)
        self._event(t, first)
        self._drive(t, created, dict(original=original, big=bool(rng.random() < cat.big_share)))
        self.recent.append(dict(id=tid, code=t["code"], created=created, building=b, category=cat.key,
                                urgent=urgent))

    # -- the loop
    def _drive(self, t: dict, clock: datetime, ctx: dict) -> None:
        """Move ``t`` until it is closed or its next step lies after ``now``; the clock goes first."""
        for _ in range(80):
            if not workflow.is_open(t["state"]) and not (t["state"] == "closed" and ctx.get("reopen_later")):
                return
            plan = self._plan(t, clock, ctx)
            due = rules.escalation_at(t)
            if due is not None and due <= self.now and (plan is None or due <= plan[0]):
                note = "急事不出社区：紧急工单自动升级" if t["urgent"] else "超过本环节时限，自动升级"
                self._event(t, rules.apply(t, "escalate", rules.SYSTEM_ACTOR, due, note=note))
                clock = due
                continue
            if plan is None or plan[0] > self.now:
                return
            at, action, actor, kw = plan
            if action == "arrive":
                self._event(t, rules.record_arrival(t, actor, at))
            else:
                self._event(t, rules.apply(t, action, actor, at, **kw))
            clock = at

    def _plan(self, t: dict, clock: datetime, ctx: dict) -> tuple[datetime, str, rules.Actor, dict] | None:
        """The next human move in ``t``'s state: when, what, by whom, with what."""
        state, erqi = t["state"], t["workflow"] == workflow.ERQI.key
        if state == "closed":
            ctx.pop("reopen_later")
            return (clock + timedelta(hours=float(self.rng.uniform(24, 240))), "reopen", self._resident(t),
                    dict(rating=int(self.rng.choice([1, 2])), note="问题又出现了"))
        if state == "resolved":
            return self._rating(t, clock, ctx, erqi)
        if state == "in_progress":
            return self._work(t, clock, ctx, erqi)
        if state == "reported":
            return self._intake(t, clock, ctx, self._street(erqi) if erqi else self._grid(t))
        plan = {"grid_accepted": self._grid_step, "community_dispatched": self._community_step,
                "street_reviewed": self._street_step, "street_accepted": self._erqi_street_step}[state]
        return plan(t, clock, ctx)

    def _later(self, t: dict, clock: datetime, hours: float, *, slow: tuple[float, float] | None = None) -> datetime:
        """A member of staff acts ``hours`` later (working time; urgent: on the clock); now and then slowly."""
        if slow and self.rng.random() < self.SLOW_SHARE:
            hours = float(self.rng.uniform(*slow))
        if t["urgent"]:
            return clock + timedelta(hours=float(hours))
        return categories.add_working_hours(clock, float(hours))

    def _intake(self, t: dict, clock: datetime, ctx: dict, actor: rules.Actor):
        rng = self.rng
        at = self._later(t, clock, rng.lognormal(-0.2, 0.7), slow=(4, 10))
        original = ctx.get("original")
        if original is not None:
            if self._state_at(original["id"], at) in workflow.OPEN_STATES:
                return at, "merge", actor, dict(merged_into_id=original["id"],
                                                note=f"同一问题，合并到 {original['code']}")
            return at, "reject", actor, dict(note="重复上报")
        if rng.random() < self.REJECT_SHARE:
            return at, "reject", actor, dict(note=str(rng.choice(workflow.REJECT_REASONS)))
        return at, "accept", actor, {}

    def _grid_step(self, t: dict, clock: datetime, ctx: dict):
        grid = self._grid(t)
        if ctx.get("returned_to_grid") or not ctx["big"]:  # 小事不出网格
            return self._later(t, clock, self.rng.uniform(0.2, 2), slow=(7, 14)), "handle_in_grid", grid, {}
        return self._later(t, clock, self.rng.uniform(0.5, 6), slow=(7, 14)), "escalate", grid, {}

    def _community_step(self, t: dict, clock: datetime, ctx: dict):
        rng = self.rng
        community = self._community(t)
        fast = t["urgent"] or t["reopen_count"]
        at = self._later(t, clock, rng.uniform(0.1, 0.5) if t["urgent"] else rng.uniform(0.5, 6), slow=(7, 12))
        roll = rng.random()
        if not fast and t["level"] == "community" and not ctx.get("returned_to_grid") and roll < 0.04:
            ctx["returned_to_grid"] = True
            return at, "return", community, dict(note="属网格职责范围，请网格自办")
        if not fast and roll > 0.99:
            return at, "reject", community, dict(note=str(rng.choice(workflow.REJECT_REASONS)))
        if not fast and ctx["big"] and rng.random() < 0.35:  # 大事不出社区, except those needing a department
            return at, "escalate", community, {}
        return self._dispatch(t, at, community, self._assignment(t, party_only=bool(t["urgent"])))

    def _street_step(self, t: dict, clock: datetime, ctx: dict):
        street = self._street(False)
        at = self._later(t, clock, self.rng.uniform(1, 6))
        if not ctx.get("returned_to_community") and self.rng.random() < 0.05:
            ctx["returned_to_community"] = True
            return at, "return", street, dict(note="社区可协调处置，请社区派单")
        department = categories.CATEGORIES[t["category"]].department
        return at, "assign", street, dict(department=department, note=f"派发{department}")

    def _erqi_street_step(self, t: dict, clock: datetime, ctx: dict):
        street = self._street(True)
        at = self._later(t, clock, self.rng.uniform(0.5, 5), slow=(7, 12))
        if not ctx.get("returned") and self.rng.random() < 0.02:
            ctx["returned"] = True
            return at, "return", street, dict(note="信息不全，退回重新核实")
        if self.rng.random() < 0.5:
            return self._dispatch(t, at, street, self._assignment(t, party_only=True))
        parties = f"{self.community_name[t['community_id']]}共建单位"
        return at, "assign", street, dict(department=parties, note=f"派{parties}做单")

    def _dispatch(self, t: dict, at: datetime, by: rules.Actor, kw: dict) -> tuple[datetime, str, rules.Actor, dict]:
        """The dispatch, or (党员接单) the party member claiming it themselves: two in three of the tickets
        sent to a member in a category offered to members (geo.people.orders). Chosen by ticket id, with
        no random draw, so the rest of the town stays as it was."""
        if kw.get("assignee_is_party_member") and t["category"] in categories.PARTY_CATEGORIES and t["id"] % 3:
            m = self.people[kw["assignee_id"]]
            return at, "claim", rules.Actor(m["name"], workflow.HANDLER, person_id=m["id"]), dict(
                note=f"党员{m['name']}接单，30分钟内到场")
        return at, "assign", by, kw

    def _assignment(self, t: dict, *, party_only: bool) -> dict:
        """A party member (30 minutes to arrive), a volunteer of the grid, or the category's department."""
        roll = self.rng.random()
        volunteers = self.volunteers.get(t["grid_id"])
        if party_only or roll < 0.55 or (roll < 0.75 and not volunteers):
            members = self.members.get(t["grid_id"]) or self.members_all
            m = members[int(self.rng.integers(len(members)))]
            return dict(assignee_id=m["id"], assignee_is_party_member=True, note=f"派党员{m['name']}接单")
        if roll < 0.75:
            v = volunteers[int(self.rng.integers(len(volunteers)))]
            return dict(assignee_id=v["id"], note=f"派志愿者{v['name']}接单")
        department = categories.CATEGORIES[t["category"]].department
        return dict(department=department, note=f"派发{department}")

    def _work(self, t: dict, clock: datetime, ctx: dict, erqi: bool):
        rng = self.rng
        if t.get("arrive_by") and not t.get("arrived_at"):
            minutes = float(rng.choice([8, 15, 22, 28, 45], p=[.2, .3, .25, .15, .1]))
            return clock + timedelta(minutes=minutes), "arrive", self._handler(t), {}
        cat = categories.CATEGORIES[t["category"]]
        if t["urgent"]:
            allowed, left = cat.urgent_limit_h, (t["due_at"] - clock).total_seconds() / 3600
        else:
            allowed = cat.limit_days * categories.WORK_DAY_HOURS
            left = categories.working_hours_between(clock, t["due_at"])
        if rng.random() < 0.15:  # late
            hours = max(0.5, left) + allowed * rng.uniform(0.05, 1.5)
        else:
            hours = max(0.3, left * rng.uniform(0.2, 0.95))
        at = self._later(t, clock, hours)
        roll = rng.random()
        if roll < 0.02 + 0.3 * (t["reopen_count"] >= 2):
            closer = self._street(True) if erqi else self._community(t)
            return at, "close_unfixed", closer, dict(note="涉及历史遗留问题，暂无法解决")
        if roll > 0.97 and (t["assignee_id"] or t["department"]) and not ctx.get("handed_back"):
            ctx["handed_back"] = True
            return (self._later(t, clock, rng.uniform(0.5, 4)), "return", self._handler(t),
                    dict(note="需其他部门配合，请重新派单"))
        return at, "resolve", self._handler(t), dict(note="已处理完毕")

    def _rating(self, t: dict, clock: datetime, ctx: dict, erqi: bool):
        rng = self.rng
        stars = [5, 4, 3] if t["reopen_count"] >= 2 else [5, 4, 3, 2, 1]
        p = [0.7, 0.2, 0.1] if len(stars) == 3 else [0.72, 0.17, 0.06, 0.03, 0.02]
        rating = int(rng.choice(stars, p=p))
        by, how = self._resident(t), {}
        if rng.random() < 0.15:  # 回访: the grid (the community parties in 一领四单) records it on the resident's behalf
            by = self._community(t) if erqi else self._grid(t)
            how = dict(rating_channel=self.FOLLOW_UPS[t["id"] % len(self.FOLLOW_UPS)])  # no draw: the town stays
        if rating >= 3 and rng.random() < 0.01:
            ctx["reopen_later"] = True  # fixed, rated, and back again some days later
        note = ["问题没有解决", "问题没有解决", "基本满意", "满意", "非常满意"][rating - 1]
        return clock + timedelta(hours=float(rng.uniform(2, 72))), "rate", by, dict(rating=rating, note=note, **how)

    # -- who
    def _grid(self, t: dict) -> rules.Actor:
        return rules.Actor(self.sb.staff[("grid_worker", t["grid_id"])][0], workflow.GRID)

    def _community(self, t: dict) -> rules.Actor:
        staff = self.community_staff.get(t["community_id"]) or ["社区工作人员"]
        return rules.Actor(staff[t["id"] % len(staff)], workflow.COMMUNITY)

    def _street(self, erqi: bool) -> rules.Actor:
        name = self.street_staff[int(self.rng.integers(len(self.street_staff)))] if self.street_staff else "街道审单员"
        return rules.Actor(f"街道党工委·{name}" if erqi else name, workflow.STREET)

    def _resident(self, t: dict) -> rules.Actor:
        return rules.Actor(t["reporter_name"], workflow.RESIDENT)

    def _handler(self, t: dict) -> rules.Actor:
        if t.get("assignee_id"):
            p = self.people[t["assignee_id"]]
            return rules.Actor(p["name"], workflow.HANDLER, person_id=p["id"])
        if t.get("department"):
            return rules.Actor(t["department"], workflow.HANDLER)
        if t["workflow"] == workflow.ERQI.key:
            return self._community(t)
        return self._grid(t)

    def _event(self, t: dict, event: dict) -> None:
        event = {k: v for k, v in event.items() if k != "username"}
        row = dict(id=self.ids("ticket_event"), ticket_id=t["id"], **event)
        self.events.setdefault(t["id"], []).append(row)
        self.town.setdefault("ticket_event", []).append(row)
