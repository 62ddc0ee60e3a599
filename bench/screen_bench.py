"""Big-screen benchmark: server time to build one refresh and bytes sent to the browser.

For street and district scale (generated in memory, loaded into a temporary
SQLite file), prints next to each other:

- aggregated (what pages/screen.py sends): grids coloured by load, ticket
  density per H3 cell, only overdue/urgent tickets as points;
- naive baseline: the same Deck, but instead of the H3 cells and alert points every ticket of the period (reported
  in the last 30 days, plus every open one) sent as a ScatterplotLayer point
  with its state and category, the way a first cut would draw them.

Bytes are the Deck JSON exactly as st.pydeck_chart sends it (deck.to_json()).

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

from geo import demo, screen, screen_map, store, workflow
from geo.roles import Scope


AGGREGATES = ("ticket_cells", "alert_halo", "alerts")


def naive_deck(base: screen.Basemap, s: screen.Screen, frame, now) -> pdk.Deck:
    """The page's Deck with its ticket aggregates replaced by every ticket point of the period."""
    start = now - timedelta(days=screen.PERIOD_DAYS)
    keep = frame[(frame["created_at"] >= start) | frame["state"].isin(workflow.OPEN_STATES)]
    points = [{"lon": lon, "lat": lat, "state": st, "category": c}
              for lon, lat, st, c in zip(keep["lon"], keep["lat"], keep["state"], keep["category"])]
    layers = [layer for layer in screen_map.deck(base, s).layers if layer.id not in AGGREGATES]
    layers += [pdk.Layer("ScatterplotLayer", points, id="tickets", get_position=["lon", "lat"], get_radius=10,
                         get_fill_color=[255, 80, 0, 200], radius_min_pixels=2)]
    return screen_map.CompactDeck(layers=layers, initial_view_state=screen_map.view_state(base.bounds),
                                  map_provider=None)


def _best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def run(scale: str, repeat: int = 3) -> dict:
    now = demo.default_now()
    t = time.perf_counter()
    town = demo.generate(scale=scale, now=now)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.load_town(engine, town)
        scope = Scope("street")  # the whole database: one street, or all 20 of the district
        base_s, base = _best(lambda: screen.basemap(engine, scope), repeat)
        circle_s, circle = _best(lambda: screen.service_circle(engine, scope), repeat)
        # one refresh: the live data (the circle is cached by the page) and the Deck JSON
        live_s, s = _best(lambda: screen.build(engine, now, scope, circle=circle), repeat)
        deck_s, spec = _best(lambda: screen_map.deck(base, s).to_json(), repeat)
        frame_s, frame = _best(lambda: screen.load_tickets(engine, now, scope), repeat)
        # the naive page still needs the figures; it skips only the aggregation
        naive_s, naive = _best(lambda: naive_deck(base, screen.build(engine, now, scope, circle=circle),
                                                  screen.load_tickets(engine, now, scope), now).to_json(), repeat)
        layers = {layer["id"]: len(json.dumps(layer, separators=(",", ":"), ensure_ascii=False).encode())
                  for layer in json.loads(spec)["layers"]}
        naive_layer = next(len(json.dumps(layer, separators=(",", ":")).encode())
                           for layer in json.loads(naive)["layers"] if layer["id"] == "tickets")
        engine.dispose()
    ticket_layers = sum(layers.get(k, 0) for k in AGGREGATES)
    return dict(scale=scale, tickets=len(town["ticket"]), period_points=int(
        ((frame["created_at"] >= now - timedelta(days=screen.PERIOD_DAYS))
         | frame["state"].isin(workflow.OPEN_STATES)).sum()),
        cells=len(s.cells), alerts=len(s.alerts), gen_s=gen_s, basemap_s=base_s, circle_s=circle_s,
        refresh_s=live_s + deck_s, naive_s=naive_s, page_bytes=len(spec.encode()), naive_bytes=len(naive.encode()),
        ticket_bytes=ticket_layers, naive_ticket_bytes=naive_layer, layers=layers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=["street", "district", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    scales = ["street", "district"] if args.scale == "both" else [args.scale]
    rows = [run(sc, args.repeat) for sc in scales]
    print(f"{'scale':9} {'tickets':>8} {'period pts':>10} {'H3 cells':>8} {'alerts':>6} | "
          f"{'refresh s':>9} {'naive s':>8} | {'page KB':>8} {'naive KB':>9} {'ratio':>6} | "
          f"{'ticket KB':>9} {'naive KB':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['scale']:9} {r['tickets']:>8,} {r['period_points']:>10,} {r['cells']:>8,} {r['alerts']:>6,} | "
              f"{r['refresh_s']:>9.2f} {r['naive_s']:>8.2f} | {r['page_bytes'] / 1e3:>8.0f} "
              f"{r['naive_bytes'] / 1e3:>9.0f} {r['naive_bytes'] / r['page_bytes']:>5.1f}x | "
              f"{r['ticket_bytes'] / 1e3:>9.0f} {r['naive_ticket_bytes'] / 1e3:>9.0f} "
              f"{r['naive_ticket_bytes'] / r['ticket_bytes']:>5.1f}x")
    for r in rows:
        print(f"\n{r['scale']}: generate {r['gen_s']:.0f} s (once); basemap {r['basemap_s']:.2f} s and "
              f"15-min circle {r['circle_s']:.2f} s (cached 10 min by the page); layer KB: "
              + ", ".join(f"{k} {v / 1e3:.0f}" for k, v in r["layers"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
