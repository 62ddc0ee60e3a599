"""A small real-looking street written as the files offices hold, in every format the loader reads.

Built from the demo generator's street (one community, its grids, buildings, households,
residents, facilities, cameras, roads), then written the way offices' files come:

- ``街道数据.gpkg``: a GeoPackage with three layers (街道, 社区, 网格) in CGCS2000 (EPSG:4490);
- ``楼栋.zip``: a zipped Shapefile of building outlines, GBK text (ArcGIS's way: no .cpg),
  in CGCS2000 3° Gauss–Krüger CM 105°E (EPSG:4544), with its .prj; no doors;
- ``道路.geojson``: the road and footpath lines (WGS 84, RFC 7946);
- ``服务设施.xlsx``: the facilities as an Excel list of points in GCJ-02 (from a Gaode map);
- ``监控点位.kml``: the cameras as a KML exported from a Baidu map (BD-09);
- ``住户名册.xlsx``: the household register, one row per resident, no coordinates.

``expected`` holds the figures the files hold, to compare with what the dashboard shows.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.load import codes
from geo.place import catalogue, coords, projection

STREET_CODE = "510182001"
GK = "EPSG:4544"


@dataclass
class StreetFiles:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    frames: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def frames_of(town) -> dict[str, gpd.GeoDataFrame]:
    def gdf(rows):
        df = pd.DataFrame(rows)
        geoms = df.pop("geom")
        return gpd.GeoDataFrame(df, geometry=list(geoms), crs="EPSG:4326")
    return {k: gdf(town[k]) for k in ("street", "community", "grid", "building", "facility", "camera", "road")}


def valid_ids(ids: pd.Series) -> pd.Series:
    """The demo's ID numbers made what a clean register holds: a few are born after today or
    repeat (the generator's, left alone); those get another birth day or sequence number."""
    out, seen = [], set()
    for n, value in enumerate(ids):
        body = value[:17]
        if codes.birth_date(value) is None:
            body = body[:6] + "20200101" + body[14:]
        while body in seen:
            body = body[:14] + f"{(int(body[14:17]) + 1) % 1000:03d}"
        seen.add(body)
        out.append(body + codes.id_check_char(body))
    return pd.Series(out, index=ids.index)


def build(folder: Path, town) -> StreetFiles:
    folder.mkdir(parents=True, exist_ok=True)
    f = frames_of(town)
    out = StreetFiles(folder, frames=f)
    comm = f["community"].set_index("id")
    grid = f["grid"].set_index("id")
    # the GeoPackage: street, communities, grids (CGCS2000 lon-lat)
    gpkg = folder / "街道数据.gpkg"
    street = f["street"].assign(街道编码=STREET_CODE, 街道名称=f["street"]["name"])[["街道编码", "街道名称", "geometry"]]
    street.to_crs("EPSG:4490").to_file(gpkg, layer="街道", driver="GPKG")
    f["community"].rename(columns={"code": "社区编码", "name": "社区名称"})[["社区编码", "社区名称", "geometry"]] \
        .to_crs("EPSG:4490").to_file(gpkg, layer="社区", driver="GPKG")
    types = {"area": "片区型", "estate": "小区型", "courtyard": "楼院型", "unit": "单位型"}
    g = f["grid"].assign(网格类型=f["grid"]["grid_type"].map(types))
    g.rename(columns={"code": "网格编码", "name": "网格名称"})[["网格编码", "网格名称", "网格类型", "geometry"]] \
        .to_crs("EPSG:4490").to_file(gpkg, layer="网格", driver="GPKG")
    out.files["gpkg"] = gpkg
    # buildings: GBK Shapefile in a Gauss-Krueger zone, codes from grid code + number
    b = f["building"].copy()
    b["楼栋编码"] = [f"{grid.loc[gid, 'code']}B{n:03d}" for n, gid in enumerate(b["grid_id"], start=1)]
    b["地址"] = [f"{comm.loc[grid.loc[gid, 'community_id'], 'name']}{name}" for gid, name in zip(b["grid_id"], b["name"])]
    shp = folder / "shp"
    shp.mkdir(exist_ok=True)
    b.rename(columns={"name": "楼栋名称", "floors": "层数", "units": "单元数"})[
        ["楼栋编码", "楼栋名称", "地址", "层数", "单元数", "geometry"]].to_crs(GK).to_file(
        shp / "楼栋.shp", driver="ESRI Shapefile", encoding="GBK")
    zpath = folder / "楼栋.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for part in shp.iterdir():
            if part.suffix.lower() in (".shp", ".shx", ".dbf", ".prj"):
                zf.write(part, part.name)
    out.files["shapefile"] = zpath
    # roads: GeoJSON
    roads = folder / "道路.geojson"
    f["road"].rename(columns={"name": "道路名称", "kind": "道路等级"})[["道路名称", "道路等级", "geometry"]] \
        .to_file(roads, driver="GeoJSON")
    out.files["geojson"] = roads
    # facilities: Excel in GCJ-02
    fac = f["facility"]
    lon, lat = coords.wgs84_to_gcj02(fac.geometry.x, fac.geometry.y)
    pd.DataFrame({"设施编码": [f"F{i:04d}" for i in fac["id"]], "设施名称": fac["name"],
                  "设施类型": [catalogue.FACILITY_TYPES[k].name("zh") for k in fac["type"]],
                  "经度": np.round(lon, 7), "纬度": np.round(lat, 7)}).to_excel(folder / "服务设施.xlsx", index=False)
    out.files["xlsx_points"] = folder / "服务设施.xlsx"
    # cameras: KML in BD-09
    cam = f["camera"]
    blon, blat = coords.wgs84_to_bd09(cam.geometry.x, cam.geometry.y)
    kml = gpd.GeoDataFrame({"Name": cam["code"], "Description": cam["name"]},
                           geometry=shapely.points(blon, blat), crs="EPSG:4326")
    kml.to_file(folder / "监控点位.kml", driver="KML")
    out.files["kml"] = folder / "监控点位.kml"
    # the register: one row per resident
    hh = pd.DataFrame(town["household"]).set_index("id")
    res = pd.DataFrame(town["resident"])
    bcode = dict(zip(b["id"], b["楼栋编码"]))
    reg = pd.DataFrame({
        "户号": [f"H{h:06d}" for h in res["household_id"]],
        "楼栋编码": [bcode[hh.loc[h, "building_id"]] for h in res["household_id"]],
        "单元": [int(hh.loc[h, "unit_no"]) for h in res["household_id"]],
        "房号": [hh.loc[h, "room"] for h in res["household_id"]],
        "姓名": res["name"], "公民身份号码": res["id_number"], "性别": res["gender"].map({"M": "男", "F": "女"}),
        "联系电话": res["phone"].fillna(""), "独居老人": res["elderly_alone"].map({True: "是", False: ""}),
        "残疾": res["disabled"].map({True: "是", False: "否"}), "低保": res["low_income"].map({True: "是", False: ""})})
    reg["公民身份号码"] = valid_ids(reg["公民身份号码"])
    reg.to_excel(folder / "住户名册.xlsx", index=False)
    out.files["register"] = folder / "住户名册.xlsx"
    crs = projection.metric_crs_for(f["grid"])
    out.expected = {
        "communities": len(f["community"]), "grids": len(f["grid"]), "buildings": len(b),
        "households": int(res["household_id"].nunique()), "residents": len(res),
        "facilities": len(fac), "cameras": len(cam), "roads": len(f["road"]),
        "grid_area_m2": float(projection.to_metric(f["grid"], crs=crs).area.sum()),
        "building_area_m2": float(projection.to_metric(b, crs=crs).area.sum()),
    }
    return out
