"""Accounts: who a user is, their stored password hash, and the errors of signing in.

- ``User`` is what a session keeps of a login (no hash in it); ``USER_COLUMNS``
  and ``user_from_row`` read one, for sign-in (geo.access.auth), sessions and walls.
- Passwords are hashed with argon2id (argon2-cffi): real accounts with the
  RFC 9106 low-memory profile (``HASHER``), the demo town's with the cheap
  ``DEMO_HASHER``; each hash carries its parameters, so both verify the same way.
- ``parameter_sets`` lists one stored hash per parameter set in use, so a
  sign-in can check one of each and cost the same for every name (geo.access.auth).

This module knows nothing of sessions, throttling or wall tokens: those build on it.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from geo.access import audit, roles, throttle
from geo.errors import ValidationError
from geo.access.roles import Scope
from geo.db.schema import User as UserRow

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
DEMO_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)

MIN_PASSWORD_LENGTH = 8
ADMIN_USERNAME = "admin"
SCREEN_USERNAME = "screen"

BAD_LOGIN = "用户名或密码错误 / Wrong user name or password"
LOCKED = ("登录失败次数过多，请 {wait}后再试；街道领导可在“账号安全”页解除 / "
          "Too many failed sign-ins; try again in {wait_en} (a street leader can lift this on the security page)")
BUSY = "系统繁忙，请稍后再试 / The system is busy; please try again in a moment"


class LoginError(PermissionError):
    """The login failed; the message is the same for a wrong password and an unknown user."""


class LockedOutError(LoginError):
    """Too many failed sign-ins (geo.access.throttle): nothing was checked; wait until ``until``."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class BusyError(LoginError):
    """Every password-check slot is taken: nothing was checked or counted; try again shortly."""


@dataclass(frozen=True)
class User:
    """A logged-in user (what a session keeps): no password hash in here."""

    id: int
    username: str
    role: str
    display_name: str
    street_id: int | None = None
    community_id: int | None = None
    grid_id: int | None = None
    person_id: int | None = None

    @property
    def scope(self) -> Scope:
        return roles.scope_for(self.role, street_id=self.street_id, community_id=self.community_id,
                               grid_id=self.grid_id)

    def role_name(self, lang: str = "zh") -> str:
        return roles.ROLES[self.role].name(lang)

    def may(self, action: str) -> bool:
        return roles.may(self.role, action)

    def may_see(self, page: str) -> bool:
        return roles.may_see(self.role, page)

    @property
    def name(self) -> str:
        """The name ticket histories show: same as ``label``."""
        return self.label

    @property
    def label(self) -> str:
        """How the user appears in histories and the audit log: name and login."""
        return f"{self.display_name}({self.username})"


USER_COLUMNS = [UserRow.id, UserRow.username, UserRow.role, UserRow.display_name, UserRow.street_id,
                 UserRow.community_id, UserRow.grid_id, UserRow.person_id]


def user_from_row(row) -> User:
    """A User from a row that starts with USER_COLUMNS."""
    return User(*row[:8])


# --------------------------------------------------------------------------- hashing

def hash_password(password: str, *, hasher: PasswordHasher = HASHER) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"密码至少 {MIN_PASSWORD_LENGTH} 位 / at least {MIN_PASSWORD_LENGTH} characters")
    return hasher.hash(password)


def parameters_of(stored_hash: str) -> str:
    """The PHC prefix that holds a hash's algorithm and cost ("$argon2id$v=19$m=8192,t=1,p=1")."""
    return "$".join(stored_hash.split("$")[:4])


_DUMMIES: dict[str, str] = {}


