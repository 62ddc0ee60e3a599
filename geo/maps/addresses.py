"""Finding a place by what people call it: an estate and a building, a facility, a road.

A 12345 hotline operator hears "华小区07的3栋门口", not a longitude; the report form
searches here and puts the point at the building's door (its entrance), at the facility,
or at the middle of the road, where a click would have put it. Every word typed must
appear in the place's name (estate + building, or the facility's name and address,
or the road's); buildings first, the shortest names (the closest matches) first.
Read through the caller's scope like everything else: a grid head finds the places of
their grid, a street's staff those of the street.
"""
from __future__ import annotations

import re

import pandas as pd
import shapely
from sqlalchemy import Engine, and_, or_, select

from geo.db import store
from geo.db.schema import Building, Estate, Facility, Road
from geo.access.roles import Scope

COLUMNS = ["kind", "label", "lon", "lat"]
#: Words are split at spaces and Chinese or Latin punctuation.
_SPLIT = re.compile(r"[\s,，、;；。.·/]+")


def words(text: str | None) -> list[str]:
    """The words of a search, at most 5 (each must match)."""
    return [w for w in _SPLIT.split((text or "").strip()) if w][:5]


def search(engine: Engine, text: str | None, *, scope: Scope, limit: int = 20) -> pd.DataFrame:
    """Places in ``scope`` whose name holds every word of ``text``: kind (building / facility /
    road), a label to show, and the point to report at (lon, lat). Empty for an empty search."""
    found = words(text)
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    parts = [_buildings(engine, found, scope, limit), _facilities(engine, found, scope, limit)]
    if scope.level == "street":  # roads carry no area: only a street's staff search them
        parts.append(_roads(engine, found, limit))
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame(columns=COLUMNS)
    order = {"building": 0, "facility": 1, "road": 2}
    out = out.assign(_k=out["kind"].map(order), _n=out["label"].str.len())
    return out.sort_values(["_k", "_n", "label"]).drop(columns=["_k", "_n"]).head(limit).reset_index(drop=True)


def _all_words(columns, found: list[str]):
    return and_(*[or_(*[c.contains(w, autoescape=True) for c in columns]) for w in found])


def _buildings(engine: Engine, found: list[str], scope: Scope, limit: int) -> pd.DataFrame:
    b = Building.__table__
    stmt = (select(Estate.name.label("estate"), b.c.name, b.c.entrance_lon.label("lon"),
                   b.c.entrance_lat.label("lat"))
            .select_from(b).outerjoin(Estate, Estate.id == b.c.estate_id)
            .where(scope.clause(b), _all_words([Estate.name, b.c.name], found)).limit(limit * 5))
    df = store.read_frame(engine, stmt)
    label = (df["estate"].fillna("") + " " + df["name"]).str.strip()
    return pd.DataFrame({"kind": "building", "label": label, "lon": df["lon"], "lat": df["lat"]})


def _facilities(engine: Engine, found: list[str], scope: Scope, limit: int) -> pd.DataFrame:
    f = Facility.__table__
    stmt = (select(f.c.name, f.c.address, f.c.minx.label("lon"), f.c.miny.label("lat"))
            .where(scope.clause(f), _all_words([f.c.name, f.c.address], found)).limit(limit))
    df = store.read_frame(engine, stmt)
    label = df["name"] + df["address"].fillna("").map(lambda a: f"（{a}）" if a else "")
    return pd.DataFrame({"kind": "facility", "label": label, "lon": df["lon"], "lat": df["lat"]})


def _roads(engine: Engine, found: list[str], limit: int) -> pd.DataFrame:
    gdf = store.read_layer(engine, Road, columns=["name", "geom"],
                           where=_all_words([Road.__table__.c.name], found))
    if gdf.empty:
        return pd.DataFrame(columns=COLUMNS)
    merged = gdf.dissolve("name").reset_index().head(limit)  # one road drawn in many pieces is one answer
    middle = shapely.point_on_surface(merged.geometry.values)  # on the road itself
    return pd.DataFrame({"kind": "road", "label": merged["name"], "lon": shapely.get_x(middle),
                         "lat": shapely.get_y(middle)})
