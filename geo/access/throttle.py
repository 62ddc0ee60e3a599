"""Sign-in throttling: growing waits per name and per address, instead of a hard lock on the name.

Why not "five failures lock the name for five minutes" (the first cut): anyone
who knows a name (``admin``, a leader's) kept its owner out for good with five
guesses every five minutes, and the counter was read before and written after
the password check, so 40 guesses sent at once were all checked (and the right
one got in).

The policy
----------
Every attempt counts in up to three buckets (``POLICIES``):

- **pair**: this name from this address. 5 free failures, then a wait of
  30 s that doubles after each further failure, up to 15 min. This is what
  slows a guesser; it never touches the owner at another address.
- **addr**: this address, whatever the name. 20 free failures (an office
  behind one NAT mistypes too), then the same growing waits. Stops one
  address trying a common password on many names (spraying).
- **name**: this name from anywhere. 10 free failures, then growing waits.
  Stops guesses spread over many addresses. As this bucket could again keep an
  owner out, it is skipped at an address the name has signed in from in the
  last ``KNOWN_FOR`` (30 days): the owner at their usual desk or phone is never
  slowed by strangers elsewhere. From a new address the owner waits at most the
  current wait (15 min at worst), and a street leader lifts it at once on the
  账号安全 page (``unlock``, audited).

A success resets the pair and name buckets and gives the address back its
attempt (an address bucket counts failures only). A streak with no attempt for
``FORGET_AFTER`` (a day) starts over. Unknown names count like known ones, so
the answers never tell which names exist. Every failure is audited
(``auth.fail``) and every failure that starts or lengthens a wait too
(``auth.locked``, with the bucket and until when).

An attempt without a known address (a local connection, or a reverse proxy
whose X-Forwarded-For is not trusted: settings.TRUSTED_PROXIES) has no address
bucket and no known-address pass: every visitor would share one, so one
guesser would slow everybody. Configure the proxy (README: deployment).

Race-free
---------
An attempt is *reserved* (counted as a failure) before its password is
checked, in one short transaction that holds its buckets' rows (SELECT … FOR
UPDATE on PostgreSQL; the database write lock on SQLite), always taken in the
same order (pair, name, address) so two attempts never wait on each other in a
circle. However many guesses arrive at once, no more than the budget are let
through; a success, or an attempt that was not checked after all (the server
was busy), gives its reservation back.
"""
from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, case, delete, or_, select, update

from geo.access import audit, roles
from geo.db import store
from geo.errors import ValidationError
from geo.access.roles import Scope
from geo.db.schema import LoginThrottle
from geo.db.schema import User as UserRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """A bucket's budget: ``free`` failures in a row, then waits from ``first`` doubling up to ``cap``."""

    free: int
    first: timedelta
    cap: timedelta

    def wait(self, failures: int) -> timedelta | None:
        """The wait after the ``failures``-th failure in a row; None within the free budget."""
        if failures < self.free:
            return None
        return min(self.first * 2 ** min(failures - self.free, 16), self.cap)


POLICIES: dict[str, Policy] = {
    "pair": Policy(5, timedelta(seconds=30), timedelta(minutes=15)),
    "name": Policy(10, timedelta(seconds=30), timedelta(minutes=15)),
    "addr": Policy(20, timedelta(seconds=30), timedelta(minutes=15)),
    "kiosk": Policy(5, timedelta(seconds=30), timedelta(minutes=15)),  # wall tokens from one address
}
#: The order buckets are locked in (every transaction the same: no deadlock).
ORDER = ("pair", "kiosk", "name", "addr")
#: A name that signed in from an address this recently skips the name bucket there.
KNOWN_FOR = timedelta(days=30)
#: A streak with no attempt this long is forgotten.
FORGET_AFTER = timedelta(days=1)

Key = tuple[str, str, str]  # (kind, username, address); the unused part is ""


@dataclass
class Reservation:
    """One attempt's place in its buckets: let through (``keys`` and their streaks) or refused until when."""

    username: str
    address: str
    keys: tuple[Key, ...] = ()
    streaks: dict[Key, int] = field(default_factory=dict)
    refused_until: datetime | None = None

    @property
    def admitted(self) -> bool:
        return self.refused_until is None


