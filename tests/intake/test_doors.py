"""The residents' doors in the core, on both backends: the desk's routing, one transaction, tracking, rating,
keys, rate limits, QR sheets that scan, and the 12345 hotline's batches."""
from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import timedelta

import pytest
import shapely
from sqlalchemy import func, select

from conftest import TOWN_NOW, unavailable
from geo.access import users
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import ApiKey, AuditLog, Grid, IntakeCounter, Ticket, TicketEvent, TicketIntake
from geo.errors import NotFoundError, OutsideAreaError, ValidationError
from geo.intake import address, doors, hotline, keys, limits, qr
from geo.io import photos
from geo.tickets import rules, service

NOW = TOWN_NOW


def grid_point(eng, n: int = 0):
    grids = store.read_layer(eng, Grid).sort_values("code").reset_index(drop=True)
    return grids.iloc[n], grids.geometry[n].representative_point()


def counts(eng) -> dict[str, int]:
    with eng.connect() as conn:
        return {m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Ticket, TicketEvent, TicketIntake, AuditLog)}


def staff(eng, role: str = "street_staff") -> users.User:
    """A member of staff of the town's street (community staff: of its first community)."""
    with eng.connect() as conn:
        street_id = conn.execute(select(func.min(Grid.id))).scalar()  # noqa: F841 - the town has one street
    return users.User(id=0, username=f"t_{role}", role=role, display_name="测试", street_id=1,
                      community_id=1 if role == "community_staff" else None)


def test_a_door_routes_as_the_desk_does_and_keeps_how_the_ticket_came_in(engine):
    grid, p = grid_point(engine, 3)
    r = doors.submit(engine, door="phone", category="water", description="停水", lon=p.x, lat=p.y, now=NOW,
                     reporter_phone="138 0000 1111")
    t = r.ticket
    assert t["grid_id"] == service.route(engine, p.x, p.y).grid_id == int(grid["id"])
    assert t["source"] == "resident" and t["reporter_phone"] == "13800001111" and t["state"] == "reported"
    with engine.connect() as conn:
        row = conn.execute(select(TicketIntake).where(TicketIntake.ticket_id == t["id"])).mappings().one()
        actor, user = conn.execute(select(TicketEvent.actor, AuditLog.username).join(
            AuditLog, AuditLog.object_id == TicketEvent.ticket_id).where(TicketEvent.ticket_id == t["id"])).one()
    assert row["door"] == "phone" and row["token_hash"] == doors.token_digest(r.token) and r.token not in str(row)
    assert (actor, user) == ("群众", "phone")  # never the name a resident typed
    # ~10 m west of the street's westmost corner: snapped to the nearest grid and flagged, as on the desk
    corners = shapely.get_coordinates(shapely.union_all(store.read_layer(engine, Grid).geometry.values))
    west = corners[corners[:, 0].argmin()]
    out = shapely.Point(west[0] - 0.0001, west[1])
    desk = service.route(engine, out.x, out.y)
    via_door = doors.submit(engine, door="qr", category="water", description="井盖松动", lon=out.x, lat=out.y, now=NOW)
    assert (via_door.ticket["grid_id"], via_door.ticket["routing_flag"]) == (desk.grid_id, desk.flag) == (
        desk.grid_id, "snapped")


def test_a_refused_door_writes_nothing_not_even_the_photo(engine, tmp_path):
    from PIL import Image
    import io

    _, p = grid_point(engine, 1)
    before = counts(engine)
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), "red").save(buf, format="JPEG")
    with pytest.raises(OutsideAreaError, match="不在本街道"):
        with photos.staged(buf.getvalue(), "a.jpg", directory=tmp_path / "uploads") as saved:
            doors.submit(engine, door="open311", category="water", description="x", lon=p.x, lat=p.y, now=NOW,
                         photo=saved, street_id=999)  # the key's street is another: refused after the insert
    with pytest.raises(OutsideAreaError):
        doors.submit(engine, door="phone", category="water", description="x", lon=104.5, lat=31.5, now=NOW)
    with pytest.raises(ValidationError):
        doors.submit(engine, door="phone", category="water", description="x", lon=p.x, lat=p.y, now=NOW,
                     reporter_phone="12")
    assert counts(engine) == before and list((tmp_path / "uploads").iterdir()) == []


def _through(engine, ticket_id, actions, who=rules.Actor("网格长李四", "grid", username="gh")):
    t = service.get(engine, ticket_id, scope=Scope("street"))
    for action, extra in actions:
        t = service.act(engine, ticket_id, action, who, expected_version=t["version"], now=NOW + timedelta(hours=1),
                        scope=Scope("street"), **extra)
    return t


