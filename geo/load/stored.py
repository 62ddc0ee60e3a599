"""A street as stored, in the shape geo.load.bundle gives a file: our column names, keys, lon-lat.

The plan compares a file's rows with these (matching by key), the checks run on them (the
report on demand for what is stored), and the export writes them out. Each frame carries the
database ``id`` and the ``key`` a file's row is matched by (geo.load.plan.KEYS).
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, func, select

from geo import settings
from geo.db import store
from geo.db.schema import Building, Camera, Community, Facility, Grid, Household, Resident, Road, Street
from geo.load.bundle import building_key


def street_ids(engine: Engine, street_code: str | None = None) -> list[int]:
    """The stored streets (one, by code, when given)."""
    stmt = select(Street.id).order_by(Street.id)
    if street_code:
        stmt = stmt.where(Street.code.in_([street_code, street_code[:9]]))
    return store.read_frame(engine, stmt)["id"].astype(int).tolist()


def read(engine: Engine, street_id: int | None = None, *, register: bool = True) -> dict[str, pd.DataFrame]:
    """Every layer of a street (of the whole database when ``street_id`` is None)."""
    s, c, g, b = Street.__table__, Community.__table__, Grid.__table__, Building.__table__
    out: dict[str, pd.DataFrame] = {}
    where_s = [s.c.id == street_id] if street_id is not None else []
    where_c = [c.c.street_id == street_id] if street_id is not None else []
    out["street"] = _gdf(engine, select(s.c.id, s.c.code, s.c.name, s.c.geom).where(*where_s))
    out["community"] = _gdf(engine, select(c.c.id, c.c.code, c.c.name, c.c.geom).where(*where_c))
    grids = select(g.c.id).join(c, c.c.id == g.c.community_id).where(*where_c)
    out["grid"] = _gdf(engine, select(g.c.id, g.c.code, g.c.name, g.c.grid_type, c.c.code.label("community_code"),
                                      g.c.geom).join(c, c.c.id == g.c.community_id).where(*where_c))
    out["building"] = _gdf(engine, select(b.c.id, b.c.code, b.c.name, b.c.address, b.c.floors, b.c.units,
                                          b.c.households, b.c.residents, b.c.entrance_lon, b.c.entrance_lat,
                                          g.c.code.label("grid_code"), b.c.geom)
                           .join(g, g.c.id == b.c.grid_id).where(b.c.grid_id.in_(grids)))
    bk = out["building"]
    bk["key"] = [building_key(*v) for v in zip(bk["code"], bk["address"], bk["name"])]
    f, cam, r = Facility.__table__, Camera.__table__, Road.__table__
    out["facility"] = _gdf(engine, select(f.c.id, f.c.code, f.c.type, f.c.name, f.c.address, f.c.open_hours, f.c.geom)
                           .where(f.c.community_id.in_(select(c.c.id).where(*where_c)) | f.c.community_id.is_(None)))
    out["camera"] = _gdf(engine, select(cam.c.id, cam.c.code, cam.c.name, cam.c.heading, cam.c.fov, cam.c.range_m,
                                        cam.c.status, cam.c.kind, cam.c.geom)
                         .where(cam.c.grid_id.in_(grids) | cam.c.grid_id.is_(None)))
    out["road"] = _gdf(engine, select(r.c.id, r.c.code, r.c.name, r.c.kind, r.c.level, r.c.geom))
    if register:
        out["register"] = read_register(engine, grids)
    for name in ("street", "community", "grid", "camera"):
        out[name]["key"] = out[name]["code"].fillna("")
    fac = out["facility"]
    fac["key"] = fac["code"].where(fac["code"].notna() & (fac["code"] != ""), fac["type"] + "|" + fac["name"])
    rd = out["road"]
    rd["key"] = rd["code"].where(rd["code"].notna() & (rd["code"] != ""), rd["kind"] + "|" + rd["name"].fillna("")
                                 + "|" + rd.geometry.map(lambda x: x.wkt[:60] if x is not None else ""))
    return out


def read_register(engine: Engine, grids) -> pd.DataFrame:
    """Households with their residents (one row per resident; a household without residents once)."""
    h, res, b = Household.__table__, Resident.__table__, Building.__table__
    stmt = (select(h.c.id.label("household_id"), h.c.code.label("household_code"), h.c.unit_no, h.c.room, h.c.size,
                   h.c.elderly_alone.label("household_elderly"), h.c.low_income.label("household_low"),
                   b.c.code.label("b_code"), b.c.address.label("b_address"), b.c.name.label("b_name"),
                   res.c.id.label("id"), res.c.name, res.c.id_number, res.c.gender, res.c.birth_year, res.c.phone,
                   res.c.elderly_alone, res.c.disabled, res.c.low_income, res.c.party_member)
            .join(b, b.c.id == h.c.building_id).outerjoin(res, res.c.household_id == h.c.id)
            .where(h.c.grid_id.in_(grids)).order_by(h.c.id, res.c.id))
    reg = store.read_frame(engine, stmt)
    reg["building_ref"] = [building_key(*v) for v in zip(reg["b_code"], reg["b_address"], reg["b_name"])]
    reg["household_key"] = reg["household_code"].where(
        reg["household_code"].notna() & (reg["household_code"] != ""),
        reg["building_ref"] + "|" + reg["unit_no"].astype(str) + "|" + reg["room"].astype(str))
    return reg


def residents_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Resident)).scalar_one())


def _gdf(engine: Engine, stmt) -> gpd.GeoDataFrame:
    frame = store.read_frame(engine, stmt)
    geoms = frame.pop("geom") if "geom" in frame else []
    return gpd.GeoDataFrame(frame, geometry=list(geoms), crs=settings.STORAGE_CRS)
