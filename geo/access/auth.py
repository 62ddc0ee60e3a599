"""Signing in: one answer for every failure, throttled guessing, bounded hashing (accounts: geo.access.users).

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
- Guessing is slowed by geo.access.throttle: each attempt is counted (reserved)
  before its password is checked, per name from an address, per name and per
  address, with growing waits instead of a hard lock; street leaders lift
  waits on the 账号安全 page. See that module for the policy.
- At most settings.HASH_SLOTS password checks run at once in a process (a
  real account's check holds 64 MiB, 32 anonymous guesses at once took one
  process to 2.2 GB); an attempt that finds no free slot within
  settings.HASH_WAIT_S is told "系统繁忙，请稍后再试" and is not counted.
- The first start creates ``admin`` (street leader) with the password in
  SHEQU_ADMIN_PASSWORD, or a random one printed once to the server log, and
  seeds the wall displays' token from SHEQU_SCREEN_TOKEN (geo.access.kiosk).
"""
from __future__ import annotations

import os
import secrets
import sys
import threading
from contextlib import contextmanager
from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, select, update

from geo import settings
from geo.access import audit, kiosk, roles, sessions, throttle, users
from geo.errors import ValidationError
from geo.db.schema import Street
from geo.db.schema import User as UserRow

#: Password checks at once in this process (settings.HASH_SLOTS); the semaphore below holds them.
HASH_SLOTS = settings.HASH_SLOTS


# --------------------------------------------------------------------------- checking passwords

def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return users.HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _check(samples: list[str], stored: str | None, password: str) -> bool:
    """``password`` against ``stored`` and, at equal cost, a dummy of every other parameter set in use.

    The same checks run whether the name exists or not, so the time taken does
    not say. A stored hash whose parameters are newer than the sets read a
    minute ago is still checked (one check more, until the next read).
    """
    real = users.parameters_of(stored) if stored else None
    ok, seen = False, set()
    for sample in samples:
        params = users.parameters_of(sample)
        seen.add(params)
        if params == real:
            ok = verify_password(stored, password)
        else:
            verify_password(users.dummy_hash(sample), password)
    if real is not None and real not in seen:
        ok = verify_password(stored, password)
    return ok


_SLOTS = threading.BoundedSemaphore(HASH_SLOTS)


@contextmanager
def _hash_slot():
    """One of the HASH_SLOTS password-check slots, or users.BusyError after settings.HASH_WAIT_S."""
    if not _SLOTS.acquire(timeout=settings.HASH_WAIT_S):
        raise users.BusyError(users.BUSY)
    try:
        yield
    finally:
        _SLOTS.release()


def update_user(engine: Engine, username: str, *, now: datetime, by: str, active: bool | None = None,
                role: str | None = None, community_id: int | None = None, grid_id: int | None = None) -> None:
    """Deactivate/reactivate a login or give it another role or area (audited).

    Every session of the user ends at once when they are deactivated or their
    role or area changes: a grid head moved to another grid does not keep the
    old grid's households open in a forgotten tab.
    """
    with engine.begin() as conn:
        row = conn.execute(select(*users.USER_COLUMNS, UserRow.active).where(UserRow.username == username)).first()
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
            users.check_area(role, community_id, grid_id)
            area = {"community_id": community_id, "grid_id": grid_id,
                    **users.place_of(conn, grid_id=grid_id, community_id=community_id)}  # the street follows the grid
            area = {k: v for k, v in dict(role=role, **area).items() if v != getattr(row, k)}
            values.update(area)
        if not values:
            return
        conn.execute(update(UserRow).where(UserRow.id == row.id).values(**values))
        ended = sessions.revoke_user(conn, row.id, now=now)
        audit.record(conn, at=now, username=by, action="user.update", object_type="user", object_id=row.id,
                     detail=f"{username}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                     + f"；结束 {ended} 个会话")
    users.forget_parameter_sets(engine)


# --------------------------------------------------------------------------- logging in

def authenticate(engine: Engine, username: str, password: str, *, now: datetime, address: str | None = None) -> users.User:
    """The user, if the password is right and no wait is running; else a users.LoginError.

    ``address`` is the visitor's (geo.access.throttle.client_address; "" or None when
    unknown). A wrong password and an unknown name raise the same
    users.LoginError(users.BAD_LOGIN) after the same work. While a wait runs for this name
    or address, users.LockedOutError, without checking the password; with every
    check slot taken, users.BusyError. Neither of those counts as a failure.
    """
    name = (username or "").strip()[:64]
    res = throttle.reserve(engine, username=name, address=address or "", now=now)
    if not res.admitted:
        raise users.LockedOutError(users.wait_message(res.refused_until, now), res.refused_until)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*users.USER_COLUMNS, UserRow.password_hash)
                               .where(UserRow.username == name, UserRow.active.is_(True))).first()
        samples = users.parameter_sets(engine)
        with _hash_slot():
            ok = _check(samples, row.password_hash if row is not None else None, password or "") and row is not None
    except BaseException:
        throttle.release(engine, res)  # not checked (busy) or broken: the attempt is given back
        raise
    if not ok:
        throttle.failed(engine, res, now=now)
        raise users.LoginError(users.BAD_LOGIN)
    throttle.succeeded(engine, res, now=now)
    user = users.user_from_row(row)
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.login",
                 object_type="user", object_id=user.id, detail=f"来自 {throttle.address_label(res.address)}")
    return user


def logout(engine: Engine, user: users.User, *, now: datetime) -> None:
    audit.record(engine, at=now, username=user.username, role=user.role, action="auth.logout",
                 object_type="user", object_id=user.id)


# --------------------------------------------------------------------------- first start

def ensure_admin(engine: Engine, *, now: datetime, password: str | None = None, log=None) -> str | None:
    """Create the ``admin`` street leader once. Returns the generated password, if one was made.

    The password is SHEQU_ADMIN_PASSWORD when set, else a random one written
    once to ``log`` (default stderr, the server log). An existing admin is
    left alone, so restarting never changes a password. The wall displays'
    token is seeded from SHEQU_SCREEN_TOKEN here too (geo.access.kiosk.seed_from_env).
    """
    sessions.ensure_table(engine)  # databases built before sessions existed
    kiosk.seed_from_env(engine, now=now, log=log)
    with engine.connect() as conn:
        taken = conn.execute(select(UserRow.id).where(UserRow.username == users.ADMIN_USERNAME)).first() is not None
        street_id = conn.execute(select(Street.id).order_by(Street.id).limit(1)).scalar()
    if taken:
        return None
    password = password or os.environ.get("SHEQU_ADMIN_PASSWORD") or None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    made = users.create_once(engine, users.ADMIN_USERNAME, password, "street_leader", now=now,
                        display_name="系统管理员", street_id=street_id)
    if generated and made:
        print(f"[社区治理一张图] 首次启动：管理员账号 {users.ADMIN_USERNAME} 的密码为 {generated} "
              f"（仅显示这一次；可用 SHEQU_ADMIN_PASSWORD 预设） / first start: admin password is "
              f"{generated} (shown once)", file=log or sys.stderr, flush=True)
    return generated if made else None
