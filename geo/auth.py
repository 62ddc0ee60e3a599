"""Logins: hashed passwords, one answer for every failure, lockout after repeated failures.

- Passwords are hashed with argon2id (argon2-cffi). Real accounts use the
  library's RFC 9106 low-memory profile (t=3, m=64 MiB, p=4); the demo
  town's accounts use ``DEMO_HASHER`` (t=1, m=8 MiB, p=1), cheap enough to
  make twenty of them in a fraction of a second. Each hash carries its own
  parameters, so both verify the same way.
- A wrong password and an unknown user name get the same message, and an
  unknown name is checked against a dummy hash with the parameters most stored
  hashes on this database share, so it takes as long as a known name.
- ``MAX_FAILURES`` failures in a row lock the name for ``LOCK_MINUTES``;
  the counter lives in the database (``login_attempt``), so a restart does not
  reset it, and it is kept for unknown names too (no hint which names exist).
- The first start creates ``admin`` (street leader) with the password in
  SHEQU_ADMIN_PASSWORD, or a random one printed once to the server log.
- A wall display logs in as the read-only screen account with
  ``?kiosk=1&token=…`` when SHEQU_SCREEN_TOKEN is set (no keyboard needed).
"""
from __future__ import annotations

import hmac
from collections import Counter
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo import audit, roles
from geo.errors import ValidationError
from geo.roles import Scope
from geo.schema import LoginAttempt, Street
from geo.schema import User as UserRow

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
DEMO_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)

MAX_FAILURES = 5
LOCK_MINUTES = 5
MIN_PASSWORD_LENGTH = 8
ADMIN_USERNAME = "admin"
SCREEN_USERNAME = "screen"

BAD_LOGIN = "用户名或密码错误 / Wrong user name or password"
LOCKED = "登录失败次数过多，请 {minutes} 分钟后再试 / Too many failed logins; try again in {minutes} min"


class LoginError(PermissionError):
    """The login failed; the message is the same for a wrong password and an unknown user."""


