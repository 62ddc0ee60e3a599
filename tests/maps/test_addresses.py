"""A place found by its name, for the hotline operator's report (issue 13, item 10)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from geo.access.roles import WHOLE_STREET, Scope
from geo.db.schema import Building, Estate, Facility
from geo.maps import addresses, layers


def one_building(engine):
    with engine.connect() as conn:
        return conn.execute(select(Building.id, Building.name, Building.grid_id, Building.entrance_lon,
                                   Building.entrance_lat, Estate.name.label("estate"))
                            .join(Estate, Estate.id == Building.estate_id).order_by(Building.id.desc())).first()


def test_an_estate_and_building_lead_to_the_door(engine):
    b = one_building(engine)
    found = addresses.search(engine, f"{b.estate} {b.name}", scope=WHOLE_STREET)
    assert found.iloc[0]["kind"] == "building" and found.iloc[0]["label"] == f"{b.estate} {b.name}"
    assert (found.iloc[0]["lon"], found.iloc[0]["lat"]) == pytest.approx((b.entrance_lon, b.entrance_lat))
    # punctuation and order of the words as a caller says them; every word must match
    assert f"{b.estate} {b.name}" in set(addresses.search(engine, f"{b.name}，{b.estate}", scope=WHOLE_STREET)["label"])
    assert addresses.search(engine, f"{b.estate} 没有这栋", scope=WHOLE_STREET).empty
    assert addresses.search(engine, "   ", scope=WHOLE_STREET).empty


def test_facilities_and_roads_and_the_callers_area(engine):
    with engine.connect() as conn:
        fac = conn.execute(select(Facility.name, Facility.grid_id).order_by(Facility.id)).first()
    found = addresses.search(engine, fac.name, scope=WHOLE_STREET)
    assert fac.name in " ".join(found.loc[found["kind"] == "facility", "label"])
    roads = addresses.search(engine, "建设路", scope=WHOLE_STREET)  # one of the small town's named roads
    assert roads["kind"].tolist() == ["road"] and roads["label"].tolist() == ["建设路"]
    # a grid head finds the places of their own grid, and no roads (a road carries no area)
    b = one_building(engine)
    theirs = Scope("grid", grid_id=b.grid_id + 1)
    assert addresses.search(engine, f"{b.estate} {b.name}", scope=theirs).empty
    assert addresses.search(engine, "建设路", scope=Scope("grid", grid_id=b.grid_id)).empty
    assert not addresses.search(engine, f"{b.estate} {b.name}", scope=Scope("grid", grid_id=b.grid_id)).empty


def test_buildings_near_a_spot_are_the_ones_around_it(engine):
    b = one_building(engine)
    near = layers.buildings_near(engine, b.entrance_lon, b.entrance_lat)
    assert b.id in set(near["id"]) and 1 < len(near) < 60  # the neighbours, not the street's 800
