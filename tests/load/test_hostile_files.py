"""Hostile or broken files an office might hand over: each gets a clear Chinese message, nothing crashes,
nothing is written. (How fast is measured in bench/, not asserted here.)"""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.db import store
from geo.io.vector_files import FileRefused
from geo.load import bundle, plan, position, sources

NOW = datetime(2026, 11, 23, 9)
ORIGIN = (103.958, 30.990)


def xlsx_rows(rows: list[list[str]]) -> bytes:
    """A minimal .xlsx (inline strings) written directly: 100,000 rows in a second, where openpyxl takes 25 s."""
    def cell(v):
        return f'<c t="inlineStr"><is><t>{v}</t></is></c>'
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main"><sheetData>'
             + "".join(f"<row>{''.join(cell(v) for v in r)}</row>" for r in rows) + "</sheetData></worksheet>")
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="名册" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return buf.getvalue()


def refused(exc) -> str:
    text = exc.message("zh")
    assert text and "Traceback" not in text and "{" not in text
    return text


def test_a_file_that_is_not_a_zip_and_a_zip_bomb_are_refused():
    with pytest.raises(FileRefused) as err:
        sources.layers(sources.Source("楼栋.zip", b"this is a Word document, renamed"))
    assert "ZIP" in refused(err.value) or "Shapefile" in refused(err.value)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("楼栋.shp", b"\0" * (300 * 2**20))  # 300 MB of zeros packs to ~300 kB
    with pytest.raises(FileRefused) as err:
        sources.layers(sources.Source("楼栋.zip", buf.getvalue()))
    assert err.value.key == "zip_bomb" and "MB" in refused(err.value)


def test_a_2_gb_file_is_refused_by_its_size_without_reading_it(tmp_path):
    big = tmp_path / "全区楼栋.gpkg"
    with open(big, "wb") as fh:
        fh.truncate(2 * 2**30)  # sparse: takes no disk, and must not be read into memory
    with pytest.raises(FileRefused) as err:
        sources.from_path(big)
    assert err.value.key == "too_big" and "2,048.0 MB" in refused(err.value)


def test_a_shapefile_without_prj_is_placed_by_its_zone_or_the_person_is_asked(tmp_path):
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, "EPSG:4544", always_xy=True).transform(*ORIGIN)
    squares = gpd.GeoDataFrame({"bldg_code": ["A1", "A2"]}, geometry=[shapely.box(x, y, x + 20, y + 10),
                                                                     shapely.box(x + 50, y, x + 70, y + 10)])
    squares.to_file(tmp_path / "b.shp", driver="ESRI Shapefile")  # no CRS: no .prj written
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for part in ("b.shp", "b.shx", "b.dbf"):
            zf.write(tmp_path / part, part)
    src = sources.Source("楼栋.zip", buf.getvalue())
    part = bundle.Part(src, "building", {"code": "bldg_code"}, "b")
    with pytest.raises(position.PositionError) as err:  # nothing to compare with: asked, told about .prj
        bundle.prepare([part])
    assert ".prj" in refused(err.value) and "EPSG:4544" in refused(err.value)
    street = gpd.GeoDataFrame(geometry=[shapely.Point(ORIGIN).buffer(0.01)], crs=4326)
    made = bundle.prepare([part], reference=street)
    placed = made.placements["building"][0]
    assert (placed.crs, placed.source) == ("EPSG:4544", "zone_matched")
    assert made.frames["building"].geometry.iloc[0].bounds[0] == pytest.approx(ORIGIN[0], abs=1e-6)


def test_a_geojson_with_a_million_vertices_is_refused_naming_the_limit():
    theta = np.linspace(0, 2 * np.pi, 1_000_000)
    ring = np.round(np.c_[ORIGIN[0] + 0.01 * np.cos(theta), ORIGIN[1] + 0.01 * np.sin(theta)], 7).tolist()
    ring[-1] = ring[0]
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "X"},
                                                      "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    data = json.dumps(doc).encode()
    with pytest.raises(FileRefused) as err:
        sources.read(sources.Source("网格.geojson", data), None)
    assert err.value.key == "feature_vertices" and "1,000,000" in refused(err.value) and "简化" in refused(err.value)


def test_a_100000_row_excel_is_read_and_reported_not_crashed(tmp_path):
    rows = [["户号", "楼栋编码", "姓名", "公民身份号码", "联系电话"]]
    rows += [[f"H{i}", "没有这栋楼", "某某", "123", "1"] for i in range(100_000)]
    src = sources.Source("名册.xlsx", xlsx_rows(rows))
    engine = store.make_engine(f"sqlite:///{tmp_path}/x.db")
    part = bundle.Part(src, "register", {"household_code": "户号", "building_code": "楼栋编码", "name": "姓名",
                                         "id_number": "公民身份号码", "phone": "联系电话"})
    made = plan.make(engine, bundle.prepare([part]))
    kinds = {f.kind: f for f in made.findings}
    assert kinds["household_no_building"].count == 100_000 and kinds["id_form"].count == 100_000
    assert not made.ok and not store.is_built(engine)
