"""A resident on a 390×844 phone: opens a building's QR link, reports with a photo carrying GPS EXIF,
follows the ticket with the tracking link and rates the fix, with no account at any point.

The link is the one the building's QR code holds (geo.intake.qr.building_links); the photo stored
for the ticket must carry no EXIF at all (no GPS of the resident's home); staff move the ticket
through the loop in between, as the desk would.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from conftest import run_app
from geo import settings
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Ticket, TicketEvent
from geo.demo import generator
from geo.intake import qr
from geo.tickets import rules, service

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model-X1"
    exif.get_ifd(0x8825).update({1: "N", 2: (30.0, 59.0, 24.5), 3: "E", 4: (103.0, 56.0, 12.25)})
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (120, 160, 90)).save(out, format="JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(out.getvalue())).getexif().get_ifd(0x8825)  # the upload does carry GPS
    return out.getvalue()


def test_a_resident_scans_reports_with_a_photo_tracks_and_rates(_browser, tmp_path):
    uploads = tmp_path / "uploads"
    shots = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg_with_gps())
    generator.ensure_database(f"sqlite:///{tmp_path}/app.db")  # the server's first start, done beforehand
    with run_app(tmp_path, SHEQU_UPLOAD_DIR=str(uploads)) as base:
        eng = store.make_engine(f"sqlite:///{tmp_path}/app.db")
        links = qr.building_links(eng, 1, base)
        building = links.iloc[4]
        context = _browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                       locale="zh-CN", service_workers="block")
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(building.url, wait_until="domcontentloaded")  # what scanning the door's code opens
        page.get_by_text(str(building.label)).first.wait_for(timeout=180_000)
        assert page.get_by_label("用户名").count() == 0  # no sign-in asked
        page.get_by_role("radio", name="路灯道路").click()
        page.get_by_label("③ 说一句话（越具体越好）").fill("5栋门口路灯不亮，晚上看不见台阶")
        page.locator("input[type=file]").set_input_files(str(photo))
        page.get_by_text("IMG_0001.jpg").wait_for(timeout=30_000)
        page.get_by_label("手机号（可选，方便回访）").fill("13800001111")
        page.screenshot(path=str(shots / "resident_form_390.png"))
        page.get_by_role("button", name="提交").click()
        page.get_by_text("已提交，工单号").wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "resident_done_390.png"))
        code = page.get_by_text("已提交，工单号").inner_text().split("工单号")[1].strip()
        link = page.get_by_role("link", name="查看办理进度").get_attribute("href")
        assert link.startswith(f"{base}/track?t=")

        with eng.connect() as conn:
            row = conn.execute(select(Ticket).where(Ticket.code == code)).mappings().one()
        assert row["grid_id"] == building_grid(eng, int(building.id))  # the building's own grid
        assert row["source"] == "resident" and row["reporter_phone"] == "13800001111"
        stored = Image.open(uploads / row["photo"])
        assert stored.format == "JPEG" and not stored.getexif() and not stored.getexif().get_ifd(0x8825)
        assert b"PhoneMaker" not in (uploads / row["photo"]).read_bytes()

        page.goto(link, wait_until="domcontentloaded")
        page.get_by_text(code).first.wait_for(timeout=60_000)
        page.get_by_text("提交诉求").wait_for()
        assert "群众点单" in page.inner_text("body")  # the state so far

        staff = rules.Actor("网格长甲", "grid", username="gridhead1")  # the desk moves it on meanwhile
        here = Scope("grid", grid_id=row["grid_id"])
        t = service.get(eng, row["id"], scope=here)
        for action in ("accept", "handle_in_grid", "resolve"):
            t = service.act(eng, row["id"], action, staff, expected_version=t["version"], now=settings.now(),
                            scope=here, note="已更换灯泡" if action == "resolve" else None)
        page.reload(wait_until="domcontentloaded")
        page.get_by_text("办好了吗？请评价").wait_for(timeout=60_000)
        body = page.inner_text("body")
        assert "网格收单" in body and "办结反馈" in body and "网格长甲" not in body and "已更换灯泡" not in body
        page.screenshot(path=str(shots / "resident_track_390.png"))
        page.locator("[data-testid^='stFeedbackButton']").nth(3).click()  # the 4th star
        page.get_by_label("说说您的看法（可选）").fill("修得很快，谢谢")
        page.get_by_role("button", name="提交评价").click()
        page.get_by_text("感谢评价，工单已办结").wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "resident_rated_390.png"))
        with eng.connect() as conn:
            after = conn.execute(select(Ticket.state, Ticket.rating, Ticket.rating_channel).where(
                Ticket.id == row["id"])).one()
            last = conn.execute(select(TicketEvent.actor, TicketEvent.rating_channel).where(
                TicketEvent.ticket_id == row["id"]).order_by(TicketEvent.id.desc())).first()
        assert tuple(after) == ("closed", 4, "resident") and tuple(last) == ("群众", "resident")
        assert errors == []
        context.close()
        eng.dispose()


def building_grid(eng, building_id: int) -> int:
    from geo.db.schema import Building

    with eng.connect() as conn:
        return conn.execute(select(Building.grid_id).where(Building.id == building_id)).scalar_one()
