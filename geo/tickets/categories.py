"""Ticket categories, their time limits per step, and the working-time clock.

One configurable table (a city sets its own limits, as GB/T 30428 expects
"each city sets a time limit per sub-class"). Urgent matters run on the clock
(国办发〔2020〕53号: emergencies are answered in hours, day and night); ordinary
ones run in *working time*, so a report made at 21:00 on a Friday is not
"overdue at the grid" at 01:00 on Saturday: its clock starts on Monday morning.

Working time (``WORKING_PERIODS``): Monday to Friday, 08:30–12:00 and
14:00–17:30, the usual office hours of a street office (街道办) in Sichuan,
7 hours a day; ``HOLIDAYS`` adds public holidays. One working day is
``WORK_DAY_HOURS`` working hours, so "1 working day" from 10:00 on a Tuesday
is 10:00 on Wednesday, and from 21:00 on a Friday is 17:30 on Monday.

``STEP_LIMITS`` says how long a ticket may sit in each state before the clock
escalates it, keyed by (category, state) with ``ANY`` as the default for every
category; ``Category.limit_days`` (working days) and ``urgent_limit_h`` (clock
hours) are the whole ticket's limit, on which 按期结案 is measured.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

#: Days off besides weekends (a city adds its public holidays here).
HOLIDAYS: set[date] = set()
#: Office hours on a working day (a city sets its own).
WORKING_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))


def _work_day_hours() -> float:
    return sum((datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()
               for a, b in WORKING_PERIODS) / 3600


#: Working hours in one working day (7 with the default office hours).
WORK_DAY_HOURS: float = _work_day_hours()


@dataclass(frozen=True)
class Category:
    key: str
    name_zh: str
    name_en: str
    weight: float  # share of reports in a typical year (demo town)
    limit_days: float  # ordinary matters: working days from report to closure
    urgent_share: float  # how often it is reported as urgent (demo town)
    urgent_limit_h: float  # urgent matters: clock hours from report to closure
    department: str  # who the street sends it to
    big_share: float  # how often it is beyond the grid (demo town)

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in [
        Category("streetlight_road", "路灯道路", "Streetlights and roads", 12, 3, 0.05, 8, "城管执法中队", 0.45),
        Category("water", "供水", "Water supply", 7, 1, 0.20, 4, "自来水公司", 0.55),
        Category("sanitation", "环境卫生", "Sanitation", 18, 1, 0.02, 8, "环卫所", 0.25),
        Category("property", "物业管理", "Property management", 11, 3, 0.03, 8, "住建局物业科", 0.40),
        Category("dispute", "邻里纠纷", "Neighbour disputes", 12, 5, 0.05, 12, "司法所", 0.30),
        Category("safety_hazard", "安全隐患", "Safety hazards", 8, 2, 0.40, 4, "应急管理办", 0.50),
        Category("fire_equipment", "消防设施", "Fire equipment", 4, 2, 0.30, 4, "消防救援站", 0.45),
        Category("public_order", "治安秩序", "Public order", 5, 1, 0.25, 2, "派出所", 0.50),
        Category("employment", "就业帮扶", "Employment help", 4, 5, 0.0, 24, "人社服务中心", 0.60),
        Category("elderly_care", "养老服务", "Elderly care", 8, 3, 0.10, 8, "民政办", 0.35),
        Category("legal_aid", "法律援助", "Legal aid", 4, 5, 0.0, 24, "司法所", 0.55),
        Category("epidemic", "防疫排查", "Epidemic checks", 2, 1, 0.30, 4, "卫健办", 0.40),
        Category("wage_arrears", "欠薪", "Wage arrears", 5, 5, 0.10, 24, "劳动保障监察大队", 0.80),
    ]
}

#: A party member who takes a ticket is on site within 30 minutes (务川县).
ARRIVAL_LIMIT = timedelta(minutes=30)

#: Categories offered to party members to claim (党员接单, geo.people.orders): what a neighbour can go and
#: look at, help with or mediate within the half hour (务川's list: 水电、物业、保洁、电梯维修 …). Police,
#: legal, wage and utility-network matters go to their departments. A city sets its own.
PARTY_CATEGORIES: set[str] = {"streetlight_road", "sanitation", "property", "dispute", "safety_hazard",
                              "fire_equipment", "elderly_care", "epidemic", "employment"}


def category(key: str) -> Category:
    try:
        return CATEGORIES[key]
    except KeyError:
        raise KeyError(f"unknown ticket category {key!r}; known: {', '.join(CATEGORIES)}") from None


def set_limit(key: str, *, limit_days: float | None = None, urgent_limit_h: float | None = None) -> None:
    """A city's own limits for one category."""
    c = category(key)
    CATEGORIES[key] = replace(c, limit_days=c.limit_days if limit_days is None else limit_days,
                              urgent_limit_h=c.urgent_limit_h if urgent_limit_h is None else urgent_limit_h)


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in HOLIDAYS


