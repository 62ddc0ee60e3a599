"""One refresh of the big screen, everything at once (``build``), and the screen's title."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select, true

from geo.coverage import coverage
from geo.db import store
from geo.access.roles import Scope
from geo.screen import figures, map_data, panels
from geo.tickets import warnings
from geo.db.schema import (
    Community, Grid, Street)


#: Warnings the wall draws (the panel shows the first few; every one gets its ring).
WARNING_ROWS = 20


@dataclass
class Screen:
    """One refresh of the screen: the figures, the panels and the map's live layers."""

    now: datetime
    scope: Scope
    figures: dict[str, Any]
    changes: dict[str, figures.Change]
    as_of: datetime | None
    feed: pd.DataFrame
    trend: pd.DataFrame
    categories: pd.DataFrame
    communities: pd.DataFrame
    grids: pd.DataFrame
    communities_on_time: pd.DataFrame
    grids_on_time: pd.DataFrame
    stages: pd.DataFrame
    grid_load: pd.DataFrame
    cells: pd.DataFrame
    alerts: pd.DataFrame
    cameras: pd.DataFrame
    names: dict[str, pd.Series]
    frame: pd.DataFrame = field(repr=False)
    wide: bool = False
    on_the_way: pd.DataFrame | None = None  # party members on their way to a ticket (map_data.on_the_way)
    warnings: pd.DataFrame | None = None  # open and acknowledged warnings (geo.tickets.warnings.live): panel, rings


def build(engine: Engine, now: datetime, scope: Scope, *, lang: str = "zh",
          circle: dict[str, Any] | None = None, plan: coverage.Plan | None = None,
          wide: bool | None = None, feed: figures.TicketFeed | None = None,
          people: dict[str, int] | None = None) -> Screen:
    """Everything that changes between refreshes, in one pass over the tickets.

    ``feed``: the area's figures.TicketFeed, which rereads only the tickets changed since the
    last refresh (a page keeps one per area); without it the tickets are read afresh.

    ``circle`` (the 15-minute figures) may be passed in: it changes only when
    facilities, buildings or roads do, so the page caches it longer. Without it,
    it is computed on ``plan`` (walking) or in straight lines. ``wide`` as for ``basemap``.
    ``people`` (figures.population: residents, households, party members…) likewise: six counts over
    the area's people, 0.3 s across a city, which change with loads and bindings, not by the minute.
    """
    frame = feed.read(engine, now) if feed is not None else figures.load_tickets(engine, now, scope)
    names = panels.area_names(engine, scope)
    wide = figures.streets_in(engine, scope) > 1 if wide is None else wide
    cams = map_data.camera_points(engine, scope, wide=wide)
    headline = figures.headline(engine, now, scope, frame, plan=plan, circle=circle, camera_rows=cams, people=people)
    tables = {key: panels.area_table(frame, now, names[level], key=key)
              for level, key in (("community", "community_id"), ("grid", "grid_id"))}
    rank = {(key, by): panels.rank_areas(table, by=by) for key, table in tables.items()
            for by in ("load", "on_time")}
    resolution = figures.WIDE_H3_RESOLUTION if wide else figures.H3_RESOLUTION
    return Screen(now=now, scope=scope, figures=headline, changes=figures.compare(frame, now, figures=headline),
                  as_of=figures.data_as_of(engine, now, scope), feed=panels.feed(engine, now, scope, lang=lang),
                  trend=panels.trend(frame, now), categories=panels.by_category(frame, now, lang=lang),
                  communities=rank["community_id", "load"], grids=rank["grid_id", "load"],
                  communities_on_time=rank["community_id", "on_time"], grids_on_time=rank["grid_id", "on_time"],
                  stages=panels.open_by_stage_age(frame, now), grid_load=map_data.grid_load(frame, now),
                  cells=map_data.ticket_cells(frame, now, resolution=resolution),
                  alerts=map_data.alerts(frame, now, lang=lang), cameras=cams,
                  names=names, frame=frame, wide=wide, on_the_way=map_data.on_the_way(frame, now, lang=lang),
                  warnings=warnings.live(engine, scope=scope, limit=WARNING_ROWS, lang=lang))


def street_title(engine: Engine, scope: Scope) -> str:
    """The name the screen is titled with: the street, the community, a grid (with its community),
    or the district's streets."""
    if scope.level == "grid":
        row = store.read_frame(engine, select(Community.name.label("community"), Grid.name)
                               .join(Community, Community.id == Grid.community_id).where(Grid.id == scope.grid_id))
        return f"{row['community'].iloc[0]}·{row['name'].iloc[0]}" if len(row) else ""
    if scope.level == "community":
        return str(store.read_frame(engine, select(Community.name).where(Community.id == scope.community_id))
                   ["name"].iloc[0])
    where = Street.id == scope.street_id if scope.street_id is not None else true()
    names = store.read_frame(engine, select(Street.name).where(where).order_by(Street.id))["name"].tolist()
    return names[0] if len(names) == 1 else f"{names[0]}等{len(names)}个街道" if names else ""
