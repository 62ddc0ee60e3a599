"""The monthly report's section on 工单指标: make and download it, set the schedule; each sees their own area."""
from __future__ import annotations

import io
from pathlib import Path

import openpyxl
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth
from geo.db import store
from geo.demo import accounts
from geo.reports import schedule

PAGE = Path(__file__).resolve().parents[2] / "pages" / "indicators.py"


def opened(url: str, monkeypatch, username: str) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, accounts.DEMO_PASSWORD,
                                                 now=settings.now())
    return at.run()


def test_street_staff_make_the_report_and_set_the_schedule(town_url, monkeypatch, downloads):
    at = opened(town_url, monkeypatch, "staff")
    at.button(key="mrep_make").click().run()
    assert not at.exception, at.exception
    month = at.selectbox(key="mrep_month").value
    names = {n for n in downloads if n and n.startswith("月度报告_")}
    assert names == {f"月度报告_{month:%Y-%m}_street.xlsx", f"月度报告_{month:%Y-%m}_street.pdf"}
    pdf = downloads[f"月度报告_{month:%Y-%m}_street.pdf"]()
    assert pdf[:5] == b"%PDF-"
    sheets = openpyxl.load_workbook(io.BytesIO(downloads[f"月度报告_{month:%Y-%m}_street.xlsx"]())).sheetnames
    assert "按社区" in sheets
    at.toggle(key="mrep_on").set_value(True).run()
    at.button(key="mrep_save").click().run()
    assert not at.exception, at.exception
    assert schedule.get(store.make_engine(town_url), at.session_state["user"].street_id)["on"] is True


def test_community_staff_get_their_community_and_no_schedule(town_url, monkeypatch, downloads):
    at = opened(town_url, monkeypatch, "community1")
    user = at.session_state["user"]
    at.button(key="mrep_make").click().run()
    assert not at.exception, at.exception
    names = {n for n in downloads if n and n.startswith("月度报告_")}
    assert names and all(f"_community{user.community_id}." in n for n in names)
    assert not [w for w in at.toggle if w.key == "mrep_on"]  # the schedule is the street's


def test_a_grid_head_gets_no_report_section(town_url, monkeypatch):
    at = opened(town_url, monkeypatch, "gridhead1")
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "mrep_make"]


def test_the_apps_minute_run_writes_a_scheduled_report_once(town_url, monkeypatch, tmp_path):
    """app.py's per-minute housekeeping writes last month's report when the street asked for it."""
    engine = store.make_engine(town_url)
    staff = auth.authenticate(engine, "staff", accounts.DEMO_PASSWORD, now=settings.now())
    schedule.set_schedule(engine, staff, on=True, communities=False, now=settings.now())
    monkeypatch.setattr(schedule, "OUT_DIR", tmp_path)
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(PAGE.parents[1] / "app.py"), default_timeout=120)
    at.session_state["user"] = staff
    at.run()
    assert not at.exception, at.exception
    last = schedule.monthly.shift(settings.now().date().replace(day=1), -1)
    street = tmp_path / str(staff.street_id)
    assert sorted(p.name for p in street.iterdir()) == [f"月度报告_{last:%Y-%m}_street.pdf",
                                                        f"月度报告_{last:%Y-%m}_street.xlsx"]
    assert schedule.run_due(engine, settings.now(), out_dir=tmp_path) == []  # written once
