"""Ticket categories, their time limits per step, and the working-day clock.

One configurable table (a city sets its own limits, as GB/T 30428 expects
"each city sets a time limit per sub-class"). Ordinary matters are measured
in working days, urgent ones in clock hours (国办发〔2020〕53号: emergencies in
hours, ordinary matters in days). ``STEP_LIMITS`` says how long a ticket may
sit in each state before it escalates; ``Category.limit_days`` and
``urgent_limit_h`` are the whole ticket's limit (按期结案 is measured on it).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

#: Days off besides weekends (a city adds its public holidays here).
HOLIDAYS: set[date] = set()


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

#: Hours a ticket may wait in a state before it is overdue there (ordinary, urgent).
#: ``in_progress`` uses the category's own limit; ``None`` means no step limit.
STEP_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "reported": (4, 0.5),  # the grid checks a report within half a working day
    "grid_accepted": (24, 1),  # handled or escalated within a day
    "community_dispatched": (24, 2),
    "street_reviewed": (24, 2),
    "street_accepted": (24, 2),
    "in_progress": (None, None),
    "resolved": (None, None),  # waiting for the resident's rating has no limit
}

#: A party member who takes a ticket is on site within 30 minutes (务川县).
ARRIVAL_LIMIT = timedelta(minutes=30)


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


def add_working_days(start: datetime, days: float) -> datetime:
    """``start`` plus ``days`` working days (weekends and HOLIDAYS skipped).

    A report made on a day off starts counting on the next working day at the
    same clock time, as a hotline does.
    """
    t = start
    while not is_working_day(t.date()):
        t += timedelta(days=1)
    whole, frac = int(days), days - int(days)
    for _ in range(whole):
        t += timedelta(days=1)
        while not is_working_day(t.date()):
            t += timedelta(days=1)
    return t + timedelta(days=frac)


def due_at(key: str, created: datetime, urgent: bool) -> datetime:
    """When the whole ticket must be closed by."""
    c = category(key)
    if urgent:
        return created + timedelta(hours=c.urgent_limit_h)
    return add_working_days(created, c.limit_days)


def step_due_at(key: str, state: str, entered: datetime, urgent: bool, whole_due: datetime) -> datetime | None:
    """When the ticket becomes overdue in ``state`` (entered at ``entered``)."""
    ordinary, urgent_h = STEP_LIMITS.get(state, (None, None))
    hours = urgent_h if urgent else ordinary
    if state == "in_progress":
        return whole_due
    if hours is None:
        return None
    return entered + timedelta(hours=hours)
