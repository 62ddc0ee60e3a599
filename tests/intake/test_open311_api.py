"""The Open311 door over real HTTP: a running api.py, read by a published client library used unchanged.

``georeport`` (PyPI, Apache-2.0, Python ≥ 3.9) is a GeoReport v2 reader: it reads services,
service definitions and requests in JSON and XML, and cannot post, so posts go through
``requests`` as any client would send them (form-encoded). Runs once per backend: the
tickets posted over HTTP must be found by the dashboard's own queries in the right grid.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import requests
from georeport import GeoReport
from sqlalchemy import func, select

from geo import settings
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import ApiKey, Grid, Street, Ticket, TicketIntake
from geo.demo import generator
from geo.intake import keys, open311
from geo.tickets import service
from conftest import _fresh_postgis_schema, run_api

pytestmark = pytest.mark.slow
KEY = keys.DEMO_KEY


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def api(request, tmp_path_factory):
    """(base URL, engine) of api.py over the small town (tickets ending now), once per backend."""
    town = generator.generate(communities=2, tickets_per_street=300)
    tmp = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/town.db"
        ctx = None
    else:
        ctx = _fresh_postgis_schema()
        url = ctx.__enter__()
    eng = store.make_engine(url)
    store.load_town(eng, town)
    try:
        with run_api(tmp, url) as base:
            yield base, eng
    finally:
        eng.dispose()
        if ctx is not None:
            ctx.__exit__(None, None, None)


def inside(eng, n: int = 0):
    """(grid id, lon, lat) of a point inside the n-th grid by code."""
    grids = store.read_layer(eng, Grid).sort_values("code").reset_index(drop=True)
    p = grids.geometry[n].representative_point()
    return int(grids["id"][n]), p.x, p.y


def tickets(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(select(func.count()).select_from(Ticket)).scalar_one()


def post(base, fmt="json", **fields):
    return requests.post(f"{base}/requests.{fmt}", data={"api_key": KEY, **fields}, timeout=30)


def street_code(eng) -> str:
    with eng.connect() as conn:
        return conn.execute(select(Street.code)).scalar_one()


# --------------------------------------------------------------------------- the published client reads

def test_a_published_client_reads_services_in_json_and_xml(api):
    base, eng = api
    as_json = GeoReport(base, jurisdiction=street_code(eng)).get_service_list()
    as_xml = GeoReport(base, jurisdiction=street_code(eng), output_format="xml").get_service_list()
    assert [s["service_code"] for s in as_json] == [s["service_code"] for s in as_xml] == list(
        open311.SERVICE_GROUPS)
    hazard = next(s for s in as_xml if s["service_code"] == "safety_hazard")
    assert hazard["service_name"] == "安全隐患" and hazard["metadata"] == "true" and hazard["group"] == "突发事件"
    assert next(s for s in as_json if s["service_code"] == "water")["metadata"] is True
    for client in (GeoReport(base), GeoReport(base, output_format="xml")):
        definition = client.get_service_definition("safety_hazard")
        attrs = definition["attributes"]
        attr = attrs[0] if isinstance(attrs, list) else attrs["attribute"]  # JSON list / XML element
        assert attr["code"] == "danger" and str(attr["required"]).lower() == "true"


def test_posted_requests_are_read_back_by_the_client_and_found_by_the_dashboard_in_their_grid(api):
    base, eng = api
    posted = {}
    for n, fmt in ((0, "json"), (5, "xml")):
        grid_id, lon, lat = inside(eng, n)
        r = post(base, fmt, service_code="streetlight_road", lat=f"{lat:.7f}", long=f"{lon:.7f}",
                 description=f"路灯不亮 {n}", first_name="三", last_name="张", phone="13812345678")
        assert r.status_code == 200, r.text
        if fmt == "json":
            body = r.json()[0]
        else:
            req = ET.fromstring(r.content).find("request")
            body = {child.tag: child.text for child in req}
        assert body["service_request_id"].startswith("GD") and len(body["token"]) >= 32
        posted[body["service_request_id"]] = (grid_id, body["token"])
    for output in ("json", "xml"):
        client = GeoReport(base, output_format=output)
        for code in posted:
            one = client.get_service_request(code)
            assert one["service_request_id"] == code and one["status"] == "open"
            assert one["service_code"] == "streetlight_road" and one["status_notes"] == "群众点单"
            assert one["requested_datetime"].endswith("+08:00")
        listed = client.get_service_requests(service_request_id=",".join(posted))
        assert sorted(r["service_request_id"] for r in listed) == sorted(posted)
        recent = client.get_service_requests(service_code="streetlight_road", status="open")
        assert set(posted) <= {r["service_request_id"] for r in recent}
    now = settings.now()
    for code, (grid_id, token) in posted.items():  # the desk's own query, in the grid's scope, finds it
        found = service.query(eng, now=now + timedelta(minutes=1), scope=Scope("grid", grid_id=grid_id), search=code)
        assert found["code"].tolist() == [code] and found["grid_id"].tolist() == [grid_id]
        assert found["source"].tolist() == ["resident"] and found["state"].tolist() == ["reported"]
        assert requests.get(f"{base}/tokens/{token}.json", timeout=10).json() == [
            {"service_request_id": code, "token": token}]


def test_no_get_returns_a_personal_field(api):
    base, eng = api
    grid_id, lon, lat = inside(eng, 2)
    r = post(base, service_code="sanitation", lat=str(lat), long=str(lon), first_name="小红", last_name="欧阳",
             phone="13987654321", email="ouyang@example.cn",
             description="垃圾堆了三天，请联系我 13987654321，身份证 510182199001011234")
    code = r.json()[0]["service_request_id"]
    private = post(base, service_code="dispute", lat=str(lat), long=str(lon), description="楼上王某某每晚装修噪音")
    pcode = private.json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        for url in (f"{base}/requests.{fmt}", f"{base}/requests/{code}.{fmt}",
                    f"{base}/requests.{fmt}?service_request_id={code},{pcode}"):
            text = requests.get(url, timeout=30).text
            for secret in ("小红", "欧阳", "13987654321", "ouyang@", "510182199001011234", "王某某"):
                assert secret not in text, (url, secret)
    one = requests.get(f"{base}/requests/{code}.json", timeout=10).json()[0]
    assert "139****4321" in one["description"] and "[身份证号已隐藏]" in one["description"]
    hidden = requests.get(f"{base}/requests/{pcode}.json", timeout=10).json()[0]
    assert hidden["description"] == open311.WITHHELD and hidden["lat"] == round(lat, 3)
    with eng.connect() as conn:  # stored for the grid's staff all the same
        row = conn.execute(select(Ticket.reporter_name, Ticket.reporter_phone).where(Ticket.code == code)).one()
    assert row == ("欧阳 小红", "13987654321")


def test_xml_follows_the_specifications_element_names(api):
    base, eng = api
    root = ET.fromstring(requests.get(f"{base}/services.xml", timeout=10).content)
    assert root.tag == "services" and {c.tag for c in root} == {"service"}
    assert [c.tag for c in root[0]] == ["service_code", "service_name", "description", "metadata", "type",
                                        "keywords", "group"]
    root = ET.fromstring(requests.get(f"{base}/services/water.xml", timeout=10).content)
    assert root.tag == "service_definition" and [c.tag for c in root] == ["service_code", "attributes"]
    attribute = root.find("attributes/attribute")
    assert [c.tag for c in attribute] == ["variable", "code", "datatype", "required", "datatype_description",
                                          "order", "description", "values"]
    assert [c.tag for c in attribute.find("values/value")] == ["key", "name"]
    root = ET.fromstring(requests.get(f"{base}/requests.xml?status=closed", timeout=30).content)
    assert root.tag == "service_requests" and len(root) > 0 and {c.tag for c in root} == {"request"}
    assert [c.tag for c in root[0]] == [
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "zipcode", "lat", "long", "media_url"]
    assert {r.findtext("status") for r in root} == {"closed"}
    root = ET.fromstring(requests.get(f"{base}/requests/NOPE.xml", timeout=10).content)
    assert root.tag == "errors" and [c.tag for c in root[0]] == ["code", "description"]


# --------------------------------------------------------------------------- every error, nothing written

def _revoked_key(eng) -> str:
    key = keys.new_key()
    with eng.begin() as conn:
        conn.execute(ApiKey.__table__.insert(), [dict(name="old", key_hash=keys.digest(key), prefix=key[:8],
                                                      per_minute=60, created_at=settings.now(), created_by="t",
                                                      revoked_at=settings.now(), revoked_by="t")])
    return key


def test_every_error_has_its_status_and_the_specifications_form_and_writes_nothing(api):
    base, eng = api
    _, lon, lat = inside(eng, 1)
    good = dict(service_code="water", lat=str(lat), long=str(lon), description="停水了")
    cases = [  # (fields, status, words the description must hold)
        ({**good, "api_key": ""}, 403, "api_key"),
        ({**good, "api_key": "sq_wrong"}, 403, "api_key"),
        ({**good, "api_key": _revoked_key(eng)}, 403, "停用"),
        ({**good, "service_code": "nope"}, 404, "service_code"),
        ({**good, "service_code": ""}, 400, "service_code"),
        ({k: v for k, v in good.items() if k not in ("lat", "long")}, 400, "位置"),
        ({**good, "long": ""}, 400, "lat 和 long"),
        ({**good, "lat": "north"}, 400, "lat"),
        ({**good, "lat": "95"}, 400, "lat"),
        ({**good, "lat": "31.5", "long": "104.5"}, 400, "不在本街道"),
        ({**good, "description": "长" * 4001}, 400, "4000"),
        ({**good, "description": "  "}, 400, "description"),
        ({**good, "jurisdiction_id": "999999999"}, 404, "jurisdiction_id"),
        ({**good, "address_string": "火星小区9栋", "lat": "", "long": ""}, 400, "address_string"),
        ({**good, "service_code": "safety_hazard"}, 400, "attribute[danger]"),
        ({**good, "service_code": "safety_hazard", "attribute[danger]": "maybe"}, 400, "attribute[danger]"),
    ]
    before = tickets(eng)
    for fields, status, words in cases:
        for fmt in ("json", "xml"):
            r = requests.post(f"{base}/requests.{fmt}", data={"api_key": KEY, **fields}, timeout=30)
            assert r.status_code == status, (fields, r.text)
            if fmt == "json":
                (err,) = r.json()
            else:
                err = {c.tag: c.text for c in ET.fromstring(r.content).find("error")}
            assert int(err["code"]) == status and words in err["description"], (fields, err)
    assert tickets(eng) == before  # nothing half-written
    gets = [("/requests/GD00000000.json", 404), ("/tokens/nope.json", 404), ("/services/nope.json", 404),
            ("/services.csv", 404), ("/services.json?jurisdiction_id=1", 404),
            ("/requests.json?start_date=yesterday", 400), ("/requests.json?status=pending", 400),
            ("/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", 400),
            ("/requests.json?service_code=nope", 404)]
    for path, status in gets:
        r = requests.get(base + path, timeout=30)
        assert r.status_code == status and r.json()[0]["code"] == status, (path, r.text)


def test_a_keys_rate_limit_answers_429_with_retry_after(api):
    base, eng = api
    key = keys.new_key()
    with eng.begin() as conn:
        conn.execute(ApiKey.__table__.insert(), [dict(name="slow", key_hash=keys.digest(key), prefix=key[:8],
                                                      per_minute=2, created_at=settings.now(), created_by="t")])
    _, lon, lat = inside(eng, 3)
    answers = []
    for _ in range(2):  # twice, should the minute turn between two posts of the first round
        answers += [requests.post(f"{base}/requests.json", data=dict(
            api_key=key, service_code="water", lat=str(lat), long=str(lon), description="水压低"), timeout=30)
            for _ in range(3)]
        if any(r.status_code == 429 for r in answers):
            break
    assert {r.status_code for r in answers} == {200, 429}
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1 and "频繁" in refused.json()[0]["description"]
    with eng.connect() as conn:  # every accepted post stored, no refused one
        stored = conn.execute(select(func.count()).select_from(TicketIntake).join(
            ApiKey, ApiKey.id == TicketIntake.api_key_id).where(ApiKey.name == "slow")).scalar_one()
    assert stored == sum(r.status_code == 200 for r in answers)


def test_attributes_make_a_hazard_urgent(api):
    base, eng = api
    _, lon, lat = inside(eng, 4)
    r = post(base, service_code="safety_hazard", lat=str(lat), long=str(lon), description="电线垂落到人行道",
             **{"attribute[danger]": "yes"})
    code = r.json()[0]["service_request_id"]
    with eng.connect() as conn:
        urgent, text = conn.execute(select(Ticket.urgent, Ticket.description).where(Ticket.code == code)).one()
    assert urgent is True and "是否正危及人身安全" in text and text.endswith("是】")


def test_the_openapi_document_describes_what_the_server_does(api):
    import jsonschema

    base, eng = api
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert set(doc["paths"]) == {"/services.{fmt}", "/services/{service_code}.{fmt}", "/requests.{fmt}",
                                 "/requests/{service_request_id}.{fmt}", "/tokens/{token}.{fmt}"}
    create = doc["paths"]["/requests.{fmt}"]["post"]
    form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    form = doc["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]] if "$ref" in form else form
    assert {"api_key", "service_code", "lat", "long", "address_string", "description", "media_url", "first_name",
            "last_name", "phone", "email", "device_id", "account_id", "jurisdiction_id"} <= set(form["properties"])
    assert {"200", "400", "403", "404", "429"} <= set(create["responses"])
    listing = doc["paths"]["/requests.{fmt}"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"fmt", "jurisdiction_id", "service_request_id",
                                                         "service_code", "start_date", "end_date", "status"}
    for path in doc["paths"].values():  # every answer is JSON or XML
        for op in path.values():
            assert "application/xml" in op["responses"]["200"]["content"]
    _, lon, lat = inside(eng, 6)
    created = post(base, service_code="property", lat=str(lat), long=str(lon), description="电梯坏了").json()
    code = created[0]["service_request_id"]
    live = {("/services.{fmt}", "get"): requests.get(f"{base}/services.json", timeout=10).json(),
            ("/services/{service_code}.{fmt}", "get"): requests.get(f"{base}/services/water.json", timeout=10).json(),
            ("/requests.{fmt}", "post"): created,
            ("/requests.{fmt}", "get"): requests.get(f"{base}/requests.json", timeout=30).json(),
            ("/requests/{service_request_id}.{fmt}", "get"):
                requests.get(f"{base}/requests/{code}.json", timeout=10).json(),
            ("/tokens/{token}.{fmt}", "get"):
                requests.get(f"{base}/tokens/{created[0]['token']}.json", timeout=10).json()}
    for (path, method), body in live.items():
        schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": doc["components"]})
    error_schema = create["responses"]["403"]["content"]["application/json"]["schema"]
    refused = requests.post(f"{base}/requests.json", data={"service_code": "water"}, timeout=10).json()
    jsonschema.validate(refused, {**error_schema, "components": doc["components"]})
