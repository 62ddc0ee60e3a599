"""Logins: hashed passwords, one answer for every failure, throttled guessing, bounded hashing.

- Passwords are hashed with argon2id (argon2-cffi). Real accounts use the
  library's RFC 9106 low-memory profile (t=3, m=64 MiB, p=4); the demo
  town's accounts use ``DEMO_HASHER`` (t=1, m=8 MiB, p=1), cheap enough to
  make twenty of them in a fraction of a second. Each hash carries its own
  parameters, so both verify the same way.
- A wrong password and an unknown user name get the same message, and take
  the same time: every attempt checks one hash of *every* parameter set in use
  among active logins: the user's own for theirs, a dummy for each other
  (``_check``). An unknown name checks dummies only. On a demo database with
  ``admin`` (full cost) and the demo users (cheap), ``admin``, ``gridhead1``
  and a name that does not exist all cost one full and one cheap check, so
  timing tells no one which names exist, whatever the mix of parameters.
- Guessing is slowed by geo.throttle: each attempt is counted (reserved)
  before its password is checked, per name from an address, per name and per
  address, with growing waits instead of a hard lock; street leaders lift
  waits on the 账号安全 page. See that module for the policy.
- At most settings.HASH_SLOTS password checks run at once in a process (a
  real account's check holds 64 MiB, 32 anonymous guesses at once took one
  process to 2.2 GB); an attempt that finds no free slot within
  settings.HASH_WAIT_S is told "系统繁忙，请稍后再试" and is not counted.
- The first start creates ``admin`` (street leader) with the password in
  SHEQU_ADMIN_PASSWORD, or a random one printed once to the server log, and
  seeds the wall displays' token from SHEQU_SCREEN_TOKEN (geo.kiosk).
"""
from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo import audit, roles, settings, throttle
from geo.errors import ValidationError
from geo.roles import Scope
from geo.schema import Street
from geo.schema import User as UserRow

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
DEMO_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)

MIN_PASSWORD_LENGTH = 8
ADMIN_USERNAME = "admin"
SCREEN_USERNAME = "screen"
#: Password checks at once in this process (settings.HASH_SLOTS); the semaphore below holds them.
HASH_SLOTS = settings.HASH_SLOTS

BAD_LOGIN = "用户名或密码错误 / Wrong user name or password"
LOCKED = ("登录失败次数过多，请 {wait}后再试；街道领导可在“账号安全”页解除 / "
          "Too many failed sign-ins; try again in {wait_en} (a street leader can lift this on the security page)")
BUSY = "系统繁忙，请稍后再试 / The system is busy; please try again in a moment"


class LoginError(PermissionError):
    """The login failed; the message is the same for a wrong password and an unknown user."""


class LockedOutError(LoginError):
    """Too many failed sign-ins (geo.throttle): nothing was checked; wait until ``until``."""

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

    def as_actor(self):
        """This user acting on tickets, in their workflow role (the one place that says how)."""
        from geo import tickets  # local: the ticket rules need nothing of sign-in

        return tickets.Actor(self.name, roles.workflow_role(self.role) or "", self.person_id, self.username)

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


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _parameters_of(stored_hash: str) -> str:
    """The PHC prefix that holds a hash's algorithm and cost ("$argon2id$v=19$m=8192,t=1,p=1")."""
    return "$".join(stored_hash.split("$")[:4])


_DUMMIES: dict[str, str] = {}


