"""WGS 84 ⇄ GCJ-02 ⇄ BD-09 on published coordinate pairs, and round trips under 1 cm."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.place import coords

#: Published pairs (wandergis/coordtransform's README values, at Tiananmen's (116.404, 39.915)).
TIANANMEN = (116.404, 39.915)
PUBLISHED = {
    "wgs84→gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02→bd09": (116.41036949371029, 39.92133699351021),
    "bd09→gcj02 one step": (116.39762729119315, 39.90865673957631),
}
#: Beijing railway station in GCJ-02 and BD-09 (the R package cst's example, 5 decimals).
STATION_GCJ, STATION_BD = (116.42703, 39.90245), (116.43351, 39.90851)


def metres(a, b) -> float:
    """Distance between two lon/lat points, metres (flat earth: fine under 1 km)."""
    (x0, y0), (x1, y1) = np.asarray(a, float), np.asarray(b, float)
    return float(np.hypot((x1 - x0) * 111_320 * np.cos(np.radians(y0)), (y1 - y0) * 110_574))


def test_forward_formulas_give_the_published_values():
    assert coords.wgs84_to_gcj02(*TIANANMEN) == pytest.approx(PUBLISHED["wgs84→gcj02"], abs=1e-9)
    assert coords.gcj02_to_bd09(*TIANANMEN) == pytest.approx(PUBLISHED["gcj02→bd09"], abs=1e-9)
    assert coords.gcj02_to_bd09(*STATION_GCJ) == pytest.approx(STATION_BD, abs=1e-5)  # published to 5 decimals
    assert coords.bd09_to_gcj02(*STATION_BD) == pytest.approx(STATION_GCJ, abs=1e-5)


def test_the_bd09_inverse_is_exact_where_the_published_one_step_is_not():
    """The published BD-09 → GCJ-02 is a one-step approximation: ours agrees with it to a few
    centimetres and, unlike it, undoes the forward formula to well under a millimetre."""
    ours = coords.bd09_to_gcj02(*TIANANMEN)
    assert metres(ours, PUBLISHED["bd09→gcj02 one step"]) < 0.1
    there_and_back = coords.gcj02_to_bd09(*PUBLISHED["bd09→gcj02 one step"])
    assert metres(there_and_back, TIANANMEN) > 0.02  # the one-step inverse misses by centimetres
    assert metres(coords.gcj02_to_bd09(*ours), TIANANMEN) < 1e-4


@pytest.mark.parametrize("src,dst", [("wgs84", "bd09"), ("wgs84", "gcj02"), ("gcj02", "bd09")])
def test_round_trips_over_china_stay_within_a_centimetre(src, dst):
    rng = np.random.default_rng(14)
    lon, lat = rng.uniform(75, 134, 2000), rng.uniform(18, 53, 2000)
    back = coords.convert_lonlat(*coords.convert_lonlat(lon, lat, src, dst), dst, src)
    err = np.hypot((back[0] - lon) * 111_320 * np.cos(np.radians(lat)), (back[1] - lat) * 110_574)
    assert err.max() < 0.01


def test_offsets_are_hundreds_of_metres_in_pengzhou_and_geometries_move_whole():
    here = (103.958, 30.990)
    assert 250 < metres(here, coords.convert_lonlat(*here, "wgs84", "gcj02")) < 500
    assert 700 < metres(here, coords.convert_lonlat(*here, "wgs84", "bd09")) < 1100
    square = shapely.box(103.95, 30.98, 103.96, 30.99)
    moved = coords.convert(coords.convert(square, "wgs84", "bd09"), "bd09", "wgs84")
    assert shapely.hausdorff_distance(moved, square) < 1e-7  # ~1 cm
    assert coords.convert(square, "wgs84", "wgs84") is square
    with pytest.raises(ValueError, match="unknown datum"):
        coords.convert_lonlat(1, 2, "wgs84", "baidu")
