"""The demo town: a street modelled on a town around Pengzhou, Sichuan.

``python -m geo.demo`` builds it into the database (or a file given with
``--output``) and prints a summary. The same seed always gives the same town.
Everything is laid out in a metric CRS (UTM 48N) and stored in lon-lat.

How the town is made, and why:
- communities are Voronoi cells of relaxed seeds clipped to an irregular
  street outline, so they tile the street exactly and look irregular;
- grids are Voronoi cells inside each community (they tile it), then filled
  with buildings until they hold 320–480 households (the 300–500 rule);
- roads follow community and grid boundaries (grids are usually cut along
  streets), with a footway from every building entrance to the nearest road;
- tickets are driven through ``geo.tickets.workflow`` so their history obeys the rules.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.ops import nearest_points

from geo import i18n, settings
from geo.tickets import categories, rules, workflow
from geo.place.catalogue import FACILITY_TYPES

Progress = Callable[[float, str], None]
Town = dict[str, list[dict]]

ORIGIN_LONLAT = (103.958, 30.990)  # Pengzhou town centre
COUNTY_CODE = "510182"  # 彭州市
STREET_NAMES = ["天彭街道", "致和街道", "濛阳街道", "隆丰街道", "丽春街道", "葛仙山街道", "军乐街道",
                "升平街道", "桂花街道", "红岩街道", "通济街道", "丹景山街道", "敖平街道", "九尺街道",
                "磁峰街道", "新兴街道", "白鹿街道", "龙门山街道", "小鱼洞街道", "三界街道"]
COMMUNITY_NAMES = ["东大街社区", "南街社区", "西河社区", "北城社区", "金彭社区", "湔江社区",
                   "柏木社区", "牡丹社区", "天府社区", "龙兴社区", "青龙社区", "朝阳社区"]
ROAD_NAMES = ["天彭路", "金彭大道", "南大街", "北大街", "东三环路", "西环路", "牡丹大道", "湔江路",
              "朝阳路", "建设路", "致和路", "人民路", "青年路", "花园路", "文化路", "丹景路"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红玉兰志强德福文俊")
PHONE_PREFIXES = ["138", "139", "135", "136", "137", "150", "151", "158", "159", "182", "187",
                  "188", "130", "131", "132", "155", "186", "133", "153", "180", "189", "177", "199"]
GRID_TYPE_SPEC = {  # floors, units, doors per floor, footprint (length, depth) m
    "estate": dict(floors=(11, 26), units=(2, 3), doors=2, size=(42, 15), estate_kind="commercial"),
    "courtyard": dict(floors=(5, 7), units=(1, 3), doors=2, size=(30, 12), estate_kind="old"),
    "unit": dict(floors=(4, 6), units=(2, 3), doors=2, size=(34, 12), estate_kind="unit"),
    "area": dict(floors=(3, 6), units=(1, 2), doors=2, size=(22, 11), estate_kind=None),
}
#: What residents really write, per category ({b}: the building). Chosen by ticket id, so the
#: random stream (and with it the rest of the town) does not depend on this table.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "streetlight_road": ("{b}前路灯不亮，夜间出行不便", "{b}旁人行道地砖破损松动", "{b}附近路面坑洼，下雨积水",
                         "{b}路口井盖缺失，存在安全隐患"),
    "water": ("{b}停水一天未恢复", "{b}二次供水水压不足，高层没水", "{b}楼下供水管爆裂漏水", "{b}自来水发黄有异味"),
    "sanitation": ("{b}垃圾桶满溢三天未清运", "{b}楼道堆放杂物无人清理", "{b}旁绿化带堆有建筑垃圾",
                   "{b}附近下水道堵塞，污水外溢"),
    "property": ("{b}电梯故障停运", "{b}单元门禁损坏", "{b}顶楼漏水，物业迟迟未处理", "{b}楼下停车乱，消防车进不来"),
    "dispute": ("{b}楼上漏水引发邻里纠纷", "{b}住户养狗扰民，多次协商未果", "{b}夜间装修噪音扰民",
                "{b}公共楼道被邻居长期占用"),
    "safety_hazard": ("{b}有住户把电动车推进楼道充电", "{b}外墙瓷砖松动，有脱落风险", "{b}燃气管道老化有异味",
                      "{b}私拉电线飞线充电"),
    "fire_equipment": ("{b}消防栓打开无水", "{b}灭火器过期未更换", "{b}消防通道被车辆堵塞", "{b}楼道应急灯损坏"),
    "public_order": ("{b}附近夜间有人聚集喧哗", "{b}发现可疑人员撬锁", "{b}门口占道经营", "{b}楼下电动车被盗"),
    "employment": ("{b}住户失业，求助推荐工作", "{b}应届毕业生咨询就业补贴", "{b}残疾居民申请就业帮扶",
                   "{b}居民咨询技能培训报名"),
    "elderly_care": ("{b}独居老人需要上门助餐", "{b}高龄老人申请居家养老服务", "{b}老人行动不便，需代办社保认证",
                     "{b}独居老人多日未出门，请上门查看"),
    "legal_aid": ("{b}居民咨询房屋租赁纠纷", "{b}住户遭遇电信诈骗求助", "{b}居民咨询遗产继承", "{b}老人咨询子女赡养纠纷"),
    "epidemic": ("{b}返乡人员登记排查", "{b}有居民发热，需登记随访", "{b}居民咨询疫苗接种点", "{b}重点人群健康监测"),
    "wage_arrears": ("{b}住户被拖欠工资三个月", "{b}附近工地农民工讨薪", "{b}住户反映装修公司欠薪",
                     "{b}门口餐馆员工工资未发放"),
}
DEPARTMENT_STAFF = ["李科长", "王主任", "张队长", "刘所长", "陈站长"]
VOLUNTEER_SPECIALTIES = ["纠纷调解", "环境清洁", "法律咨询", "邻里互助", "治安巡逻", "文明劝导"]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
PRECISION = 0.01  # metres: the grid all tiling overlays snap to
GRID_ROW_M = 250.0  # depth of a numbering row of grids (about one block)
COMMUNITY_ROW_M = 600.0  # depth of a numbering row of communities
LINK_HOUSEHOLDS = 30  # households per household-link head (联户长): 1,700 heads for 138 grids


@dataclass
class Ids:
    """Running primary keys, shared across streets so district scale stays unique."""

    next: dict[str, int] = field(default_factory=dict)

    def __call__(self, table: str) -> int:
        self.next[table] = self.next.get(table, 0) + 1
        return self.next[table]


# --------------------------------------------------------------------------- geometry

def _street_outline(rng: np.random.Generator, radius: float) -> Polygon:
    """An irregular blob: a circle with a few low harmonics, like a real town's edge."""
    theta = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    r = radius * (1 + 0.10 * np.sin(3 * theta + rng.uniform(0, 6))
                  + 0.06 * np.sin(5 * theta + rng.uniform(0, 6))
                  + 0.03 * rng.standard_normal(theta.size))
    return Polygon(np.c_[r * np.cos(theta), r * np.sin(theta) * 0.85]).buffer(0)


