"""社区治理一张图 — the Open311 GeoReport v2 door for other systems (a WeChat mini-program, a city platform).

    uvicorn api:app --port 8600          # beside `streamlit run app.py`, on the same database

Only HTTP lives here: parse the request, call geo.intake, map its errors to the
specification's errors and status codes. Every ticket enters the same loop as one
entered on the dashboard (geo.tickets.service.report through geo.intake.doors). JSON and
XML by the path's extension (``/services.json``, ``/services.xml``); the OpenAPI document
is at ``/openapi.json`` (no /docs page: Swagger UI would load its scripts from the
internet). On a fresh machine the first start builds the demo street, as the dashboard
does; the demo's API key is in the README.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from enum import Enum
from functools import cache
from typing import Annotated, Literal

from fastapi import FastAPI, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import settings
from geo.access import throttle
from geo.db import store
from geo.errors import NotFoundError, ValidationError
from geo.intake import keys, limits, open311
from geo.web.headers import SecurityHeaders

log = logging.getLogger("shequ.api")


class Format(str, Enum):
    json = "json"
    xml = "xml"


# --------------------------------------------------------------------------- the documented shapes

class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class ServiceAttribute(BaseModel):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class ServiceRequest(BaseModel):
    """A ticket as anyone may see it: no reporter's name or phone, no photo (see geo.intake.open311)."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str
    address_id: str
    zipcode: str
    lat: float
    long: float
    media_url: str


class RequestCreated(BaseModel):
    service_request_id: str
    token: str | None
    service_notice: str
    account_id: str


class TokenAnswer(BaseModel):
    service_request_id: str
    token: str


class Error(BaseModel):
    code: int
    description: str


def _errors(*codes: int) -> dict:
    words = {400: "缺少或错误的参数、位置不在本街道、描述过长 / bad or missing field, location outside the street, too long",
             403: "缺少、错误或已停用的 api_key / api_key missing, wrong or revoked",
             404: "没有这个服务、工单、token 或 jurisdiction_id / unknown service, request, token or jurisdiction",
             429: "超过该密钥或地址的速率限制（见 Retry-After） / rate limit of the key or address (see Retry-After)",
             503: "数据库暂时不可用 / the database is not available right now"}
    return {c: {"model": list[Error], "description": words[c],
                "content": {"application/xml": {"schema": {"type": "string"}}}} for c in codes}


XML_OK = {"content": {"application/xml": {"schema": {"type": "string"}}}}

# --------------------------------------------------------------------------- the app


@cache
def engine() -> Engine:
    return store.make_engine(settings.database_url())


@asynccontextmanager
async def lifespan(_app: FastAPI):
    """First start on a fresh machine: the demo street, as the dashboard's first start builds it."""
    from geo.demo import generator

    generator.ensure_database(settings.database_url())
    yield
    engine().dispose()


app = FastAPI(
    title="社区治理一张图 · Open311 GeoReport v2",
    version="2",
    description="群众点单的开放接口：类别即服务，工单即请求。jurisdiction_id 为街道代码；提交需 api_key（街道工作人员在"
                "「居民入口」页面发放）。Residents' door for other systems: categories are services, tickets are "
                "requests; POST needs an api_key from the street's staff.",
    docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=lifespan)
app.add_middleware(SecurityHeaders, policy="default-src 'none'; frame-ancestors 'none'")


def _format_of(request: Request) -> Format:
    return Format.xml if request.url.path.endswith(".xml") else Format.json


def error(request: Request, status: int, description: str, headers: dict | None = None) -> Response:
    """The specification's error list, in the format the path asked for."""
    if _format_of(request) is Format.xml:
        return Response(open311.errors_xml(status, description), status_code=status,
                        media_type="application/xml; charset=utf-8", headers=headers)
    return JSONResponse(open311.errors_json(status, description), status_code=status, headers=headers)