# --------------------------------------------------------------------------- the visitor's address

_warned_untrusted = False


def client_address(peer: str | None, forwarded_for: list[str] | tuple[str, ...] = (), *,
                   trusted: tuple[str, ...] = ()) -> str:
    """The visitor's address for throttling; "" when it is not known (a local connection).

    ``peer`` is the connection's own address (Streamlit gives None for a local
    one). Only when the peer is a trusted proxy (``trusted``: addresses or
    networks, settings.TRUSTED_PROXIES) is X-Forwarded-For read, from the right,
    skipping trusted hops: the first address a trusted proxy saw is the client.
    Anything left of it was written by the client and could be anything.
    """
    global _warned_untrusted
    peer = (peer or "127.0.0.1").strip()
    hops = [h.strip() for value in forwarded_for for h in str(value).split(",") if h.strip()]
    networks = [_network(t) for t in trusted]
    networks = [n for n in networks if n is not None]

    def is_trusted(addr: str) -> bool:
        ip = _ip(addr)
        return ip is not None and any(ip in n for n in networks)

    client = peer
    if hops and is_trusted(peer):
        client = next((h for h in reversed(hops) if not is_trusted(h)), hops[0])
    elif hops and not _warned_untrusted:
        _warned_untrusted = True
        log.warning("X-Forwarded-For received from %s, which is not in SHEQU_TRUSTED_PROXIES: every visitor "
                    "through that proxy counts as one address for sign-in throttling (README: deployment)", peer)
    ip = _ip(client)
    if ip is None:
        return ""
    return "" if ip.is_loopback else str(ip)[:64]


def _ip(text: str):
    """An address, IPv4-mapped IPv6 (::ffff:1.2.3.4, as a dual-stack server sees IPv4) as IPv4."""
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip


def _network(text: str):
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        log.warning("SHEQU_TRUSTED_PROXIES: %r is not an address or network; ignored", text)
        return None


# --------------------------------------------------------------------------- reserving an attempt

def reserve(engine: Engine, *, username: str, address: str, now: datetime, kiosk: bool = False) -> Reservation:
    """Count one attempt before its secret is checked; refused (nothing counted) while a bucket waits.

    ``kiosk``: a wall's token rather than a password (buckets "kiosk" and
    "addr"; no name bucket: a token of 128+ bits is not guessed by spreading).
    """
    _prune_now_and_then(engine, now)
    res = Reservation(username=username[:64], address=(address or "")[:64])
    first: Key = ("kiosk", "", res.address) if kiosk else ("pair", res.username, res.address)
    with engine.begin() as conn:
        rows = {first: _hold(conn, first)}
        known = (not kiosk and res.address and rows[first].last_success_at is not None
                 and now - rows[first].last_success_at <= KNOWN_FOR)
        keys = [first]
        if not kiosk and not known:
            keys.append(("name", res.username, ""))
        if res.address:
            keys.append(("addr", "", res.address))
        for key in keys[1:]:
            rows[key] = _hold(conn, key)
        waiting = {key: until for key in keys if (until := _blocked(rows[key], now)) is not None}
        if waiting:
            for key in waiting:
                conn.execute(update(LoginThrottle).where(*_match(key)).values(refused=LoginThrottle.refused + 1))
            res.refused_until = max(waiting.values())
            return res
        for key in keys:
            streak = _streak(rows[key], now) + 1
            wait = POLICIES[key[0]].wait(streak)
            conn.execute(update(LoginThrottle).where(*_match(key)).values(
                failures=streak, last_at=now, blocked_until=now + wait if wait else None))
            res.streaks[key] = streak
        res.keys = tuple(keys)
    return res


_PRUNE_EVERY_S = 3600.0
_pruned: dict[str, float] = {}


def _prune_now_and_then(engine: Engine, now: datetime) -> None:
    """Once an hour per database and process: drop buckets that remember nothing any more.

    Guesses at ever new names from ever new addresses leave a row each; a row whose
    streak is forgotten and whose last success is older than KNOWN_FOR holds nothing.
    """
    key = str(engine.url)
    if time.monotonic() - _pruned.get(key, -_PRUNE_EVERY_S) < _PRUNE_EVERY_S:
        return
    _pruned[key] = time.monotonic()
    prune(engine, now=now)


