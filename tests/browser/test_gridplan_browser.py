"""A community worker splits a grid by clicking a cutting line on the offline map, reads the plan, gives a
reason and applies it, in headless Chromium, on the app's own server; the page at 1440×900 and 390×844."""
from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import select

from geo.access import audit, roles
from geo.db import store
from geo.db.schema import Building, Grid

from conftest import run_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CRS = "EPSG:32648"
FRAME = "iframe[title*='st_folium'], iframe[title*='streamlit_folium']"


def shot(page, tmp_path: Path, name: str) -> None:
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / name), full_page=True)


def screen_xy(leaflet, lon: float, lat: float) -> tuple[float, float, bool]:
    """Where Leaflet draws (lon, lat) in its container, and whether that is inside it."""
    return tuple(leaflet.evaluate(
        """(el, ll) => { const m = Object.values(window).find(v => v && v._container === el);
                         const p = m.latLngToContainerPoint(ll), s = m.getSize();
                         return [p.x, p.y, p.x > 5 && p.y > 5 && p.x < s.x - 5 && p.y < s.y - 5]; }""",
        [lat, lon]))


def settled(page, leaflet, lon: float, lat: float) -> tuple[float, float, bool]:
    """``screen_xy`` once the map has stopped moving (the frame resizes and refits as it loads)."""
    last = None
    for _ in range(40):
        page.wait_for_timeout(500)
        now = screen_xy(leaflet, lon, lat)
        if now == last:
            return now
        last = now
    return last


def top(page, text: str) -> None:
    page.get_by_text(text, exact=True).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)


def test_draw_a_split_on_the_map_and_apply_it(tmp_path, browser_page):
    with run_app(tmp_path) as base:
        engine = store.make_engine(f"sqlite:///{tmp_path}/app.db")
        page = browser_page
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(base, wait_until="domcontentloaded")
        page.get_by_label("用户名").fill("community1", timeout=180_000)
        page.get_by_label("密码").fill("demo2026")
        page.get_by_role("button", name="登录").click()
        page.get_by_role("link", name="网格规划").click(timeout=60_000)
        page.get_by_text("均符合划分标准").wait_for(timeout=60_000)
        page.get_by_text("地图编辑", exact=True).click()
        page.get_by_text("画出切分线").wait_for(timeout=60_000)

        with engine.connect() as conn:  # the page opens on the community's first grid
            code, gid = conn.execute(select(Grid.code, Grid.id).where(Grid.community_id == 1).order_by(Grid.code)).first()
        g = store.read_layer(engine, Grid, where=Grid.id == gid).to_crs(CRS).geometry.iloc[0]
        c = g.centroid
        across = shapely.LineString([(c.x - 3000, c.y - 40), (c.x + 3000, c.y + 40)]).intersection(g)
        ends = shapely.get_coordinates(across)[[0, -1]]
        (ax, ay), (bx, by) = ends
        d = shapely.Point(bx, by).distance(shapely.Point(ax, ay))
        ux, uy = (bx - ax) / d, (by - ay) / d
        clicks = gpd.GeoSeries([shapely.Point(ax - 20 * ux, ay - 20 * uy), shapely.Point(bx + 20 * ux, by + 20 * uy)],
                               crs=CRS).to_crs(4326)
        with engine.connect() as conn:
            before = dict(conn.execute(select(Building.id, Building.grid_id).where(Building.grid_id == gid)).fetchall())

        frame = page.frame_locator(FRAME).first
        leaflet = frame.locator(".leaflet-container")
        for n, pt in enumerate(clicks, start=1):
            leaflet.wait_for(timeout=60_000)
            frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
            leaflet.evaluate("e => e.scrollIntoView({block: 'center'})")  # in view before measuring
            x, y, inside = settled(page, leaflet, pt.x, pt.y)
            assert inside, "the cutting line's ends are on the map"
            leaflet.click(position={"x": x, "y": y})
            page.get_by_text(f"已点 {n} 个点").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        assert frame.locator(".leaflet-overlay-pane path[stroke='#d00000']").count() >= 1  # the line is drawn
        page.get_by_text("画出切分线").first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(800)
        shot(page, tmp_path, "gridplan_line_1440.png")
        page.get_by_role("button", name="生成方案").click()
        page.get_by_text("少于标准").first.wait_for(timeout=120_000)
        page.get_by_text("变更所属网格的楼栋").wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        top(page, "调整内容")
        shot(page, tmp_path, "gridplan_plan_1440.png")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(1500)
        top(page, "调整内容")
        shot(page, tmp_path, "gridplan_plan_390.png")
        top(page, "变更所属网格的楼栋")
        shot(page, tmp_path, "gridplan_moves_390.png")
        page.get_by_text("画出切分线").first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(800)
        shot(page, tmp_path, "gridplan_line_390.png")
        page.set_viewport_size({"width": 1440, "height": 900})

        page.get_by_label("调整理由（不符合标准时必填，将记入审计日志）").fill("北侧新楼盘入住，先行拆分")
        page.get_by_role("button", name="确认调整").click()
        done = page.get_by_text("已完成拆分网格")
        done.wait_for(timeout=120_000)
        done.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        shot(page, tmp_path, "gridplan_done_1440.png")

        with engine.connect() as conn:
            after = dict(conn.execute(select(Building.id, Building.grid_id).where(Building.id.in_(list(before))))
                         .fetchall())
            new = conn.execute(select(Grid.id).where(Grid.community_id == 1).order_by(Grid.id.desc())).scalar()
        moved = {b for b, grid in after.items() if grid != gid}
        assert moved and {after[b] for b in moved} == {new}
        log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.")
        assert sorted(log["action"]) == ["grid.boundary", "grid.create"]
        assert all("北侧新楼盘入住" in d for d in log["detail"])
        # the automatic cut of the same community, beside its current grids
        page.get_by_text("自动划分", exact=True).first.click()
        page.get_by_role("button", name="生成自动划分方案").click()
        page.get_by_text("自动划分方案", exact=True).wait_for(timeout=120_000)
        page.get_by_text("符合户数标准").wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        top(page, "现有网格")
        shot(page, tmp_path, "gridplan_autocut_1440.png")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(2000)
        top(page, "自动划分方案")
        shot(page, tmp_path, "gridplan_autocut_390.png")
        assert page.outside_requests == []
        assert page.page_errors == []
        engine.dispose()
