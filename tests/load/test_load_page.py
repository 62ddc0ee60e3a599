"""The 街道数据 page over the same core: files uploaded, each layer recognised, the report and the
preview shown, the demo replaced only when ticked, and the stored data checked and exported."""
from __future__ import annotations

from datetime import datetime

import pytest

import street_files
from geo import settings
from geo.access import auth
from geo.db import migrate, store

NOW = datetime(2026, 11, 23, 9)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from geo.demo import generator

    return street_files.build(tmp_path_factory.mktemp("street"),
                              generator.generate(communities=1, tickets_per_street=0, now=NOW))


def test_the_page_checks_previews_and_replaces_the_demo(town_url, files, monkeypatch):
    from streamlit.testing.v1 import AppTest

    engine = store.make_engine(town_url)
    auth.ensure_admin(engine, now=settings.now(), password="a-long-admin-password")
    admin = auth.authenticate(engine, "admin", "a-long-admin-password", now=settings.now())
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=300)
    at.session_state["user"] = admin
    at.run()
    at.switch_page("pages/load.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "街道数据：导入、检查、导出"
    assert any("示范数据" in i.value for i in at.info)
    chosen = [files.files[k] for k in ("gpkg", "shapefile", "geojson", "xlsx_points", "register")]
    at.file_uploader[0].set_value([(p.name, p.read_bytes(), "application/octet-stream") for p in chosen]).run()
    assert not at.exception, at.exception
    targets = {s.value for s in at.selectbox if s.key and s.key.startswith("load_t")}
    assert targets == {"street", "community", "grid", "building", "road", "facility", "register"}
    labels = {e.label for e in at.expander}
    assert {"服务设施.xlsx → 服务设施", "街道数据.gpkg · 网格 → 网格"} <= labels, labels
    at.button(key="load_check").click().run()
    assert not at.exception, at.exception
    summary = next(d.value for d in at.dataframe if "新增" in d.value.columns)
    assert summary.loc["网格", "新增"] == files.expected["grids"] and summary.loc["居民", "新增"] == files.expected["residents"]
    report = next(d.value for d in at.dataframe if "问题" in d.value.columns)
    assert report["问题"].str.contains("判断为 gcj02").any()
    at.button(key="load_apply").click().run()  # not ticked: the demo stays
    assert any("替换示范数据" in e.value for e in at.error)
    assert migrate.kind(engine) == "demo"
    at.checkbox(key="load_replace").check().run()
    at.button(key="load_apply").click().run()
    assert not at.exception, at.exception
    assert any("已导入" in s.value for s in at.success), [e.value for e in at.error]
    assert migrate.kind(engine) == "real" and store.counts(engine)["resident"] == files.expected["residents"]
    at.radio(key="load_section").set_value("stored").run()
    at.button(key="load_stored").click().run()
    assert not at.exception, at.exception
    engine.dispose()


def test_only_street_staff_see_the_page():
    from geo.access import roles

    assert roles.PAGE_ACCESS["load"] == {"street_leader", "street_staff"}
    assert not roles.may("community_staff", "load_data") and roles.may("street_staff", "load_data")
