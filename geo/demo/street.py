"""The demo street: its outline, communities, grids, estates, buildings, roads, people and facilities.

How the town is made, and why:
- communities are Voronoi cells of relaxed seeds clipped to an irregular
  street outline, so they tile the street exactly and look irregular;
- grids are Voronoi cells inside each community (they tile it), then filled
  with buildings until they hold 320–480 households (the 300–500 rule);
- roads follow community and grid boundaries (grids are usually cut along
  streets), with a footway from every building entrance to the nearest road.
Everything is laid out in a metric CRS (UTM 48N) and stored in lon-lat.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.ops import nearest_points

from geo import i18n
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


def _bearing(frm: Point, to: Point) -> float:
    """Degrees clockwise from north from ``frm`` to ``to`` (metric x east, y north): a camera's heading."""
    return math.degrees(math.atan2(to.x - frm.x, to.y - frm.y)) % 360


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

def person_names(rng: np.random.Generator, n: int) -> list[str]:
    sur = rng.choice(SURNAMES, n)
    g1 = rng.choice(GIVEN, n)
    g2 = rng.choice(GIVEN, n)
    two = rng.random(n) < 0.7
    return [s + a + (b if t else "") for s, a, b, t in zip(sur, g1, g2, two)]


def phone_numbers(rng: np.random.Generator, n: int) -> list[str]:
    pre = rng.choice(PHONE_PREFIXES, n)
    body = rng.integers(0, 10**8, n)
    return [f"{p}{b:08d}" for p, b in zip(pre, body)]


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
        self.main_roads: list[tuple[str, LineString]] = []  # arterials and streets (the cameras watch them)
        self.estates: list[Polygon] = []  # metric estate outlines (their gates get cameras)
        self.spaces: list[tuple[str, Polygon]] = []  # metric parks and squares (cameras watch them)
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
            self.estates.append(hull.buffer(10).intersection(poly))
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
        names = person_names(rng, n)
        phones = phone_numbers(rng, n)
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
                if kind != "lane":
                    self.main_roads.append((kind, line))

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
                for nm, ph in zip(person_names(rng, count), phone_numbers(rng, count)):
                    p = self.add("person", dict(role=role, name=nm, phone=ph, street_id=street_id,
                                                community_id=community_id, grid_id=grid_id))
                    self.staff.setdefault((role, grid_id), []).append(p["name"])
        grid_buildings: dict[int, list[dict]] = {}
        for b in self.buildings:
            grid_buildings.setdefault(b["grid_id"], []).append(b)
            if b["row"]["households"] >= 12:
                nm, ph = person_names(rng, 1)[0], phone_numbers(rng, 1)[0]
                self.add("person", dict(role="building_head", name=nm, phone=ph, street_id=street_id,
                                        community_id=self.grid_community[b["grid_id"]],
                                        grid_id=b["grid_id"], building_id=b["id"]))
        households = [h for h in self.town["household"][first:]]
        by_grid_hh: dict[int, list[dict]] = {}
        for h in households:
            by_grid_hh.setdefault(h["grid_id"], []).append(h)
        for grid_id, hhs in by_grid_hh.items():  # 联户长: neighbours in one grid, about 30 each
            for i in range(0, len(hhs), LINK_HOUSEHOLDS):
                head = self.add("person", dict(role="household_link_head", name=person_names(rng, 1)[0],
                                               phone=phone_numbers(rng, 1)[0], street_id=street_id,
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
                for nm, ph in zip(person_names(rng, 13), phone_numbers(rng, 13)):
                    grid_id = int(rng.choice([g for g, cc in self.grid_community.items() if cc == c["id"]]))
                    self.add("person", dict(role="volunteer", name=nm, phone=ph, street_id=street_id,
                                            community_id=c["id"], grid_id=grid_id, team_id=team["id"]))
            for nm, ph in zip(person_names(rng, 6), phone_numbers(rng, 6)):
                self.add("person", dict(role="community_staff", name=nm, phone=ph, street_id=street_id,
                                        community_id=c["id"]))
        grids = list(self.grid_community)
        for nm, ph in zip(person_names(rng, 10), phone_numbers(rng, 10)):
            self.add("person", dict(role="street_staff", name=nm, phone=ph, street_id=street_id))
        for nm, ph in zip(person_names(rng, 5), phone_numbers(rng, 5)):  # 领导联系点: one grid each
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
                if kind in ("park", "square"):
                    self.spaces.append((kind, fp))

    def _cameras(self) -> None:
        """About 120 cameras, aimed as a street's 雪亮/天网 project aims them (issue 13: random headings saw
        0.9 % of the arterials):

        - road cameras on poles at the ends of arterial and street segments (junctions) and every
          ~200 m along arterials, each looking down its road (a long bullet camera: 60°, 80–120 m);
        - one at each of up to 20 estate gates (the point of the estate's edge nearest a main road),
          looking out over the gate to the road (90°, 40 m): the face-recognition gates;
        - one at a corner of every park and square, looking across it (90°, to its far side).
        """
        rng = self.rng
        spots = self._space_cameras() + self._gate_cameras(rng)
        spots = self._road_cameras(rng, 120 - len(spots)) + spots
        for n, (pt, heading, fov, reach, kind, where) in enumerate(spots, start=1):
            grid_id = next((g for g, p in self.grid_polys.items() if p.buffer(1).covers(pt)), None)
            status = rng.choice(["online", "offline", "fault"], p=[0.88, 0.08, 0.04])
            self.add("camera", dict(code=f"{self.code}-C{n:03d}", name=f"{where}监控{n:03d}", grid_id=grid_id,
                                    heading=round(float(heading) % 360, 1), fov=float(fov), range_m=float(reach),
                                    status=str(status), kind=str(kind), geom=self.ll(pt)))

    def _road_cameras(self, rng: np.random.Generator, budget: int) -> list[tuple]:
        """Poles at segment ends (junctions) and along arterials, each aimed along its road."""
        candidates = []  # (weight, point, heading)
        for kind, line in self.main_roads:
            if line.length < 40:
                continue
            weight = 3.0 if kind == "arterial" else 1.0
            ends = [(2.0, 12.0), (line.length - 2.0, line.length - 12.0)]  # at the junction, looking in
            if kind == "arterial":  # mid-block poles every ~200 m, alternately looking each way
                ends += [(s, s + (10.0 if i % 2 else -10.0)) for i, s in enumerate(np.arange(200.0, line.length - 100, 200.0))]
            for at, toward in ends:
                p, q = line.interpolate(at), line.interpolate(toward)
                candidates.append((weight, p, _bearing(p, q)))
        if not candidates:
            return []
        w = np.array([c[0] for c in candidates])
        order = rng.choice(len(candidates), size=len(candidates), replace=False, p=w / w.sum())
        chosen: list[tuple] = []
        for i in order:
            _, p, heading = candidates[i]
            if any(p.distance(c[0]) < 25 and abs((heading - c[1] + 180) % 360 - 180) < 45 for c in chosen):
                continue  # the same view twice from one pole
            kind = str(rng.choice(["雪亮", "天网"]))
            chosen.append((p, heading, 60.0, float(rng.choice([80, 100, 120])), kind, "路口"))
            if len(chosen) >= budget:
                break
        return chosen

    def _gate_cameras(self, rng: np.random.Generator, most: int = 20) -> list[tuple]:
        """At the gates of up to ``most`` estates: the estate's edge nearest a main road, looking out to it."""
        if not self.estates or not self.main_roads:
            return []
        roads = shapely.union_all([line for _, line in self.main_roads])
        pick = rng.choice(len(self.estates), size=min(most, len(self.estates)), replace=False)
        out = []
        for i in pick:
            gate, on_road = nearest_points(self.estates[i].boundary, roads)
            if gate.distance(on_road) < 1:  # the estate runs up to the road: look along its edge's normal
                on_road = Point(self.estates[i].centroid.x, self.estates[i].centroid.y)
                heading = (_bearing(gate, on_road) + 180) % 360
            else:
                heading = _bearing(gate, on_road)
            out.append((gate, heading, 90.0, 40.0, "gate", "小区门口"))
        return out

    def _space_cameras(self) -> list[tuple]:
        """One per park and square: at the corner nearest a road, looking across to the far side."""
        out = []
        roads = shapely.union_all(self.road_lines) if self.road_lines else None
        for kind, fp in self.spaces:
            corners = [Point(c) for c in fp.exterior.coords[:-1]]
            corner = min(corners, key=lambda c: c.distance(roads)) if roads is not None else corners[0]
            centre = fp.centroid
            reach = min(120.0, max(c.distance(corner) for c in corners) + 5.0)
            out.append((corner, _bearing(corner, centre), 90.0, round(reach), "天网",
                        "公园" if kind == "park" else "广场"))
        return out

    def mark_start(self) -> None:
        self._first_household = len(self.town.get("household", []))
        self._first_resident_id = self.ids.next.get("resident", 0) + 1