class LockedOutError(LoginError):
    """Too many failed logins for this name; wait until ``until``."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


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


def _typical_hash(conn) -> str:
    """A stored hash with the parameters most logins share (the demo's cheap ones on a demo database).

    An unknown name is checked against a dummy hash with these parameters, so it
    costs what a known name costs on this database: timing tells no one which
    names exist. Read on every attempt, known name or not (one code path).
    """
    hashes = conn.execute(select(UserRow.password_hash).where(UserRow.active.is_(True))
                          .order_by(UserRow.id).limit(200)).scalars().all()
    hashes = [h for h in hashes if h and h.startswith("$argon2")]
    if not hashes:
        return _dummy_hash("")  # nothing stored yet: the full-cost default
    common = Counter(_parameters_of(h) for h in hashes).most_common(1)[0][0]
    return next(h for h in hashes if _parameters_of(h) == common)


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


# --------------------------------------------------------------------------- logging in

def authenticate(engine: Engine, username: str, password: str, *, now: datetime) -> User:
    """The user, if the password is right and the name is not locked; else LoginError.

    Wrong password and unknown name raise the same LoginError(BAD_LOGIN).
    The fifth failure in a row locks the name for LOCK_MINUTES (LockedOutError);
    while locked even the right password is refused, without checking it.
    """
    name = (username or "").strip()[:64]
    with engine.connect() as conn:
        attempt = conn.execute(select(LoginAttempt.failures, LoginAttempt.locked_until)
                               .where(LoginAttempt.username == name)).first()
        row = conn.execute(select(*USER_COLUMNS, UserRow.password_hash)
                           .where(UserRow.username == name, UserRow.active.is_(True))).first()
        dummy = _dummy_hash(_typical_hash(conn))
    if attempt is not None and attempt.locked_until is not None and attempt.locked_until > now:
        raise LockedOutError(_locked_message(attempt.locked_until, now), attempt.locked_until)
    stored = row.password_hash if row is not None else dummy
    ok = verify_password(stored, password or "") and row is not None
    if not ok:
        until = _count_failure(engine, name, now)
        if until is not None:
            raise LockedOutError(_locked_message(until, now), until)
        raise LoginError(BAD_LOGIN)
    user = user_from_row(row)
    with engine.begin() as conn:
        if attempt is not None:
            conn.execute(update(LoginAttempt).where(LoginAttempt.username == name)
                         .values(failures=0, locked_until=None))
        audit.record(conn, at=now, username=user.username, role=user.role, action="auth.login",
                     object_type="user", object_id=user.id)
    return user


def logout(engine: Engine, user: User, *, now: datetime) -> None:
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.logout",
                 object_type="user", object_id=user.id)


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() // 60) + ((until - now).total_seconds() % 60 > 0))
    return LOCKED.format(minutes=minutes)


def _count_failure(engine: Engine, name: str, now: datetime) -> datetime | None:
    """One more failure for ``name``; returns the lock's end when this one locks it."""
    with engine.begin() as conn:
        failures = conn.execute(select(LoginAttempt.failures).where(LoginAttempt.username == name)).scalar()
        if failures is None:
            conn.execute(insert(LoginAttempt), [dict(username=name, failures=1, last_failure_at=now)])
            failures = 1
        else:
            failures += 1
            conn.execute(update(LoginAttempt).where(LoginAttempt.username == name)
                         .values(failures=failures, last_failure_at=now))
        audit.record(conn, at=now, username=name or "-", action="auth.fail", object_type="user",
                     detail=f"第 {failures} 次失败 / failure {failures} of {MAX_FAILURES}")
        if failures < MAX_FAILURES:
            return None
        until = now + timedelta(minutes=LOCK_MINUTES)
        conn.execute(update(LoginAttempt).where(LoginAttempt.username == name)
                     .values(failures=0, locked_until=until))
        audit.record(conn, at=now, username=name, action="auth.locked", object_type="user",
                     detail=f"{MAX_FAILURES} 次失败，锁定至 {until:%H:%M}")
        return until


# --------------------------------------------------------------------------- first start and kiosk

def ensure_admin(engine: Engine, *, now: datetime, password: str | None = None, log=None) -> str | None:
    """Create the ``admin`` street leader once. Returns the generated password, if one was made.

    The password is SHEQU_ADMIN_PASSWORD when set, else a random one written
    once to ``log`` (default stderr, the server log). An existing admin is
    left alone, so restarting never changes a password. When SHEQU_SCREEN_TOKEN
    is set, the ``screen`` account the kiosk URL logs in as is made too.
    """
    from geo import sessions

    sessions.ensure_table(engine)  # databases built before sessions existed
    with engine.connect() as conn:
        taken = set(conn.execute(select(UserRow.username).where(
            UserRow.username.in_((ADMIN_USERNAME, SCREEN_USERNAME)))).scalars())
        street_id = conn.execute(select(Street.id).order_by(Street.id).limit(1)).scalar()
    if screen_token() and SCREEN_USERNAME not in taken:
        _create_once(engine, SCREEN_USERNAME, secrets.token_urlsafe(16), "screen", now=now,
                     display_name="指挥中心大屏", street_id=street_id)
    if ADMIN_USERNAME in taken:
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


def screen_token() -> str | None:
    token = os.environ.get("SHEQU_SCREEN_TOKEN", "").strip()
    return token or None


def kiosk_login(engine: Engine, token: str | None, *, now: datetime) -> User | None:
    """The read-only screen account for a wall display whose URL carries the right token.

    Only when SHEQU_SCREEN_TOKEN is set, only for the ``screen`` role, and the
    token is compared in constant time. Returns None otherwise.
    """
    expected = screen_token()
    if not expected or not token or not hmac.compare_digest(str(token).encode(), expected.encode()):
        return None
    with engine.connect() as conn:
        row = conn.execute(select(*USER_COLUMNS).where(
            UserRow.username == SCREEN_USERNAME, UserRow.role == "screen", UserRow.active.is_(True))).first()
    if row is None:
        return None
    user = user_from_row(row)
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.kiosk",
                 object_type="user", object_id=user.id)
    return user
