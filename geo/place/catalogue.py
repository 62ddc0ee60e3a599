"""The facility catalogue: every service-facility type the map knows, in one table.

Each type carries its names, the glyph and colour it is drawn with, and its
default reach (the distance a resident may be from it and still count as
served). Reach defaults come from GB 50180-2018 (城市居住区规划设计标准) and the
2020 complete-community standard (完整居住社区建设标准（试行）, 建科规〔2020〕7号);
the source is named beside each value.

The required set ("complete community") follows that 2020 standard as far as the
town records the facility: a community service station, a kindergarten, a nursery
(托育点), an elderly service station (day-care here), a health station and a
supermarket. Its parcel points and activity ground are not facility types here;
the fresh market (菜市场) is a 10-minute-circle facility of GB 50180, not a
required one.

Every value is a default. A city sets its own in a file named by the environment
variable SHEQU_REACH_FILE (JSON or TOML, read at start, see ``load_reach_file``),
or in code with ``set_reach``.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from geo import settings
from geo.errors import ValidationError


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
_COMPLETE = "完整居住社区建设标准（2020）"

FACILITY_TYPES: dict[str, FacilityType] = {
    t.key: t
    for t in [
        FacilityType("party_centre", "党群服务中心", "Party–mass service centre", "党", "#c8102e",
                     1000, _GB50180_15),
        FacilityType("service_station", "社区服务站", "Community service station", "站", "#e36414",
                     300, _GB50180_5 + "；社区服务站 ≤300 m；" + _COMPLETE + " 社区综合服务站", required=True),
        FacilityType("elderly_daycare", "老年人日间照料中心", "Elderly day-care", "老", "#8e44ad",
                     300, _GB50180_5 + "；老年人日间照料 ≤300 m；" + _COMPLETE + " 老年服务站", required=True),
        FacilityType("clinic", "社区卫生服务站", "Community health station", "医", "#0077b6",
                     500, _GB50180_10 + "；" + _COMPLETE + " 社区卫生服务站", required=True),
        FacilityType("kindergarten", "幼儿园", "Kindergarten", "幼", "#f4a261",
                     300, _GB50180_5 + "；幼儿园 ≤300 m；" + _COMPLETE + " 幼儿园", required=True),
        FacilityType("nursery", "托育点", "Nursery (under 3)", "托", "#e9c46a",
                     300, _GB50180_5 + "；托儿所 ≤300 m；" + _COMPLETE + " 托儿所/托育点", required=True),
        FacilityType("supermarket", "综合超市", "Supermarket", "超", "#52b788",
                     500, _GB50180_10 + "；" + _COMPLETE + " 综合超市（步行 10 分钟可达）", required=True),
        FacilityType("canteen", "社区食堂", "Community canteen", "食", "#2a9d8f",
                     500, _GB50180_10 + "（地方做法）"),
        FacilityType("market", "菜市场", "Fresh market", "市", "#6a994e",
                     500, _GB50180_10 + "；菜市场 ≤500 m"),
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
    """Override a type's reach (a city's own plan), keeping the rest of the entry.
    Changes the process-wide table: for one question pass ``coverage.Scenario(reach=…)``."""
    if reach_m <= 0:
        raise ValueError(f"reach must be positive metres, got {reach_m}")
    FACILITY_TYPES[key] = replace(facility_type(key), reach_m=float(reach_m), source=source)


def required_types() -> list[str]:
    """The types every resident should reach (complete-community required set)."""
    return [k for k, t in FACILITY_TYPES.items() if t.required]


def load_reach_file(path: str | Path) -> dict[str, FacilityType]:
    """Apply a city's reach table: JSON or TOML mapping type → metres, or type → a table
    with ``reach_m`` and optionally ``source`` and ``required``.

    JSON: ``{"clinic": {"reach_m": 800, "source": "某市15分钟社区生活圈规划"}, "market": 600}``
    TOML: ``[clinic]`` / ``reach_m = 800`` / ``source = "…"``

    A bad file is refused whole (nothing applied) with the file and entry named.
    Returns the entries that changed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:  # tomllib/json errors are ValueErrors
        raise ValidationError(f"reach file {path}: cannot read it ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValidationError(f"reach file {path}: expected a table of facility types")
    changed = {}
    for key, value in raw.items():
        entry = value if isinstance(value, dict) else {"reach_m": value}
        where = f"reach file {path}, {key!r}"
        if key not in FACILITY_TYPES:
            raise ValidationError(f"{where}: unknown facility type; known types: {', '.join(FACILITY_TYPES)}")
        unknown = set(entry) - {"reach_m", "source", "required"}
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {sorted(unknown)}")
        reach = entry.get("reach_m")
        if isinstance(reach, bool) or not isinstance(reach, (int, float)) or not reach > 0:
            raise ValidationError(f"{where}: reach_m must be positive metres, got {reach!r}")
        old = FACILITY_TYPES[key]
        changed[key] = replace(old, reach_m=float(reach), source=str(entry.get("source", f"{path.name}")),
                               required=bool(entry.get("required", old.required)))
    FACILITY_TYPES.update(changed)
    return changed


if settings.REACH_FILE:  # a city's own table, read once at start
    load_reach_file(settings.REACH_FILE)
