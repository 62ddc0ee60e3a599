"""On a 390×844 phone in headless Chromium: a party member takes an offered ticket and records arrival on site;
then a grid head binds a household to a party member. Screenshots in SHEQU_SCREENSHOTS (or the test's folder)."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from geo import settings
from geo.access import audit, auth, roles
from geo.db import store
from geo.db.schema import CareLink, Ticket
from geo.demo import accounts
from geo.people import bindings, orders

from conftest import run_app, shot_dir
from ui_flows import prepared_town, settled, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    tmp = tmp_path_factory.mktemp("people")
    url = prepared_town(tmp)
    with run_app(tmp) as base:
        yield type("Server", (), {"base": base, "url": url})()


def fits(page) -> None:
    width = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollWidth")
    assert width <= 400, width


def test_a_party_member_takes_a_ticket_and_arrives_on_a_phone(server, phone, tmp_path):
    page = phone
    page.goto(server.base, wait_until="domcontentloaded")
    sign_in(page, "party1")
    page.get_by_role("heading", name="党员接单").wait_for(timeout=120_000)  # the member's home
    engine = store.make_engine(server.url)
    member = auth.authenticate(engine, "party1", accounts.DEMO_PASSWORD, now=settings.now())
    offered = orders.offers(engine, member, now=settings.now())
    assert len(offered) >= 1
    first = offered.iloc[0]
    page.get_by_text(f"待接工单（{len(offered)}）").wait_for(timeout=30_000)
    card = page.locator(f".st-key-party_offer_{int(first['id'])}")
    assert card.get_by_text(first["code"]).count() == 1
    settled(page)
    page.screenshot(path=str(shot_dir(tmp_path) / "party_phone_offers.png"), full_page=True)
    fits(page)

    card.get_by_role("button", name="接单（30 分钟内到场）").click()
    page.get_by_text(f"已接单 {first['code']}").wait_for(timeout=60_000)
    mine = page.locator(f".st-key-party_mine_{int(first['id'])}")
    mine.get_by_text("请于").wait_for(timeout=30_000)  # the 30-minute clock on its card
    with engine.connect() as conn:
        row = conn.execute(select(Ticket.state, Ticket.assignee_id, Ticket.arrive_by, Ticket.arrived_at)
                           .where(Ticket.id == int(first["id"]))).one()
    assert row.state == "in_progress" and row.assignee_id == member.person_id and row.arrived_at is None
    settled(page)  # the offers are drawn after the member's own cards: wait for the run to end
    assert page.locator(f".st-key-party_offer_{int(first['id'])}").count() == 0  # no longer offered
    page.screenshot(path=str(shot_dir(tmp_path) / "party_phone_claimed.png"), full_page=True)

    mine.get_by_role("button", name="我已到场").click()
    page.get_by_text(f"已登记到场：{first['code']}").wait_for(timeout=60_000)
    with engine.connect() as conn:
        arrived, by = conn.execute(select(Ticket.arrived_at, Ticket.arrive_by).where(Ticket.id == int(first["id"]))).one()
    assert arrived is not None and arrived <= by  # within the 30 minutes
    page.get_by_role("button", name="办结反馈").wait_for(timeout=30_000)  # next: report it done
    mine.get_by_role("button", name="我已到场").wait_for(state="detached", timeout=30_000)  # once only
    settled(page)
    page.screenshot(path=str(shot_dir(tmp_path) / "party_phone_arrived.png"), full_page=True)
    fits(page)
    log = audit.read(engine, scope=roles.WHOLE_STREET, username="party1", action_prefix="ticket.")
    assert {"ticket.claim", "ticket.arrive"} <= set(log["action"])
    assert page.page_errors == []


def test_a_grid_head_binds_a_household_on_a_phone(server, phone, tmp_path):
    page = phone
    engine = store.make_engine(server.url)
    head = auth.authenticate(engine, "gridhead1", accounts.DEMO_PASSWORD, now=settings.now())
    helpers = bindings.helpers_households(engine, scope=head.scope, grid_id=head.grid_id)
    who = helpers[(helpers["role"] == "party_member") & (helpers["count"] < 8)].iloc[0]
    table = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id)
    home = table[table["party"].isna()].iloc[0]
    before = int(who["count"])

    page.goto(server.base, wait_until="domcontentloaded")
    sign_in(page, "gridhead1")
    page.get_by_role("tab", name="包保联户").click(timeout=120_000)
    page.get_by_text("每名党员包保 5–8 户").first.wait_for(timeout=60_000)  # the rule, in words
    page.locator(".st-key-my_area_bind_person [data-testid='stSelectbox']").click()
    page.keyboard.type(who["name"])
    page.get_by_role("option", name=f"{who['name']}（党员，已联系 {before} 户）", exact=True).click()
    page.locator(".st-key-my_area_bind_household [data-testid='stSelectbox']").click()
    page.keyboard.type(home["address"])
    page.get_by_role("option", name=f"{home['address']} {home['head']}", exact=True).click()
    settled(page)
    page.screenshot(path=str(shot_dir(tmp_path) / "bind_phone_form.png"), full_page=True)
    page.get_by_role("button", name="保存", exact=True).click()
    page.get_by_text(f"已绑定：{home['address']} ← {who['name']}（现联系 {before + 1} 户）").wait_for(timeout=60_000)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CareLink).where(
            CareLink.person_id == int(who["id"]), CareLink.household_id == int(home["id"]),
            CareLink.kind == "party")).scalar_one() == 1
    log = audit.read(engine, scope=roles.WHOLE_STREET, username="gridhead1", action_prefix="binding.")
    assert list(log["action"]) == ["binding.household"] and home["address"] in log["detail"].iloc[0]
    settled(page)
    box = page.locator(".st-key-my_area_bind_person")  # a fresh form, not the pick with last run's count
    shown = box.inner_text() + " ".join(box.locator("input").evaluate_all("els => els.map(e => e.value)"))
    assert f"已联系 {before} 户" not in shown, shown
    page.screenshot(path=str(shot_dir(tmp_path) / "bind_phone_done.png"), full_page=True)
    fits(page)
    assert page.page_errors == []
