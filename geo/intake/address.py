"""An address in words (the hotline's 事发地址, Open311's address_string) matched to a building.

A building is named by its estate (小区/院落) and number (``锦绣花园 3栋``), or, where it
stands in no estate, by its grid and number (``东大街第7网格 1栋``): ``label`` says so, and
the QR sheets print the same words. ``Matcher`` finds the longest estate or grid name the
text contains, then the building number after it (3栋, 3幢, 3号楼, 三栋; full-width digits
too). Nothing matched, or a number the place does not have: no building (the caller routes
by coordinates, or lists the row for a person).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, select

from geo.db import store
from geo.db.schema import Building, Community, Estate, Grid

_NUMBER = re.compile(r"([0-9]+|[一二三四五六七八九十两]+)\s*(?:栋|幢|号楼|座)")
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass(frozen=True)
class Place:
    """A matched building: where its door is, its grid, and its name as people say it."""

    building_id: int
    grid_id: int
    lon: float
    lat: float
    label: str


def normalise(text: str) -> str:
    """Full-width to half-width, no spaces: 锦绣花园 ３ 栋 → 锦绣花园3栋."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    tens, _, ones = text.partition("十")
    if "十" in text:
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return _CN_DIGITS.get(text) if len(text) == 1 else None


def buildings(engine: Engine, *, street_id: int | None = None, grid_id: int | None = None) -> pd.DataFrame:
    """Buildings with their label (estate or grid + name), grid and door, ordered by label."""
    stmt = (select(Building.id, Building.name, Building.grid_id, Building.entrance_lon, Building.entrance_lat,
                   Estate.name.label("estate"), Grid.name.label("grid"), Grid.code.label("grid_code"),
                   Community.name.label("community"), Community.street_id)
            .join(Grid, Grid.id == Building.grid_id).join(Community, Community.id == Grid.community_id)
            .outerjoin(Estate, Estate.id == Building.estate_id))
    if street_id is not None:
        stmt = stmt.where(Community.street_id == street_id)
    if grid_id is not None:
        stmt = stmt.where(Building.grid_id == grid_id)
    df = store.read_frame(engine, stmt.order_by(Building.grid_id, Building.id))
    df["place"] = df["estate"].where(df["estate"].notna() & (df["estate"] != ""), df["grid"])
    df["label"] = df["place"] + " " + df["name"]  # 祥家园01 1栋, not 祥家园011栋
    return df


class Matcher:
    """Addresses to buildings for one street (loaded once, for a batch of hotline orders)."""

    def __init__(self, engine: Engine, *, street_id: int | None = None) -> None:
        self.table = buildings(engine, street_id=street_id)
        self.places = sorted(set(self.table["place"]), key=len, reverse=True)  # longest first

    def match(self, text: str) -> Place | None:
        words = normalise(text)
        for place in self.places:
            at = words.find(normalise(place))
            if at < 0:
                continue
            found = _NUMBER.search(words, at + len(normalise(place)))
            if found is None:
                return None
            number = _number(found.group(1))
            rows = self.table[(self.table["place"] == place) & (self.table["name"] == f"{number}栋")]
            if rows.empty:
                return None
            r = rows.iloc[0]
            return Place(int(r.id), int(r.grid_id), float(r.entrance_lon), float(r.entrance_lat), str(r.label))
        return None


def building(engine: Engine, building_id: int) -> Place | None:
    """One building by id (a QR code's link), or None."""
    stmt = (select(Building.id, Building.name, Building.grid_id, Building.entrance_lon, Building.entrance_lat,
                   Estate.name.label("estate"), Grid.name.label("grid"))
            .join(Grid, Grid.id == Building.grid_id).outerjoin(Estate, Estate.id == Building.estate_id)
            .where(Building.id == building_id))
    with engine.connect() as conn:
        r = conn.execute(stmt).first()
    if r is None:
        return None
    return Place(int(r.id), int(r.grid_id), float(r.entrance_lon), float(r.entrance_lat),
                 f"{r.estate or r.grid} {r.name}")