def add_working_hours(start: datetime, hours: float) -> datetime:
    """``start`` plus ``hours`` of working time (office hours of working days only).

    Time outside ``WORKING_PERIODS``, weekends and ``HOLIDAYS`` does not count;
    a limit that runs out exactly at the end of a period ends there (12:00,
    not 14:00).
    """
    if hours < 0:
        raise ValueError(f"hours must be ≥ 0, got {hours}")
    left = timedelta(hours=hours)
    day, at = start.date(), start
    for _ in range(3660):  # ten years of days: a limit never runs that long
        if is_working_day(day):
            for a, b in WORKING_PERIODS:
                begin, end = max(at, datetime.combine(day, a)), datetime.combine(day, b)
                if begin >= end:
                    continue
                if begin + left <= end:
                    return begin + left
                left -= end - begin
        day += timedelta(days=1)
        at = datetime.combine(day, time.min)
    raise ValueError("no working time in ten years: check HOLIDAYS and WORKING_PERIODS")


def working_hours_between(start: datetime, end: datetime) -> float:
    """Working hours from ``start`` to ``end`` (negative when ``end`` comes first)."""
    if end < start:
        return -working_hours_between(end, start)
    total, day = timedelta(0), start.date()
    while day <= end.date():
        if is_working_day(day):
            for a, b in WORKING_PERIODS:
                begin, stop = max(start, datetime.combine(day, a)), min(end, datetime.combine(day, b))
                if stop > begin:
                    total += stop - begin
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def add_working_days(start: datetime, days: float) -> datetime:
    """``start`` plus ``days`` working days of ``WORK_DAY_HOURS`` each (see add_working_hours)."""
    return add_working_hours(start, days * WORK_DAY_HOURS)


@dataclass(frozen=True)
class Limit:
    """How long a step may take: ``hours`` of working time, or round the clock."""

    hours: float
    working: bool = True  # False: clock hours, day and night (urgent matters)

    def after(self, start: datetime) -> datetime:
        return add_working_hours(start, self.hours) if self.working else start + timedelta(hours=self.hours)


def _clock(hours: float) -> Limit:
    return Limit(hours, working=False)


ANY = "*"  # the default row of STEP_LIMITS, for every category

#: (category, state) → (ordinary limit, urgent limit) of one step. A category's own
#: row wins over the ``ANY`` row. ``in_progress`` runs to the whole ticket's limit
#: and ``resolved`` (waiting for the resident's rating) has none. Urgent tickets
#: leave the grid at once (tickets.escalation_at), so their grid rows rarely bite.
STEP_LIMITS: dict[tuple[str, str], tuple[Limit | None, Limit | None]] = {
    (ANY, "reported"): (Limit(4), _clock(0.5)),  # the grid checks a report within half a working day
    (ANY, "grid_accepted"): (Limit(7), _clock(1)),  # handled in the grid or sent up within a working day
    (ANY, "community_dispatched"): (Limit(7), _clock(2)),  # the community dispatches within a working day
    (ANY, "street_reviewed"): (Limit(7), _clock(2)),
    (ANY, "street_accepted"): (Limit(7), _clock(2)),
    # safety first: hazards, fire equipment, public order and epidemics are checked within two
    # working hours even when not reported as urgent, and within 15 minutes when urgent
    **{(c, "reported"): (Limit(2), _clock(0.25))
       for c in ("safety_hazard", "fire_equipment", "public_order", "epidemic")},
    # jobs, legal aid and wage arrears need papers gathered: two working days at each level
    **{(c, s): (Limit(14), _clock(4))
       for c in ("employment", "legal_aid", "wage_arrears") for s in ("grid_accepted", "community_dispatched")},
}


def step_limit(key: str, state: str, urgent: bool) -> Limit | None:
    """The limit of ``state`` for a ticket of category ``key`` (None: no limit of its own)."""
    category(key)
    ordinary, urgent_limit = STEP_LIMITS.get((key, state), STEP_LIMITS.get((ANY, state), (None, None)))
    return urgent_limit if urgent else ordinary


def set_step_limit(key: str, state: str, *, ordinary: Limit | None, urgent: Limit | None) -> None:
    """A city's own limit for one step of one category (``ANY`` for every category)."""
    if key != ANY:
        category(key)
    STEP_LIMITS[(key, state)] = (ordinary, urgent)


def due_at(key: str, created: datetime, urgent: bool) -> datetime:
    """When the whole ticket must be done by: clock hours if urgent, else working days."""
    c = category(key)
    if urgent:
        return created + timedelta(hours=c.urgent_limit_h)
    return add_working_days(created, c.limit_days)


def step_due_at(key: str, state: str, entered: datetime, urgent: bool, whole_due: datetime) -> datetime | None:
    """When the ticket becomes overdue in ``state`` (entered at ``entered``)."""
    if state == "in_progress":
        return whole_due
    limit = step_limit(key, state, urgent)
    return None if limit is None else limit.after(entered)
