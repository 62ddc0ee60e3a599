"""API keys for the Open311 door: made, named and revoked by street staff, stored hashed.

A key is ``sq_`` + 32 random URL-safe characters (~190 bits). Only its SHA-256 is
stored, with its first characters so staff can tell keys apart on the page: a random
key of that size needs no slow hash, and a copy of the database posts nothing. A key
belongs to a street: tickets it posts must lie in that street. Each key has its own
rate limit (``per_minute``, geo.intake.limits). Every make and revoke is audited.

Demo databases ship one known key, ``DEMO_KEY`` (README, beside the command that
starts the API); ``demo_row`` makes its row, and only the demo generator calls it.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from geo.access import audit, roles
from geo.db import store
from geo.db.schema import ApiKey
from geo.errors import NotFoundError, ValidationError

#: The demo database's key (README). Never present in a database that holds real data.
DEMO_KEY = "sq_demo_tianpeng_open311_2026"
DEMO_NAME = "演示密钥（仅演示库）"
#: Posts a new key may make per minute unless staff set another limit.
DEFAULT_PER_MINUTE = 60
MAX_PER_MINUTE = 6000
PREFIX_CHARS = 8


class KeyRefused(PermissionError):
    """A missing, unknown or revoked API key (HTTP 403)."""


@dataclass(frozen=True)
class Key:
    """A key that was accepted: its id, name, street and rate limit."""

    id: int
    name: str
    street_id: int | None
    per_minute: int


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "sq_" + secrets.token_urlsafe(24)


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValidationError("请为密钥起一个名称（1–64 字），写明给哪个系统用 / name the key (1–64 characters)")
    return name


def _check_rate(per_minute: int) -> int:
    if not isinstance(per_minute, int) or not 1 <= per_minute <= MAX_PER_MINUTE:
        raise ValidationError(f"每分钟上限须为 1–{MAX_PER_MINUTE} 的整数 / the limit is 1–{MAX_PER_MINUTE} a minute")
    return per_minute


def create(engine: Engine, *, name: str, by, now: datetime, per_minute: int = DEFAULT_PER_MINUTE) -> tuple[int, str]:
    """Make a key for ``by``'s street (a geo.access.users.User allowed "manage_api_keys").

    Returns (id, key): the key in clear is shown once and never stored.
    """
    if not roles.may(by.role, "manage_api_keys"):
        raise PermissionError("您的角色不能管理接口密钥 / your role may not manage API keys")
    name, per_minute = _check_name(name), _check_rate(per_minute)
    key = new_key()
    with engine.begin() as conn:
        kid = conn.execute(insert(ApiKey).returning(ApiKey.id), [dict(
            name=name, key_hash=digest(key), prefix=key[:PREFIX_CHARS], street_id=by.scope.street_id,
            per_minute=per_minute, created_at=now, created_by=by.username)]).scalar_one()
        audit.record(conn, at=now, username=by.username, role=by.role, action="apikey.create", object_type="api_key",
                     object_id=kid, detail=f"新建接口密钥「{name}」（{key[:PREFIX_CHARS]}…，每分钟 {per_minute} 次）")
    return kid, key


def revoke(engine: Engine, key_id: int, *, by, now: datetime) -> None:
    """Revoke a key of ``by``'s street at once; audited. A revoked key posts nothing more."""
    if not roles.may(by.role, "manage_api_keys"):
        raise PermissionError("您的角色不能管理接口密钥 / your role may not manage API keys")
    with engine.begin() as conn:
        row = conn.execute(select(ApiKey.name, ApiKey.revoked_at).where(
            ApiKey.id == key_id, _mine(by))).first()
        if row is None:
            raise NotFoundError("没有这个密钥，或不属于您的街道 / no such key in your street")
        if row.revoked_at is not None:
            raise ValidationError("该密钥已停用 / this key is revoked already")
        conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=now, revoked_by=by.username))
        audit.record(conn, at=now, username=by.username, role=by.role, action="apikey.revoke", object_type="api_key",
                     object_id=key_id, detail=f"停用接口密钥「{row.name}」")


def _mine(by):
    """Keys of the user's street (a district-wide account: every key)."""
    sid = by.scope.street_id
    return ApiKey.street_id == sid if sid is not None else ApiKey.id.is_not(None)


def listing(engine: Engine, *, by) -> pd.DataFrame:
    """The keys of ``by``'s street, newest first: id, name, prefix, per_minute, created, revoked."""
    t = ApiKey.__table__
    return store.read_frame(engine, select(t.c.id, t.c.name, t.c.prefix, t.c.per_minute, t.c.created_at,
                                           t.c.created_by, t.c.revoked_at, t.c.revoked_by)
                            .where(_mine(by)).order_by(t.c.id.desc()))


def check(engine: Engine, key: str | None) -> Key:
    """The key behind ``key``, or KeyRefused (missing, unknown or revoked: one message for all)."""
    if not key or len(key) > 128:
        raise KeyRefused("缺少 api_key，或 api_key 无效 / api_key missing or invalid")
    wanted = digest(key)
    with engine.connect() as conn:
        row = conn.execute(select(ApiKey.id, ApiKey.name, ApiKey.street_id, ApiKey.per_minute, ApiKey.key_hash)
                           .where(ApiKey.key_hash == wanted, ApiKey.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.key_hash, wanted):
        raise KeyRefused("缺少 api_key，或 api_key 无效或已停用 / api_key missing, invalid or revoked")
    return Key(row.id, row.name, row.street_id, row.per_minute)


def demo_row(*, street_id: int, now: datetime) -> dict:
    """The demo database's one key (DEMO_KEY), as a row for the demo generator."""
    return dict(id=1, name=DEMO_NAME, key_hash=digest(DEMO_KEY), prefix=DEMO_KEY[:PREFIX_CHARS], street_id=street_id,
                per_minute=600, created_at=now, created_by="demo", revoked_at=None, revoked_by=None)
