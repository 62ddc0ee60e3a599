"""The layers a street is made of, and the columns each takes (with the names offices give them).

One table, so the mapping step, the checks, the writer and the exports agree on what a
layer holds. ``aliases`` are the column names seen in street offices' files (Chinese first,
then what QGIS/ArcGIS and OpenStreetMap write); ``guess`` in geo.load.mapping matches a
file's columns against them.
"""
from __future__ import annotations

from dataclasses import dataclass

from geo.i18n import t


@dataclass(frozen=True)
class Field:
    key: str
    kind: str  # text / code / int / float / bool / phone / idno / lon / lat / datum
    aliases: tuple[str, ...] = ()
    required: bool = False

    def label(self, lang: str = "zh") -> str:
        return t(f"load.field_{self.key}", lang)


@dataclass(frozen=True)
class LayerSpec:
    key: str
    geometry: str | None  # polygon / point / line / None (a table: the household register)
    fields: tuple[Field, ...]

    def label(self, lang: str = "zh") -> str:
        return t(f"load.layer_{self.key}", lang)

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]


CODE = ("编码", "代码", "编号", "code", "区划代码", "统一编码", "id_code")
NAME = ("名称", "name", "名字")
LON = ("经度", "lon", "lng", "longitude", "x", "东经", "x坐标")
LAT = ("纬度", "lat", "latitude", "y", "北纬", "y坐标")

LAYERS: dict[str, LayerSpec] = {s.key: s for s in (
    LayerSpec("street", "polygon", (
        Field("code", "code", ("街道编码", "街道代码", "乡镇编码", *CODE), required=True),
        Field("name", "text", ("街道名称", "乡镇名称", "街道", *NAME), required=True),
    )),
    LayerSpec("community", "polygon", (
        Field("code", "code", ("社区编码", "社区代码", "村居编码", "居委会代码", *CODE), required=True),
        Field("name", "text", ("社区名称", "社区", "村居名称", *NAME), required=True),
    )),
    LayerSpec("grid", "polygon", (
        Field("code", "code", ("网格编码", "网格代码", "网格编号", *CODE), required=True),
        Field("name", "text", ("网格名称", "网格", *NAME), required=True),
        Field("grid_type", "text", ("网格类型", "类型", "type", "grid_type")),
        Field("community_code", "code", ("所属社区编码", "社区编码", "社区代码", "community_code", "comm_code")),
    )),
    LayerSpec("building", "polygon", (
        Field("code", "code", ("楼栋编码", "楼栋编号", "建筑编码", "建筑物编码", "bldg_code", *CODE)),
        Field("name", "text", ("楼栋名称", "建筑名称", "楼栋", "楼号", *NAME)),
        Field("address", "text", ("地址", "门牌地址", "楼栋地址", "标准地址", "address", "addr", "addr:street")),
        Field("floors", "int", ("层数", "楼层数", "地上层数", "floors", "building:levels", "levels")),
        Field("units", "int", ("单元数", "units")),
        Field("households", "int", ("户数", "住户数", "households")),
        Field("residents", "int", ("人口", "人数", "居住人口", "实有人口", "residents", "population")),
        Field("entrance_lon", "lon", ("入口经度", "出入口经度", "门口经度", "entrance_lon", "door_lon")),
        Field("entrance_lat", "lat", ("入口纬度", "出入口纬度", "门口纬度", "entrance_lat", "door_lat")),
        Field("lon", "lon", LON), Field("lat", "lat", LAT),
    )),
    LayerSpec("register", None, (
        Field("household_code", "code", ("户号", "户编号", "户籍编号", "家庭编号", "household_code", "hh_code")),
        Field("building_code", "code", ("楼栋编码", "楼栋编号", "建筑编码", "building_code", "bldg_code")),
        Field("address", "text", ("住址", "居住地址", "现住址", "地址", "address")),
        Field("unit_no", "int", ("单元", "单元号", "unit", "unit_no")),
        Field("room", "text", ("房号", "室", "房间号", "门牌号", "room")),
        Field("size", "int", ("户人数", "家庭人口", "人数", "size")),
        Field("name", "text", ("姓名", "name")),
        Field("id_number", "idno", ("公民身份号码", "身份证号", "身份证号码", "证件号码", "id_number")),
        Field("gender", "text", ("性别", "gender", "sex")),
        Field("birth", "text", ("出生日期", "出生年月", "出生年份", "birth", "birth_year")),
        Field("phone", "phone", ("联系电话", "电话", "手机", "手机号码", "phone")),
        Field("elderly_alone", "bool", ("独居老人", "独居", "elderly_alone", "elderly")),
        Field("disabled", "bool", ("残疾", "残疾人", "disabled")),
        Field("low_income", "bool", ("低保", "低保户", "低收入", "low_income")),
        Field("party_member", "bool", ("党员", "政治面貌", "party_member")),
    )),
    LayerSpec("facility", "point", (
        Field("code", "code", ("设施编码", "设施编号", *CODE)),
        Field("type", "text", ("设施类型", "类型", "类别", "type", "amenity"), required=True),
        Field("name", "text", ("设施名称", *NAME), required=True),
        Field("address", "text", ("地址", "address")),
        Field("open_hours", "text", ("开放时间", "营业时间", "opening_hours", "open_hours")),
        Field("lon", "lon", LON), Field("lat", "lat", LAT),
    )),
    LayerSpec("camera", "point", (
        Field("code", "code", ("设备编码", "点位编码", "国标编码", "摄像机编码", *CODE), required=True),
        Field("name", "text", ("点位名称", "设备名称", *NAME), required=True),
        Field("heading", "float", ("朝向", "方向角", "方位角", "heading", "direction")),
        Field("fov", "float", ("视角", "水平视场角", "fov")),
        Field("range_m", "float", ("可视距离", "监控距离", "range", "range_m")),
        Field("status", "text", ("状态", "在线状态", "设备状态", "status")),
        Field("kind", "text", ("建设类别", "所属工程", "类别", "kind")),
        Field("lon", "lon", LON), Field("lat", "lat", LAT),
    )),
    LayerSpec("road", "line", (
        Field("code", "code", ("osm_code", "道路编码", "osm_id", "id", *CODE)),
        Field("name", "text", ("道路名称", "路名", *NAME)),
        Field("kind", "text", ("道路等级", "等级", "highway", "kind", "fclass")),
        Field("level", "int", ("level", "层级", "layer")),
    )),
)}

