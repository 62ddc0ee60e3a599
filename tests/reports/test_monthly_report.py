"""The monthly report (issue 19, item 2) on a hand-built month: hand-counted figures in Excel and PDF.

The small test town keeps its map, grids and households; its tickets and visits are replaced by
five tickets in October 2026 and one in September, counted by hand below.
"""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import openpyxl
import pandas as pd
import pytest

pypdf = pytest.importorskip("pypdf", reason="pypdf (requirements-dev.txt) reads the PDF back")

from geo.access import users  # noqa: E402
from geo.access.roles import Scope  # noqa: E402
from geo.db import store  # noqa: E402
from geo.errors import NotFoundError, ValidationError  # noqa: E402
from geo.reports import monthly, report_pdf, schedule  # noqa: E402

OCT = date(2026, 10, 1)
NOW = datetime(2026, 11, 1, 8, 0)  # the first of the next month, as the schedule writes it


def at(day: int, hour: int = 9, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour)


def _ticket(template: dict, id_: int, grid: dict, created: datetime, due: datetime, state: str, **kw) -> dict:
    return {**template, "id": id_, "code": f"GD-TEST-{id_}", "category": "environment", "state": state,
            "source": "resident", "grid_id": grid["id"], "community_id": grid["community_id"],
            "created_at": created, "updated_at": created, "due_at": due, "step_due_at": None,
            "accepted_at": created + timedelta(hours=1), "first_response_at": created + timedelta(hours=1),
            "resolved_at": None, "first_resolved_at": None, "closed_at": None, "assigned_at": None,
            "arrive_by": None, "arrived_at": None, "rating": None, "rating_comment": None, "rating_channel": None,
            "ratings_given": 0, "ratings_satisfied": 0, "ratings_self": 0, "ratings_self_satisfied": 0,
            "reopen_count": 0, "merged_into_id": None, "reporter_name": None, "reporter_phone": None, **kw}


def _event(id_: int, ticket: int, when: datetime, action: str, note: str, rating: int | None = None) -> dict:
    return {"id": id_, "ticket_id": ticket, "at": when, "actor": "staff", "actor_role": "community_staff",
            "action": action, "from_state": None, "to_state": "in_progress", "note": note, "rating": rating}


def hand_built_town(town: dict) -> tuple[dict, dict]:
    """The town with the month below; returns (town, facts for the assertions)."""
    grids = sorted(town["grid"], key=lambda g: g["id"])
    g1 = grids[0]
    g2 = next(g for g in grids if g["community_id"] != g1["community_id"])
    tpl = dict(town["ticket"][0])
    closed = dict(state="closed")
    tickets = [
        # T1 closed fixed on time; a party member arrived in 20 minutes
        _ticket(tpl, 1, g1, at(3), at(5), **closed, resolved_at=at(4, 12), first_resolved_at=at(4, 12),
                closed_at=at(5, 12), rating=5, ratings_given=1, ratings_satisfied=1,
                assigned_at=at(3, 10), arrive_by=at(3, 10) + timedelta(minutes=30),
                arrived_at=at(3, 10) + timedelta(minutes=20)),
        # T2 closed fixed, but done two days after its limit: overdue
        _ticket(tpl, 2, g1, at(10), at(12), **closed, resolved_at=at(14), first_resolved_at=at(14),
                closed_at=at(15), rating=4, ratings_given=1, ratings_satisfied=1),
        # T3 still in progress past its limit: overdue, and overdue now; the party member came 20 min late
        _ticket(tpl, 3, g2, at(20), at(22), "in_progress", assigned_at=at(20, 10),
                arrive_by=at(20, 10) + timedelta(minutes=30), arrived_at=at(20, 10) + timedelta(minutes=50)),
        # T4 reopened once after a 1-star rating, redone and closed on time
        _ticket(tpl, 4, g2, at(25), at(30), **closed, resolved_at=at(28), first_resolved_at=at(26),
                closed_at=at(29), rating=5, ratings_given=2, ratings_satisfied=1, reopen_count=1),
        # T5 rejected: reported, no case
        _ticket(tpl, 5, g1, at(28), at(30), "rejected", accepted_at=None),
        # September: one ticket, closed on time (last month's figures)
        _ticket(tpl, 6, g1, at(15, month=9), at(17, month=9), **closed, resolved_at=at(16, month=9),
                first_resolved_at=at(16, month=9), closed_at=at(16, 12, month=9), rating=5, ratings_given=1,
                ratings_satisfied=1),
    ]
    events = [_event(1, 2, at(13), "comment", "等待配件，超期两天"), _event(2, 2, at(15), "rate", "很好", 4),
              _event(3, 3, at(21), "comment", "需协调物业<b>维修</b>"),
              _event(4, 4, at(27), "reopen", "=1+1 路灯仍然不亮", 1)]
    residents = pd.DataFrame(town["resident"])
    disabled = set(residents.loc[residents["disabled"], "household_id"])
    vulnerable = [h for h in town["household"] if h["grid_id"] == g1["id"]
                  and (h["elderly_alone"] or h["low_income"] or h["id"] in disabled)]
    visits = [{"household_id": h["id"], "grid_id": g1["id"], "visited_on": d, "visitor": "网格员", "note": "",
               "issues": "", "ticket_id": None, "created_at": datetime.combine(d, datetime.min.time())}
              for h, d in [(vulnerable[0], date(2026, 10, 5)), (vulnerable[0], date(2026, 10, 20)),
                           (vulnerable[1], date(2026, 10, 7)), (vulnerable[2], date(2026, 9, 30))]]
    built = {**town, "ticket": tickets, "ticket_event": events, "visit": visits, "council_ticket": []}
    return built, {"g1": g1, "g2": g2, "vulnerable_g1": len(vulnerable)}