@app.exception_handler(open311.Open311Error)
async def _open311_error(request: Request, exc: open311.Open311Error):
    return error(request, exc.status, exc.description)


@app.exception_handler(keys.KeyRefused)
async def _key_refused(request: Request, exc: keys.KeyRefused):
    return error(request, 403, str(exc))


@app.exception_handler(ValidationError)
async def _invalid(request: Request, exc: ValidationError):
    return error(request, 400, str(exc))  # OutsideAreaError too: "不在本街道…", said so


@app.exception_handler(NotFoundError)
async def _not_found(request: Request, exc: NotFoundError):
    return error(request, 404, str(exc))


@app.exception_handler(RequestValidationError)
async def _bad_request(request: Request, exc: RequestValidationError):
    where = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()) or "request"
    if any(e.get("loc", ())[:2] == ("path", "fmt") for e in exc.errors()):
        return error(request, 404, "只提供 .json 或 .xml 格式 / only .json and .xml are served")
    return error(request, 400, f"参数有误：{where} / invalid field: {where}")


@app.exception_handler(StarletteHTTPException)
async def _http(request: Request, exc: StarletteHTTPException):
    return error(request, exc.status_code, "没有这个地址 / no such resource" if exc.status_code == 404 else str(exc.detail))


@app.exception_handler(Exception)
async def _storage(request: Request, exc: Exception):
    problem = store.storage_problem(exc)
    if problem is None:
        log.exception("api: unexpected error")
        return error(request, 500, "服务器内部错误，未保存任何内容；请稍后再试 / internal error; nothing was saved")
    return error(request, 503, problem.message("zh") + " / " + problem.message("en"), headers={"Retry-After": "5"})


def answer(fmt: Format, root: str, item: str, rows):
    """JSON (validated by the route's response_model) or the specification's XML."""
    if fmt is Format.xml:
        return Response(open311.to_xml(root, item, rows), media_type="application/xml; charset=utf-8")
    return rows


def _address(request: Request) -> str:
    return throttle.client_address(request.client.host if request.client else None,
                                   request.headers.getlist("x-forwarded-for"), trusted=settings.TRUSTED_PROXIES)


def _read_limit(request: Request) -> None:
    """GETs per address (an unknown address, e.g. a local one, has no bucket: geo.intake.limits)."""
    address = _address(request)
    if address:
        verdict = limits.hit(engine(), "read_addr", address, now=settings.now())
        if not verdict.allowed:
            raise _TooMany(verdict.retry_after_s)


class _TooMany(Exception):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s


@app.exception_handler(_TooMany)
async def _too_many(request: Request, exc: _TooMany):
    return error(request, 429, f"请求过于频繁，请 {exc.retry_after_s} 秒后再试 / too many requests; retry in "
                               f"{exc.retry_after_s} s", headers={"Retry-After": str(exc.retry_after_s)})


Jurisdiction = Annotated[str | None, Query(description="街道代码（9 位） / the street's code", max_length=12)]
Fmt = Annotated[Format, Path(description="json 或 xml")]


@app.get("/services.{fmt}", response_model=list[Service], responses={200: XML_OK, **_errors(400, 404, 429)},
         summary="服务列表（工单类别） / service list")
def get_services(request: Request, fmt: Fmt, jurisdiction_id: Jurisdiction = None):
    _read_limit(request)
    open311.jurisdiction(engine(), jurisdiction_id)
    return answer(fmt, "services", "service", open311.services())


@app.get("/services/{service_code}.{fmt}", response_model=ServiceDefinition,
         responses={200: XML_OK, **_errors(400, 404, 429)}, summary="服务定义（属性） / service definition")
def get_service_definition(request: Request, service_code: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None):
    _read_limit(request)
    open311.jurisdiction(engine(), jurisdiction_id)
    return answer(fmt, "service_definition", "", open311.definition(service_code))


Field = Annotated[str | None, Form()]


