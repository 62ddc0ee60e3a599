"""Early warning (智能预警): what a leader should look at now, found in the ticket stream.

Five detectors over the tickets of an area (``detect_frame`` works on plain frames, ``detect`` reads them):

- ``spike`` 突增: one category in one grid, the last ``spike_days`` against that grid's own
  ``spike_history_days`` before them. Expected count λ = (history + 1) × window / history-length
  (one ticket added so a grid with no history is not "infinitely" unusual); the figure is the
  Poisson tail P(X ≥ observed | λ): the chance of at least this many if nothing had changed.
- ``cluster`` 时空聚集: Kulldorff's space-time permutation scan statistic (Kulldorff et al. 2005,
  SaTScan's prospective version) per category over the last ``scan_study_days``: cylinders centred
  on the tickets' own points, radii ``scan_radii_m``, time windows ending now of 1 … ``scan_max_days``
  days. Expected cases in a cylinder = cases in its circle (all days) × cases in its window (all
  places) / all cases, so neither a busy place nor a busy week alone is a cluster; the most likely
  cylinder's log-likelihood ratio is ranked among ``scan_sims`` Monte Carlo permutations of the days
  (seeded: the same stream gives the same p). The p is multiplied by the number of categories
  scanned (Bonferroni), so it is the chance that a cluster this strong shows up anywhere by chance.
  Cylinders cross grid lines: the warning names every grid the cluster's tickets are in.
- ``fall`` 指标下滑: a grid whose on-time closure rate (按期结案率) or satisfaction (满意率) over the last
  30 days is ``fall_drop`` or more below its previous 90 days, and the binomial chance of so few under
  the old rate (one success and one failure added: no rate is taken as a certain 100%) is below ``fall_p``.
- ``repeat`` 重复报告: ``repeat_min`` or more tickets of one category from one building (the nearest
  entrance within ``repeat_radius_m``) in ``repeat_days`` — residents complaining twice.
- ``pile`` 环节积压: ``pile_min`` or more open tickets of one community past their limit in one step.

Every warning has a stable ``key`` (kind + place + category): a run that finds it again updates the
stored row (its tickets, figure, last seen) instead of adding one; once a person closed it, a later
finding with tickets the closed one did not hold opens the next ``episode``. Acknowledging and
closing are a person's, in their scope, audited (``warning.acknowledge`` / ``warning.close``).

Thresholds: ``Thresholds`` (defaults here), each overridable by ``SHEQU_WARN_<NAME>`` in the
environment (e.g. ``SHEQU_WARN_SPIKE_P=0.0005``).

The clock: app.py's minute (geo.web.housekeeping) calls ``refresh_if_due``; it runs ``refresh`` at most
every ``every_minutes`` for the whole database (geo.db.clock) (about a second on the demo street). Cron: ``python -m geo.tickets.warnings``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.spatial import cKDTree
from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from geo.access import audit, roles
from geo.access.roles import WHOLE_STREET, Scope
from geo.db import clock, store
from geo.db.schema import Building, EarlyWarning as WarningRow, Grid, Ticket
from geo import settings
from geo.errors import NotFoundError, ValidationError
from geo.place import projection
from geo.tickets import indicators, workflow
from geo.tickets.categories import CATEGORIES

KINDS: dict[str, str] = {"spike": "突增", "cluster": "时空聚集", "fall": "指标下滑", "repeat": "重复报告",
                         "pile": "环节积压"}
KINDS_EN: dict[str, str] = {"spike": "Spike", "cluster": "Space-time cluster", "fall": "Falling figure",
                            "repeat": "Repeat reports", "pile": "Overdue pile-up"}
#: open → acknowledged (a person has seen it and is on it) → closed (dealt with, with a note).
STATES: dict[str, str] = {"open": "待处理", "acknowledged": "已确认", "closed": "已关闭"}
LIVE_STATES = ("open", "acknowledged")


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of the detectors, in one place (defaults tuned on the demo street's quiet weeks)."""

    spike_days: float = 3.0
    spike_history_days: float = 90.0
    spike_min: int = 3
    spike_p: float = 0.001
    scan_study_days: int = 60
    scan_max_days: int = 7
    scan_radii_m: tuple[float, ...] = (150.0, 300.0, 500.0)
    scan_min_cases: int = 4
    scan_sims: int = 999
    scan_p: float = 0.05
    scan_seed: int = 20260
    fall_days: int = 30
    fall_history_days: int = 90
    fall_min_due: int = 8
    fall_drop: float = 0.15
    fall_p: float = 0.01
    repeat_days: int = 30
    repeat_min: int = 3
    repeat_radius_m: float = 40.0
    pile_min: int = 5
    every_minutes: int = 10

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Thresholds":
        """Defaults, each overridden by SHEQU_WARN_<NAME> (radii as a comma list); bad values refused."""
        env = os.environ if environ is None else environ
        out: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SHEQU_WARN_{f.name.upper()}", "").strip()
            if not raw:
                continue
            default = getattr(cls, f.name)
            try:
                out[f.name] = (tuple(float(v) for v in raw.split(",")) if isinstance(default, tuple)
                               else type(default)(raw))
            except ValueError:
                raise ValidationError(f"预警阈值 SHEQU_WARN_{f.name.upper()}={raw!r} 不是数字，请改正后重启 / "
                                      "a warning threshold is not a number") from None
        return cls(**out)