@pytest.fixture
def month_engine(database_url, small_town):
    built, facts = hand_built_town(small_town)
    eng = store.make_engine(database_url)
    store.load_town(eng, built)
    yield eng, facts, built
    eng.dispose()


def _sheet(data: bytes, name: str) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(data))[name].iter_rows(values_only=True))


def _row(rows: list[tuple], first: str) -> tuple:
    return next(r for r in rows if r[0] == first)


def test_hand_counted_month_in_excel_and_pdf(month_engine):
    engine, facts, town = month_engine
    street = Scope("street", street_id=town["street"][0]["id"])
    report = monthly.build(engine, street, OCT, NOW)
    xlsx = monthly.excel_bytes(report)
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert {"指标对比", "按社区", "按网格", "按类别", "按来源", "超期工单", "重办工单", "党员30分钟到场",
            "困难户走访", "15分钟服务圈缺口", "本月预警"} <= set(book.sheetnames)

    figures = _sheet(xlsx, "指标对比")
    assert figures[0] == ("指标", "本月", "上月", "环比", "去年同月", "同比")
    assert _row(figures, "上报数")[1:4] == ("5", "1", "+4")  # five in October, one in September
    assert _row(figures, "立案率")[1] == "80.0%"  # 4 of 5: the rejected one is no case
    assert _row(figures, "按期结案率")[1:3] == ("50.0%", "100.0%")  # T1, T4 of 4 due; September 1 of 1
    assert _row(figures, "满意率")[1] == "75.0%"  # 4 ratings (T4's 1-star too), 3 satisfied
    assert _row(figures, "重办率")[1] == "33.3%"  # T4 of T1, T2, T4 reported fixed
    assert _row(figures, "当前超期")[1] == "1"  # T3
    assert _row(figures, "30分钟到场率")[1] == "50.0%"  # T1 in 20 minutes, T3 in 50
    assert _row(figures, "上报数")[4] == "0"  # October 2025: nothing

    late = _sheet(xlsx, "超期工单")
    assert sorted(r[0] for r in late[1:]) == ["GD-TEST-2", "GD-TEST-3"]
    assert "等待配件，超期两天" in _row(late, "GD-TEST-2")[-1]  # the staff's note, not the rating's "很好"
    assert "需协调物业<b>维修</b>" in _row(late, "GD-TEST-3")[-1]
    again = book["重办工单"]
    assert [c.value for c in again[2]][0] == "GD-TEST-4" and again.max_row == 2
    reason = again.cell(2, again.max_column)
    assert reason.value == "=1+1 路灯仍然不亮" and reason.data_type == "s" and reason.quotePrefix  # no formula

    grids = _sheet(xlsx, "按网格")
    assert [r[1] for r in grids[1:]] == [3, 2]  # lowest on-time first: g1 (T1 of T1, T2 due: 50%) then g2
    visits = _row(_sheet(xlsx, "困难户走访"), facts["g1"]["name"])
    assert visits[1:4] == (facts["vulnerable_g1"], 2, 3)  # 2 households visited in October, 3 visits
    assert _sheet(xlsx, "本月预警")[1][0] == "本月无预警。"  # geo.tickets.warnings found none in October

    printed = report_pdf.pdf_bytes(report)
    reader = pypdf.PdfReader(io.BytesIO(printed.data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    for expected in ("2026年10月 社区治理月度报告", "50.0%", "75.0%", "33.3%", "GD-TEST-2", "GD-TEST-3", "GD-TEST-4",
                     "等待配件，超期两天", "路灯仍然不亮", "需协调物业<b>维修</b>", "本月无预警"):
        assert expected in text.replace("\n", ""), expected
    assert printed.embedded, "no embeddable CJK font on this machine (install fonts-wqy-microhei)"
    fonts = [f.get_object() for p in reader.pages[:1] for f in p["/Resources"]["/Font"].values()]
    embedded = [f for f in fonts if f.get("/FontDescriptor") and "/FontFile2" in f["/FontDescriptor"]]
    assert embedded, "the CJK font is embedded (a FontFile2 stream), not left to the reader"


def test_a_community_report_holds_only_that_community(month_engine):
    engine, facts, _ = month_engine
    own = Scope("community", street_id=None, community_id=facts["g2"]["community_id"])
    report = monthly.build(engine, monthly.area_scope(engine, own), OCT, NOW)
    figures = _sheet(monthly.excel_bytes(report), "指标对比")
    assert _row(figures, "上报数")[1] == "2"  # T3, T4
    assert "按社区" not in report.tables


def test_the_report_is_refused_outside_the_users_area(month_engine):
    engine, facts, town = month_engine
    c1, c2 = facts["g1"]["community_id"], facts["g2"]["community_id"]
    mine = Scope("community", street_id=town["street"][0]["id"], community_id=c1)
    with pytest.raises(NotFoundError):
        monthly.area_scope(engine, mine, c2)
    with pytest.raises(NotFoundError):
        monthly.area_scope(engine, Scope("street", street_id=999), c1)  # another street's community
    with pytest.raises(ValidationError):
        monthly.area_scope(engine, Scope("grid", grid_id=facts["g1"]["id"]))
    assert monthly.area_scope(engine, Scope("street", street_id=town["street"][0]["id"]), c2).community_id == c2


def test_the_schedule_writes_last_month_once_from_the_first(month_engine, tmp_path):
    engine, facts, town = month_engine
    sid = town["street"][0]["id"]
    staff = users.User(id=1, username="staff", role="street_staff", display_name="街道", street_id=sid)
    community = users.User(id=2, username="community1", role="community_staff", display_name="社区",
                           street_id=sid, community_id=facts["g1"]["community_id"])
    with pytest.raises(ValidationError):
        schedule.set_schedule(engine, community, on=True, communities=False, now=NOW)
    assert schedule.run_due(engine, NOW, out_dir=tmp_path) == []  # nobody asked yet
    schedule.set_schedule(engine, staff, on=True, communities=True, now=NOW - timedelta(days=3))
    written = schedule.run_due(engine, NOW, out_dir=tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"月度报告_2026-10_{place}.{ext}" for place in ["street", *(f"community{c['id']}" for c in town["community"])]
        for ext in ("xlsx", "pdf"))
    street_xlsx = tmp_path / str(sid) / "月度报告_2026-10_street.xlsx"
    assert _row(_sheet(street_xlsx.read_bytes(), "指标对比"), "上报数")[1] == "5"
    first = street_xlsx.stat().st_mtime_ns
    assert schedule.run_due(engine, NOW + timedelta(minutes=1), out_dir=tmp_path) == []  # once
    assert schedule.run_due(engine, NOW + timedelta(days=5), out_dir=tmp_path) == []
    assert street_xlsx.stat().st_mtime_ns == first
    december = schedule.run_due(engine, datetime(2026, 12, 1, 0, 5), out_dir=tmp_path)
    assert "月度报告_2026-11_street.pdf" in {p.name for p in december}
    schedule.set_schedule(engine, staff, on=False, communities=False, now=datetime(2026, 12, 2))
    assert schedule.run_due(engine, datetime(2027, 1, 1, 0, 5), out_dir=tmp_path) == []
    assert schedule.get(engine, sid)["on"] is False


def test_a_cjk_font_without_digits_is_passed_over(monkeypatch):
    """Droid Sans Fallback has Chinese but no digits: a report in it would print every figure blank."""
    from pathlib import Path

    from geo.intake import qr

    droid = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
    others = [p for p in (*qr.FONT_CANDIDATES, *report_pdf.TRUETYPE_CANDIDATES) if Path(p).exists()]
    if not Path(droid).exists():
        pytest.skip("Droid Sans Fallback (fonts-droid-fallback) not installed here")
    monkeypatch.setattr(qr, "FONT_CANDIDATES", (droid, *others))
    monkeypatch.setattr(report_pdf.settings, "CJK_FONT", "")
    report_pdf.cjk_font.cache_clear()
    try:
        name, path, embedded = report_pdf.cjk_font()
        assert path != droid
        assert not embedded or path in others
    finally:
        report_pdf.cjk_font.cache_clear()


def test_the_warnings_section_uses_the_warning_module_when_there_is_one(monkeypatch):
    """geo.tickets.warnings (issue 19, item 1) is looked up, not required: with it, its month's warnings fill
    the section; the call gets the month and the area."""
    import sys
    import types

    asked = []
    module = types.ModuleType("geo.tickets.warnings")

    def of_period(engine, start, end, scope):
        asked.append((start, end, scope))
        return [{"预警": "环境卫生激增", "网格": "北城第3网格"}]

    module.of_period = of_period
    monkeypatch.setitem(sys.modules, "geo.tickets.warnings", module)
    scope = Scope("community", community_id=1)
    got = monthly.warnings_of(None, datetime(2026, 10, 1), datetime(2026, 11, 1), scope)
    assert got.to_dict("records") == [{"预警": "环境卫生激增", "网格": "北城第3网格"}]
    assert asked == [(datetime(2026, 10, 1), datetime(2026, 11, 1), scope)]
    monkeypatch.delitem(sys.modules, "geo.tickets.warnings")
    monkeypatch.setattr(monthly.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    assert monthly.warnings_of(None, datetime(2026, 10, 1), datetime(2026, 11, 1), scope) is None


def test_the_reports_15_minute_circle_is_the_walls_walking_figure(month_engine):
    """One figure, one definition (issue 13, item 4): the report said 76 % in a straight line where the wall
    said 21 % walking. Now the report's area figure is the wall's on the same walking plan, and its per-grid
    table adds up to it; only without a plan is it measured in a straight line, and then it says so."""
    from geo.screen import figures as wall_figures

    engine, facts, _ = month_engine
    street = Scope("street", street_id=None)
    plan = wall_figures.walking_plan(engine)
    assert plan is not None
    report = monthly.build(engine, street, OCT, NOW, plan=plan)
    wall = wall_figures.service_circle(engine, street, plan=plan)
    assert report.circle["circle_method"] == "walking"
    assert report.circle["circle_residents"] == wall["circle_residents"]
    gaps = report.tables["15分钟服务圈缺口"]
    assert int(gaps["圈内人口"].sum()) == wall["circle_residents"]
    straight = monthly.build(engine, street, OCT, NOW, plan=None)
    assert straight.circle["circle_method"] == "straight"
    assert "步行，与指挥大屏同一口径" in "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(report_pdf.pdf_bytes(report).data)).pages)