#: The order layers are checked, referenced and written in (each may point at the ones before it).
ORDER: tuple[str, ...] = ("street", "community", "grid", "road", "building", "register", "facility", "camera")

#: Grid types as offices write them → ours (DOMAIN.md: 片区型 / 小区型 / 楼院型 / 单位型).
GRID_TYPES: dict[str, str] = {"片区型": "area", "片区": "area", "小区型": "estate", "小区": "estate",
                              "楼院型": "courtyard", "楼院": "courtyard", "院落": "courtyard",
                              "单位型": "unit", "单位": "unit", "area": "area", "estate": "estate",
                              "courtyard": "courtyard", "unit": "unit"}
#: Camera status as offices write it → ours.
CAMERA_STATUS: dict[str, str] = {"在线": "online", "正常": "online", "online": "online", "1": "online",
                                 "离线": "offline", "offline": "offline", "0": "offline",
                                 "故障": "fault", "损坏": "fault", "fault": "fault"}
#: Road classes (OpenStreetMap highway=* and Chinese road grades) → ours (arterial / street / lane / footway).
ROAD_KINDS: dict[str, str] = {
    **dict.fromkeys(("motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link", "primary_link",
                     "secondary_link", "主干路", "快速路", "主干道", "arterial"), "arterial"),
    **dict.fromkeys(("tertiary", "tertiary_link", "residential", "unclassified", "living_street", "次干路",
                     "支路", "street"), "street"),
    **dict.fromkeys(("service", "track", "巷道", "小区道路", "lane"), "lane"),
    **dict.fromkeys(("footway", "path", "pedestrian", "steps", "cycleway", "corridor", "bridleway", "elevator",
                     "trail", "步行道", "人行道", "footway"), "footway"),
}