@dataclass
class Finding:
    """One warning as a detector found it (not yet stored)."""

    key: str
    kind: str
    title: str  # what, in Chinese: "西河社区3网格 · 路灯 近3天突增"
    meaning: str  # how unusual, in Chinese, with the number
    value: float  # the figure (a count, a rate drop, a log-likelihood ratio)
    p_value: float | None  # the chance it is chance (None where no model gives one)
    since: datetime
    lon: float
    lat: float
    radius_m: float
    ticket_ids: list[int]
    category: str | None = None
    grid_id: int | None = None
    community_id: int | None = None
    street_id: int | None = None
    building_id: int | None = None
    grids: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers

def _cat(key: str | None) -> str:
    return CATEGORIES[key].name("zh") if key in CATEGORIES else (key or "")


def chance(p: float) -> str:
    """A probability in words a leader reads: "约万分之7", "约千分之3", "约百分之1.3", "不到万分之一"."""
    if p is None or p != p:
        return ""
    if p < 1e-4:
        return "不到万分之一"
    if p < 1e-3:
        return f"约万分之{max(1, round(p * 1e4))}"
    if p < 0.01:
        return f"约千分之{max(1, round(p * 1e3))}"
    return f"约百分之{p * 100:.2g}"


def _where(rows: pd.DataFrame) -> tuple[float, float, float]:
    """Centre (mean point) and the radius (m, at least 60) that holds every row's point."""
    lon, lat = float(rows["lon"].mean()), float(rows["lat"].mean())
    x, y = projection.lonlat_to_metric(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    cx, cy = projection.lonlat_to_metric([lon], [lat])
    r = float(np.hypot(x - cx[0], y - cy[0]).max()) if len(rows) else 0.0
    return lon, lat, max(60.0, round(r + 30.0))


def _place(rows: pd.DataFrame, key: str) -> int | None:
    v = rows[key].dropna()
    return int(v.mode().iloc[0]) if len(v) else None


def _ids(rows: pd.DataFrame) -> list[int]:
    return sorted(int(i) for i in rows["id"])


# --------------------------------------------------------------------------- detectors

def spikes(frame: pd.DataFrame, now: datetime, th: Thresholds, names: dict[int, str]) -> list[Finding]:
    """One category in one grid, the last ``spike_days`` against the grid's own history (Poisson tail)."""
    now_ts = pd.Timestamp(now)
    lo = now_ts - pd.Timedelta(days=th.spike_days)
    hist_lo = lo - pd.Timedelta(days=th.spike_history_days)
    f = frame[frame["grid_id"].notna() & (frame["created_at"] >= hist_lo) & (frame["created_at"] <= now_ts)]
    recent = f[f["created_at"] >= lo]
    counts = recent.groupby(["grid_id", "category"]).size()
    counts = counts[counts >= th.spike_min]
    if not len(counts):
        return []
    hist = f[f["created_at"] < lo].groupby(["grid_id", "category"]).size().reindex(counts.index, fill_value=0)
    expected = (hist + 1) * th.spike_days / th.spike_history_days
    p = stats.poisson.sf(counts - 1, expected)
    out = []
    for (grid, cat), n, lam, pv in zip(counts.index, counts, expected, p):
        if pv >= th.spike_p:
            continue
        rows = recent[(recent["grid_id"] == grid) & (recent["category"] == cat)]
        lon, lat, r = _where(rows)
        where = names.get(int(grid), f"网格{int(grid)}")
        out.append(Finding(
            key=f"spike:{int(grid)}:{cat}", kind="spike", title=f"{where} · {_cat(cat)} 近{th.spike_days:g}天突增",
            meaning=(f"近{th.spike_days:g}天{n}件，按本网格此前{th.spike_history_days:g}天应约{lam:.2g}件；"
                     f"若无异常，出现这么多的概率{chance(pv)}（泊松 p={pv:.1e}）"),
            value=float(n), p_value=float(pv), since=rows["created_at"].min().to_pydatetime(), lon=lon, lat=lat,
            radius_m=r, ticket_ids=_ids(rows), category=cat, grid_id=int(grid),
            community_id=_place(rows, "community_id"), street_id=_place(rows, "street_id"), grids=[int(grid)]))
    return out


def _llr(n: np.ndarray, mu: np.ndarray, total: int) -> np.ndarray:
    """Kulldorff's Poisson log-likelihood ratio of each cylinder (0 where not above expectation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(n > 0, n * np.log(n / mu), 0.0)
        rest = total - n
        outside = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        llr = inside + outside
    return np.where((n > mu) & np.isfinite(llr), llr, 0.0)


def _cylinders(pts: np.ndarray, radii: np.ndarray) -> sparse.csr_matrix:
    """Which case lies in which cylinder: row r·K + k is the circle of radius ``radii[r]`` around case k.

    Only pairs within the largest radius are looked at (a k-d tree), so the cost grows with the cases
    and their neighbours, not with the square of the cases (issue 15: seconds per category at
    district scale). The test is the one a full distance matrix made: squared distance ≤ r².
    """
    total = len(pts)
    near = cKDTree(pts).query_ball_point(pts, r=float(radii.max()) * (1 + 1e-9) + 1e-6)
    rows = np.repeat(np.arange(total), [len(n) for n in near])
    cols = np.concatenate([np.asarray(n, dtype=np.int64) for n in near]) if total else np.empty(0, np.int64)
    d2 = ((pts[rows] - pts[cols]) ** 2).sum(1)
    blocks = [sparse.csr_matrix((np.ones(int(k.sum())), (rows[k], cols[k])), shape=(total, total))
              for k in (d2 <= r ** 2 for r in radii)]
    return sparse.vstack(blocks, format="csr")


def scan(x: np.ndarray, y: np.ndarray, day: np.ndarray, th: Thresholds, *, seed: int | None = None
         ) -> dict[str, Any] | None:
    """The most likely space-time cluster of cases at metric ``x, y`` on ``day`` (whole days before
    now, 0 = the last 24 hours), and its Monte Carlo p (permuting the days among the cases).

    Returns centre index, radius, window days, observed, expected, llr, p, member mask; None when
    no cylinder has more cases than expected or there are too few cases.
    """
    total = len(day)
    if total < th.scan_min_cases:
        return None
    pts = np.column_stack([x, y])
    # centres: every case's point, whatever its day. Centring only on recent cases would look cheaper but
    # chooses the cylinders by the days the permutations shuffle, and the p would come out too small
    # (tried on the demo: the quiet weeks' cluster alarms went from 0 to 2 in 60 runs).
    radii = np.asarray(th.scan_radii_m, dtype=float)
    inside = _cylinders(pts, radii)  # (R·K) × N, sparse: a dense one grew with the square of the cases
    windows = np.arange(1, th.scan_max_days + 1)

    sizes = np.asarray(inside.sum(1)).ravel()

    def best(days: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        w = (days[None, :] < windows[:, None]).astype(float)  # T × N
        n = inside @ w.T  # (R·K) × T
        mu = np.outer(sizes, w.sum(1)) / total
        llr = _llr(n, mu, total)
        llr[n < th.scan_min_cases] = 0.0
        return float(llr.max()), llr, n

    top, llr, n = best(day)
    if top <= 0:
        return None
    rng = np.random.default_rng(th.scan_seed if seed is None else seed)
    sims = np.array([best(rng.permutation(day))[0] for _ in range(th.scan_sims)])
    p = float((1 + (sims >= top - 1e-9).sum()) / (th.scan_sims + 1))
    cyl, t = np.unravel_index(int(llr.argmax()), llr.shape)
    row = inside[cyl].toarray().ravel()
    member = (row > 0) & (day < windows[t])
    mu = row.sum() * (day < windows[t]).sum() / total
    r_i, k = divmod(int(cyl), total)
    return {"centre": k, "radius_m": float(radii[r_i]), "days": int(windows[t]), "observed": int(n[cyl, t]),
            "expected": float(mu), "llr": top, "p": p, "member": member}


def clusters(frame: pd.DataFrame, now: datetime, th: Thresholds, names: dict[int, str]) -> list[Finding]:
    """The most likely space-time cluster of each category (see the module docstring), where significant."""
    now_ts = pd.Timestamp(now)
    f = frame[(frame["created_at"] > now_ts - pd.Timedelta(days=th.scan_study_days))
              & (frame["created_at"] <= now_ts) & frame["lon"].notna()]
    cats = [c for c, n in f["category"].value_counts().items() if n >= th.scan_min_cases * 2]
    out = []
    for cat in cats:
        rows = f[f["category"] == cat]
        x, y = projection.lonlat_to_metric(rows["lon"].to_numpy(), rows["lat"].to_numpy())
        day = ((now_ts - rows["created_at"]).dt.total_seconds() // 86400).to_numpy().astype(int)
        found = scan(x, y, day, th)
        if found is None:
            continue
        p_all = min(1.0, found["p"] * len(cats))
        if p_all >= th.scan_p:
            continue
        hit = rows[found["member"]]
        centre = rows.iloc[found["centre"]]
        grids = sorted({int(g) for g in hit["grid_id"].dropna()})
        where = "、".join(names.get(g, f"网格{g}") for g in grids[:4]) + ("等" if len(grids) > 4 else "")
        out.append(Finding(
            key=f"cluster:{cat}:{int(centre['grid_id']) if centre['grid_id'] == centre['grid_id'] else 0}",
            kind="cluster", title=f"{_cat(cat)} 时空聚集 · {where}",
            meaning=(f"近{found['days']}天半径{found['radius_m']:.0f}米内{found['observed']}件，"
                     f"按各处、各天的常态应约{found['expected']:.1f}件，跨{len(grids)}个网格；"
                     f"纯属偶然的概率{chance(p_all)}（时空重排扫描，{th.scan_sims}次模拟，"
                     f"已按{len(cats)}类校正 p={p_all:.3f}）"),
            value=round(found["llr"], 2), p_value=p_all, since=hit["created_at"].min().to_pydatetime(),
            lon=float(centre["lon"]), lat=float(centre["lat"]), radius_m=found["radius_m"],
            ticket_ids=_ids(hit), category=cat, grid_id=_place(hit, "grid_id"),
            community_id=_place(hit, "community_id"), street_id=_place(hit, "street_id"), grids=grids))
    return out


def _grid_rates(frame: pd.DataFrame, now: datetime, start: datetime, end: datetime) -> pd.DataFrame:
    """Per grid over tickets reported in [start, end): due, on time, rated, satisfied."""
    p = indicators.in_period(frame, start=start, end=end)
    flags = indicators.case_flags(p, now, end=end)
    per = flags[["due", "on_time"]].astype(int).assign(grid_id=p.loc[flags.index, "grid_id"]).groupby("grid_id").sum()
    given = pd.to_numeric(p["ratings_given"], errors="coerce").fillna(0)
    good = pd.to_numeric(p["ratings_satisfied"], errors="coerce").fillna(0)
    rated = pd.DataFrame({"rated": given, "satisfied": good, "grid_id": p["grid_id"]}).groupby("grid_id").sum()
    return per.join(rated, how="outer").fillna(0)


def falls(frame: pd.DataFrame, now: datetime, th: Thresholds, names: dict[int, str]) -> list[Finding]:
    """A grid whose on-time rate or satisfaction over the last ``fall_days`` fell below its previous months."""
    lo = now - timedelta(days=th.fall_days)
    cur = _grid_rates(frame, now, lo, now)
    old = _grid_rates(frame, now, lo - timedelta(days=th.fall_history_days), lo)
    both = cur.join(old.add_suffix("_old"), how="inner")
    out = []
    for label, word, num, den in (("on_time", "按期结案率", "on_time", "due"), ("satisfaction", "满意率", "satisfied", "rated")):
        for grid, r in both.iterrows():
            n, k, n0, k0 = r[den], r[num], r[f"{den}_old"], r[f"{num}_old"]
            if n < th.fall_min_due or n0 < th.fall_min_due:
                continue
            rate, rate0 = k / n, k0 / n0
            if rate0 - rate < th.fall_drop:
                continue
            # the old rate with one success and one failure added, so a perfect 100% does not make one miss "impossible"
            pv = float(stats.binom.cdf(k, int(n), (k0 + 1) / (n0 + 2)))
            if pv >= th.fall_p:
                continue
            lo_ts = pd.Timestamp(lo)
            rows = frame[(frame["grid_id"] == grid) & (frame["created_at"] >= lo_ts)]
            if label == "on_time":  # the tickets behind it: the cases that missed their limit
                flags = indicators.case_flags(rows, now, end=now)
                rows = rows.loc[flags.index[flags["due"] & ~flags["on_time"]]]
            else:
                rows = rows[pd.to_numeric(rows["ratings_given"], errors="coerce").fillna(0)
                            > pd.to_numeric(rows["ratings_satisfied"], errors="coerce").fillna(0)]
            if not len(rows):
                continue
            where = names.get(int(grid), f"网格{int(grid)}")
            lon, lat, rad = _where(rows)
            out.append(Finding(
                key=f"fall:{int(grid)}:{label}", kind="fall", title=f"{where} · {word}下滑",
                meaning=(f"近{th.fall_days}天{word}{rate:.0%}（{int(n)}件中{int(k)}件），此前{th.fall_history_days}天"
                         f"为{rate0:.0%}（{int(n0)}件）；按原水平出现这么低的概率{chance(pv)}（二项 p={pv:.1e}）"),
                value=round(rate0 - rate, 3), p_value=pv, since=lo, lon=lon, lat=lat, radius_m=rad,
                ticket_ids=_ids(rows), category=None, grid_id=int(grid), community_id=_place(rows, "community_id"),
                street_id=_place(rows, "street_id"), grids=[int(grid)]))
    return out


def repeats(frame: pd.DataFrame, buildings: pd.DataFrame, now: datetime, th: Thresholds) -> list[Finding]:
    """``repeat_min`` or more tickets of one category from one building in ``repeat_days``."""
    now_ts = pd.Timestamp(now)
    f = frame[(frame["created_at"] >= now_ts - pd.Timedelta(days=th.repeat_days)) & (frame["created_at"] <= now_ts)
              & frame["lon"].notna()]
    if not len(f) or not len(buildings):
        return []
    bx, by = projection.lonlat_to_metric(buildings["entrance_lon"].to_numpy(), buildings["entrance_lat"].to_numpy())
    tx, ty = projection.lonlat_to_metric(f["lon"].to_numpy(), f["lat"].to_numpy())
    dist, idx = cKDTree(np.column_stack([bx, by])).query(np.column_stack([tx, ty]))
    f = f.assign(building=np.where(dist <= th.repeat_radius_m, idx, -1))
    f = f[f["building"] >= 0]
    out = []
    for (b, cat), rows in f.groupby(["building", "category"]):
        if len(rows) < th.repeat_min:
            continue
        bld = buildings.iloc[int(b)]
        out.append(Finding(
            key=f"repeat:{int(bld['id'])}:{cat}", kind="repeat", title=f"{bld['name']} · {_cat(cat)} 反复报告",
            meaning=f"近{th.repeat_days}天同一楼栋报告{_cat(cat)}{len(rows)}件（阈值{th.repeat_min}件）",
            value=float(len(rows)), p_value=None, since=rows["created_at"].min().to_pydatetime(),
            lon=float(bld["entrance_lon"]), lat=float(bld["entrance_lat"]), radius_m=60.0, ticket_ids=_ids(rows),
            category=cat, grid_id=int(bld["grid_id"]), community_id=_place(rows, "community_id"),
            street_id=_place(rows, "street_id"), building_id=int(bld["id"]), grids=[int(bld["grid_id"])]))
    return out


def piles(frame: pd.DataFrame, now: datetime, th: Thresholds, communities: dict[int, str]) -> list[Finding]:
    """``pile_min`` or more open tickets of one community past their step's limit in one step."""
    step_due = pd.to_datetime(frame["step_due_at"]).fillna(pd.to_datetime(frame["due_at"]))
    late = frame[workflow.overdue(frame["state"], step_due, now) & frame["community_id"].notna()]
    out = []
    for (cid, state), rows in late.groupby(["community_id", "state"]):
        if len(rows) < th.pile_min:
            continue
        oldest = step_due[rows.index].min()
        days = (pd.Timestamp(now) - oldest).total_seconds() / 86400
        step = workflow.STATES[state].name("zh") if state in workflow.STATES else state
        where = communities.get(int(cid), f"社区{int(cid)}")
        lon, lat, r = _where(rows)
        out.append(Finding(
            key=f"pile:{int(cid)}:{state}", kind="pile", title=f"{where} · 「{step}」环节超期积压",
            meaning=f"{len(rows)}件工单在「{step}」环节超过时限（阈值{th.pile_min}件），最久已超{days:.1f}天",
            value=float(len(rows)), p_value=None, since=oldest.to_pydatetime(), lon=lon, lat=lat, radius_m=r,
            ticket_ids=_ids(rows), category=None, grid_id=None, community_id=int(cid),
            street_id=_place(rows, "street_id"), grids=sorted({int(g) for g in rows["grid_id"].dropna()})))
    return out


def detect_frame(frame: pd.DataFrame, buildings: pd.DataFrame, now: datetime, th: Thresholds | None = None, *,
                 grid_names: dict[int, str] | None = None, community_names: dict[int, str] | None = None,
                 kinds: tuple[str, ...] = tuple(KINDS)) -> list[Finding]:
    """Every detector over plain frames (tickets: indicators.FIELDS + step_due_at, lon, lat)."""
    th = th or Thresholds.from_env()
    gn, cn = grid_names or {}, community_names or {}
    found: list[Finding] = []
    if "spike" in kinds:
        found += spikes(frame, now, th, gn)
    if "cluster" in kinds:
        found += clusters(frame, now, th, gn)
    if "fall" in kinds:
        found += falls(frame, now, th, gn)
    if "repeat" in kinds:
        found += repeats(frame, buildings, now, th)
    if "pile" in kinds:
        found += piles(frame, now, th, cn)
    return found


# --------------------------------------------------------------------------- reading the stream

_FIELDS = [*indicators.FIELDS, "step_due_at"]


def load(engine: Engine, now: datetime, scope: Scope, th: Thresholds) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tickets the detectors need (open ones and those reported in the longest look-back) and the
    area's buildings' entrances; a page's cost is its area's, never the database's."""
    t = Ticket.__table__
    back = max(th.spike_days + th.spike_history_days, th.scan_study_days, th.fall_days + th.fall_history_days,
               th.repeat_days)
    stmt = select(*[t.c[f] for f in _FIELDS], t.c.minx.label("lon"), t.c.miny.label("lat")).where(
        scope.clause(t), t.c.created_at <= now,
        or_(t.c.state.in_(workflow.OPEN_STATES), t.c.created_at >= now - timedelta(days=back)))
    frame = store.read_frame(engine, stmt)
    for col in ("created_at", "closed_at", "due_at", "resolved_at", "accepted_at", "first_response_at", "step_due_at",
                "first_resolved_at", "assigned_at", "arrive_by", "arrived_at"):
        frame[col] = pd.to_datetime(frame[col])
    b = Building.__table__
    buildings = store.read_frame(engine, select(b.c.id, b.c.name, b.c.grid_id, b.c.entrance_lon, b.c.entrance_lat)
                                 .where(scope.clause(b)).order_by(b.c.id))
    return frame, buildings


def _names(engine: Engine, scope: Scope) -> tuple[dict[int, str], dict[int, str]]:
    from geo.db.schema import Community

    g = store.read_frame(engine, select(Grid.id, Grid.name, Community.name.label("community"))
                         .join(Community, Community.id == Grid.community_id).where(scope.clause(Grid.__table__)))
    grids = {int(i): str(n) for i, n in zip(g["id"], g["name"])}
    comm = {}
    c = store.read_frame(engine, select(Community.id, Community.name).where(scope.clause(Community.__table__)))
    comm.update({int(i): str(n) for i, n in zip(c["id"], c["name"])})
    return grids, comm


def detect(engine: Engine, now: datetime, scope: Scope = WHOLE_STREET, th: Thresholds | None = None) -> list[Finding]:
    """Every warning in ``scope`` at ``now`` (nothing stored)."""
    th = th or Thresholds.from_env()
    frame, buildings = load(engine, now, scope, th)
    grids, comm = _names(engine, scope)
    return detect_frame(frame, buildings, now, th, grid_names=grids, community_names=comm)


# --------------------------------------------------------------------------- storing

def refresh(engine: Engine, now: datetime, th: Thresholds | None = None, *, scope: Scope = WHOLE_STREET
            ) -> dict[str, int]:
    """Detect and store: a live warning found again is updated, a new one inserted (counts returned)."""
    found = detect(engine, now, scope, th)
    w = WarningRow.__table__
    counts = {"new": 0, "updated": 0, "kept_closed": 0}
    with engine.begin() as conn:
        for f in found:
            last = conn.execute(select(w.c.id, w.c.state, w.c.episode, w.c.ticket_ids).where(w.c.key == f.key)
                                .order_by(w.c.episode.desc()).limit(1)).mappings().first()
            row = _row(f, now)
            if last is not None and last["state"] in LIVE_STATES:
                row.pop("since")  # since when: the first finding's
                conn.execute(update(w).where(w.c.id == last["id"]).values(**row))
                counts["updated"] += 1
                continue
            if last is not None and set(f.ticket_ids) <= set(json.loads(last["ticket_ids"] or "[]")):
                counts["kept_closed"] += 1  # closed by a person, nothing new since
                continue
            episode = (last["episode"] + 1) if last is not None else 1
            try:
                with conn.begin_nested():
                    conn.execute(insert(w), [{**row, "key": f.key, "episode": episode, "kind": f.kind,
                                              "state": "open", "detected_at": now}])
                counts["new"] += 1
            except IntegrityError:  # another run stored it at the same moment
                counts["updated"] += 1
    return counts


def _row(f: Finding, now: datetime) -> dict[str, Any]:
    return dict(title=f.title[:120], meaning=f.meaning, value=float(f.value), p_value=f.p_value, since=f.since,
                lon=round(f.lon, 6), lat=round(f.lat, 6), radius_m=float(f.radius_m), category=f.category,
                grid_id=f.grid_id, community_id=f.community_id, street_id=f.street_id, building_id=f.building_id,
                ticket_ids=json.dumps(f.ticket_ids), grids=json.dumps(f.grids), last_seen_at=now)


_log = logging.getLogger(__name__)


def refresh_if_due(engine: Engine, now: datetime, th: Thresholds | None = None) -> dict[str, int] | None:
    """``refresh`` at most once every ``every_minutes`` for the whole database, however many sessions and
    app servers call it (geo.db.clock: the period is claimed in the database, not remembered per process)."""
    th = th or Thresholds.from_env()
    try:
        if not clock.claim(engine, "warnings", now, every=timedelta(minutes=max(1, int(th.every_minutes)))):
            return None
        return refresh(engine, now, th)
    except Exception:  # a background run: logged, never a page's failure; the next run tries again
        _log.exception("智能预警检测失败 / warning detection failed")
        return None


# --------------------------------------------------------------------------- reading and acting

_COLS = ["id", "key", "episode", "kind", "state", "title", "meaning", "value", "p_value", "since", "detected_at",
         "last_seen_at", "lon", "lat", "radius_m", "category", "grid_id", "community_id", "street_id", "building_id",
         "ticket_ids", "grids", "acknowledged_by", "acknowledged_at", "closed_by", "closed_at", "note"]


def _frame(engine: Engine, stmt, lang: str = "zh") -> pd.DataFrame:
    df = store.read_frame(engine, stmt)
    for col in ("since", "detected_at", "last_seen_at", "acknowledged_at", "closed_at"):
        df[col] = pd.to_datetime(df[col])
    df["ticket_ids"] = [json.loads(v or "[]") for v in df["ticket_ids"]]
    df["grids"] = [json.loads(v or "[]") for v in df["grids"]]
    df["kind_name"] = df["kind"].map(KINDS if lang == "zh" else KINDS_EN)
    df["state_name"] = df["state"].map(STATES)
    return df


def live(engine: Engine, *, scope: Scope, limit: int = 50, lang: str = "zh") -> pd.DataFrame:
    """Warnings not yet closed in ``scope``, open before acknowledged, newest first (the wall, the desk)."""
    w = WarningRow.__table__
    stmt = (select(*[w.c[c] for c in _COLS]).where(w.c.state.in_(LIVE_STATES), scope.clause(w))
            .order_by((w.c.state == "acknowledged").asc(), w.c.last_seen_at.desc(), w.c.id.desc()).limit(limit))
    return _frame(engine, stmt, lang)


def ticket_codes(engine: Engine, ids: list[int], *, scope: Scope) -> dict[int, str]:
    """Codes of the tickets behind warnings, those in ``scope`` only (a cluster may reach past it)."""
    if not ids:
        return {}
    t = Ticket.__table__
    df = store.read_frame(engine, select(t.c.id, t.c.code).where(t.c.id.in_(ids), scope.clause(t)))
    return {int(i): str(c) for i, c in zip(df["id"], df["code"])}


def of_period(engine: Engine, start: datetime, end: datetime, scope: Scope) -> pd.DataFrame:
    """Warnings of a period (the monthly report): first detected in [start, end), in ``scope``, any state,
    oldest first; columns as ``live`` (kind_name, title, meaning, since, state_name, ticket_ids …)."""
    w = WarningRow.__table__
    stmt = (select(*[w.c[c] for c in _COLS]).where(w.c.detected_at >= start, w.c.detected_at < end, scope.clause(w))
            .order_by(w.c.detected_at, w.c.id))
    return _frame(engine, stmt)


def _act(engine: Engine, warning_id: int, *, to: str, username: str, role: str, scope: Scope, now: datetime,
         note: str | None) -> None:
    if not roles.may(role, "handle_warnings"):
        raise PermissionError("您的角色不能处理预警，请联系社区或街道工作人员 / your role cannot handle warnings")
    w = WarningRow.__table__
    note = (note or "").strip()[:500] or None
    if to == "closed" and not note:
        raise ValidationError("关闭预警请写明处理情况（备注） / write what was done before closing")
    with engine.begin() as conn:
        row = conn.execute(select(w.c.id, w.c.state, w.c.grid_id, w.c.title).where(
            w.c.id == warning_id, scope.clause(w))).mappings().first()
        if row is None:
            raise NotFoundError(f"预警 {warning_id} 不存在或不在您的管辖范围内 / no such warning in your area")
        allowed = {"acknowledged": ("open",), "closed": ("open", "acknowledged")}[to]
        if row["state"] not in allowed:
            raise ValidationError(f"该预警当前为「{STATES[row['state']]}」，不能{'确认' if to == 'acknowledged' else '关闭'} / "
                                  "the warning is not in a state for this")
        who = {"acknowledged": dict(acknowledged_by=username, acknowledged_at=now),
               "closed": dict(closed_by=username, closed_at=now)}[to]
        conn.execute(update(w).where(w.c.id == warning_id, w.c.state == row["state"])
                     .values(state=to, note=note or w.c.note, **who))
        audit.record(conn, at=now, username=username, role=role,
                     action="warning.acknowledge" if to == "acknowledged" else "warning.close",
                     object_type="warning", object_id=int(warning_id), grid_id=row["grid_id"],
                     detail=f"{row['title']} {row['state']} → {to}" + (f"：{note}" if note else ""))


def acknowledge(engine: Engine, warning_id: int, *, username: str, role: str, scope: Scope, now: datetime,
                note: str | None = None) -> None:
    """A person has seen the warning and is on it (audited ``warning.acknowledge``)."""
    _act(engine, warning_id, to="acknowledged", username=username, role=role, scope=scope, now=now, note=note)


def close(engine: Engine, warning_id: int, *, username: str, role: str, scope: Scope, now: datetime,
          note: str) -> None:
    """Dealt with: closed by a person with a note of what was done (audited ``warning.close``)."""
    _act(engine, warning_id, to="closed", username=username, role=role, scope=scope, now=now, note=note)


def main(argv: list[str] | None = None) -> int:
    """``python -m geo.tickets.warnings [--url URL]``: detect and store now, whole street (cron)."""
    ap = argparse.ArgumentParser(description="智能预警：检测并保存 / detect and store warnings")
    ap.add_argument("--url", default=None)
    args = ap.parse_args(argv)
    engine = store.make_engine(args.url or settings.database_url())
    print(json.dumps(refresh(engine, datetime.now().replace(microsecond=0)), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
