"""The walking graph's building blocks, apart from the coverage they serve."""
from __future__ import annotations

import numpy as np
import pytest

from geo.coverage import network


@pytest.mark.parametrize("low,high", [(-5, 5), (-3_000_000, 3_000_000), (0, 2 ** 40)])
def test_road_ends_are_deduplicated_exactly_as_numpy_does_row_by_row(low, high):
    """network.unique_points packs (x, y) into one int64 (issue 15: numpy's row-wise unique was a third of
    a district's graph build); the rows, their order and the inverse are numpy's, and a span no int64 can
    hold (2**40 on both axes) takes numpy's way."""
    rng = np.random.default_rng(15)
    keys = rng.integers(low, high, (5000, 2)).astype(np.int64)
    keys = np.vstack([keys, keys[:700], keys[[3, 3, 3]]])
    uniq, inverse = network.unique_points(keys)
    want, want_inverse = np.unique(keys, axis=0, return_inverse=True)
    assert np.array_equal(uniq, want) and np.array_equal(inverse, want_inverse.ravel())
    assert np.array_equal(uniq[inverse], keys)