def _dummy_hash(sample: str) -> str:
    """A hash of a random secret with the same parameters as ``sample``, so checking it costs the same."""
    key = _parameters_of(sample)
    if key not in _DUMMIES:
        try:
            hasher = PasswordHasher.from_parameters(extract_parameters(sample))
        except (InvalidHashError, ValueError):
            hasher = HASHER
        _DUMMIES[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMIES[key]


_SETS: dict[str, tuple[float, list[str]]] = {}  # database → (read at, one stored hash per parameter set)
_SETS_TTL_S = 60.0


def _parameter_sets(engine: Engine) -> list[str]:
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
                samples.setdefault(_parameters_of(h), h)
    if not samples:
        samples[_parameters_of(_dummy_hash(""))] = _dummy_hash("")
    result = [samples[k] for k in sorted(samples)]
    _SETS[key] = (time.monotonic(), result)
    return result


def _forget_parameter_sets(engine: Engine) -> None:
    """A login was added or changed: the next attempt re-reads the parameter sets."""
    _SETS.pop(str(engine.url), None)


def _check(samples: list[str], stored: str | None, password: str) -> bool:
    """``password`` against ``stored`` and, at equal cost, a dummy of every other parameter set in use.

    The same checks run whether the name exists or not, so the time taken does
    not say. A stored hash whose parameters are newer than the sets read a
    minute ago is still checked (one check more, until the next read).
    """
    real = _parameters_of(stored) if stored else None
    ok, seen = False, set()
    for sample in samples:
        params = _parameters_of(sample)
        seen.add(params)
        if params == real:
            ok = verify_password(stored, password)
        else:
            verify_password(_dummy_hash(sample), password)
    if real is not None and real not in seen:
        ok = verify_password(stored, password)
    return ok


_SLOTS = threading.BoundedSemaphore(HASH_SLOTS)


@contextmanager
def _hash_slot():
    """One of the HASH_SLOTS password-check slots, or BusyError after settings.HASH_WAIT_S."""
    if not _SLOTS.acquire(timeout=settings.HASH_WAIT_S):
        raise BusyError(BUSY)
    try:
        yield
    finally:
        _SLOTS.release()


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
    _check_area(role, community_id, grid_id)
    return dict(username=username, password_hash=hash_password(password, hasher=hasher), role=role,
                display_name=display_name or username, street_id=street_id, community_id=community_id,
                grid_id=grid_id, person_id=person_id, active=True, created_at=created_at)


def _check_area(role: str, community_id: int | None, grid_id: int | None) -> None:
    """A grid-level role needs a grid, a community-level one a community."""
    level = roles.ROLES[role].level
    if level == "grid" and grid_id is None:
        raise ValidationError(f"{roles.ROLES[role].name_zh}须绑定网格 / a {role} needs a grid")
    if level == "community" and community_id is None:
        raise ValidationError(f"{roles.ROLES[role].name_zh}须绑定社区 / a {role} needs a community")


def _place(conn, *, grid_id: int | None = None, community_id: int | None = None) -> dict:
    """The community and street above a grid (or the street above a community), from the tree."""
    from geo.schema import Community, Grid

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
        for key, value in _place(conn, grid_id=details.get("grid_id"),
                                 community_id=details.get("community_id")).items():
            details.setdefault(key, value)
        if conn.execute(select(UserRow.id).where(UserRow.username == username.strip())).first():
            raise ValidationError(f"用户名 {username} 已存在 / user name taken")
        row = user_row(username, password, role, created_at=now, **details)
        uid = conn.execute(insert(UserRow).returning(UserRow.id), [row]).scalar_one()
        audit.record(conn, at=now, username=by, action="user.create", object_type="user", object_id=uid,
                     detail=f"{row['username']} {role}")
    _forget_parameter_sets(engine)
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


def update_user(engine: Engine, username: str, *, now: datetime, by: str, active: bool | None = None,
                role: str | None = None, community_id: int | None = None, grid_id: int | None = None) -> None:
    """Deactivate/reactivate a login or give it another role or area (audited).

    Every session of the user ends at once when they are deactivated or their
    role or area changes: a grid head moved to another grid does not keep the
    old grid's households open in a forgotten tab.
    """
    from geo import sessions

    with engine.begin() as conn:
        row = conn.execute(select(*USER_COLUMNS, UserRow.active).where(UserRow.username == username)).first()
        if row is None:
            raise ValidationError(f"用户 {username} 不存在 / no such user")
        values: dict = {}
        if active is not None and active != row.active:
            values["active"] = active
        if role is not None or grid_id is not None or community_id is not None:
            role = role or row.role
            if role not in roles.ROLES:
                raise ValidationError(f"未知角色 {role!r} / unknown role")
            level = roles.ROLES[role].level
            grid_id = (grid_id or row.grid_id) if level == "grid" else None
            community_id = (community_id or row.community_id) if level == "community" else None
            _check_area(role, community_id, grid_id)
            area = {"community_id": community_id, "grid_id": grid_id,
                    **_place(conn, grid_id=grid_id, community_id=community_id)}  # the street follows the grid
            area = {k: v for k, v in dict(role=role, **area).items() if v != getattr(row, k)}
            values.update(area)
        if not values:
            return
        conn.execute(update(UserRow).where(UserRow.id == row.id).values(**values))
        ended = sessions.revoke_user(conn, row.id, now=now)
        audit.record(conn, at=now, username=by, action="user.update", object_type="user", object_id=row.id,
                     detail=f"{username}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                     + f"；结束 {ended} 个会话")
    _forget_parameter_sets(engine)


# --------------------------------------------------------------------------- logging in

def authenticate(engine: Engine, username: str, password: str, *, now: datetime, address: str | None = None) -> User:
    """The user, if the password is right and no wait is running; else a LoginError.

    ``address`` is the visitor's (geo.throttle.client_address; "" or None when
    unknown). A wrong password and an unknown name raise the same
    LoginError(BAD_LOGIN) after the same work. While a wait runs for this name
    or address, LockedOutError, without checking the password; with every
    check slot taken, BusyError. Neither of those counts as a failure.
    """
    name = (username or "").strip()[:64]
    res = throttle.reserve(engine, username=name, address=address or "", now=now)
    if not res.admitted:
        raise LockedOutError(_wait_message(res.refused_until, now), res.refused_until)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*USER_COLUMNS, UserRow.password_hash)
                               .where(UserRow.username == name, UserRow.active.is_(True))).first()
        samples = _parameter_sets(engine)
        with _hash_slot():
            ok = _check(samples, row.password_hash if row is not None else None, password or "") and row is not None
    except BaseException:
        throttle.release(engine, res)  # not checked (busy) or broken: the attempt is given back
        raise
    if not ok:
        throttle.failed(engine, res, now=now)
        raise LoginError(BAD_LOGIN)
    throttle.succeeded(engine, res, now=now)
    user = user_from_row(row)
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.login",
                 object_type="user", object_id=user.id, detail=f"来自 {throttle.address_label(res.address)}")
    return user


