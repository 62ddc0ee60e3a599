"""A grid head's lists cost what the grid holds (issue 15): the residents' and visits' aggregates are
limited to the grid inside their sub-queries, so SQLite searches them by the grid's index instead of
scanning every resident and visit in the database."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from statements import statements

from geo.access import roles
from geo.db import store
from geo.db.schema import Grid
from geo.people import households

NOW = datetime(2026, 11, 23, 9)


@pytest.fixture
def sqlite_town(tmp_path, small_town):
    eng = store.make_engine(f"sqlite:///{tmp_path / 'town.db'}")
    store.load_town(eng, small_town)
    yield eng
    eng.dispose()


def plans_of(engine, call) -> list[str]:
    """Every line of SQLite's query plan for each SELECT ``call`` runs."""
    seen = statements(engine, call)
    lines = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            lines += [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    return lines


def full_scans(lines: list[str], *tables: str) -> list[str]:
    """Plan lines that read a whole table (SCAN, without a search by an index on the area)."""
    return [ln for ln in lines if ln.startswith("SCAN") and any(f" {t}" in ln for t in tables)]


def test_one_grids_households_search_residents_and_visits_by_the_grid(sqlite_town):
    with sqlite_town.connect() as conn:
        grid_id, community_id = conn.execute(select(Grid.id, Grid.community_id).order_by(Grid.id)).first()
    scope = roles.Scope("grid", street_id=1, community_id=community_id, grid_id=grid_id)
    lines = plans_of(sqlite_town, lambda: households.households(sqlite_town, scope=scope, now=NOW,
                                                                   grid_id=grid_id))
    assert lines, "households() ran no SELECT"
    assert full_scans(lines, "resident", "visit") == [], "\n".join(lines)
    assert any("resident" in ln and "grid_id" in ln for ln in lines), "\n".join(lines)


def test_the_grids_list_is_the_same_as_before_the_limit(sqlite_town):
    """The limit changes the cost, not the answer: one grid's rows equal the community's rows of that grid."""
    with sqlite_town.connect() as conn:
        grid_id, community_id = conn.execute(select(Grid.id, Grid.community_id).order_by(Grid.id)).first()
    grid = households.households(sqlite_town, now=NOW, grid_id=grid_id,
                                 scope=roles.Scope("grid", street_id=1, community_id=community_id, grid_id=grid_id))
    wide = households.households(sqlite_town, now=NOW, scope=roles.WHOLE_STREET)
    wide = wide[wide["grid_id"] == grid_id].reset_index(drop=True)
    assert len(grid) > 100
    assert grid[["id", "head", "phone", "days_since_visit", "disabled"]].equals(
        wide[["id", "head", "phone", "days_since_visit", "disabled"]])


def test_the_grids_helper_lists_search_care_links_and_residents_by_the_grid(sqlite_town):
    """我的网格's 包保/联户 lists and the wall's grid card: care links are found by household (an index of
    their own: the key leads with the person) and the residents' summary is the grid's alone. Before,
    SQLite scanned every care link of the database for each household of the grid (1.5 s for one grid of
    a two-street town) and aggregated every resident."""
    from geo.people import bindings
    from geo.screen import grid_card

    with sqlite_town.connect() as conn:
        grid_id, community_id = conn.execute(select(Grid.id, Grid.community_id).order_by(Grid.id)).first()
    scope = roles.Scope("grid", street_id=1, community_id=community_id, grid_id=grid_id)
    for call in (lambda: bindings.helpers_households(sqlite_town, scope=scope, grid_id=grid_id),
                 lambda: bindings.households_helpers(sqlite_town, scope=scope, grid_id=grid_id),
                 lambda: grid_card.helpers(sqlite_town, grid_id)):
        lines = plans_of(sqlite_town, call)
        assert lines, "the list ran no SELECT"
        assert full_scans(lines, "care_link", "resident") == [], "\n".join(lines)
    table = bindings.households_helpers(sqlite_town, scope=scope, grid_id=grid_id)
    assert len(table) > 100 and table["head"].notna().all()  # every household's head still found