def test_the_tracking_view_shows_steps_without_staff_and_the_residents_rating_closes_or_reopens(engine):
    _, p = grid_point(engine, 2)
    r = doors.submit(engine, door="phone", category="sanitation", description="垃圾满了", lon=p.x, lat=p.y,
                     now=NOW, reporter_name="王小明")
    _through(engine, r.ticket["id"], [("accept", {}), ("handle_in_grid", {"note": "李四家里的事"}),
                                       ("resolve", {"note": "已清运，联系人李四 13912345678"})])
    view = doors.public_view(engine, doors.ticket_for_token(engine, r.token))
    shown = view["steps"].to_string()
    assert list(view["steps"]["step"]) == ["提交诉求", "网格收单", "网格自办", "办结反馈"]
    assert "李四" not in shown and "13912345678" not in shown and "王小明" not in shown and view["may_rate"]
    after = doors.rate(engine, r.token, 2, now=NOW + timedelta(hours=2), note="没清干净")
    assert after["state"] == "community_dispatched" and after["rating_channel"] == "resident"
    assert after["reopen_count"] == 1 and after["ratings_self"] == 1
    assert doors.public_view(engine, doors.ticket_for_token(engine, r.token))["steps"]["note"].iloc[-1].endswith(
        "没清干净")
    _through(engine, r.ticket["id"], [("assign", {"department": "环卫所"})], rules.Actor("社区", "community"))
    _through(engine, r.ticket["id"], [("resolve", {})], rules.Actor("社区", "community"))
    closed = doors.rate(engine, r.token, 5, now=NOW + timedelta(hours=3))
    assert closed["state"] == "closed" and closed["ratings_self_satisfied"] == 1
    with pytest.raises(ValidationError):
        doors.rate(engine, r.token, 4, now=NOW + timedelta(hours=4))
    assert doors.rate(engine, r.token, 1, now=NOW + timedelta(hours=4))["state"] == "community_dispatched"
    for bad in ("", "x" * 200, "nope", r.token + "x"):
        with pytest.raises(NotFoundError):
            doors.ticket_for_token(engine, bad)


def test_a_rejection_shows_its_standard_reason_only(engine):
    _, p = grid_point(engine, 4)
    r = doors.submit(engine, door="phone", category="property", description="电梯", lon=p.x, lat=p.y, now=NOW)
    _through(engine, r.ticket["id"], [("reject", {"note": "不属于本辖区事项"})])
    steps = doors.public_view(engine, doors.ticket_for_token(engine, r.token))["steps"]
    assert steps["note"].tolist() == ["", "不属于本辖区事项"]


def test_keys_are_made_by_street_staff_stored_hashed_and_revoked(engine):
    by = staff(engine)
    kid, key = keys.create(engine, name="市民小程序", by=by, now=NOW, per_minute=30)
    assert keys.check(engine, key).id == kid
    with engine.connect() as conn:
        stored = conn.execute(select(ApiKey.key_hash, ApiKey.prefix).where(ApiKey.id == kid)).one()
    assert stored.key_hash == keys.digest(key) and key not in stored.key_hash and stored.prefix == key[:8]
    keys.revoke(engine, kid, by=by, now=NOW)
    with pytest.raises(keys.KeyRefused):
        keys.check(engine, key)
    with pytest.raises(PermissionError):
        keys.create(engine, name="x", by=staff(engine, "community_staff"), now=NOW)
    with pytest.raises(ValidationError):
        keys.create(engine, name=" ", by=by, now=NOW)
    assert keys.check(engine, keys.DEMO_KEY).name == keys.DEMO_NAME  # the demo town ships its key
    with engine.connect() as conn:
        actions = conn.execute(select(AuditLog.action).where(AuditLog.object_type == "api_key")).scalars().all()
    assert sorted(actions) == ["apikey.create", "apikey.revoke"]