def dummy_hash(sample: str) -> str:
    """A hash of a random secret with the same parameters as ``sample``, so checking it costs the same."""
    key = parameters_of(sample)
    if key not in _DUMMIES:
        try:
            hasher = PasswordHasher.from_parameters(extract_parameters(sample))
        except (InvalidHashError, ValueError):
            hasher = HASHER
        _DUMMIES[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMIES[key]


_SETS: dict[str, tuple[float, list[str]]] = {}  # database → (read at, one stored hash per parameter set)
_SETS_TTL_S = 60.0


def parameter_sets(engine: Engine) -> list[str]:
    """One stored hash per parameter set among active logins, in a fixed order; re-read each minute.

    Every attempt checks one hash of each (``_check``), so all attempts cost
    the same. An empty database gets the full-cost default.
    """
    key = str(engine.url)
    hit = _SETS.get(key)
    if hit is not None and time.monotonic() - hit[0] < _SETS_TTL_S:
        return hit[1]
    samples: dict[str, str] = {}
    with engine.connect() as conn:
        for h in conn.execute(select(UserRow.password_hash).where(UserRow.active.is_(True))).scalars():
            if h and h.startswith("$argon2"):
                samples.setdefault(parameters_of(h), h)
    if not samples:
        samples[parameters_of(dummy_hash(""))] = dummy_hash("")
    result = [samples[k] for k in sorted(samples)]
    _SETS[key] = (time.monotonic(), result)
    return result


def forget_parameter_sets(engine: Engine) -> None:
    """A login was added or changed: the next attempt re-reads the parameter sets."""
    _SETS.pop(str(engine.url), None)


# --------------------------------------------------------------------------- users

def user_row(username: str, password: str, role: str, *, display_name: str | None = None,
             street_id: int | None = None, community_id: int | None = None, grid_id: int | None = None,
             person_id: int | None = None, created_at: datetime | None = None,
             hasher: PasswordHasher = HASHER) -> dict:
    """A checked ``app_user`` row (password hashed): for create_user and the demo generator."""
    username = (username or "").strip()
    if not username or len(username) > 32:
        raise ValidationError("用户名为 1–32 个字符 / a user name has 1–32 characters")
    if role not in roles.ROLES:
        raise ValidationError(f"未知角色 {role!r} / unknown role; known: {', '.join(roles.ROLES)}")
    check_area(role, community_id, grid_id)
    return dict(username=username, password_hash=hash_password(password, hasher=hasher), role=role,
                display_name=display_name or username, street_id=street_id, community_id=community_id,
                grid_id=grid_id, person_id=person_id, active=True, created_at=created_at)


def check_area(role: str, community_id: int | None, grid_id: int | None) -> None:
    """A grid-level role needs a grid, a community-level one a community."""
    level = roles.ROLES[role].level
    if level == "grid" and grid_id is None:
        raise ValidationError(f"{roles.ROLES[role].name_zh}须绑定网格 / a {role} needs a grid")
    if level == "community" and community_id is None:
        raise ValidationError(f"{roles.ROLES[role].name_zh}须绑定社区 / a {role} needs a community")


def place_of(conn, *, grid_id: int | None = None, community_id: int | None = None) -> dict:
    """The community and street above a grid (or the street above a community), from the tree."""
    from geo.db.schema import Community, Grid

    if grid_id is not None:
        place = conn.execute(select(Grid.community_id, Community.street_id)
                             .join(Community, Community.id == Grid.community_id)
                             .where(Grid.id == grid_id)).first()
        if place is None:
            raise ValidationError(f"网格 {grid_id} 不存在 / no such grid")
        return {"community_id": place[0], "street_id": place[1]}
    if community_id is not None:
        return {"street_id": conn.execute(select(Community.street_id).where(Community.id == community_id)).scalar()}
    return {}


def create_user(engine: Engine, username: str, password: str, role: str, *, now: datetime,
                by: str = audit.SYSTEM, **details) -> User:
    """Add a login (audited). A grid-level user needs grid_id; its community is filled in."""
    with engine.begin() as conn:
        for key, value in place_of(conn, grid_id=details.get("grid_id"),
                                 community_id=details.get("community_id")).items():
            details.setdefault(key, value)
        if conn.execute(select(UserRow.id).where(UserRow.username == username.strip())).first():
            raise ValidationError(f"用户名 {username} 已存在 / user name taken")
        row = user_row(username, password, role, created_at=now, **details)
        uid = conn.execute(insert(UserRow).returning(UserRow.id), [row]).scalar_one()
        audit.record(conn, at=now, username=by, action="user.create", object_type="user", object_id=uid,
                     detail=f"{row['username']} {role}")
    forget_parameter_sets(engine)
    return get_user(engine, uid)


def get_user(engine: Engine, user_id: int) -> User:
    with engine.connect() as conn:
        row = conn.execute(select(*USER_COLUMNS).where(UserRow.id == user_id, UserRow.active.is_(True))).first()
    if row is None:
        raise LoginError(BAD_LOGIN)
    return user_from_row(row)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(*USER_COLUMNS).where(UserRow.active.is_(True)).order_by(UserRow.id)).fetchall()
    return [user_from_row(r) for r in rows]


def recheck(engine: Engine, user: User) -> User | None:
    """The user as their row says now; None when deactivated or their role or area changed.

    Run on every page run (one primary-key read), so a change takes effect at
    the user's next click, not at their next sign-in.
    """
    with engine.connect() as conn:
        row = conn.execute(select(*USER_COLUMNS).where(UserRow.id == user.id, UserRow.active.is_(True))).first()
    if row is None:
        return None
    fresh = user_from_row(row)
    same = (fresh.role, fresh.street_id, fresh.community_id, fresh.grid_id) == (
        user.role, user.street_id, user.community_id, user.grid_id)
    return fresh if same else None


def wait_message(until: datetime, now: datetime) -> str:
    wait = until - now
    return LOCKED.format(wait=throttle.wait_label(wait), wait_en=throttle.wait_label(wait, "en"))



def create_once(engine: Engine, username: str, password: str, role: str, **kw) -> bool:
    """create_user, unless a concurrent first start made the same name just now."""
    try:
        create_user(engine, username, password, role, **kw)
        return True
    except (IntegrityError, ValidationError):
        with engine.connect() as conn:
            if conn.execute(select(UserRow.id).where(UserRow.username == username)).first():
                return False
        raise
