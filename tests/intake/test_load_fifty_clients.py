"""A bounded load on the Open311 door (bench/intake_bench.py): 50 clients on loopback for 30 s, per backend.

Every accepted request must be stored exactly once, nothing may fail, and one more ticket
must reach the big screen's figures (geo.screen.wall.build) well within one refresh.
The figures (accepted per second, P95) are printed, not asserted: speed is measured, not tested.
"""
from __future__ import annotations

import pytest

from bench import intake_bench
from geo.db import store
from geo.demo import generator
from geo.screen import figures

pytestmark = pytest.mark.slow


def test_fifty_clients_for_thirty_seconds_store_every_accepted_request_exactly_once(database_url, tmp_path, capsys):
    store.load_town(store.make_engine(database_url), generator.generate(communities=2, tickets_per_street=300))
    result = intake_bench.run(database_url, clients=50, seconds=30, log_dir=tmp_path)
    with capsys.disabled():
        print(f"\n[{database_url.split(':')[0]}] {result.report()}")
    assert result.accepted > 50 and set(result.statuses) == {200}, result.statuses
    assert result.exactly_once
    assert result.wall_build_s < figures.REFRESH_S
