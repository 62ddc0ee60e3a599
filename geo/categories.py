"""Ticket categories: names, how often they come, time limits and urgency.

One configurable table (a city sets its own limits, as GB/T 30428 expects).
Limits are in hours for the whole ticket; ``urgent_share`` is how often a
category is reported as urgent (those go to the community at once, with a
limit of ``urgent_limit_h``). The departments are the ones a street sends work to.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    name_zh: str
    name_en: str
    weight: float  # share of reports in a typical year
    limit_h: float  # time limit, report to closure, hours
    urgent_share: float
    urgent_limit_h: float
    department: str
    big_share: float  # how often it is beyond the grid (goes to community or further)

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in [
        Category("streetlight_road", "路灯道路", "Streetlights and roads", 12, 72, 0.05, 8, "城管执法中队", 0.45),
        Category("water", "供水", "Water supply", 7, 24, 0.20, 4, "自来水公司", 0.55),
        Category("sanitation", "环境卫生", "Sanitation", 18, 24, 0.02, 8, "环卫所", 0.25),
        Category("property", "物业管理", "Property management", 11, 72, 0.03, 8, "住建局物业科", 0.40),
        Category("dispute", "邻里纠纷", "Neighbour disputes", 12, 120, 0.05, 12, "司法所", 0.30),
        Category("safety_hazard", "安全隐患", "Safety hazards", 8, 48, 0.40, 4, "应急管理办", 0.50),
        Category("fire_equipment", "消防设施", "Fire equipment", 4, 48, 0.30, 4, "消防救援站", 0.45),
        Category("public_order", "治安秩序", "Public order", 5, 24, 0.25, 2, "派出所", 0.50),
        Category("employment", "就业帮扶", "Employment help", 4, 168, 0.0, 24, "人社服务中心", 0.60),
        Category("elderly_care", "养老服务", "Elderly care", 8, 72, 0.10, 8, "民政办", 0.35),
        Category("legal_aid", "法律援助", "Legal aid", 4, 168, 0.0, 24, "司法所", 0.55),
        Category("epidemic", "防疫排查", "Epidemic checks", 2, 24, 0.30, 4, "卫健办", 0.40),
        Category("wage_arrears", "欠薪", "Wage arrears", 5, 168, 0.10, 24, "劳动保障监察大队", 0.80),
    ]
}


def category(key: str) -> Category:
    try:
        return CATEGORIES[key]
    except KeyError:
        raise KeyError(f"unknown ticket category {key!r}; known: {', '.join(CATEGORIES)}") from None