def _relaxed_seeds(rng: np.random.Generator, poly: Polygon, n: int, rounds: int = 8) -> np.ndarray:
    """n well-spread seed points in poly (Lloyd relaxation on sampled points)."""
    samples = _sample_points(rng, poly, max(400, 60 * n))
    seeds = samples[rng.choice(len(samples), n, replace=False)]
    for _ in range(rounds):
        d = ((samples[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
        owner = d.argmin(1)
        seeds = np.array([samples[owner == k].mean(0) if (owner == k).any() else seeds[k]
                          for k in range(n)])
    return seeds


def _sample_points(rng: np.random.Generator, poly: Polygon, n: int) -> np.ndarray:
    x0, y0, x1, y1 = poly.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        pts = rng.uniform([x0, y0], [x1, y1], size=(n * 2, 2))
        inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
        out = np.vstack([out, pts[inside]])
    return out[:n]


def _voronoi_tiles(seeds: np.ndarray, region: Polygon) -> list[Polygon]:
    """Voronoi cells of seeds clipped to region, in seed order: they tile region.

    The cell edges and the region's outline are noded together once and then
    polygonised, so neighbouring tiles share exactly the same edge vertices:
    no slivers, no overlaps (clipping each cell on its own leaves both).
    """
    cells = list(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=region.buffer(500)).geoms)
    edges = shapely.union_all([region.boundary, *[c.boundary for c in cells]])
    faces = [f for f in shapely.polygonize(list(getattr(edges, "geoms", [edges]))).geoms
             if region.contains(f.representative_point())]
    cell_of_seed = [next(i for i, c in enumerate(cells) if c.covers(Point(x, y))) for x, y in seeds]
    tree = shapely.STRtree(cells)
    owner = {}
    for face in faces:
        p = face.representative_point()
        hits = [int(i) for i in tree.query(p, predicate="covered_by")]
        owner.setdefault(hits[0], []).append(face)
    tiles = []
    for ci in cell_of_seed:
        parts = sorted(owner.get(ci, []), key=lambda f: -f.area)
        tiles.append([parts[0], parts[1:]])
    # a cell may cut a concave region into pieces: keep the main piece, give the rest
    # to the neighbour sharing most edge
    for i in range(len(tiles)):
        for piece in tiles[i][1]:
            k = max((j for j in range(len(tiles)) if j != i),
                    key=lambda j: tiles[j][0].boundary.intersection(piece.boundary).length)
            tiles[k][0] = shapely.union(tiles[k][0], piece)
        tiles[i][1] = []
    return [t[0] for t in tiles]


def reading_order(polys: list[Polygon], row_m: float) -> np.ndarray:
    """Indices of ``polys`` in numbering order: west→east, then north→south (DOMAIN.md).

    Rows are bands ``row_m`` deep counted down from the northernmost centroid,
    so numbers read like lines of text across the map. The order is taken on
    the finished tiles, not on the seeds that made them: a seed can sit far
    from the centroid of its clipped cell.
    """
    c = shapely.get_coordinates(shapely.centroid(np.asarray(polys, dtype=object)))
    row = np.floor((c[:, 1].max() - c[:, 1]) / row_m)
    return np.lexsort((c[:, 0], row))


def _rect(cx: float, cy: float, length: float, depth: float, angle: float) -> Polygon:
    c, s = math.cos(angle), math.sin(angle)
    corners = [(-length / 2, -depth / 2), (length / 2, -depth / 2), (length / 2, depth / 2),
               (-length / 2, depth / 2)]
    return Polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners])


# --------------------------------------------------------------------------- people

def _names(rng: np.random.Generator, n: int) -> list[str]:
    sur = rng.choice(SURNAMES, n)
    g1 = rng.choice(GIVEN, n)
    g2 = rng.choice(GIVEN, n)
    two = rng.random(n) < 0.7
    return [s + a + (b if t else "") for s, a, b, t in zip(sur, g1, g2, two)]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    pre = rng.choice(PHONE_PREFIXES, n)
    body = rng.integers(0, 10**8, n)
    return [f"{p}{b:08d}" for p, b in zip(pre, body)]


def _description(cat, building: str, tid: int) -> str:
    """A resident's words for a ticket of ``cat`` at ``building`` (tests/test_demo: every category has lines)."""
    lines = DESCRIPTIONS[cat.key]
    return lines[tid % len(lines)].format(b=building)


def id_number(region: str, birth: datetime, seq: int) -> str:
    """An 18-digit resident ID with the GB 11643 check digit (demo data only)."""
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS)) % 11]


# --------------------------------------------------------------------------- the street

