"""Interface strings, Simplified Chinese first, English available.

One table for every label a page shows. ``t(key)`` returns the Chinese text
unless English is asked for; a missing English entry falls back to Chinese
rather than showing a key to a user.
"""
from __future__ import annotations

from geo import settings

LANGS = {"zh": "简体中文", "en": "English"}

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"zh": "社区治理一张图", "en": "Community Governance Map"},
    "lang.label": {"zh": "语言 / Language", "en": "Language / 语言"},
    "page.map": {"zh": "一张图", "en": "Map"},
    "db.building": {"zh": "首次启动：正在生成示范街道数据…", "en": "First start: building the demo street…"},
    "db.ready": {"zh": "示范街道已就绪", "en": "Demo street ready"},
    "layer.communities": {"zh": "社区", "en": "Communities"},
    "layer.grids": {"zh": "网格", "en": "Grids"},
    "layer.buildings": {"zh": "楼栋", "en": "Buildings"},
    "layer.roads": {"zh": "道路", "en": "Roads"},
    "layer.tickets": {"zh": "未办结工单", "en": "Open tickets"},
    "layer.cameras": {"zh": "视频监控", "en": "Cameras"},
    "layer.facilities": {"zh": "服务设施", "en": "Service facilities"},
    "basemap.label": {"zh": "底图", "en": "Basemap"},
    "basemap.offline": {"zh": "离线（本地道路与轮廓）", "en": "Offline (own roads and outlines)"},
    "basemap.osm": {"zh": "OpenStreetMap", "en": "OpenStreetMap"},
    "field.code": {"zh": "编码", "en": "Code"},
    "field.community": {"zh": "所属社区", "en": "Community"},
    "field.grid": {"zh": "所属网格", "en": "Grid"},
    "field.grid_type": {"zh": "网格类型", "en": "Grid type"},
    "field.households": {"zh": "户数", "en": "Households"},
    "field.residents": {"zh": "人口", "en": "Residents"},
    "field.grid_head": {"zh": "网格长", "en": "Grid head"},
    "field.category": {"zh": "类别", "en": "Category"},
    "field.state": {"zh": "状态", "en": "State"},
    "field.created": {"zh": "上报时间", "en": "Reported"},
    "field.due": {"zh": "办理时限", "en": "Due"},
    "field.overdue": {"zh": "已超期", "en": "Overdue"},
    "field.heading": {"zh": "朝向", "en": "Heading"},
    "field.status": {"zh": "状态", "en": "Status"},
    "field.type": {"zh": "类型", "en": "Type"},
    "field.reach": {"zh": "服务半径", "en": "Reach"},
    "camera.online": {"zh": "在线", "en": "Online"},
    "camera.offline": {"zh": "离线", "en": "Offline"},
    "camera.fault": {"zh": "故障", "en": "Fault"},
    "grid_type.area": {"zh": "片区型", "en": "Area"},
    "grid_type.estate": {"zh": "小区型", "en": "Estate"},
    "grid_type.courtyard": {"zh": "楼院型", "en": "Courtyard"},
    "grid_type.unit": {"zh": "单位型", "en": "Work unit"},
    "layer.street": {"zh": "街道范围", "en": "Street boundary"},
    "layer.grid_labels": {"zh": "网格名称", "en": "Grid names"},
    "field.name": {"zh": "名称", "en": "Name"},
    "field.floors": {"zh": "层数", "en": "Floors"},
    "field.fov": {"zh": "视角", "en": "Field of view"},
    "field.range": {"zh": "监控距离", "en": "Range"},
    "field.urgent": {"zh": "紧急", "en": "Urgent"},
    "field.road_kind": {"zh": "道路等级", "en": "Road class"},
    "road.arterial": {"zh": "主干路", "en": "Arterial"},
    "road.street": {"zh": "街巷", "en": "Street"},
    "road.lane": {"zh": "小巷", "en": "Lane"},
    "road.footway": {"zh": "步道", "en": "Footway"},
    "common.yes": {"zh": "是", "en": "Yes"},
    "common.no": {"zh": "否", "en": "No"},
    "metric.communities": {"zh": "社区", "en": "Communities"},
    "metric.grids": {"zh": "网格", "en": "Grids"},
    "metric.residents": {"zh": "常住人口", "en": "Residents"},
    "metric.households": {"zh": "户数", "en": "Households"},
    "metric.open_tickets": {"zh": "在办工单", "en": "Open tickets"},
    "metric.overdue": {"zh": "超期工单", "en": "Overdue"},
    "metric.cameras_online": {"zh": "监控在线", "en": "Cameras online"},
    "metric.facilities": {"zh": "服务设施", "en": "Facilities"},
    "map.subtitle": {"zh": "社区、网格、在办工单、视频监控与服务设施一张图",
                     "en": "Communities, grids, open tickets, cameras and facilities on one map"},
    "map.legend": {"zh": "工单状态", "en": "Ticket states"},
    "map.overdue_ring": {"zh": "红圈 = 已超期", "en": "red ring = overdue"},
    "map.offline_note": {"zh": "离线底图：不访问任何外部地址，适用于指挥中心内网",
                         "en": "Offline basemap: no outside host is contacted (intranet command centres)"},
}


def t(key: str, lang: str | None = None) -> str:
    """The label for ``key`` in ``lang`` (Chinese by default)."""
    lang = lang or settings.DEFAULT_LANG
    entry = STRINGS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["zh"]