def logout(engine: Engine, user: User, *, now: datetime) -> None:
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.logout",
                 object_type="user", object_id=user.id)


def _wait_message(until: datetime, now: datetime) -> str:
    wait = until - now
    return LOCKED.format(wait=throttle.wait_label(wait), wait_en=throttle.wait_label(wait, "en"))


# --------------------------------------------------------------------------- first start

def ensure_admin(engine: Engine, *, now: datetime, password: str | None = None, log=None) -> str | None:
    """Create the ``admin`` street leader once. Returns the generated password, if one was made.

    The password is SHEQU_ADMIN_PASSWORD when set, else a random one written
    once to ``log`` (default stderr, the server log). An existing admin is
    left alone, so restarting never changes a password. The wall displays'
    token is seeded from SHEQU_SCREEN_TOKEN here too (geo.kiosk.seed_from_env).
    """
    from geo import kiosk, sessions

    sessions.ensure_table(engine)  # databases built before sessions existed
    kiosk.seed_from_env(engine, now=now, log=log)
    with engine.connect() as conn:
        taken = conn.execute(select(UserRow.id).where(UserRow.username == ADMIN_USERNAME)).first() is not None
        street_id = conn.execute(select(Street.id).order_by(Street.id).limit(1)).scalar()
    if taken:
        return None
    password = password or os.environ.get("SHEQU_ADMIN_PASSWORD") or None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    made = _create_once(engine, ADMIN_USERNAME, password, "street_leader", now=now,
                        display_name="系统管理员", street_id=street_id)
    if generated and made:
        print(f"[社区治理一张图] 首次启动：管理员账号 {ADMIN_USERNAME} 的密码为 {generated} "
              f"（仅显示这一次；可用 SHEQU_ADMIN_PASSWORD 预设） / first start: admin password is "
              f"{generated} (shown once)", file=log or sys.stderr, flush=True)
    return generated if made else None


def _create_once(engine: Engine, username: str, password: str, role: str, **kw) -> bool:
    """create_user, unless a concurrent first start made the same name just now."""
    try:
        create_user(engine, username, password, role, **kw)
        return True
    except (IntegrityError, ValidationError):
        with engine.connect() as conn:
            if conn.execute(select(UserRow.id).where(UserRow.username == username)).first():
                return False
        raise