@app.post("/requests.{fmt}", response_model=list[RequestCreated],
          responses={200: XML_OK, **_errors(400, 403, 404, 429, 503)}, summary="提交诉求 / create a service request")
async def post_request(request: Request, fmt: Fmt,
                       api_key: Field = None, service_code: Field = None, jurisdiction_id: Field = None,
                       lat: Field = None, long: Field = None, address_string: Field = None, address_id: Field = None,
                       description: Field = None, media_url: Field = None, email: Field = None,
                       device_id: Field = None, account_id: Field = None, first_name: Field = None,
                       last_name: Field = None, phone: Field = None):
    """Form-encoded, as the specification says; ``attribute[code]=value`` for a service's attributes.
    Personal fields (name, phone) are stored for the grid's staff and never returned by any GET."""
    form = await request.form()
    answers = {k[len("attribute["):-1]: str(v) for k, v in form.multi_items()
               if k.startswith("attribute[") and k.endswith("]")}
    body = open311.Post(service_code=service_code, lat=lat, long=long, address_string=address_string,
                        address_id=address_id, description=description, media_url=media_url, email=email,
                        device_id=device_id, account_id=account_id, first_name=first_name, last_name=last_name,
                        phone=phone, attributes=answers)
    from starlette.concurrency import run_in_threadpool

    rows = await run_in_threadpool(_post, api_key, jurisdiction_id, body)
    return answer(fmt, "service_requests", "request", rows)


def _post(api_key: str | None, jurisdiction_id: str | None, body: open311.Post):
    eng, now = engine(), settings.now()
    key = keys.check(eng, api_key)
    verdict = limits.hit(eng, "key", str(key.id), now=now, limit=key.per_minute)
    if not verdict.allowed:
        raise _TooMany(verdict.retry_after_s)
    return open311.post(eng, body, key=key, street_id=open311.jurisdiction(eng, jurisdiction_id), now=now)


@app.get("/requests.{fmt}", response_model=list[ServiceRequest], responses={200: XML_OK, **_errors(400, 404, 429)},
         summary="查询诉求（默认近 90 天，至多 1000 条） / service requests")
def get_requests(request: Request, fmt: Fmt, jurisdiction_id: Jurisdiction = None,
                 service_request_id: Annotated[str | None, Query(description="逗号分隔；优先于其他条件")] = None,
                 service_code: Annotated[str | None, Query(description="逗号分隔")] = None,
                 start_date: Annotated[str | None, Query(description="ISO 8601，如 2026-11-01T00:00:00+08:00")] = None,
                 end_date: Annotated[str | None, Query(description="ISO 8601；与 start_date 相隔不超过 90 天")] = None,
                 status: Annotated[str | None, Query(description="open、closed，逗号分隔")] = None):
    _read_limit(request)
    eng = engine()
    rows = open311.requests(eng, now=settings.now(), street_id=open311.jurisdiction(eng, jurisdiction_id),
                            ids=service_request_id, service_code=service_code, start_date=start_date,
                            end_date=end_date, status=status)
    return answer(fmt, "service_requests", "request", rows)


@app.get("/requests/{service_request_id}.{fmt}", response_model=list[ServiceRequest],
         responses={200: XML_OK, **_errors(400, 404, 429)}, summary="单个诉求 / one service request")
def get_request(request: Request, service_request_id: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None):
    _read_limit(request)
    eng = engine()
    rows = open311.request(eng, service_request_id, street_id=open311.jurisdiction(eng, jurisdiction_id))
    return answer(fmt, "service_requests", "request", rows)


@app.get("/tokens/{token}.{fmt}", response_model=list[TokenAnswer], responses={200: XML_OK, **_errors(400, 404, 429)},
         summary="由 token 查工单号 / service request id from a token")
def get_token(request: Request, token: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None):
    _read_limit(request)
    open311.jurisdiction(engine(), jurisdiction_id)
    return answer(fmt, "service_requests", "request", open311.token(engine(), token))
