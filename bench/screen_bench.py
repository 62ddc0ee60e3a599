"""Big-screen benchmark: server time to build one refresh and bytes sent to the browser.

For street and district scale (generated in memory, loaded into a temporary
SQLite file), prints next to each other:

- page (what pages/screen.py sends): grids coloured by load, ticket density
  per H3 cell, only overdue/urgent tickets as points; across several streets
  (district) also only arterial roads, outlines simplified to half a map pixel,
  and cameras and facilities counted per H3 cell;
- naive baseline, a first cut: every ticket of the period (reported in the
  last 30 days, plus every open one) as a ScatterplotLayer point with its state
  and category, every camera and facility as its own point, every road down to
  the lanes, and the alert points three times (ring, halo, dot), as the page
  sent them before.

Bytes are the Deck JSON exactly as st.pydeck_chart sends it (deck.to_json()),
on every refresh (Streamlit re-sends the whole chart). Server time is the best
of ``--repeat`` runs. The walking plan of the 15-minute circle is built once an
hour by the page; its time is printed apart.

    python -m bench.screen_bench                 # street and district
    python -m bench.screen_bench --scale street
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pydeck as pdk

from geo.demo import generator
from geo.screen import figures, map_data, screen_map, wall
from geo.db import store
from geo.tickets import workflow
from geo.access.roles import Scope

#: The page's ticket layers, which the naive baseline replaces by every ticket point.
AGGREGATES = ("ticket_cells", "overdue_ring", "alerts")


def naive_deck(engine, scope: Scope, now, frame) -> pdk.Deck:
    """The first cut: the detailed (single-street) layers at any scale, and every ticket as a point."""
    base = map_data.basemap(engine, scope, wide=False)
    s = wall.build(engine, now, scope, wide=False, circle={})
    start = now - timedelta(days=figures.PERIOD_DAYS)
    keep = frame[(frame["created_at"] >= start) | frame["state"].isin(workflow.OPEN_STATES)]
    points = [{"lon": lon, "lat": lat, "state": st, "category": c}
              for lon, lat, st, c in zip(keep["lon"], keep["lat"], keep["state"], keep["category"])]
    alerts = [{"x": [x, y], "k": code} for x, y, code in zip(s.alerts["lon"], s.alerts["lat"], s.alerts["code"])]
    layers = [layer for layer in screen_map.deck(base, s).layers if layer.id not in AGGREGATES]
    layers += [pdk.Layer("ScatterplotLayer", points, id="tickets", get_position=["lon", "lat"], get_radius=10,
                         get_fill_color=[255, 80, 0, 200], radius_min_pixels=2)]
    layers += [pdk.Layer("ScatterplotLayer", alerts, id=f"alerts_{k}", get_position="x", get_radius=14)
               for k in ("ring", "halo", "dot")]
    return screen_map.CompactDeck(layers=layers, initial_view_state=screen_map.view_state(base.bounds),
                                  map_provider=None)


def _best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _layer_kb(spec: str) -> dict[str, float]:
    return {layer["id"]: len(json.dumps(layer, separators=(",", ":"), ensure_ascii=False).encode()) / 1e3
            for layer in json.loads(spec)["layers"]}


def run(scale: str, repeat: int = 3) -> dict:
    now = generator.default_now()
    t = time.perf_counter()
    town = generator.generate(scale=scale, now=now)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.load_town(engine, town)
        scope = Scope("street")  # the whole database: one street, or all 20 of the district
        base_s, base = _best(lambda: map_data.basemap(engine, scope), repeat)
        plan_s, plan = _best(lambda: figures.walking_plan(engine), 1)
        circle_s, circle = _best(lambda: figures.service_circle(engine, scope, plan=plan), repeat)
        # one refresh: the live data (the circle is cached by the page) and the Deck JSON
        live_s, s = _best(lambda: wall.build(engine, now, scope, circle=circle), repeat)
        deck_s, spec = _best(lambda: screen_map.deck(base, s).to_json(), repeat)
        naive_s, naive = _best(lambda: naive_deck(engine, scope, now, figures.load_tickets(engine, now, scope))
                               .to_json(), repeat)
        frame = figures.load_tickets(engine, now, scope)
        feed = _feed_figures(engine, now, scope, town, circle, repeat)
        engine.dispose()
    layers, naive_layers = _layer_kb(spec), _layer_kb(naive)
    return dict(scale=scale, tickets=len(town["ticket"]), wide=base.wide, period_points=int(
        ((frame["created_at"] >= now - timedelta(days=figures.PERIOD_DAYS))
         | frame["state"].isin(workflow.OPEN_STATES)).sum()),
        cells=len(s.cells), alerts=len(s.alerts), gen_s=gen_s, basemap_s=base_s, plan_s=plan_s,
        circle_s=circle_s, circle=circle, refresh_s=live_s + deck_s, naive_s=naive_s,
        page_bytes=len(spec.encode()), naive_bytes=len(naive.encode()), layers=layers, naive_layers=naive_layers,
        **feed)


def _feed_figures(engine, now, scope, town, circle, repeat: int) -> dict[str, float]:
    """The ticket read of one refresh (issue 15, item 4): a full read against the feed's catch-up after
    50 new reports, and a whole refresh with the feed."""
    from geo.tickets import service

    full_s, _ = _best(lambda: figures.load_tickets(engine, now, scope), repeat)
    feed = figures.TicketFeed(scope)
    feed.read(engine, now)
    later = now + timedelta(minutes=1)
    for g in town["grid"][:50]:
        p = g["geom"].representative_point()
        service.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=later)
    catch_s, _ = _best(lambda: feed.read(engine, later), 1)
    quiet_s, _ = _best(lambda: feed.read(engine, later), repeat)
    live_feed_s, _ = _best(lambda: wall.build(engine, later, scope, circle=circle, feed=feed), repeat)
    return dict(full_read_s=full_s, catch_up_s=catch_s, quiet_s=quiet_s, refresh_feed_s=live_feed_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["street", "district", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    scales = ["street", "district"] if args.scale == "both" else [args.scale]
    rows = [run(sc, args.repeat) for sc in scales]
    print(f"{'scale':9} {'tickets':>8} {'period pts':>10} {'H3 cells':>8} {'alerts':>6} | "
          f"{'refresh s':>9} {'naive s':>8} | {'page KB':>8} {'naive KB':>9} {'smaller':>7}")
    for r in rows:
        print(f"{r['scale']:9} {r['tickets']:>8,} {r['period_points']:>10,} {r['cells']:>8,} {r['alerts']:>6,} | "
              f"{r['refresh_s']:>9.2f} {r['naive_s']:>8.2f} | {r['page_bytes'] / 1e3:>8.0f} "
              f"{r['naive_bytes'] / 1e3:>9.0f} {r['naive_bytes'] / r['page_bytes']:>6.1f}x")
    for r in rows:
        c = r["circle"]
        print(f"\n{r['scale']} ({'aggregated per H3 cell' if r['wide'] else 'one street: points'}): generate "
              f"{r['gen_s']:.0f} s (once); basemap {r['basemap_s']:.2f} s (cached 10 min); walking plan "
              f"{r['plan_s']:.2f} s (cached 1 h); 15-min circle {r['circle_s']:.2f} s (cached 10 min): "
              f"{c['circle_share'] * 100:.1f}% {c['circle_method']}")
        print("  page KB:  " + ", ".join(f"{k} {v:.0f}" for k, v in r["layers"].items()))
        print("  naive KB: " + ", ".join(f"{k} {v:.0f}" for k, v in r["naive_layers"].items()))
        print(f"  tickets of one refresh: full read {r['full_read_s']:.3f} s; the feed after 50 new reports "
              f"{r['catch_up_s']:.3f} s ({r['catch_up_s'] / r['full_read_s']:.2f}x), with nothing new "
              f"{r['quiet_s']:.3f} s ({r['quiet_s'] / r['full_read_s']:.2f}x); whole refresh with the feed "
              f"{r['refresh_feed_s']:.2f} s against {r['refresh_s']:.2f} s without")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
