"""Sign-in sessions that outlive a reload: a random token in the browser, only its hash on the server.

Streamlit forgets everything about a browser tab when it reloads (F5, a
phone's pull-to-refresh, a server restart), so a sign-in kept only in
``st.session_state`` asked for the password again each time. A session here
is a row in ``login_session``: the browser keeps a random token in a cookie
(pages.common writes it), the database keeps the token's SHA-256, so a
stolen database copy signs nobody in.

A session ends when it is idle for ``IDLE_HOURS``, ``MAX_HOURS`` after it
began, on logout, and as soon as its user is deactivated or their role or
area changes (``revoke_user``, and ``resume`` checks the user's row on every
run, so even a change made straight in the database ends it). A wall
display's session also ends when the kiosk token it signed in with is
replaced or switched off (geo.access.kiosk; ``revoke_kiosk``, and ``resume`` checks
the token too, so a wall signing in at the very moment of the change does not
keep the old token's session).

The cookie is written by the page's JavaScript (pages.common.sync_cookie), as
Streamlit gives a script no way to set a cookie on an HTTP response, so it
cannot be HttpOnly; what keeps it safe is said in the README (deployment).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from geo.access import users
from geo.db.schema import KioskToken, LoginSession
from geo.db.schema import User as UserRow

#: A session unused this long is over (SHEQU_SESSION_IDLE_HOURS; a wall display refreshes itself).
IDLE_HOURS: float = float(os.environ.get("SHEQU_SESSION_IDLE_HOURS", "12"))
#: No session lasts longer than this from its sign-in (SHEQU_SESSION_MAX_HOURS, default 7 days).
MAX_HOURS: float = float(os.environ.get("SHEQU_SESSION_MAX_HOURS", str(7 * 24)))
#: ``last_seen_at`` is written at most this often, so a rerun is one cheap read.
TOUCH_EVERY = timedelta(minutes=1)
#: The cookie that carries the token (pages.common).
COOKIE = "shequ_session"


def ensure_table(engine: Engine) -> None:
    """Create ``login_session`` in a database built before sessions existed (idempotent)."""
    KioskToken.__table__.create(engine, checkfirst=True)
    LoginSession.__table__.create(engine, checkfirst=True)


def role_area(role: str, street_id: int | None, community_id: int | None, grid_id: int | None) -> str:
    """What a session was granted: the role and the area, as one comparable string."""
    return f"{role}|{street_id or ''}|{community_id or ''}|{grid_id or ''}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(engine: Engine, user, *, now: datetime, address: str | None = None,
          kiosk_token_id: int | None = None) -> str:
    """A new session for ``user`` (a geo.access.users.User); returns the token for the browser, stored nowhere else.

    ``address``: where it signed in from (shown to street leaders for walls);
    ``kiosk_token_id``: the wall token it signed in with (geo.access.kiosk), if any.
    """
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(LoginSession), [dict(
            token_hash=_digest(token), user_id=user.id, created_at=now, last_seen_at=now, revoked_at=None,
            role_area=role_area(user.role, user.street_id, user.community_id, user.grid_id),
            address=(address or None) and address[:64], kiosk_token_id=kiosk_token_id)])
    return token


def resume(engine: Engine, token: str | None, *, now: datetime):
    """The user of a live session, read fresh from their row; None (and the session ended) otherwise.

    Called on every run: one indexed read, and a write at most once a minute.
    """
    if not token:
        return None
    s, k = LoginSession.__table__, KioskToken.__table__
    with engine.connect() as conn:
        row = conn.execute(select(s.c.id, s.c.role_area, s.c.created_at, s.c.last_seen_at, UserRow.active,
                                  k.c.retired_at.is_not(None).label("token_retired"), *users.USER_COLUMNS)
                           .join(UserRow, UserRow.id == s.c.user_id)
                           .outerjoin(k, k.c.id == s.c.kiosk_token_id)
                           .where(s.c.token_hash == _digest(str(token)), s.c.revoked_at.is_(None))).first()
    if row is None:
        return None
    user = users.user_from_row(row[6:])
    over = (not row.active or bool(row.token_retired)
            or role_area(user.role, user.street_id, user.community_id, user.grid_id) != row.role_area
            or now - row.last_seen_at > timedelta(hours=IDLE_HOURS)
            or now - row.created_at > timedelta(hours=MAX_HOURS))
    if over:
        with engine.begin() as conn:
            conn.execute(update(LoginSession).where(LoginSession.id == row.id).values(revoked_at=now))
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=now))
    return user


def end(engine: Engine, token: str | None, *, now: datetime) -> None:
    """Logout: the session's token signs nobody in again, whatever the browser still holds."""
    if token:
        with engine.begin() as conn:
            conn.execute(update(LoginSession).where(LoginSession.token_hash == _digest(str(token)),
                                                    LoginSession.revoked_at.is_(None)).values(revoked_at=now))


def revoke_user(conn: Connection, user_id: int, *, now: datetime) -> int:
    """End every session of a user (deactivated, or role or area changed), in the caller's transaction."""
    result = conn.execute(update(LoginSession).where(LoginSession.user_id == user_id,
                                                     LoginSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount or 0


def revoke_kiosk(conn: Connection, token_ids: list[int], *, now: datetime) -> int:
    """End every session walls started with these kiosk tokens, in the caller's transaction."""
    if not token_ids:
        return 0
    result = conn.execute(update(LoginSession).where(LoginSession.kiosk_token_id.in_(token_ids),
                                                     LoginSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount or 0


__all__ = ["COOKIE", "IDLE_HOURS", "MAX_HOURS", "ensure_table", "start", "resume", "end", "revoke_user",
           "revoke_kiosk"]
