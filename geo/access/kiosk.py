"""Wall displays that sign themselves in: a long random token in the wall's address, only its hash stored.

A command-centre wall has no keyboard: it opens ``/screen?kiosk=1&token=…``
and signs in as the read-only ``screen`` account. The token stays in the
address, so a wall that restarts, loses its session or refuses cookies signs
itself in again. Because that token is a password nobody types:

- it must be long and varied (``token_problem``: at least 24 characters, 10
  different ones, ~112 bits by its alphabet, not a run like ``abcdef…``); a
  weak SHEQU_SCREEN_TOKEN (``1``) is refused at start with a warning in the
  server log, and kiosk sign-in stays off;
- only its SHA-256 is stored (``kiosk_token``): a random 128-bit-plus token
  needs no slow hash, and a copy of the database signs no wall in;
- wrong tokens are counted, slowed and audited like passwords, per address
  (geo.access.throttle, the "kiosk" and "addr" buckets; ``auth.kiosk_fail``);
- a street leader makes a new token on the 账号安全 page (``rotate``; shown
  once, with the wall's address) or switches kiosk sign-in off (``disable``);
  either ends at once every wall session signed in with the old token, and
  lists and ends walls' sessions (``walls``, ``end_walls``).

SHEQU_SCREEN_TOKEN only *seeds* the token: at start it is stored when there is
none yet, and replaces the current one when that one came from the variable
too (an operator changing the variable rotates the token, as before). Once a
street leader has made or switched off a token on the page, the variable is
ignored with a warning: a restart never brings back a token that was replaced.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from geo.access import audit, roles, sessions, throttle, users
from geo.db import store
from geo.db.schema import KioskToken, LoginSession, Street
from geo.db.schema import User as UserRow

#: Who made a token that came from the environment (kiosk_token.created_by).
FROM_ENV = "SHEQU_SCREEN_TOKEN"
MIN_LENGTH = 24
MIN_DISTINCT = 10
MIN_BITS = 112


@dataclass(frozen=True)
class WallSignIn:
    """A wall signed in: the screen account and the token it used (its sessions carry the token's id)."""

    user: object  # geo.access.users.User
    token_id: int


def token_problem(token: str | None) -> str | None:
    """Why ``token`` is too weak for a wall's address, or None when it will do.

    Length, variety and the size of its alphabet, not a dictionary: the token
    the 账号安全 page makes (``secrets.token_urlsafe(32)``) is far past all three.
    """
    token = token or ""
    if len(token) < MIN_LENGTH:
        return f"至少 {MIN_LENGTH} 个字符（现为 {len(token)} 个） / at least {MIN_LENGTH} characters"
    if len(set(token)) < MIN_DISTINCT:
        return f"至少 {MIN_DISTINCT} 种不同字符 / at least {MIN_DISTINCT} different characters"
    pool = sum(size for chars, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
               if any(chars(c) and c.isascii() for c in token))
    pool += 32 if any(not (c.isascii() and c.isalnum()) for c in token) else 0
    if len(token) * math.log2(max(pool, 2)) < MIN_BITS:
        return (f"字符种类太少（约 {len(token) * math.log2(max(pool, 2)):.0f} 位，需 {MIN_BITS} 位）；请混用大小写字母和数字 / "
                f"too few kinds of characters (~{len(token) * math.log2(max(pool, 2)):.0f} bits, {MIN_BITS} needed)")
    steps = sum(abs(ord(a) - ord(b)) <= 1 for a, b in zip(token, token[1:]))
    if steps * 2 > len(token) - 1:
        return "有明显规律（如 abcdef、111111） / it follows a pattern (abcdef, 111111)"
    return None


def new_token() -> str:
    """A fresh random token that passes ``token_problem``."""
    while True:
        token = secrets.token_urlsafe(32)
        if token_problem(token) is None:
            return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current(engine: Engine) -> dict | None:
    """The current token's facts (id, created_at, created_by), or None when kiosk sign-in is off."""
    with engine.connect() as conn:
        row = conn.execute(select(KioskToken.id, KioskToken.created_at, KioskToken.created_by)
                           .where(KioskToken.retired_at.is_(None)).order_by(KioskToken.id.desc()).limit(1)).first()
    return dict(row._mapping) if row is not None else None


# --------------------------------------------------------------------------- start, rotate, switch off

def seed_from_env(engine: Engine, *, now: datetime, log=None) -> str:
    """Store SHEQU_SCREEN_TOKEN's hash at start when it may (module docstring); says what was done.

    A weak value is refused with a warning (to ``log``, default stderr) and the
    kiosk is off unless a street leader made a token on the page.
    """
    token = os.environ.get(FROM_ENV, "").strip()
    out = log or sys.stderr
    with engine.connect() as conn:
        latest = conn.execute(select(KioskToken.id, KioskToken.token_hash, KioskToken.created_by,
                                     KioskToken.retired_at, KioskToken.retired_by)
                              .order_by(KioskToken.id.desc()).limit(1)).first()
    from_env = latest is not None and latest.created_by == FROM_ENV and (latest.retired_at is None
                                                                        or latest.retired_by == FROM_ENV)
    if not token:
        return "unset"
    if latest is not None and not from_env:
        if latest.retired_at is not None or not hmac.compare_digest(latest.token_hash, _digest(token)):
            print(f"[社区治理一张图] 警告：{FROM_ENV} 已忽略：大屏口令已由街道领导在“账号安全”页更换或停用；"
                  f"请删除该环境变量 / warning: {FROM_ENV} ignored, the wall token was replaced or switched off "
                  f"on the security page", file=out, flush=True)
        return "ignored"
    problem = token_problem(token)
    if problem is not None:
        print(f"[社区治理一张图] 警告：{FROM_ENV} 太弱（{problem}），大屏免密登录已关闭；请设置至少 {MIN_LENGTH} 位的随机"
              f"字符串，或在“账号安全”页生成 / warning: {FROM_ENV} is too weak, kiosk sign-in is off",
              file=out, flush=True)
        if latest is not None and latest.retired_at is None:
            _retire(engine, by=FROM_ENV, now=now, action="auth.kiosk_off")
        return "weak"
    if latest is not None and latest.retired_at is None and hmac.compare_digest(latest.token_hash, _digest(token)):
        return "kept"
    _replace(engine, token, by=FROM_ENV, role=None, now=now)
    return "seeded"


def rotate(engine: Engine, *, by, now: datetime) -> str:
    """A new wall token (street leaders; audited); the old one's walls are signed out. Returns the token, once."""
    _allowed(by)
    token = new_token()
    _replace(engine, token, by=by.username, role=by.role, now=now)
    return token


def disable(engine: Engine, *, by, now: datetime) -> int:
    """Switch kiosk sign-in off (street leaders; audited); returns how many wall sessions ended."""
    _allowed(by)
    return _retire(engine, by=by.username, role=by.role, now=now, action="auth.kiosk_off")


def _allowed(by) -> None:
    if not roles.may(by.role, "manage_security"):
        raise PermissionError("您的角色不能管理大屏登录 / your role may not manage wall sign-in")


def _replace(engine: Engine, token: str, *, by: str, role: str | None, now: datetime) -> None:
    with engine.begin() as conn:
        old = _retire_in(conn, by=by, now=now)
        new_id = conn.execute(insert(KioskToken).returning(KioskToken.id), [dict(
            token_hash=_digest(token), created_at=now, created_by=by)]).scalar_one()
        ended = sessions.revoke_kiosk(conn, old, now=now)
        audit.record(conn, at=now, username=by, role=role, action="auth.kiosk_rotate", object_type="kiosk_token",
                     object_id=new_id, detail=f"大屏口令 #{new_id}；结束旧口令的 {ended} 个大屏会话 / "
                                              f"wall token #{new_id}; {ended} wall sessions of the old one ended")
    _ensure_screen_account(engine, now=now)


def _retire(engine: Engine, *, by: str, now: datetime, action: str, role: str | None = None) -> int:
    with engine.begin() as conn:
        old = _retire_in(conn, by=by, now=now)
        ended = sessions.revoke_kiosk(conn, old, now=now)
        audit.record(conn, at=now, username=by, role=role, action=action, object_type="kiosk_token",
                     detail=f"停用大屏免密登录；结束 {ended} 个大屏会话 / kiosk sign-in off; {ended} wall sessions ended")
    return ended


def _retire_in(conn, *, by: str, now: datetime) -> list[int]:
    old = list(conn.execute(select(KioskToken.id).where(KioskToken.retired_at.is_(None))
                            .with_for_update()).scalars())
    if old:
        conn.execute(update(KioskToken).where(KioskToken.id.in_(old)).values(retired_at=now, retired_by=by))
    return old


def _ensure_screen_account(engine: Engine, *, now: datetime) -> None:
    """The read-only ``screen`` account walls sign in as (made once, with a password nobody knows)."""
    with engine.connect() as conn:
        if conn.execute(select(UserRow.id).where(UserRow.username == users.SCREEN_USERNAME)).first():
            return
        street_id = conn.execute(select(Street.id).order_by(Street.id).limit(1)).scalar()
    users.create_once(engine, users.SCREEN_USERNAME, secrets.token_urlsafe(16), "screen", now=now,
                      display_name="指挥中心大屏", street_id=street_id)


# --------------------------------------------------------------------------- a wall signs in

def login(engine: Engine, token: str | None, *, now: datetime, address: str | None = None) -> WallSignIn | None:
    """The read-only screen account for a wall whose address carries the current token; None otherwise.

    Every token presented is counted per address before it is compared (geo.access.throttle);
    while a wait runs, geo.access.users.LockedOutError. A wrong one is audited (``auth.kiosk_fail``),
    never the token itself.
    """
    res = throttle.reserve(engine, username=users.SCREEN_USERNAME, address=address or "", now=now, kiosk=True)
    if not res.admitted:
        raise users.LockedOutError(users.wait_message(res.refused_until, now), res.refused_until)
    digest = _digest(str(token or "")[:512])
    with engine.connect() as conn:
        tok = conn.execute(select(KioskToken.id, KioskToken.token_hash)
                           .where(KioskToken.retired_at.is_(None)).order_by(KioskToken.id.desc()).limit(1)).first()
        row = conn.execute(select(*users.USER_COLUMNS).where(
            UserRow.username == users.SCREEN_USERNAME, UserRow.role == "screen", UserRow.active.is_(True))).first()
    if tok is None or row is None or not hmac.compare_digest(tok.token_hash, digest):
        throttle.failed(engine, res, now=now, what="auth.kiosk_fail")
        return None
    throttle.succeeded(engine, res, now=now)
    user = users.user_from_row(row)
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.kiosk", object_type="user",
                 object_id=user.id, detail=f"来自 {throttle.address_label(res.address)}，大屏口令 #{tok.id}")
    return WallSignIn(user, tok.id)