def prune(engine: Engine, *, now: datetime) -> int:
    """Delete buckets with neither a live streak nor a recent success; returns how many."""
    t = LoginThrottle
    with engine.begin() as conn:
        gone = conn.execute(delete(t).where(
            or_(t.last_at.is_(None), t.last_at < now - FORGET_AFTER),
            or_(t.last_success_at.is_(None), t.last_success_at < now - KNOWN_FOR))).rowcount
    return gone or 0


def _hold(conn: Connection, key: Key):
    """The bucket's row, made if new and held until the transaction ends (row lock / SQLite write lock)."""
    conn.execute(_insert(conn).values(kind=key[0], username=key[1], address=key[2], failures=0, refused=0)
                 .on_conflict_do_nothing(index_elements=["kind", "username", "address"]))
    return conn.execute(select(LoginThrottle.failures, LoginThrottle.blocked_until, LoginThrottle.last_at,
                               LoginThrottle.last_success_at).where(*_match(key)).with_for_update()).one()


def _insert(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(LoginThrottle)


def _match(key: Key):
    return (LoginThrottle.kind == key[0], LoginThrottle.username == key[1], LoginThrottle.address == key[2])


def _stale(row, now: datetime) -> bool:
    return row.last_at is None or now - row.last_at > FORGET_AFTER


def _streak(row, now: datetime) -> int:
    return 0 if _stale(row, now) else row.failures


def _blocked(row, now: datetime) -> datetime | None:
    if _stale(row, now) or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until


# --------------------------------------------------------------------------- the outcome

def failed(engine: Engine, res: Reservation, *, now: datetime, what: str = "auth.fail") -> None:
    """The secret was wrong: the reservation stands as a failure; audited, with every wait it starts."""
    pair = next(iter(res.streaks.values()), 0)
    with engine.begin() as conn:
        audit.record(conn, at=now, username=res.username or "-", action=what, object_type="user",
                     detail=f"来自 {address_label(res.address)}：连续第 {pair} 次失败 / failure {pair} in a row")
        for key, streak in res.streaks.items():
            wait = POLICIES[key[0]].wait(streak)
            if wait is not None:
                audit.record(conn, at=now, username=res.username or "-", action="auth.locked", object_type="user",
                             detail=f"{key_label(key)}：连续 {streak} 次失败，暂停 {wait_label(wait)}，"
                                    f"至 {now + wait:%H:%M:%S} / {streak} failures: paused {wait_label(wait, 'en')}")


def succeeded(engine: Engine, res: Reservation, *, now: datetime) -> None:
    """The secret was right: the name's buckets start over, the address gets its attempt back."""
    with engine.begin() as conn:
        for key in res.keys:
            if key[0] == "addr":
                _give_back(conn, key)
            else:
                values = dict(failures=0, blocked_until=None)
                if key[0] == "pair":
                    values["last_success_at"] = now
                conn.execute(update(LoginThrottle).where(*_match(key)).values(**values))


def release(engine: Engine, res: Reservation) -> None:
    """The secret was not checked after all (busy, an error): the attempt is given back everywhere."""
    with engine.begin() as conn:
        for key in res.keys:
            _give_back(conn, key)


def _give_back(conn: Connection, key: Key) -> None:
    """One failure less; the wait goes when the streak falls back within the free budget."""
    t = LoginThrottle
    conn.execute(update(t).where(*_match(key), t.failures > 0).values(
        failures=t.failures - 1,
        blocked_until=case((t.failures - 1 < POLICIES[key[0]].free, None), else_=t.blocked_until)))


# --------------------------------------------------------------------------- reading and lifting (账号安全)

KIND_NAMES = {"pair": ("用户名＋地址", "Name from address"), "name": ("用户名（任何地址）", "Name (any address)"),
              "addr": ("地址（任何用户名）", "Address (any name)"), "kiosk": ("大屏口令（该地址）", "Wall token (address)")}


def address_label(address: str, lang: str = "zh") -> str:
    return address or ("本机或未识别的地址" if lang == "zh" else "local or unknown address")


def key_label(key: Key, lang: str = "zh") -> str:
    kind, name, addr = key
    if kind == "pair":
        return f"{name} @ {address_label(addr, lang)}"
    if kind == "name":
        return f"{name} @ *"
    if kind == "kiosk":
        return f"{'大屏口令' if lang == 'zh' else 'wall token'} @ {address_label(addr, lang)}"
    return f"* @ {address_label(addr, lang)}"


def wait_label(wait: timedelta, lang: str = "zh") -> str:
    """30 秒, 2 分钟: a wait as people say it (rounded up)."""
    seconds = max(1, int(-(-wait.total_seconds() // 1)))
    if seconds < 60:
        return f"{seconds} 秒" if lang == "zh" else f"{seconds} s"
    minutes = -(-seconds // 60)
    return f"{minutes} 分钟" if lang == "zh" else f"{minutes} min"


def _visible(scope: Scope):
    """Buckets a reader of ``scope`` may see: address ones, and names that are no user or a user of their area."""
    users = UserRow.__table__
    t = LoginThrottle.__table__
    own = t.c.username.in_(select(users.c.username).where(scope.clause(users)))
    return or_(t.c.username == "", own, t.c.username.not_in(select(users.c.username)))


def listing(engine: Engine, *, scope: Scope, now: datetime) -> pd.DataFrame:
    """Buckets with a streak (waiting now first), for the 账号安全 page: kind, username, address, failures, …"""
    t = LoginThrottle.__table__
    stmt = (select(t.c.kind, t.c.username, t.c.address, t.c.failures, t.c.refused, t.c.blocked_until, t.c.last_at)
            .where(t.c.failures > 0, t.c.last_at >= now - FORGET_AFTER, _visible(scope))
            .order_by(t.c.blocked_until.desc(), t.c.last_at.desc()).limit(500))
    rows = store.read_frame(engine, stmt)
    rows["waiting"] = rows["blocked_until"].notna() & (pd.to_datetime(rows["blocked_until"]) > pd.Timestamp(now))
    return rows.sort_values(["waiting", "last_at"], ascending=False, kind="stable").reset_index(drop=True)


def unlock(engine: Engine, keys: list[Key], *, by, now: datetime) -> int:
    """Lift the waits of ``keys`` (street leaders; audited); returns how many were lifted.

    ``by`` is the geo.access.users.User doing it. A name that belongs to a user outside
    their area is refused. The pair bucket keeps its last success, so the owner
    keeps their known-address pass.
    """
    if not roles.may(by.role, "manage_security"):
        raise PermissionError("您的角色不能解除登录限制 / your role may not lift sign-in waits")
    lifted = 0
    with engine.begin() as conn:
        for key in sorted(set(map(tuple, keys)), key=lambda k: (ORDER.index(k[0]), k[1], k[2])):
            if key[0] not in POLICIES:
                raise ValidationError(f"未知的限制类型 {key[0]!r} / unknown bucket kind")
            row = conn.execute(select(LoginThrottle.failures, LoginThrottle.blocked_until)
                               .where(*_match(key), _visible(by.scope)).with_for_update()).first()
            if row is None:
                raise ValidationError(f"{key_label(key)} 不在您的管辖范围内或已解除 / not in your area, or lifted already")
            conn.execute(update(LoginThrottle).where(*_match(key)).values(failures=0, refused=0, blocked_until=None))
            until = f"，原暂停至 {row.blocked_until:%H:%M:%S}" if row.blocked_until and row.blocked_until > now else ""
            audit.record(conn, at=now, username=by.username, role=by.role, action="auth.unlock",
                         object_type="user", detail=f"解除登录限制：{key_label(key)}（连续 {row.failures} 次失败{until}）")
            lifted += 1
    return lifted


__all__ = ["POLICIES", "KNOWN_FOR", "FORGET_AFTER", "Policy", "Reservation", "client_address", "reserve", "failed",
           "succeeded", "release", "listing", "unlock", "key_label", "wait_label", "address_label"]
