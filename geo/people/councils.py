"""Councils and public matters (议事协商, 一征三议两公开): what residents decide, and telling everyone.

二七区 (绿云小区 old-estate renewal): “以‘一征三议两公开’工作作为抓手，让群众说话、动员群众参与”. A community
or grid council takes up a matter (often raised by tickets), and it moves through ``STAGES``:

    一征 征集民意 (collect opinions) → 三议: 党组织提议 (propose) → 两委/联席会议商议 (deliberate)
    → 居民(代表)会议决议 (decide, with the votes) → 两公开: 决议公开 (publish the decision)
    → 实施结果公开 (publish the outcome)

Each step needs its own text, and steps are never skipped. Linked tickets show the decision
(``for_ticket``). ``public_list`` is what residents may read (the phone page of issue 16 shows it):
published matters only, with no personal data — no opinions' authors, no one who entered anything.
Every change is audited; edits are guarded by the matter's version (two clerks at once: one wins).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, insert, or_, select, update

from geo.access import audit, roles
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Community, CouncilMatter, CouncilOpinion, CouncilTicket, Grid, Ticket
from geo.errors import ConcurrentEditError, NotFoundError, ValidationError


@dataclass(frozen=True)
class Stage:
    key: str
    name_zh: str
    name_en: str
    fields: tuple[str, ...]  # what moving into this stage must record
    public: bool = False  # residents see the matter from this stage on

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


STAGES: dict[str, Stage] = {s.key: s for s in (
    Stage("collecting", "一征·征集民意", "Collecting opinions", ()),
    Stage("proposed", "一议·党组织提议", "Proposed by the party organisation", ("proposal",)),
    Stage("deliberated", "二议·两委商议", "Discussed by the committees", ("deliberation",)),
    Stage("decided", "三议·居民会议决议", "Decided by the residents' meeting", ("decision", "votes_for",
                                                                            "votes_against", "decided_on")),
    Stage("published", "一公开·决议公开", "Decision made public", ("notice", "published_on"), public=True),
    Stage("done", "二公开·结果公开", "Outcome made public", ("outcome", "outcome_on"), public=True),
)}
ORDER = list(STAGES)
STANCES = {"for": ("赞成", "For"), "against": ("反对", "Against"), "other": ("建议", "Suggestion")}
CHANNELS = {"visit": ("入户征求", "Door to door"), "meeting": ("座谈会", "Meeting"), "online": ("线上征集", "Online"),
            "box": ("意见箱", "Suggestion box"), "ticket": ("工单反映", "From tickets")}
_NOT_HERE = "议事事项 {id} 不存在或不在您的管辖范围内 / no such matter in your area"
_FIELD_ZH = {"proposal": "提议内容", "deliberation": "商议意见", "decision": "决议内容", "votes_for": "赞成票数",
             "votes_against": "反对票数", "decided_on": "决议日期", "notice": "公示内容", "published_on": "公示日期",
             "outcome": "实施结果", "outcome_on": "结果公开日期"}


def _check(user) -> None:
    if not roles.may(user.role, "manage_councils"):
        raise PermissionError("您的角色不能管理议事事项 / your role may not manage council matters")


def readable(scope: Scope):
    """SQL: matters the scope reads (a grid reads its own council's and its community's)."""
    m = CouncilMatter.__table__
    if scope.level == "grid":
        return (m.c.community_id == scope.community_id) & or_(m.c.grid_id.is_(None), m.c.grid_id == scope.grid_id)
    return scope.clause(m)


def writable(scope: Scope):
    """SQL: matters the scope changes (a grid head only its own grid council's)."""
    m = CouncilMatter.__table__
    return m.c.grid_id == scope.grid_id if scope.level == "grid" else scope.clause(m)


# --------------------------------------------------------------------------- writing

def raise_matter(engine: Engine, user, *, title: str, summary: str, now: datetime, grid_id: int | None = None,
                 community_id: int | None = None, ticket_ids: tuple[int, ...] | list[int] = ()) -> int:
    """A matter for a council (a grid head's: their grid's council); returns its id. Linked tickets must be
    in the user's area."""
    _check(user)
    title, summary = (title or "").strip(), (summary or "").strip()
    if not 4 <= len(title) <= 80:
        raise ValidationError("请填写议题（4–80 字） / give the matter a title of 4–80 characters")
    scope = user.scope
    if scope.level == "grid":
        grid_id, community_id = scope.grid_id, scope.community_id
    with engine.begin() as conn:
        if grid_id is not None:
            row = conn.execute(select(Grid.community_id).where(
                Grid.id == grid_id, Grid.id == scope.grid_id if scope.level == "grid" else scope.clause(Grid.__table__))
            ).first()
            if row is None:
                raise NotFoundError(f"网格 {grid_id} 不在您的管辖范围内 / no such grid in your area")
            community_id = row[0]
        elif community_id is None and scope.level == "community":
            community_id = scope.community_id
        if community_id is None or not conn.execute(select(Community.id).where(
                Community.id == community_id,
                Community.id == scope.community_id if scope.level != "street" else scope.clause(Community.__table__))
        ).first():
            raise NotFoundError("请选择您管辖范围内的社区或网格议事会 / choose a council in your area")
        linked = _tickets_in(conn, scope, ticket_ids)
        mid = conn.execute(insert(CouncilMatter).returning(CouncilMatter.id), [dict(
            community_id=community_id, grid_id=grid_id, title=title, summary=summary or None, stage="collecting",
            raised_on=now.date(), created_by=user.label, created_at=now, updated_at=now, version=1)]).scalar_one()
        if linked:
            conn.execute(insert(CouncilTicket), [dict(matter_id=mid, ticket_id=t) for t in linked])
        audit.record(conn, at=now, username=user.username, role=user.role, action="council.raise",
                     object_type="council_matter", object_id=int(mid), grid_id=grid_id,
                     detail=f"议题：{title}" + (f"；关联工单 {len(linked)} 张" if linked else ""))
    return int(mid)


def _tickets_in(conn, scope: Scope, ticket_ids) -> list[int]:
    ids = sorted({int(t) for t in ticket_ids})
    if not ids:
        return []
    found = set(conn.execute(select(Ticket.id).where(Ticket.id.in_(ids), scope.clause(Ticket.__table__))).scalars())
    if found != set(ids):
        raise NotFoundError("关联的工单不存在或不在您的管辖范围内 / a linked ticket is not in your area")
    return ids


def _matter(conn, where, matter_id: int) -> dict[str, Any]:
    m = CouncilMatter.__table__
    row = conn.execute(select(m).where(m.c.id == matter_id, where)).mappings().first()
    if row is None:
        raise NotFoundError(_NOT_HERE.format(id=matter_id))
    return dict(row)


def add_opinion(engine: Engine, user, matter_id: int, *, stance: str, text: str, channel: str, collected_on: date,
                now: datetime) -> int:
    """One opinion collected while the matter is open for them (一征). No names are kept."""
    _check(user)
    if stance not in STANCES:
        raise ValidationError("请选择赞成、反对或建议 / for, against or a suggestion")
    if channel not in CHANNELS:
        raise ValidationError("请选择征集方式 / how was it collected")
    text = (text or "").strip()
    if not 2 <= len(text) <= 1000:
        raise ValidationError("请填写意见内容（2–1000 字） / write the opinion (2–1000 characters)")
    if collected_on > now.date():
        raise ValidationError("征集日期不能晚于今天 / the date cannot be in the future")
    with engine.begin() as conn:
        m = _matter(conn, writable(user.scope), matter_id)
        if m["stage"] != "collecting":
            raise ValidationError("征集民意阶段已结束，不能再添加意见 / opinions are no longer being collected")
        oid = conn.execute(insert(CouncilOpinion).returning(CouncilOpinion.id), [dict(
            matter_id=matter_id, collected_on=collected_on, channel=channel, stance=stance, text=text,
            collected_by=user.label)]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="council.opinion",
                     object_type="council_matter", object_id=int(matter_id), grid_id=m["grid_id"],
                     detail=f"{m['title']}：{STANCES[stance][0]}（{CHANNELS[channel][0]}）")
    return int(oid)


def advance(engine: Engine, user, matter_id: int, *, expected_version: int, now: datetime, **fields: Any) -> str:
    """Move the matter to its next stage, recording what that stage needs (``Stage.fields``); returns the stage.

    Stages are never skipped; proposing needs at least one opinion collected; a decision needs its votes;
    publishing needs a notice. ConcurrentEditError (nothing saved) if the matter changed since it was read.
    """
    _check(user)
    with engine.begin() as conn:
        m = _matter(conn, writable(user.scope), matter_id)
        i = ORDER.index(m["stage"])
        if i + 1 >= len(ORDER):
            raise ValidationError("该事项已公开实施结果，流程已完成 / this matter is complete")
        nxt = STAGES[ORDER[i + 1]]
        if nxt.key == "proposed":
            n = conn.execute(select(func.count()).select_from(CouncilOpinion).where(
                CouncilOpinion.matter_id == matter_id)).scalar_one()
            if n == 0:
                raise ValidationError("请先征集居民意见（一征），再由党组织提议 / collect opinions first")
        values = _stage_values(nxt, fields, m, now)
        done = conn.execute(update(CouncilMatter).where(
            CouncilMatter.id == matter_id, CouncilMatter.version == expected_version).values(
            stage=nxt.key, updated_at=now, version=CouncilMatter.version + 1, **values))
        if done.rowcount != 1:
            raise ConcurrentEditError("该事项刚被他人更新，本次未保存；请刷新后再操作 / someone changed this matter; "
                                      "nothing was saved")
        audit.record(conn, at=now, username=user.username, role=user.role, action=f"council.{nxt.key}",
                     object_type="council_matter", object_id=int(matter_id), grid_id=m["grid_id"],
                     detail=f"{m['title']}：{STAGES[m['stage']].name_zh} → {nxt.name_zh}")
    return nxt.key


def _stage_values(stage: Stage, fields: dict[str, Any], m: dict[str, Any], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in stage.fields:
        v = fields.get(f)
        if isinstance(v, str):
            v = v.strip()
        if v is None or v == "":
            raise ValidationError(f"进入「{stage.name_zh}」须填写{_FIELD_ZH[f]} / {f} is needed for this step")
        if f.startswith("votes_"):
            if not isinstance(v, int) or v < 0:
                raise ValidationError(f"{_FIELD_ZH[f]}须为非负整数 / votes are whole numbers")
        elif f.endswith("_on"):
            if not isinstance(v, date) or v > now.date():
                raise ValidationError(f"{_FIELD_ZH[f]}不能晚于今天 / the date cannot be in the future")
        elif len(v) > 4000:
            raise ValidationError(f"{_FIELD_ZH[f]}不能超过 4000 字 / at most 4000 characters")
        values[f] = v
    if stage.key == "decided" and values["votes_for"] <= values["votes_against"]:
        raise ValidationError("赞成票未超过反对票，议题未通过：可退回重新商议，或不作决议 / the motion did not pass")
    return values


def link_ticket(engine: Engine, user, matter_id: int, ticket_id: int, *, now: datetime) -> None:
    """Link a ticket to the matter (the ticket then shows the decision)."""
    _check(user)
    with engine.begin() as conn:
        m = _matter(conn, writable(user.scope), matter_id)
        _tickets_in(conn, user.scope, [ticket_id])
        if conn.execute(select(CouncilTicket.ticket_id).where(CouncilTicket.matter_id == matter_id,
                                                              CouncilTicket.ticket_id == ticket_id)).first():
            return
        conn.execute(insert(CouncilTicket), [dict(matter_id=matter_id, ticket_id=ticket_id)])
        audit.record(conn, at=now, username=user.username, role=user.role, action="council.ticket",
                     object_type="council_matter", object_id=int(matter_id), grid_id=m["grid_id"],
                     detail=f"{m['title']}：关联工单 {ticket_id}")


# --------------------------------------------------------------------------- reading

def _opinion_counts():
    o = CouncilOpinion.__table__
    return (select(o.c.matter_id, func.count().label("opinions"),
                   func.sum(case((o.c.stance == "for", 1), else_=0)).label("opinions_for"),
                   func.sum(case((o.c.stance == "against", 1), else_=0)).label("opinions_against"))
            .group_by(o.c.matter_id).subquery())


def matters(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The matters the scope reads, newest first, with opinion counts and linked tickets."""
    m, n = CouncilMatter.__table__, _opinion_counts()
    tk = (select(CouncilTicket.matter_id, func.count().label("tickets")).group_by(CouncilTicket.matter_id).subquery())
    df = store.read_frame(engine, select(
        m.c.id, m.c.title, m.c.stage, m.c.community_id, Community.name.label("community"), m.c.grid_id,
        Grid.name.label("grid"), m.c.raised_on, m.c.decided_on, m.c.published_on, m.c.outcome_on, m.c.version,
        func.coalesce(n.c.opinions, 0).label("opinions"), func.coalesce(n.c.opinions_for, 0).label("opinions_for"),
        func.coalesce(n.c.opinions_against, 0).label("opinions_against"),
        func.coalesce(tk.c.tickets, 0).label("tickets"))
        .join(Community, Community.id == m.c.community_id).outerjoin(Grid, Grid.id == m.c.grid_id)
        .outerjoin(n, n.c.matter_id == m.c.id).outerjoin(tk, tk.c.matter_id == m.c.id)
        .where(readable(scope)).order_by(m.c.raised_on.desc(), m.c.id.desc()))
    df["council"] = df["community"] + df["grid"].map(lambda g: f"·{g}" if isinstance(g, str) else "")
    return df


def matter(engine: Engine, matter_id: int, *, scope: Scope) -> dict[str, Any]:
    """One matter in full: its fields, opinions (no names) and linked tickets (code, state)."""
    with engine.connect() as conn:
        m = _matter(conn, readable(scope), matter_id)
    o = CouncilOpinion.__table__
    m["opinions"] = store.read_frame(engine, select(o.c.collected_on, o.c.channel, o.c.stance, o.c.text)
                                     .where(o.c.matter_id == matter_id).order_by(o.c.collected_on, o.c.id))
    m["tickets"] = store.read_frame(engine, select(Ticket.id, Ticket.code, Ticket.category, Ticket.state)
                                    .join(CouncilTicket, CouncilTicket.ticket_id == Ticket.id)
                                    .where(CouncilTicket.matter_id == matter_id, scope.clause(Ticket.__table__))
                                    .order_by(Ticket.id))
    return m


def for_ticket(engine: Engine, ticket_id: int, *, scope: Scope) -> pd.DataFrame:
    """The matters a ticket is linked to, with their stage and decision (what the ticket shows)."""
    m = CouncilMatter.__table__
    return store.read_frame(engine, select(m.c.id, m.c.title, m.c.stage, m.c.decision, m.c.decided_on,
                                           m.c.notice, m.c.outcome)
                            .join(CouncilTicket, CouncilTicket.matter_id == m.c.id)
                            .join(Ticket, Ticket.id == CouncilTicket.ticket_id)
                            .where(CouncilTicket.ticket_id == ticket_id, scope.clause(Ticket.__table__))
                            .order_by(m.c.id))


#: What residents may read of a published matter (no personal data: nobody who entered or said anything).
PUBLIC_FIELDS = ("id", "council", "title", "summary", "stage", "stage_name", "decision", "votes_for",
                 "votes_against", "decided_on", "notice", "published_on", "outcome", "outcome_on",
                 "opinions", "opinions_for", "opinions_against")


def public_list(engine: Engine, *, community_id: int, grid_id: int | None = None, lang: str = "zh") -> pd.DataFrame:
    """The matters residents of a community (and grid) may read: published decisions and their outcomes.

    For the residents' phone page (issue 16): only matters whose decision is public (决议公开 or later),
    of the community's council and, given ``grid_id``, that grid's council; columns ``PUBLIC_FIELDS``,
    newest first. Opinions appear as counts only; no names of anyone are included.
    """
    m, n = CouncilMatter.__table__, _opinion_counts()
    public = [k for k, s in STAGES.items() if s.public]
    where = (m.c.community_id == community_id) & m.c.stage.in_(public)
    where &= m.c.grid_id.is_(None) if grid_id is None else or_(m.c.grid_id.is_(None), m.c.grid_id == grid_id)
    df = store.read_frame(engine, select(
        m.c.id, Community.name.label("community"), Grid.name.label("grid"), m.c.title, m.c.summary, m.c.stage,
        m.c.decision, m.c.votes_for, m.c.votes_against, m.c.decided_on, m.c.notice, m.c.published_on, m.c.outcome,
        m.c.outcome_on, func.coalesce(n.c.opinions, 0).label("opinions"),
        func.coalesce(n.c.opinions_for, 0).label("opinions_for"),
        func.coalesce(n.c.opinions_against, 0).label("opinions_against"))
        .join(Community, Community.id == m.c.community_id).outerjoin(Grid, Grid.id == m.c.grid_id)
        .outerjoin(n, n.c.matter_id == m.c.id).where(where).order_by(m.c.published_on.desc(), m.c.id.desc()))
    df["council"] = df["community"] + df["grid"].map(lambda g: f"·{g}" if isinstance(g, str) else "")
    df["stage_name"] = df["stage"].map(lambda k: STAGES[k].name(lang))
    return df[list(PUBLIC_FIELDS)]


def stage_label(key: str, lang: str = "zh") -> str:
    return STAGES[key].name(lang)


__all__ = ["Stage", "STAGES", "ORDER", "STANCES", "CHANNELS", "PUBLIC_FIELDS", "readable", "writable",
           "raise_matter", "add_opinion", "advance", "link_ticket", "matters", "matter", "for_ticket",
           "public_list", "stage_label"]