# --------------------------------------------------------------------------- walls' sessions

def walls(engine: Engine, *, now: datetime) -> pd.DataFrame:
    """Live sessions of the screen accounts (walls), newest first: id, started, last seen, address, token."""
    s, k = LoginSession.__table__, KioskToken.__table__
    stmt = (select(s.c.id, s.c.created_at, s.c.last_seen_at, s.c.address, s.c.kiosk_token_id,
                   UserRow.username, k.c.retired_at.label("token_retired"))
            .join(UserRow, UserRow.id == s.c.user_id).outerjoin(k, k.c.id == s.c.kiosk_token_id)
            .where(UserRow.role == "screen", s.c.revoked_at.is_(None),
                   s.c.last_seen_at >= now - timedelta(hours=sessions.IDLE_HOURS),
                   s.c.created_at >= now - timedelta(hours=sessions.MAX_HOURS))
            .order_by(s.c.last_seen_at.desc(), s.c.id.desc()).limit(500))
    return store.read_frame(engine, stmt)


def end_walls(engine: Engine, session_ids: list[int], *, by, now: datetime) -> int:
    """End these walls' sessions (street leaders; audited). Only screen accounts' sessions are ended."""
    _allowed(by)
    ids = [int(i) for i in session_ids]
    if not ids:
        return 0
    screens = select(UserRow.id).where(UserRow.role == "screen")
    with engine.begin() as conn:
        ended = conn.execute(update(LoginSession).where(
            LoginSession.id.in_(ids), LoginSession.revoked_at.is_(None), LoginSession.user_id.in_(screens))
            .values(revoked_at=now)).rowcount or 0
        audit.record(conn, at=now, username=by.username, role=by.role, action="auth.kiosk_end",
                     object_type="login_session", detail=f"结束 {ended} 个大屏会话 / {ended} wall sessions ended")
    return ended


def wall_url(page_url: str | None, token: str, *, page: str = "security") -> str:
    """The address a wall opens, ``<app>/screen?kiosk=1&token=…``, from the address of the page asking.

    ``page_url`` is that page's own address (st.context.url, which keeps the
    page's path, e.g. ``https://host/app/security``); without one, a placeholder.
    """
    from urllib.parse import quote, urlsplit, urlunsplit

    if not page_url:
        return f"http://<服务器地址>:8501/screen?kiosk=1&token={quote(token, safe='')}"
    parts = urlsplit(page_url)
    path = parts.path.rstrip("/")
    if path.endswith(f"/{page}"):
        path = path[: -len(page) - 1]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/screen", f"kiosk=1&token={quote(token, safe='')}", ""))