class StreetBuilder:
    """Builds one street into ``town`` (rows per table), in metric coordinates."""

    def __init__(self, rng: np.random.Generator, ids: Ids, town: Town, *, index: int,
                 offset: tuple[float, float], now: datetime, to_lonlat: Transformer):
        self.rng, self.ids, self.town, self.index = rng, ids, town, index
        self.offset, self.now, self.tf = offset, now, to_lonlat
        self.code = f"{COUNTY_CODE}{index + 1:03d}"
        self.name = STREET_NAMES[index % len(STREET_NAMES)]
        self.grid_polys: dict[int, Polygon] = {}
        self.grid_community: dict[int, int] = {}
        self.buildings: list[dict] = []  # metric copies for placement of points
        self.road_lines: list[LineString] = []
        self.lanes: list[LineString] = []
        self.staff: dict[tuple[str, int], list[str]] = {}

    # -- helpers
    def ll(self, geom):
        """Metric geometry → lon-lat geometry."""
        return shapely.transform(geom, lambda xy: np.column_stack(
            self.tf.transform(xy[:, 0] + self.offset[0], xy[:, 1] + self.offset[1])))

    def add(self, table: str, row: dict) -> dict:
        row.setdefault("id", self.ids(table))
        self.town.setdefault(table, []).append(row)
        return row

    # -- steps
    def build(self, n_communities: int = 8) -> None:
        rng = self.rng
        self.radius = 1650 * math.sqrt(n_communities / 8)  # ~1.1 km² per community
        outline = shapely.set_precision(_street_outline(rng, self.radius), PRECISION)
        street = self.add("street", dict(code=self.code, name=self.name, geom=self.ll(outline)))
        self.street_id = street["id"]
        seeds = _relaxed_seeds(rng, outline, n_communities)
        tiles = _voronoi_tiles(seeds, outline)
        tiles = [tiles[i] for i in reading_order(tiles, COMMUNITY_ROW_M)]
        for k, tile in enumerate(tiles):
            name = COMMUNITY_NAMES[(k + self.index) % len(COMMUNITY_NAMES)]
            c = self.add("community", dict(street_id=self.street_id, code=f"{self.code}{k + 1:03d}",
                                           name=name, geom=self.ll(tile)))
            self._grids(c, tile)
        self._roads(outline, tiles)
        self._footways()
        self._people()
        self._facilities(tiles)
        self._open_spaces(tiles)
        self._cameras()

    def _grids(self, community: dict, tile: Polygon) -> None:
        rng = self.rng
        n = max(6, int(round(tile.area / 1e6 * 9.5)))
        polys = _voronoi_tiles(_relaxed_seeds(rng, tile, n), tile)
        number = np.argsort(reading_order(polys, GRID_ROW_M))  # tile i gets grid number number[i] + 1
        for i, poly in enumerate(polys):
            k = int(number[i])
            dist = np.hypot(*poly.centroid.coords[0]) / self.radius
            weights = np.array([0.15 + 0.5 * dist, 0.45 - 0.25 * dist, 0.28, 0.12])
            gtype = rng.choice(["area", "estate", "courtyard", "unit"], p=weights / weights.sum())
            grid = self.add("grid", dict(community_id=community["id"], code=f"{community['code']}{k + 1:03d}",
                                         name=f"{community['name'].removesuffix('社区')}第{k + 1}网格",
                                         grid_type=str(gtype), geom=self.ll(poly)))
            self.grid_polys[grid["id"]] = poly
            self.grid_community[grid["id"]] = community["id"]
            self._buildings(grid, poly, gtype)

    def _buildings(self, grid: dict, poly: Polygon, gtype: str) -> None:
        rng, spec = self.rng, GRID_TYPE_SPEC[gtype]
        target = int(rng.integers(320, 481))
        angle = math.radians(rng.normal(0, 8))
        lanes = self._lanes(poly, angle)
        region = poly.buffer(-14)
        if region.is_empty:
            region = poly.buffer(-4)
        if lanes:  # keep buildings off the lanes that cross the grid
            region = region.difference(shapely.union_all(lanes).buffer(10))
        length, depth = spec["size"]
        placed: list[Polygon] = []
        total, tries = 0, 0
        grid_buildings = []
        while total < target:
            tries += 1
            cx, cy = _sample_points(rng, region, 1)[0]
            fp = _rect(cx, cy, length * rng.uniform(0.85, 1.15), depth, angle + rng.normal(0, 0.05))
            clear = 9 if tries < 4000 else 3
            if tries < 8000 and (not region.contains(fp) or any(fp.distance(p) < clear for p in placed)):
                continue
            floors = int(rng.integers(spec["floors"][0], spec["floors"][1] + 1))
            units = int(rng.integers(spec["units"][0], spec["units"][1] + 1))
            doors = spec["doors"]
            hh = floors * units * doors
            if total + hh > 480:  # trim the last building so the grid stays within 300–500
                floors = max(1, (480 - total) // (units * doors))
                hh = floors * units * doors
                if total + hh < 320 or hh == 0:
                    units, doors = 1, 1
                    floors = max(1, 480 - total)
                    hh = floors
            placed.append(fp)
            total += hh
            grid_buildings.append((fp, floors, units, doors, hh))
        estate_id = None
        if spec["estate_kind"]:
            hull = MultiPoint([c for fp, *_ in grid_buildings for c in fp.exterior.coords]).convex_hull
            kind = spec["estate_kind"]
            no_org = kind == "old" and rng.random() < 0.5  # 三无小区
            estate = self.add("estate", dict(
                grid_id=grid["id"], name=f"{grid['name'].split('第')[0]}{rng.choice(list('锦华瑞祥和嘉怡'))}"
                f"{rng.choice(['苑', '园', '小区', '家园', '院'])}{grid['code'][-2:]}",
                kind=kind, has_property_company=not no_org, has_owners_committee=not no_org,
                geom=self.ll(hull.buffer(10).intersection(poly))))
            estate_id = estate["id"]
        for n, (fp, floors, units, doors, hh) in enumerate(grid_buildings, start=1):
            entrance = Point(fp.centroid.x, fp.centroid.y - depth / 2)  # door on the south side
            e_ll = self.ll(entrance)
            b = self.add("building", dict(
                grid_id=grid["id"], estate_id=estate_id, name=f"{n}栋", floors=floors, units=units,
                households=hh, residents=0, entrance_lon=e_ll.x, entrance_lat=e_ll.y,
                geom=self.ll(fp)))
            self.buildings.append(dict(id=b["id"], grid_id=grid["id"], fp=fp, entrance=entrance, row=b,
                                       doors=doors))
            self._households(b, floors, units, doors)

    def _lanes(self, poly: Polygon, angle: float) -> list[LineString]:
        """Two lanes through the grid (east–west and north–south, along its buildings).

        Real blocks are crossed by lanes and estate roads; without them every
        door would reach the street only by the grid's edge and walks would be
        far longer than in a real town.
        """
        c = poly.centroid
        lanes = []
        for a in (angle, angle + math.pi / 2):
            dx, dy = math.cos(a) * 3000, math.sin(a) * 3000
            cut = LineString([(c.x - dx, c.y - dy), (c.x + dx, c.y + dy)]).intersection(poly)
            lanes += [g for g in getattr(cut, "geoms", [cut]) if g.geom_type == "LineString" and g.length > 80]
        self.lanes.extend(lanes)
        return lanes

    def _households(self, b: dict, floors: int, units: int, doors: int) -> None:
        rng = self.rng
        n = floors * units * doors
        sizes = rng.choice([1, 2, 3, 4, 5], n, p=[0.20, 0.30, 0.28, 0.14, 0.08])
        low_income = rng.random(n) < 0.025
        k = 0
        for u in range(1, units + 1):
            for f in range(1, floors + 1):
                for d in range(1, doors + 1):
                    self.add("household", dict(building_id=b["id"], grid_id=b["grid_id"], unit_no=u,
                                               room=f"{f}{d:02d}", size=int(sizes[k]),
                                               elderly_alone=False, low_income=bool(low_income[k])))
                    k += 1
        b["residents"] = int(sizes.sum())

    def _residents_for_new_households(self, first_household: int) -> None:
        """Residents of every household added so far, generated as whole arrays."""
        rng = self.rng
        hhs = self.town["household"][first_household:]
        sizes = np.array([h["size"] for h in hhs])
        n = int(sizes.sum())
        hh_index = np.repeat(np.arange(len(hhs)), sizes)
        pos = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        age = np.clip(rng.normal(42, 20, n), 0, 98).astype(int)
        alone = sizes[hh_index] == 1
        old_alone = alone & (rng.random(n) < 0.55)
        age[old_alone] = rng.integers(65, 95, old_alone.sum())
        age[(pos == 0) & (age < 20)] += 25  # the first member is an adult
        birth_year = self.now.year - age
        gender = rng.choice(["M", "F"], n)
        names = _names(rng, n)
        phones = _phones(rng, n)
        disabled = rng.random(n) < 0.015
        party = (age >= 18) & (rng.random(n) < 0.05)
        doy = rng.integers(0, 365, n)
        seqs = rng.integers(0, 500, n) * 2 + (gender == "M")
        cum = np.cumsum(sizes) - sizes
        for h_i, h in enumerate(hhs):
            if h["size"] == 1 and old_alone[cum[h_i]]:
                h["elderly_alone"] = True
        for i in range(n):
            h = hhs[hh_index[i]]
            birth = datetime(int(birth_year[i]), 1, 1) + timedelta(days=int(doy[i]))
            self.add("resident", dict(
                household_id=h["id"], grid_id=h["grid_id"], name=names[i], gender=gender[i],
                birth_year=int(birth_year[i]), phone=phones[i] if age[i] >= 14 else None,
                id_number=id_number(COUNTY_CODE, birth, int(seqs[i])),
                elderly_alone=bool(old_alone[i]), disabled=bool(disabled[i]),
                low_income=bool(h["low_income"]), party_member=bool(party[i])))

    def _roads(self, outline: Polygon, tiles: list[Polygon]) -> None:
        """Community edges are arterial roads, grid edges streets, lanes cross the grids; all walkable."""
        comm_edges = shapely.line_merge(shapely.union_all([t.boundary for t in tiles]))
        grid_edges = shapely.union_all([p.boundary for p in self.grid_polys.values()])
        inner = shapely.line_merge(grid_edges.difference(comm_edges.buffer(0.5)))
        for kind, lines in (("arterial", comm_edges), ("street", inner), ("lane", shapely.MultiLineString(self.lanes))):
            for line in getattr(lines, "geoms", [lines]):
                if line.length < 1:
                    continue
                name = ROAD_NAMES[int(self.rng.integers(len(ROAD_NAMES)))] if kind == "arterial" else None
                self.add("road", dict(kind=kind, name=name, geom=self.ll(line)))
                self.road_lines.append(line)

    def _footways(self) -> None:
        """A path from each building entrance to the nearest road, so every door is on the network."""
        roads = shapely.union_all(self.road_lines)
        for b in self.buildings:
            _, on_road = nearest_points(b["entrance"], roads)
            path = LineString([b["entrance"], on_road])
            if path.length > 0.5:
                self.add("road", dict(kind="footway", name=None, geom=self.ll(path)))

    def _people(self) -> None:
        rng = self.rng
        first = self._first_household
        self._residents_for_new_households(first)
        residents = [r for r in self.town["resident"] if r["id"] >= self._first_resident_id]
        street_id = self.street_id
        for grid_id, community_id in self.grid_community.items():
            for role, count in (("grid_head", 1), ("grid_worker", 2), ("grid_assistant", 1),
                                ("grid_supervisor", 1)):
                for nm, ph in zip(_names(rng, count), _phones(rng, count)):
                    p = self.add("person", dict(role=role, name=nm, phone=ph, street_id=street_id,
                                                community_id=community_id, grid_id=grid_id))
                    self.staff.setdefault((role, grid_id), []).append(p["name"])
        grid_buildings: dict[int, list[dict]] = {}
        for b in self.buildings:
            grid_buildings.setdefault(b["grid_id"], []).append(b)
            if b["row"]["households"] >= 12:
                nm, ph = _names(rng, 1)[0], _phones(rng, 1)[0]
                self.add("person", dict(role="building_head", name=nm, phone=ph, street_id=street_id,
                                        community_id=self.grid_community[b["grid_id"]],
                                        grid_id=b["grid_id"], building_id=b["id"]))
        households = [h for h in self.town["household"][first:]]
        by_grid_hh: dict[int, list[dict]] = {}
        for h in households:
            by_grid_hh.setdefault(h["grid_id"], []).append(h)
        for grid_id, hhs in by_grid_hh.items():  # 联户长: neighbours in one grid, about 30 each
            for i in range(0, len(hhs), LINK_HOUSEHOLDS):
                head = self.add("person", dict(role="household_link_head", name=_names(rng, 1)[0],
                                               phone=_phones(rng, 1)[0], street_id=street_id,
                                               community_id=self.grid_community[grid_id], grid_id=grid_id,
                                               building_id=hhs[i]["building_id"]))
                for h in hhs[i:i + LINK_HOUSEHOLDS]:
                    self.add("care_link", dict(id=None, person_id=head["id"], household_id=h["id"], kind="link"))
        workplaces = ["区教育局", "区卫健局", "区住建局", "区人社局", "区税务局", "区法院", "区供电公司",
                      "区自来水公司", "街道办事处", "区民政局"]
        taken: set[int] = set()
        for r in residents:
            if not r["party_member"]:
                continue
            in_service = rng.random() < 0.4
            p = self.add("person", dict(role="party_member", name=r["name"], phone=r["phone"],
                                        resident_id=r["id"], street_id=street_id,
                                        community_id=self.grid_community[r["grid_id"]], grid_id=r["grid_id"],
                                        workplace=rng.choice(workplaces) if in_service else None,
                                        available=bool(rng.random() < 0.85)))
            if in_service:  # 双报到: looks after 5–8 households, the vulnerable first
                pool = sorted(by_grid_hh[r["grid_id"]],
                              key=lambda h: (h["id"] in taken, not (h["elderly_alone"] or h["low_income"]),
                                             h["id"]))
                for h in pool[: int(rng.integers(5, 9))]:
                    if h["id"] in taken:
                        break
                    taken.add(h["id"])
                    self.add("care_link", dict(id=None, person_id=p["id"], household_id=h["id"], kind="party"))
        communities = [c for c in self.town["community"] if c["street_id"] == street_id]
        for c in communities:
            for spec in rng.choice(VOLUNTEER_SPECIALTIES, 3, replace=False):
                team = self.add("volunteer_team", dict(community_id=c["id"], name=f"{c['name']}{spec}志愿服务队",
                                                       specialty=str(spec)))
                for nm, ph in zip(_names(rng, 13), _phones(rng, 13)):
                    grid_id = int(rng.choice([g for g, cc in self.grid_community.items() if cc == c["id"]]))
                    self.add("person", dict(role="volunteer", name=nm, phone=ph, street_id=street_id,
                                            community_id=c["id"], grid_id=grid_id, team_id=team["id"]))
            for nm, ph in zip(_names(rng, 6), _phones(rng, 6)):
                self.add("person", dict(role="community_staff", name=nm, phone=ph, street_id=street_id,
                                        community_id=c["id"]))
        grids = list(self.grid_community)
        for nm, ph in zip(_names(rng, 10), _phones(rng, 10)):
            self.add("person", dict(role="street_staff", name=nm, phone=ph, street_id=street_id))
        for nm, ph in zip(_names(rng, 5), _phones(rng, 5)):  # 领导联系点: one grid each
            g = int(rng.choice(grids))
            self.add("person", dict(role="leader", name=nm, phone=ph, street_id=street_id,
                                    community_id=self.grid_community[g], contact_grid_id=g))
        for link in self.town.get("care_link", []):
            link.pop("id", None)

    def _facilities(self, tiles: list[Polygon]) -> None:
        """Facilities placed the way a real street has them.

        Each community has a party–mass centre and 2–3 community service complexes
        (社区综合服务设施): a service station, an elderly day-care and a health station
        under one roof, often with a canteen or a nursery, each with a kindergarten and a
        supermarket a short walk away, so the required set is met around them. A few
        stand-alone stations, kindergartens and shops lie elsewhere, and parts of every
        community stay far from all of them: real blind spots. Placed with their own
        generator (spawned, so the rest of the town does not move when this changes).
        """
        rng = self.rng.spawn(1)[0]
        communities = [c for c in self.town["community"] if c["street_id"] == self.street_id]
        for c, tile in zip(communities, tiles):
            here = [b for b in self.buildings if self.grid_community[b["grid_id"]] == c["id"]]
            self._facility("party_centre", self._spread(rng, here, 1, tile)[0], c["name"])
            hubs = self._spread(rng, here, int(rng.integers(4, 6)))
            for k, hub in enumerate(hubs):
                for ftype in ("service_station", "elderly_daycare", "clinic"):
                    self._facility(ftype, hub, c["name"], rng)
                for ftype, p in (("canteen", 0.5), ("nursery", 0.9)):
                    if rng.random() < p:
                        self._facility(ftype, hub, c["name"], rng)
                for ftype, p, walk in (("kindergarten", 0.95, 50.0), ("supermarket", 0.9, 150.0)):
                    if rng.random() < p:
                        self._facility(ftype, self._near(rng, here, hub, walk), c["name"], rng)
            for ftype, n in (("kindergarten", 1), ("supermarket", 1), ("culture_station", 1),
                             ("mediation_room", 1)):
                for b in self._spread(rng, here, n):
                    self._facility(ftype, b, c["name"], rng)
            grids = [g for g, cc in self.grid_community.items() if cc == c["id"]]
            for g in grids[::3]:
                b = self._spread(rng, [b for b in here if b["grid_id"] == g], 1)[0]
                self._facility("grid_point", b, c["name"], rng)
        for ftype, n in {"market": 4, "police_room": 3, "red_station": 4}.items():
            for b in self._spread(rng, self.buildings, n):
                self._facility(ftype, b, self.name, rng)

    @staticmethod
    def _spread(rng: np.random.Generator, buildings: list[dict], n: int,
                centre_of: Polygon | None = None) -> list[dict]:
        """``n`` buildings far apart, drawn towards where people live (the one nearest the
        centre of ``centre_of`` when given): services go where the residents are."""
        if centre_of is not None:
            c = centre_of.centroid
            return [min(buildings, key=lambda b: b["entrance"].distance(c))]
        xy = np.array([b["entrance"].coords[0] for b in buildings])
        people = np.array([b["row"]["residents"] for b in buildings], float)
        tree = shapely.STRtree(shapely.points(xy))
        bi, nb = tree.query(shapely.points(xy), predicate="dwithin", distance=250.0)
        dense = np.sqrt(np.bincount(bi, weights=people[nb], minlength=len(xy)) + 1.0)
        pick = [int(rng.choice(len(xy), p=dense / dense.sum()))]
        while len(pick) < min(n, len(buildings)):  # far from the others, where many live
            d = np.min(np.hypot(*(xy[:, None, :] - xy[pick][None, :, :]).transpose(2, 0, 1)), axis=1)
            pick.append(int(np.argmax(d * dense * rng.uniform(0.8, 1.0, len(d)))))
        return [buildings[i] for i in pick]

    @staticmethod
    def _near(rng: np.random.Generator, buildings: list[dict], hub: dict, within: float) -> dict:
        """A building within ``within`` metres (straight) of ``hub``, the hub itself if none."""
        near = [b for b in buildings if 0 < b["entrance"].distance(hub["entrance"]) <= within]
        return near[int(rng.integers(len(near)))] if near else hub

    def _facility(self, ftype: str, b: dict, place: str, rng: np.random.Generator | None = None) -> None:
        rng = rng or self.rng
        spot = Point(b["entrance"].x + rng.uniform(-4, 4), b["entrance"].y - 3)
        ft = FACILITY_TYPES[ftype]
        grid_id = b["grid_id"]
        self.add("facility", dict(type=ftype, name=f"{place.removesuffix('社区')}{ft.name_zh}",
                                  community_id=self.grid_community[grid_id], grid_id=grid_id,
                                  address=f"{b['row']['name']}旁", open_hours="08:30-17:30",
                                  geom=self.ll(spot)))

    def _open_spaces(self, tiles: list[Polygon]) -> None:
        """Per community a park, a square and two or three vacant lots, on ground that no
        building, road or footway takes (own spawned generator, like the facilities)."""
        rng = self.rng.spawn(1)[0]
        obstacles = [b["fp"] for b in self.buildings] + list(self.road_lines)
        tree = shapely.STRtree(obstacles)
        n_fp = len(self.buildings)
        sizes = {"park": ((60, 100), (40, 70)), "square": ((30, 45), (30, 45)), "vacant": ((25, 45), (20, 35))}
        communities = [c for c in self.town["community"] if c["street_id"] == self.street_id]
        for c, tile in zip(communities, tiles):
            inner = tile.buffer(-8)
            kinds = ["park", "square"] + ["vacant"] * int(rng.integers(2, 4))
            for n, kind in enumerate(kinds, start=1):
                (l0, l1), (d0, d1) = sizes[kind]
                for attempt in range(600):
                    shrink = 1.0 if attempt < 300 else 0.7
                    cx, cy = _sample_points(rng, inner, 1)[0]
                    fp = _rect(cx, cy, rng.uniform(l0, l1) * shrink, rng.uniform(d0, d1) * shrink,
                               rng.uniform(0, math.pi))
                    near = tree.query(fp, predicate="dwithin", distance=6.0)
                    if inner.contains(fp) and not any(i < n_fp or fp.distance(obstacles[i]) < 4.0 for i in near):
                        break
                else:
                    continue  # no free ground left for this one: a dense community
                grid_id = next((g for g, p in self.grid_polys.items() if p.covers(fp.centroid)), None)
                label = i18n.t(f"space.{kind}", "zh")
                name = f"{c['name'].removesuffix('社区')}{label}" + (str(n - 2) if kind == "vacant" else "")
                self.add("open_space", dict(community_id=c["id"], grid_id=grid_id, kind=kind, name=name,
                                            area_m2=round(fp.area, 1), geom=self.ll(fp)))

    def _cameras(self) -> None:
        """About 120 cameras: at road junctions (雪亮/天网) and at estate gates (face gates)."""
        rng = self.rng
        coords = np.vstack([np.asarray(line.coords) for line in self.road_lines])
        uniq, count = np.unique(np.round(coords, 1), axis=0, return_counts=True)
        junctions = uniq[count >= 2]
        mids = np.array([line.interpolate(0.5, normalized=True).coords[0] for line in self.road_lines])
        junctions = np.vstack([junctions, mids])  # junctions first, then mid-block poles
        pick = rng.choice(len(junctions), size=min(100, len(junctions)), replace=False)
        gates = [b for b in self.buildings if b["row"]["estate_id"]]
        gate_pick = rng.choice(len(gates), size=min(20, len(gates)), replace=False) if gates else []
        spots = [(Point(junctions[i]), rng.choice(["雪亮", "天网"]), "路口") for i in pick]
        spots += [(gates[i]["entrance"], "gate", "小区门口") for i in gate_pick]
        for n, (pt, kind, where) in enumerate(spots, start=1):
            grid_id = next((g for g, p in self.grid_polys.items() if p.buffer(1).covers(pt)), None)
            status = rng.choice(["online", "offline", "fault"], p=[0.88, 0.08, 0.04])
            self.add("camera", dict(code=f"{self.code}-C{n:03d}", name=f"{where}监控{n:03d}", grid_id=grid_id,
                                    heading=float(rng.integers(0, 360)), fov=float(rng.choice([60, 90, 110])),
                                    range_m=float(rng.choice([30, 50, 80])), status=str(status),
                                    kind=str(kind), geom=self.ll(pt)))

    def mark_start(self) -> None:
        self._first_household = len(self.town.get("household", []))
        self._first_resident_id = self.ids.next.get("resident", 0) + 1


# --------------------------------------------------------------------------- tickets

class TicketSimulator:
    """A year of tickets, each moved through ``geo.tickets.workflow`` step by step.

    A loop over states: in each state whoever holds the ticket makes a move
    after a delay (working time for ordinary tickets, clock time for urgent
    ones and for residents), unless the clock comes first. Whenever the step's
    escalation (``tickets.escalation_at``: at once for urgent tickets, at the
    step limit otherwise) falls before that person's move, the system
    escalation is applied at that moment and the loop goes on from the new
    state, as ``ticket_service.escalate_due`` does on a live database. So every
    stored history is one the rules allow, escalations included. A ticket
    whose next step would fall after ``now`` stops where it is: that is how
    the demo has open and overdue tickets today.

    Every exit is exercised: reject with each reason, return, merge of
    duplicates, close unfixed, reopen after a bad rating (also after a
    closure), dispatch to a department, a party member or a volunteer. The
    street's last community is a pilot of the 二七 一领四单 loop
    (``Community.workflow``), so some tickets run on that workflow.
    """

    DUPLICATE_SHARE = 0.02  # reports of a problem someone nearby already reported
    REJECT_SHARE = 0.03
    SLOW_SHARE = 0.04  # a desk that lets its step limit run out (the clock escalates)
    #: How staff follow up before rating on a resident's behalf: mostly by phone, as 12345 回访 does.
    FOLLOW_UPS = ("phone", "phone", "phone", "phone", "phone", "visit", "visit", "on_site", "hotline", "hotline")

    def __init__(self, rng: np.random.Generator, ids: Ids, town: Town, sb: StreetBuilder, now: datetime):
        self.rng, self.ids, self.town, self.sb, self.now = rng, ids, town, sb, now
        self.members: dict[int, list[dict]] = {}
        self.volunteers: dict[int, list[dict]] = {}
        self.community_staff: dict[int, list[str]] = {}
        self.street_staff: list[str] = []
        for p in town["person"]:
            if p.get("street_id") != sb.street_id:
                continue
            if p["role"] == "party_member" and p.get("available"):
                self.members.setdefault(p["grid_id"], []).append(p)
            elif p["role"] == "volunteer" and p.get("available", True):
                self.volunteers.setdefault(p["grid_id"], []).append(p)
            elif p["role"] == "community_staff":
                self.community_staff.setdefault(p["community_id"], []).append(p["name"])
            elif p["role"] == "street_staff":
                self.street_staff.append(p["name"])
        self.members_all = [p for ps in self.members.values() for p in ps]
        self.people = {p["id"]: p for p in town["person"] if p.get("street_id") == sb.street_id}
        communities = sorted((c for c in town["community"] if c["street_id"] == sb.street_id),
                             key=lambda c: c["code"])
        if len(communities) >= 2:  # the last community pilots 一领四单
            communities[-1]["workflow"] = workflow.ERQI.key
        self.workflow_of = {c["id"]: c.get("workflow") for c in communities}
        self.community_name = {c["id"]: c["name"] for c in communities}
        self.cats = list(categories.CATEGORIES.values())
        w = np.array([c.weight for c in self.cats])
        self.p = w / w.sum()
        self.events: dict[int, list[dict]] = {}
        self.recent: list[dict] = []  # tickets of the last three days: duplicates are reported of them

    def run(self, n: int) -> None:
        rng = self.rng
        bld = self.sb.buildings
        weights = np.array([b["row"]["residents"] for b in bld], dtype=float)
        weights /= weights.sum()
        days = np.sort(rng.uniform(0, 365, n))[::-1]
        for i in range(n):
            start = self.now - timedelta(days=float(days[i]))
            start = start.replace(hour=int(rng.choice(np.arange(7, 22))), minute=int(rng.integers(60)))
            if start > self.now:
                start = self.now - timedelta(minutes=int(rng.integers(5, 600)))
            original = self._duplicate_of(start) if rng.random() < self.DUPLICATE_SHARE else None
            b = original["building"] if original else bld[int(rng.choice(len(bld), p=weights))]
            self._ticket(start, b, original)

    def _duplicate_of(self, when: datetime) -> dict | None:
        """A ticket reported in the three days before ``when`` and still open then, if any."""
        self.recent = [r for r in self.recent if r["created"] >= when - timedelta(days=3)]
        live = [r for r in self.recent if r["created"] <= when and self._state_at(r["id"], when) in
                workflow.OPEN_STATES]
        return live[int(self.rng.integers(len(live)))] if live else None

    def _state_at(self, tid: int, when: datetime) -> str | None:
        state = None
        for e in self.events.get(tid, []):
            if e["at"] > when:
                break
            state = e["to_state"]
        return state

    def _where(self, b: dict) -> Point:
        grid = self.sb.grid_polys[b["grid_id"]]
        for _ in range(20):
            p = Point(b["entrance"].x + self.rng.normal(0, 15), b["entrance"].y + self.rng.normal(0, 15))
            if grid.contains(p):
                return p
        return grid.representative_point()

    def _ticket(self, created: datetime, b: dict, original: dict | None) -> None:
        rng, sb = self.rng, self.sb
        cat = categories.CATEGORIES[original["category"]] if original else \
            self.cats[int(rng.choice(len(self.cats), p=self.p))]
        urgent = original["urgent"] if original else bool(rng.random() < cat.urgent_share)
        tid = self.ids("ticket")
        grid_id = b["grid_id"]
        community_id = sb.grid_community[grid_id]
        t, first = rules.new_ticket(
            category=cat.key, description=_description(cat, b["row"]["name"], tid), created=created,
            urgent=urgent, source=str(rng.choice(["resident", "patrol", "video", "hotline"],
                                                 p=[0.55, 0.25, 0.08, 0.12])),
            reporter_name=_names(rng, 1)[0], reporter_phone=_phones(rng, 1)[0],
            workflow_key=self.workflow_of.get(community_id), code=f"GD{created:%Y%m%d}{tid:05d}",
            geom=sb.ll(self._where(b)), street_id=sb.street_id, community_id=community_id, grid_id=grid_id,
            routing_flag=None)
        t["id"] = tid
        self.town.setdefault("ticket", []).append(t)
        self._event(t, first)
        self._drive(t, created, dict(original=original, big=bool(rng.random() < cat.big_share)))
        self.recent.append(dict(id=tid, code=t["code"], created=created, building=b, category=cat.key,
                                urgent=urgent))

    # -- the loop
    def _drive(self, t: dict, clock: datetime, ctx: dict) -> None:
        """Move ``t`` until it is closed or its next step lies after ``now``; the clock goes first."""
        for _ in range(80):
            if not workflow.is_open(t["state"]) and not (t["state"] == "closed" and ctx.get("reopen_later")):
                return
            plan = self._plan(t, clock, ctx)
            due = rules.escalation_at(t)
            if due is not None and due <= self.now and (plan is None or due <= plan[0]):
                note = "急事不出社区：紧急工单自动升级" if t["urgent"] else "超过本环节时限，自动升级"
                self._event(t, rules.apply(t, "escalate", rules.SYSTEM_ACTOR, due, note=note))
                clock = due
                continue
            if plan is None or plan[0] > self.now:
                return
            at, action, actor, kw = plan
            if action == "arrive":
                self._event(t, rules.record_arrival(t, actor, at))
            else:
                self._event(t, rules.apply(t, action, actor, at, **kw))
            clock = at

    def _plan(self, t: dict, clock: datetime, ctx: dict) -> tuple[datetime, str, rules.Actor, dict] | None:
        """The next human move in ``t``'s state: when, what, by whom, with what."""
        state, erqi = t["state"], t["workflow"] == workflow.ERQI.key
        if state == "closed":
            ctx.pop("reopen_later")
            return (clock + timedelta(hours=float(self.rng.uniform(24, 240))), "reopen", self._resident(t),
                    dict(rating=int(self.rng.choice([1, 2])), note="问题又出现了"))
        if state == "resolved":
            return self._rating(t, clock, ctx, erqi)
        if state == "in_progress":
            return self._work(t, clock, ctx, erqi)
        if state == "reported":
            return self._intake(t, clock, ctx, self._street(erqi) if erqi else self._grid(t))
        plan = {"grid_accepted": self._grid_step, "community_dispatched": self._community_step,
                "street_reviewed": self._street_step, "street_accepted": self._erqi_street_step}[state]
        return plan(t, clock, ctx)

    def _later(self, t: dict, clock: datetime, hours: float, *, slow: tuple[float, float] | None = None) -> datetime:
        """A member of staff acts ``hours`` later (working time; urgent: on the clock); now and then slowly."""
        if slow and self.rng.random() < self.SLOW_SHARE:
            hours = float(self.rng.uniform(*slow))
        if t["urgent"]:
            return clock + timedelta(hours=float(hours))
        return categories.add_working_hours(clock, float(hours))

    def _intake(self, t: dict, clock: datetime, ctx: dict, actor: rules.Actor):
        rng = self.rng
        at = self._later(t, clock, rng.lognormal(-0.2, 0.7), slow=(4, 10))
        original = ctx.get("original")
        if original is not None:
            if self._state_at(original["id"], at) in workflow.OPEN_STATES:
                return at, "merge", actor, dict(merged_into_id=original["id"],
                                                note=f"同一问题，合并到 {original['code']}")
            return at, "reject", actor, dict(note="重复上报")
        if rng.random() < self.REJECT_SHARE:
            return at, "reject", actor, dict(note=str(rng.choice(workflow.REJECT_REASONS)))
        return at, "accept", actor, {}

    def _grid_step(self, t: dict, clock: datetime, ctx: dict):
        grid = self._grid(t)
        if ctx.get("returned_to_grid") or not ctx["big"]:  # 小事不出网格
            return self._later(t, clock, self.rng.uniform(0.2, 2), slow=(7, 14)), "handle_in_grid", grid, {}
        return self._later(t, clock, self.rng.uniform(0.5, 6), slow=(7, 14)), "escalate", grid, {}

    def _community_step(self, t: dict, clock: datetime, ctx: dict):
        rng = self.rng
        community = self._community(t)
        fast = t["urgent"] or t["reopen_count"]
        at = self._later(t, clock, rng.uniform(0.1, 0.5) if t["urgent"] else rng.uniform(0.5, 6), slow=(7, 12))
        roll = rng.random()
        if not fast and t["level"] == "community" and not ctx.get("returned_to_grid") and roll < 0.04:
            ctx["returned_to_grid"] = True
            return at, "return", community, dict(note="属网格职责范围，请网格自办")
        if not fast and roll > 0.99:
            return at, "reject", community, dict(note=str(rng.choice(workflow.REJECT_REASONS)))
        if not fast and ctx["big"] and rng.random() < 0.35:  # 大事不出社区, except those needing a department
            return at, "escalate", community, {}
        return (at, "assign", community, self._assignment(t, party_only=bool(t["urgent"])))

    def _street_step(self, t: dict, clock: datetime, ctx: dict):
        street = self._street(False)
        at = self._later(t, clock, self.rng.uniform(1, 6))
        if not ctx.get("returned_to_community") and self.rng.random() < 0.05:
            ctx["returned_to_community"] = True
            return at, "return", street, dict(note="社区可协调处置，请社区派单")
        department = categories.CATEGORIES[t["category"]].department
        return at, "assign", street, dict(department=department, note=f"派发{department}")

    def _erqi_street_step(self, t: dict, clock: datetime, ctx: dict):
        street = self._street(True)
        at = self._later(t, clock, self.rng.uniform(0.5, 5), slow=(7, 12))
        if not ctx.get("returned") and self.rng.random() < 0.02:
            ctx["returned"] = True
            return at, "return", street, dict(note="信息不全，退回重新核实")
        if self.rng.random() < 0.5:
            return at, "assign", street, self._assignment(t, party_only=True)
        parties = f"{self.community_name[t['community_id']]}共建单位"
        return at, "assign", street, dict(department=parties, note=f"派{parties}做单")

    def _assignment(self, t: dict, *, party_only: bool) -> dict:
        """A party member (30 minutes to arrive), a volunteer of the grid, or the category's department."""
        roll = self.rng.random()
        volunteers = self.volunteers.get(t["grid_id"])
        if party_only or roll < 0.55 or (roll < 0.75 and not volunteers):
            members = self.members.get(t["grid_id"]) or self.members_all
            m = members[int(self.rng.integers(len(members)))]
            return dict(assignee_id=m["id"], assignee_is_party_member=True, note=f"派党员{m['name']}接单")
        if roll < 0.75:
            v = volunteers[int(self.rng.integers(len(volunteers)))]
            return dict(assignee_id=v["id"], note=f"派志愿者{v['name']}接单")
        department = categories.CATEGORIES[t["category"]].department
        return dict(department=department, note=f"派发{department}")

    def _work(self, t: dict, clock: datetime, ctx: dict, erqi: bool):
        rng = self.rng
        if t.get("arrive_by") and not t.get("arrived_at"):
            minutes = float(rng.choice([8, 15, 22, 28, 45], p=[.2, .3, .25, .15, .1]))
            return clock + timedelta(minutes=minutes), "arrive", self._handler(t), {}
        cat = categories.CATEGORIES[t["category"]]
        if t["urgent"]:
            allowed, left = cat.urgent_limit_h, (t["due_at"] - clock).total_seconds() / 3600
        else:
            allowed = cat.limit_days * categories.WORK_DAY_HOURS
            left = categories.working_hours_between(clock, t["due_at"])
        if rng.random() < 0.15:  # late
            hours = max(0.5, left) + allowed * rng.uniform(0.05, 1.5)
        else:
            hours = max(0.3, left * rng.uniform(0.2, 0.95))
        at = self._later(t, clock, hours)
        roll = rng.random()
        if roll < 0.02 + 0.3 * (t["reopen_count"] >= 2):
            closer = self._street(True) if erqi else self._community(t)
            return at, "close_unfixed", closer, dict(note="涉及历史遗留问题，暂无法解决")
        if roll > 0.97 and (t["assignee_id"] or t["department"]) and not ctx.get("handed_back"):
            ctx["handed_back"] = True
            return (self._later(t, clock, rng.uniform(0.5, 4)), "return", self._handler(t),
                    dict(note="需其他部门配合，请重新派单"))
        return at, "resolve", self._handler(t), dict(note="已处理完毕")

    def _rating(self, t: dict, clock: datetime, ctx: dict, erqi: bool):
        rng = self.rng
        stars = [5, 4, 3] if t["reopen_count"] >= 2 else [5, 4, 3, 2, 1]
        p = [0.7, 0.2, 0.1] if len(stars) == 3 else [0.72, 0.17, 0.06, 0.03, 0.02]
        rating = int(rng.choice(stars, p=p))
        by, how = self._resident(t), {}
        if rng.random() < 0.15:  # 回访: the grid (the community parties in 一领四单) records it on the resident's behalf
            by = self._community(t) if erqi else self._grid(t)
            how = dict(rating_channel=self.FOLLOW_UPS[t["id"] % len(self.FOLLOW_UPS)])  # no draw: the town stays
        if rating >= 3 and rng.random() < 0.01:
            ctx["reopen_later"] = True  # fixed, rated, and back again some days later
        note = ["问题没有解决", "问题没有解决", "基本满意", "满意", "非常满意"][rating - 1]
        return clock + timedelta(hours=float(rng.uniform(2, 72))), "rate", by, dict(rating=rating, note=note, **how)

    # -- who
    def _grid(self, t: dict) -> rules.Actor:
        return rules.Actor(self.sb.staff[("grid_worker", t["grid_id"])][0], workflow.GRID)

    def _community(self, t: dict) -> rules.Actor:
        staff = self.community_staff.get(t["community_id"]) or ["社区工作人员"]
        return rules.Actor(staff[t["id"] % len(staff)], workflow.COMMUNITY)

    def _street(self, erqi: bool) -> rules.Actor:
        name = self.street_staff[int(self.rng.integers(len(self.street_staff)))] if self.street_staff else "街道审单员"
        return rules.Actor(f"街道党工委·{name}" if erqi else name, workflow.STREET)

    def _resident(self, t: dict) -> rules.Actor:
        return rules.Actor(t["reporter_name"], workflow.RESIDENT)

    def _handler(self, t: dict) -> rules.Actor:
        if t.get("assignee_id"):
            p = self.people[t["assignee_id"]]
            return rules.Actor(p["name"], workflow.HANDLER, person_id=p["id"])
        if t.get("department"):
            return rules.Actor(t["department"], workflow.HANDLER)
        if t["workflow"] == workflow.ERQI.key:
            return self._community(t)
        return self._grid(t)

    def _event(self, t: dict, event: dict) -> None:
        event = {k: v for k, v in event.items() if k != "username"}
        row = dict(id=self.ids("ticket_event"), ticket_id=t["id"], **event)
        self.events.setdefault(t["id"], []).append(row)
        self.town.setdefault("ticket_event", []).append(row)


# --------------------------------------------------------------------------- entry points

def default_now() -> datetime:
    """Today at 09:00 local time: the demo's tickets end 'now' so the map looks live."""
    return settings.now().replace(hour=9, minute=0, second=0, microsecond=0)


def generate(*, seed: int = settings.DEMO_SEED, scale: str = "street", now: datetime | None = None,
             tickets_per_street: int = 3000, communities: int = 8, streets: int | None = None,
             progress: Progress | None = None) -> Town:
    """Generate the demo town as rows per table (ready for ``store.load_town``).

    ``communities``, ``tickets_per_street`` and ``streets`` (instead of the
    scale's 1 or 20) shrink the town for fast tests.
    """
    if scale not in ("street", "district"):
        raise ValueError(f"scale must be 'street' or 'district', got {scale!r}")
    now = now or default_now()
    n_streets = streets or (1 if scale == "street" else 20)
    ids, town = Ids(), {}
    metric_origin = Transformer.from_crs(settings.STORAGE_CRS, settings.METRIC_CRS, always_xy=True
                                         ).transform(*ORIGIN_LONLAT)
    to_ll = Transformer.from_crs(settings.METRIC_CRS, settings.STORAGE_CRS, always_xy=True)
    for s in range(n_streets):
        if progress:
            progress(0.5 * s / n_streets, f"street {s + 1}/{n_streets}")
        rng = np.random.default_rng([seed, s])
        col, row = s % 5, s // 5
        offset = (metric_origin[0] + col * 3600.0, metric_origin[1] - row * 3200.0)
        sb = StreetBuilder(rng, ids, town, index=s, offset=offset, now=now, to_lonlat=to_ll)
        sb.mark_start()
        sb.build(communities)
        TicketSimulator(rng, ids, town, sb, now).run(tickets_per_street)
    _users_and_visits(town, seed, now)
    return _plain(town)


#: The password of every demo account (README, "Demo users"). Demo databases only.
DEMO_PASSWORD = "demo2026"


def _users_and_visits(town: Town, seed: int, now: datetime) -> None:
    """Demo logins of every role for the first street, and a history of household visits.

    Each community's grid head (and for communities 1 and 2 its grid worker and
    party member) answers for the community's grid with the most open tickets,
    so signing in as one shows tickets with deadlines, not an empty list.

    Own random stream, so adding them changed nothing else in the town. Demo
    hashes use geo.access.users.DEMO_HASHER (argon2id t=1, m=8 MiB): ~20 accounts in
    well under a second; real accounts get the full-cost hasher.
    """
    from collections import Counter

    from geo.access import users

    rng = np.random.default_rng([seed, 5])
    street = town["street"][0]
    comms = sorted((c for c in town["community"] if c["street_id"] == street["id"]), key=lambda c: c["code"])
    grids = sorted(town["grid"], key=lambda g: g["code"])
    people: dict[tuple[str, int | None], list[dict]] = {}
    for p in town["person"]:
        people.setdefault((p["role"], p.get("grid_id") or p.get("community_id")), []).append(p)
    rows = []

    def add(username: str, role: str, person: dict | None = None, **place) -> None:
        rows.append(users.user_row(username, DEMO_PASSWORD, role, hasher=users.DEMO_HASHER, created_at=now,
                                  display_name=person["name"] if person else username,
                                  person_id=person["id"] if person else None, street_id=street["id"], **place))

    leaders = [p for p in town["person"] if p["role"] == "leader" and p.get("street_id") == street["id"]]
    staff = [p for p in town["person"] if p["role"] == "street_staff" and p.get("street_id") == street["id"]]
    add("leader", "street_leader", leaders[0] if leaders else None)
    add("staff", "street_staff", staff[0] if staff else None)
    open_here = Counter(t["grid_id"] for t in town.get("ticket", []) if t["state"] in workflow.OPEN_STATES)
    for i, c in enumerate(comms, start=1):
        # the community's busiest grid (most open tickets, then the lowest code)
        busiest = min((g for g in grids if g["community_id"] == c["id"]),
                      key=lambda g: (-open_here[g["id"]], g["code"]))
        add(f"community{i}", "community_staff", (people.get(("community_staff", c["id"])) or [None])[0],
            community_id=c["id"])
        add(f"gridhead{i}", "grid_head", (people.get(("grid_head", busiest["id"])) or [None])[0],
            community_id=c["id"], grid_id=busiest["id"])
        if i <= 2:
            add(f"gridworker{i}", "grid_worker", (people.get(("grid_worker", busiest["id"])) or [None])[0],
                community_id=c["id"], grid_id=busiest["id"])
            party = people.get(("party_member", busiest["id"])) or [None]
            add(f"party{i}", "party_member", party[0], community_id=c["id"], grid_id=busiest["id"])
    rows.append(users.user_row("screen", DEMO_PASSWORD, "screen", hasher=users.DEMO_HASHER, created_at=now,
                              display_name="指挥中心大屏", street_id=street["id"]))
    town["app_user"] = rows

    disabled = {r["household_id"] for r in town["resident"] if r["disabled"]}
    notes = ["入户走访，情况稳定", "身体状况良好，已提醒注意用电安全", "了解生活需求，已转告社区", "电话未接通，上门见面",
             "送去慰问品，家中整洁"]
    visits = []
    for h in town["household"]:
        if not (h["elderly_alone"] or h["low_income"] or h["id"] in disabled) or rng.random() < 0.2:
            continue
        workers = people.get(("grid_worker", h["grid_id"])) or [{"name": "网格员"}]
        ago = int(rng.integers(0, 75))
        for _ in range(int(rng.integers(1, 4))):
            day = (now - timedelta(days=ago)).date()
            visits.append(dict(household_id=h["id"], grid_id=h["grid_id"], visited_on=day,
                               visitor=workers[int(rng.integers(len(workers)))]["name"],
                               note=notes[int(rng.integers(len(notes)))], issues=None, ticket_id=None,
                               created_at=datetime.combine(day, datetime.min.time()) + timedelta(hours=10)))
            ago += int(rng.integers(25, 40))
    town["visit"] = visits


def _plain(town: Town) -> Town:
    """numpy scalars → Python values, so every database driver takes the rows."""
    for rows in town.values():
        for row in rows:
            for k, v in row.items():
                if isinstance(v, np.generic):
                    row[k] = v.item()
    return town


def summary(town: Town) -> list[dict]:
    """Per-community summary rows (and a total): what a reader checks first."""
    by_comm: dict[int, dict] = {}
    grid_comm = {g["id"]: g["community_id"] for g in town["grid"]}
    for c in town["community"]:
        by_comm[c["id"]] = dict(社区=c["name"], 编码=c["code"], 网格=0, 楼栋=0, 户数=0, 人口=0,
                                独居老人=0, 党员=0, 设施=0, 监控=0, 工单=0, 在办=0)
    for g in town["grid"]:
        by_comm[g["community_id"]]["网格"] += 1
    for b in town["building"]:
        row = by_comm[grid_comm[b["grid_id"]]]
        row["楼栋"] += 1
        row["户数"] += b["households"]
        row["人口"] += b["residents"]
    for r in town["resident"]:
        row = by_comm[grid_comm[r["grid_id"]]]
        row["独居老人"] += r["elderly_alone"]
        row["党员"] += r["party_member"]
    for f in town["facility"]:
        by_comm[f["community_id"]]["设施"] += 1
    for cam in town["camera"]:
        if cam["grid_id"]:
            by_comm[grid_comm[cam["grid_id"]]]["监控"] += 1
    for t in town["ticket"]:
        by_comm[t["community_id"]]["工单"] += 1
        by_comm[t["community_id"]]["在办"] += workflow.is_open(t["state"])
    rows = list(by_comm.values())
    total = {k: (sum(r[k] for r in rows) if isinstance(v, int) else "") for k, v in rows[0].items()}
    total["社区"] = "合计"
    return rows + [total]


def format_table(rows: list[dict]) -> str:
    """A plain-text table (wide characters counted double) for the terminal."""
    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    keys = list(rows[0])
    cols = {k: max(width(str(k)), *(width(str(r[k])) for r in rows)) for k in keys}
    def line(vals):
        return "  ".join(str(v) + " " * (cols[k] - width(str(v))) for k, v in zip(keys, vals))
    out = [line(keys), line(["-" * cols[k] for k in keys])]
    out += [line([r[k] for k in keys]) for r in rows]
    return "\n".join(out)


def ensure_database(url: str | None = None, progress=None, **options):
    """The app's first start: open the database, building the demo town into it when it is empty.

    ``options`` go to ``generate`` (tests build smaller towns). The store only
    opens, checks and fills; what a first start fills in is decided here.
    """
    from geo.db import store

    return store.ensure_database(url, build=lambda prog: generate(progress=prog, **options), progress=progress)


def main(argv: list[str] | None = None) -> int:
    from geo.db import store

    ap = argparse.ArgumentParser(prog="python -m geo.demo", description="Build the demo town (社区治理一张图)")
    ap.add_argument("--scale", choices=["street", "district"], default="street",
                    help="one street (default) or a district of about 20 streets")
    ap.add_argument("--seed", type=int, default=settings.DEMO_SEED)
    ap.add_argument("--output", help="database URL or SQLite file path (default: DATABASE_URL or data/shequ.db)")
    ap.add_argument("--now", help="the demo's 'now' as YYYY-MM-DD (default: today)")
    ap.add_argument("--force", action="store_true", help="replace an existing SQLite file")
    ap.add_argument("--dry-run", action="store_true", help="generate and print the summary only")
    args = ap.parse_args(argv)
    now = datetime.fromisoformat(args.now).replace(hour=9) if args.now else None
    t0 = time.perf_counter()
    if args.dry_run:
        town = generate(seed=args.seed, scale=args.scale, now=now)
    else:
        url = args.output or settings.database_url()
        if "://" not in url:
            url = f"sqlite:///{url}"
        if url.startswith("sqlite:///") and args.force:
            from pathlib import Path
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)

        def progress(frac: float, label: str) -> None:
            print(f"\r[{frac * 100:5.1f}%] {label:<24}", end="", file=sys.stderr, flush=True)

        engine = store.make_engine(url)
        facts = store.meta(engine)
        if facts:  # never write a second town over a first one, of any schema
            what = ("a town" if store.is_built(engine) else
                    f"a town of an older schema ({facts.get('schema_version')}; this program writes "
                    f"{store.SCHEMA_VERSION})")
            print(f"{url} already holds {what}. Use --force to rebuild a SQLite file, "
                  f"or give an empty PostGIS database.", file=sys.stderr)
            return 1
        town = generate(seed=args.seed, scale=args.scale, now=now, progress=progress)
        store.load_town(engine, town, progress)
        print(file=sys.stderr)
    print(format_table(summary(town)))
    print(f"\n{sum(len(v) for v in town.values()):,} rows in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
