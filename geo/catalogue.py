"""The facility catalogue: every service-facility type the map knows, in one table.

Each type carries its names, the glyph and colour it is drawn with, and its
default reach (the distance a resident may be from it and still count as
served). Reach defaults come from GB 50180-2018 (城市居住区规划设计标准) and the
2020 complete-community standard (完整居住社区建设标准); the source is named
beside each value. Every value is a default: a city sets its own with
``set_reach``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FacilityType:
    key: str
    name_zh: str
    name_en: str
    glyph: str  # one character drawn in the map marker (no icon font needed)
    color: str
    reach_m: float
    source: str
    required: bool = False  # part of the "complete community" required set

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


_GB50180_15 = "GB 50180-2018 十五分钟生活圈 步行 800–1000 m"
_GB50180_10 = "GB 50180-2018 十分钟生活圈 步行约 500 m"
_GB50180_5 = "GB 50180-2018 五分钟生活圈 步行约 300 m"

FACILITY_TYPES: dict[str, FacilityType] = {
    t.key: t
    for t in [
        FacilityType("party_centre", "党群服务中心", "Party–mass service centre", "党", "#c8102e",
                     1000, _GB50180_15),
        FacilityType("service_station", "社区服务站", "Community service station", "站", "#e36414",
                     300, _GB50180_5 + "；社区服务站 ≤300 m", required=True),
        FacilityType("elderly_daycare", "老年人日间照料中心", "Elderly day-care", "老", "#8e44ad",
                     300, _GB50180_5 + "；老年人日间照料 ≤300 m", required=True),
        FacilityType("clinic", "社区卫生服务站", "Community health station", "医", "#0077b6",
                     500, _GB50180_10 + "；完整居住社区建设标准 卫生服务站", required=True),
        FacilityType("kindergarten", "幼儿园", "Kindergarten", "幼", "#f4a261",
                     300, _GB50180_5 + "；幼儿园 ≤300 m", required=True),
        FacilityType("canteen", "社区食堂", "Community canteen", "食", "#2a9d8f",
                     500, _GB50180_10 + "（地方做法）"),
        FacilityType("market", "菜市场", "Fresh market", "市", "#6a994e",
                     500, _GB50180_10 + "；菜市场 ≤500 m", required=True),
        FacilityType("grid_point", "网格服务点", "Grid service point", "格", "#d62828",
                     300, _GB50180_5 + "（什邡 郁心站 做法）"),
        FacilityType("police_room", "警务室", "Police room", "警", "#1d3557",
                     1000, _GB50180_15),
        FacilityType("culture_station", "文化活动站", "Cultural activity station", "文", "#bc6c25",
                     500, _GB50180_10 + "；文化活动站 ≤500 m"),
        FacilityType("mediation_room", "调解室", "Mediation room", "调", "#457b9d",
                     1000, _GB50180_15 + "（地方做法）"),
        FacilityType("red_station", "红色驿站", "Red station", "驿", "#9d0208",
                     500, _GB50180_10 + "（成都 红色服务圈 做法）"),
    ]
}


def facility_type(key: str) -> FacilityType:
    """The catalogue entry for ``key``; a clear error names the known keys."""
    try:
        return FACILITY_TYPES[key]
    except KeyError:
        known = ", ".join(FACILITY_TYPES)
        raise KeyError(f"unknown facility type {key!r}; known types: {known}") from None


def set_reach(key: str, reach_m: float, *, source: str = "local plan") -> None:
    """Override a type's reach (a city's own plan), keeping the rest of the entry."""
    if reach_m <= 0:
        raise ValueError(f"reach must be positive metres, got {reach_m}")
    FACILITY_TYPES[key] = replace(facility_type(key), reach_m=float(reach_m), source=source)


def required_types() -> list[str]:
    """The types every resident should reach (complete-community required set)."""
    return [k for k, t in FACILITY_TYPES.items() if t.required]