def test_a_limit_lets_through_exactly_its_budget_however_many_arrive_at_once(engine):
    allowed = []

    def post():
        allowed.append(limits.hit(engine, "key", "77", now=NOW, limit=5).allowed)

    workers = [threading.Thread(target=post) for _ in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert allowed.count(True) == 5 and len(allowed) == 20
    assert limits.hit(engine, "key", "77", now=NOW + timedelta(minutes=1), limit=5).allowed  # a new window
    for n in range(limits.POLICIES["phone_tel"].limit):
        assert limits.hit(engine, "phone_tel", limits.phone_subject("13800001111"), now=NOW).allowed
    refused = limits.hit(engine, "phone_tel", limits.phone_subject("138-0000-1111"), now=NOW)
    assert not refused.allowed and 0 < refused.retry_after_s <= 3600
    with engine.connect() as conn:
        assert "13800001111" not in str(conn.execute(select(IntakeCounter.subject)).scalars().all())
    assert not limits.needs_challenge(engine, "10.0.0.9", now=NOW)
    for _ in range(limits.CHALLENGE_AFTER - 1):
        limits.hit(engine, "phone_addr", "10.0.0.9", now=NOW)
    assert limits.needs_challenge(engine, "10.0.0.9", now=NOW)
    assert limits.needs_challenge(engine, "", now=NOW, posts_in_session=limits.CHALLENGE_AFTER - 1)
    c = limits.Challenge(3, 4)
    assert c.passed("7") and c.passed(" 7 ") and not c.passed("8") and not c.passed("seven")


def test_addresses_in_words_find_their_building(engine):
    match = address.Matcher(engine).match
    table = address.buildings(engine)
    estate = table[table["estate"].notna()].iloc[2]
    number = int(estate["name"].removesuffix("栋"))
    found = match(f"天彭街道{estate['estate']} {number} 栋2单元楼下")
    assert found.building_id == int(estate["id"]) and found.label == estate["label"]
    assert match(f"{estate['estate']}９９９号楼") is None and match("没有这个小区3栋") is None
    plain_ = table[table["estate"].isna()].iloc[0]
    assert match(f"{plain_['grid']}{plain_['name']}").building_id == int(plain_["id"])
    if number <= 10:
        assert match(f"{estate['estate']}{'一二三四五六七八九十'[number - 1]}栋").building_id == int(estate["id"])


def test_a_grids_qr_sheet_scans_back_to_every_buildings_link(engine, tmp_path):
    grid, _ = grid_point(engine, 0)
    links = qr.building_links(engine, int(grid["id"]), "https://shequ.example.gov.cn/app")
    assert links["url"].str.fullmatch(r"https://shequ\.example\.gov\.cn/app/resident\?b=\d+").all()
    sheet = qr.sheet(links, title=f"{grid['name']} 一码通")
    assert len(sheet.pages) == -(-len(links) // (qr.COLUMNS * qr.ROWS)) and sheet.pdf().startswith(b"%PDF")
    if shutil.which("zbarimg") is None:
        unavailable("zbarimg not found (apt-get install zbar-tools): the sheet cannot be scanned")
    read = []
    for i in range(len(sheet.pages)):
        (tmp_path / f"p{i}.png").write_bytes(sheet.png(i))
        out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / f"p{i}.png")], capture_output=True, text=True)
        read += out.stdout.split()
    assert sorted(read) == sorted(links["url"])  # every code on the sheet scans to its building's link
    assert qr.base_url("http://10.1.2.3:8501/doors") == "http://10.1.2.3:8501"
    assert qr.track_url("http://h", "a/b") == "http://h/track?t=a%2Fb"


HOTLINE_CSV = """工单编号,受理时间,诉求类别,事发地址,经度,纬度,诉求内容,紧急程度
{a},2026-11-20 10:05,城乡建设-市政设施-路灯,{addr},,,路灯不亮已三天,一般
{b},2026-11-21 08:00,环境卫生,,{lon},{lat},垃圾堆放,紧急
{c},2026-11-21 09:00,外星人投诉,{addr},,,看见不明飞行物,一般
{d},2026-11-21 09:30,供水,没有的地方,104.5,31.5,停水,一般
{a},2026-11-20 10:05,城乡建设-市政设施-路灯,{addr},,,路灯不亮已三天,一般
"""


def test_a_hotline_batch_is_placed_imported_once_and_whole(engine):
    table = address.buildings(engine)
    target = table[table["estate"].notna()].iloc[0]
    _, p = grid_point(engine, 5)
    data = HOTLINE_CSV.format(a="12345-A1", b="12345-B2", c="12345-C3", d="12345-D4", addr=target["label"],
                              lon=p.x, lat=p.y).encode("utf-8")
    batch = hotline.plan(engine, data, "派单.csv", now=NOW)
    assert batch.counts() == {"address": 1, "point": 1, "seen": 1, "manual": 2}
    assert sorted(batch.manual["order_no"]) == ["12345-C3", "12345-D4"]
    by = staff(engine)
    before = counts(engine)
    codes = hotline.commit(engine, batch, by=by, now=NOW)
    assert len(codes) == 2 and counts(engine)["ticket"] == before["ticket"] + 2
    with engine.connect() as conn:
        rows = conn.execute(select(Ticket.source, Ticket.grid_id, Ticket.urgent, Ticket.created_at,
                                   TicketIntake.external_id).join(TicketIntake, TicketIntake.ticket_id == Ticket.id)
                            .where(Ticket.code.in_(codes)).order_by(TicketIntake.external_id)).all()
    assert [(r.source, r.external_id) for r in rows] == [("hotline", "12345-A1"), ("hotline", "12345-B2")]
    assert rows[0].grid_id == int(target["grid_id"]) and rows[1].urgent and not rows[0].urgent
    assert str(rows[0].created_at).startswith("2026-11-20 10:05")
    again = hotline.plan(engine, data, "派单.csv", now=NOW)
    assert again.counts()["seen"] == 3 and again.to_import.empty
    assert hotline.commit(engine, again, by=by, now=NOW) == [] and counts(engine)["ticket"] == before["ticket"] + 2
    with pytest.raises(PermissionError):
        hotline.commit(engine, batch, by=staff(engine, "community_staff"), now=NOW)


def test_a_hotline_batch_that_fails_midway_stores_nothing(engine, monkeypatch):
    _, p = grid_point(engine, 6)
    rows = "\n".join(f"H{i},2026-11-21 08:00,环境卫生,,{p.x},{p.y},第{i}处垃圾" for i in range(5))
    data = ("工单编号,受理时间,诉求类别,事发地址,经度,纬度,诉求内容\n" + rows).encode()
    batch = hotline.plan(engine, data, "a.csv", now=NOW)
    assert batch.counts()["point"] == 5
    real, calls = doors.submit, []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ValidationError("第三条出错")
        return real(*args, **kwargs)

    monkeypatch.setattr(hotline.doors, "submit", third_fails)
    before = counts(engine)
    with pytest.raises(ValidationError):
        hotline.commit(engine, batch, by=staff(engine), now=NOW)
    assert counts(engine) == before


def test_a_hotline_sheet_without_the_needed_columns_is_refused_in_words(engine):
    with pytest.raises(ValidationError, match="缺少列"):
        hotline.plan(engine, "编号x,内容x\n1,2\n".encode(), "a.csv", now=NOW)
    with pytest.raises(ValidationError, match="事发地址"):
        hotline.plan(engine, "工单编号,诉求内容\n1,2\n".encode(), "a.csv", now=NOW)
    assert hotline.category_of("城乡建设-市政设施-路灯") == "streetlight_road"
    assert hotline.category_of("其他", "楼道里的灭火器过期了") == "fire_equipment"
    assert hotline.category_of("其他", "没头绪") is None


def test_a_hotline_batch_is_routed_once_when_stored_with_the_same_grids_as_one_by_one(engine, monkeypatch):
    """Storing a batch routes all its orders in one route_many call (issue 15: every batch path uses the
    bulk routing), not one query per order; each ticket lands in the grid ``route`` gives its point."""
    from geo.tickets import service

    points = [grid_point(engine, i)[1] for i in range(8)]
    rows = "\n".join(f"R{i},2026-11-21 08:00,环境卫生,,{p.x},{p.y},第{i}处垃圾" for i, p in enumerate(points))
    batch = hotline.plan(engine, ("工单编号,受理时间,诉求类别,事发地址,经度,纬度,诉求内容\n" + rows).encode(), "b.csv",
                         now=NOW)
    assert batch.counts()["point"] == 8
    one_by_one, bulk = [], []
    real_route, real_many = service.route, service.route_many
    monkeypatch.setattr(service, "route", lambda *a, **k: one_by_one.append(1) or real_route(*a, **k))
    monkeypatch.setattr(service, "route_many", lambda *a, **k: bulk.append(1) or real_many(*a, **k))
    codes = hotline.commit(engine, batch, by=staff(engine), now=NOW)
    assert len(codes) == 8 and one_by_one == [] and bulk == [1]
    monkeypatch.undo()
    with engine.connect() as conn:
        stored = dict(conn.execute(select(TicketIntake.external_id, Ticket.grid_id)
                                   .join(Ticket, Ticket.id == TicketIntake.ticket_id)
                                   .where(Ticket.code.in_(codes))).all())
    assert stored == {f"R{i}": service.route(engine, p.x, p.y).grid_id for i, p in enumerate(points)}
