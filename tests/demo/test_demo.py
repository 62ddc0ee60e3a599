"""Invariants of the demo town: the rules a real street's data must obey."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo import settings
from geo.demo import generator, simulate, street
from geo.tickets import workflow
from geo.tickets.categories import CATEGORIES
from geo.place.catalogue import FACILITY_TYPES

NOW = datetime(2026, 11, 23, 9)


@pytest.fixture(scope="module")
def town():
    return generator.generate(now=NOW)


def metric(rows, key="geom"):
    return gpd.GeoSeries([r[key] for r in rows], crs=settings.STORAGE_CRS).to_crs(settings.METRIC_CRS)


def test_sizes_match_a_real_street(town):
    assert len(town["street"]) == 1
    assert len(town["community"]) == 8
    assert 60 <= len(town["grid"]) <= 80
    assert 1200 <= len(town["building"]) <= 1800
    assert 60_000 <= len(town["resident"]) <= 80_000
    assert 2_500 <= len(town["ticket"]) <= 3_500
    assert len(town["facility"]) >= 40
    assert len({f["type"] for f in town["facility"]}) >= 8
    assert {f["type"] for f in town["facility"]} <= set(FACILITY_TYPES)
    assert 100 <= len(town["camera"]) <= 140
    assert {g["grid_type"] for g in town["grid"]} == {"area", "estate", "courtyard", "unit"}
    party = sum(r["party_member"] for r in town["resident"]) / len(town["resident"])
    assert 0.03 <= party <= 0.06


def test_communities_tile_the_street(town):
    street = metric(town["street"]).iloc[0]
    comms = metric(town["community"])
    assert comms.area.sum() == pytest.approx(street.area, rel=1e-6)
    # a missing or doubled block would be hundreds of m²; what is left is round-off
    assert shapely.union_all(comms.values).symmetric_difference(street).area < 5.0  # m²


def test_grids_tile_their_community_without_overlap(town):
    grids = metric(town["grid"])
    comm_geom = dict(zip([c["id"] for c in town["community"]], metric(town["community"])))
    by_comm = defaultdict(list)
    for g, geom in zip(town["grid"], grids):
        assert comm_geom[g["community_id"]].buffer(0.05).covers(geom), g["code"]
        by_comm[g["community_id"]].append(geom)
    for cid, geoms in by_comm.items():
        assert sum(g.area for g in geoms) == pytest.approx(comm_geom[cid].area, rel=1e-6)
    tree = shapely.STRtree(grids.values)
    left, right = tree.query(grids.values, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(grids.values[left[pairs]], grids.values[right[pairs]]))
    assert overlap.max() < 0.5  # neighbours share edges, never area


def test_every_grid_holds_300_to_500_households(town):
    per_grid = Counter(h["grid_id"] for h in town["household"])
    assert set(per_grid) == {g["id"] for g in town["grid"]}
    assert min(per_grid.values()) >= 300 and max(per_grid.values()) <= 500
    by_building = Counter(h["building_id"] for h in town["household"])
    assert all(by_building[b["id"]] == b["households"] for b in town["building"])


def test_codes_follow_the_division_rule(town):
    street = town["street"][0]["code"]
    assert len(street) == 9 and street.startswith("510182")
    comm_code = {c["id"]: c["code"] for c in town["community"]}
    for c in town["community"]:
        assert len(c["code"]) == 12 and c["code"].startswith(street)
    for g in town["grid"]:
        assert len(g["code"]) == 15 and g["code"].startswith(comm_code[g["community_id"]])


def test_every_ticket_lies_in_its_grid(town):
    grid_geom = {g["id"]: g["geom"] for g in town["grid"]}
    grid_comm = {g["id"]: g["community_id"] for g in town["grid"]}
    for t in town["ticket"]:
        assert grid_geom[t["grid_id"]].covers(t["geom"]), t["code"]
        assert grid_comm[t["grid_id"]] == t["community_id"]


def replay(t: dict, history: list[dict], now: datetime) -> dict[str, int]:
    """Drive a fresh copy of ``t`` through its stored events with the ticket rules.

    Fails on any move the rules refuse, on a move that lands elsewhere than
    stored, and on a step limit (or an urgent ticket) that was due for the
    clock's escalation before the next event but did not get it at that very
    moment. Returns what happened, for the counts.
    """
    from geo.tickets import rules

    seen = Counter()
    copy, first = rules.new_ticket(category=t["category"], description="x", created=t["created_at"],
                                     urgent=t["urgent"], workflow_key=t["workflow"], grid_id=t["grid_id"])
    assert history[0]["action"] == "report" and history[0]["at"] == t["created_at"]
    for e in history[1:]:
        due = rules.escalation_at(copy)
        if due is not None and due <= e["at"]:
            assert (e["action"], e["actor_role"], e["at"]) == ("escalate", "system", due), (t["code"], e)
            seen["escalations_due"] += 1
        if e["action"] == "arrive":  # a party member on site: recorded, no move
            assert e["from_state"] == e["to_state"] == copy["state"] == "in_progress"
            copy["arrived_at"] = e["at"]
            continue
        kw = dict(note=e["note"], rating=e["rating"])
        if e["action"] == "assign":
            kw.update(assignee_id=t["assignee_id"], department=t["department"] or "x")
        if e["action"] == "merge":
            kw["merged_into_id"] = t["merged_into_id"]
        if e["action"] in ("rate", "reopen"):
            kw.update(note=None, rating_channel=e["rating_channel"])  # who rated: the resident, or staff and how
        # a claim (党员接单) is the member's own: events keep their name, the ticket the last one's id
        member = (t["assignee_id"] or 0) if e["action"] == "claim" else None
        moved = rules.apply(copy, e["action"], rules.Actor(e["actor"], e["actor_role"], person_id=member), e["at"],
                            **kw)
        assert (e["from_state"], e["to_state"]) == (moved["from_state"], moved["to_state"]), (t["code"], e)
        assert e["at"] <= now
        seen[e["action"]] += 1
        seen[f"{e['action']}:{e['note']}"] += e["action"] == "reject"
    due = rules.escalation_at(copy)
    assert due is None or due > now, f"{t['code']}: escalation due at {due} was never made"
    for key in ("state", "step_due_at", "due_at", "reopen_count", "ratings_given", "ratings_satisfied",
                "first_resolved_at", "resolved_at", "closed_at", "level"):
        assert copy[key] == t[key], (t["code"], key, copy[key], t[key])
    return seen


def test_ticket_histories_replay_through_the_rules(town):
    """Every demo history, replayed: illegal moves 0, escalations where due: all of them."""
    events = defaultdict(list)
    for e in town["ticket_event"]:
        events[e["ticket_id"]].append(e)
    seen = Counter()
    for t in town["ticket"]:
        seen += replay(t, sorted(events[t["id"]], key=lambda e: (e["at"], e["id"])), NOW)
        assert (t["closed_at"] is not None) == (not workflow.is_open(t["state"]))
        if t["state"] == "closed":
            assert t["rating"] >= 3  # 不满意 never closes a ticket as fixed
    system = [e for e in town["ticket_event"] if e["actor_role"] == "system"]
    assert seen["escalations_due"] == len(system) > 0
    # every exit is exercised
    for reason in workflow.REJECT_REASONS:
        assert seen[f"reject:{reason}"] > 0, reason
    for action in ("return", "merge", "close_unfixed", "reopen", "handle_in_grid", "claim"):  # arrivals: their own test
        assert seen[action] > 0, action
    reopened = [e for e in town["ticket_event"] if e["action"] == "reopen"]
    assert {e["from_state"] for e in reopened} == {"resolved", "closed"}
    assert all(e["rating"] in (1, 2) for e in reopened)
    erqi = [t for t in town["ticket"] if t["workflow"] == "erqi"]
    assert len(erqi) > 100 and {t["state"] for t in erqi} >= {"closed", "rejected"}
    assert any(e["actor_role"] == "system" and e["from_state"] == "street_accepted" for e in system)


def test_tickets_look_like_a_live_street(town):
    states = Counter(t["state"] for t in town["ticket"])
    assert states["closed"] > 0.8 * len(town["ticket"])
    assert states["rejected"] > 0 and states["closed_unfixed"] > 0
    open_ = [t for t in town["ticket"] if workflow.is_open(t["state"])]
    assert len(open_) >= 20
    assert any(t["due_at"] < NOW for t in open_), "some open tickets are overdue"
    assert {t["category"] for t in town["ticket"]} == set(CATEGORIES)
    assert any(t["reopen_count"] for t in town["ticket"])
    escalated = Counter(t["level"] for t in town["ticket"])
    assert escalated["grid"] > escalated["community"] > escalated["street"] > 0
    # 急事不出社区: every urgent ticket went to the community, by the clock, at once
    first_move = {}
    for e in sorted(town["ticket_event"], key=lambda e: e["id"]):
        if e["action"] != "report":
            first_move.setdefault(e["ticket_id"], e)
    for t in town["ticket"]:
        if t["urgent"] and t["id"] in first_move:
            assert first_move[t["id"]]["action"] == "escalate"
            assert first_move[t["id"]]["actor_role"] == "system"


def test_party_members_arrive_and_the_30_minute_promise_is_recorded(town):
    arrivals = [e for e in town["ticket_event"] if e["action"] == "arrive"]
    assert arrivals
    assigned = defaultdict(list)  # a ticket reopened may be assigned again: each arrival answers its assignment
    for e in town["ticket_event"]:
        if e["action"] in ("assign", "claim", "escalate", "handle_in_grid", "return", "reopen"):
            assigned[e["ticket_id"]].append(e)
    for e in arrivals:
        last = max((a for a in assigned[e["ticket_id"]] if a["at"] <= e["at"]), key=lambda a: (a["at"], a["id"]))
        assert last["action"] in ("assign", "claim")  # sent by the community, or claimed by the member (党员接单)
        assert (e["note"] == "超时到场") == (e["at"] > last["at"] + timedelta(minutes=30))


def test_party_members_look_after_five_to_eight_households(town):
    party = [link for link in town["care_link"] if link["kind"] == "party"]
    per_member = Counter(link["person_id"] for link in party)
    assert per_member and max(per_member.values()) <= 8
    assert sum(5 <= n <= 8 for n in per_member.values()) / len(per_member) > 0.95
    households = [link["household_id"] for link in party]
    assert len(households) == len(set(households)), "one carer per household"
    role = {p["id"]: p["role"] for p in town["person"]}
    assert {role[pid] for pid in per_member} == {"party_member"}


def test_every_household_has_a_link_head_from_its_own_grid(town):
    links = [link for link in town["care_link"] if link["kind"] == "link"]
    head_of = {link["household_id"]: link["person_id"] for link in links}
    assert len(head_of) == len(links) == len(town["household"]), "exactly one 联户长 per household"
    person = {p["id"]: p for p in town["person"]}
    hh_grid = {h["id"]: h["grid_id"] for h in town["household"]}
    assert all(person[pid]["role"] == "household_link_head" for pid in head_of.values())
    assert all(person[pid]["grid_id"] == hh_grid[hid] for hid, pid in head_of.items())
    per_head = Counter(head_of.values())
    assert max(per_head.values()) == street.LINK_HOUSEHOLDS and min(per_head.values()) >= 1


def test_grids_are_numbered_west_to_east_then_north_to_south(town):
    """Within a community, grid n+1 lies east of grid n in the same row, or in a row further south."""
    cent = metric(town["grid"]).centroid
    by_comm = defaultdict(list)
    for g, c in zip(town["grid"], cent):
        by_comm[g["community_id"]].append((g["code"], c.x, c.y))
    for grids in by_comm.values():
        grids.sort()
        top = max(y for _, _, y in grids)
        row = [int((top - y) // street.GRID_ROW_M) for _, _, y in grids]
        for (code_a, xa, _), (code_b, xb, _), ra, rb in zip(grids, grids[1:], row, row[1:]):
            assert int(code_b[-3:]) == int(code_a[-3:]) + 1
            assert rb > ra or (rb == ra and xb > xa), f"{code_b} should come before {code_a}"


def test_same_seed_same_town():
    a = generator.generate(now=NOW, communities=2, tickets_per_street=200)
    b = generator.generate(now=NOW, communities=2, tickets_per_street=200)
    c = generator.generate(now=NOW, communities=2, tickets_per_street=200, seed=7)
    for table in a:
        assert len(a[table]) == len(b[table])
    for table in ("grid", "building", "ticket", "resident"):
        for ra, rb in zip(a[table], b[table]):
            assert {k: v for k, v in ra.items() if k != "geom"} == {k: v for k, v in rb.items() if k != "geom"}
            if "geom" in ra:
                assert ra["geom"].equals_exact(rb["geom"], 0)
    assert [g["geom"].wkb for g in a["grid"]] != [g["geom"].wkb for g in c["grid"]]


def test_id_numbers_carry_the_gb11643_check_digit():
    # the standard's own worked example
    assert street.id_number("110105", datetime(1949, 12, 31), 2) == "11010519491231002X"


def test_district_scale_has_about_twenty_streets():
    town = generator.generate(now=NOW, scale="district", communities=1, tickets_per_street=10)
    assert len(town["street"]) == 20
    codes = [s["code"] for s in town["street"]]
    assert len(set(codes)) == 20
    streets = gpd.GeoSeries([s["geom"] for s in town["street"]])
    assert not any(streets.iloc[i].intersection(streets.iloc[j]).area > 0
                   for i in range(20) for j in range(i + 1, 20))


def test_summary_totals_add_up(town):
    rows = generator.summary(town)
    total = rows[-1]
    assert total["社区"] == "合计"
    assert total["人口"] == len(town["resident"])
    assert total["网格"] == len(town["grid"])
    assert total["工单"] == len(town["ticket"])
    assert "合计" in generator.format_table(rows)


def test_cli_writes_no_town_over_a_town_and_never_over_a_real_street(tmp_path, capsys):
    from sqlalchemy import update

    from geo.db import migrate, schema, store

    path = tmp_path / "old.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store.load_town(engine, generator.generate(now=NOW, communities=1, tickets_per_street=5))
    assert generator.main(["--output", str(path), "--now", "2026-11-23"]) == 1
    assert "already holds a town" in capsys.readouterr().err
    assert store.counts(engine)["street"] == 1  # nothing was added or dropped
    assert generator.main(["--output", str(path), "--now", "2026-11-23", "--force"]) == 0  # a demo: rebuilt
    engine.dispose()
    engine = store.make_engine(f"sqlite:///{path}")  # the new file
    assert store.is_built(engine)
    with engine.begin() as conn:  # the same file, now a street's own data
        conn.execute(update(schema.Meta).where(schema.Meta.key == "built").values(value=migrate.REAL))
    engine.dispose()
    before = path.read_bytes()
    assert generator.main(["--output", str(path), "--now", "2026-11-23", "--force"]) == 1
    assert "own data" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_tickets_read_like_residents_wrote_them(town):
    words = Counter(t["description"] for t in town["ticket"])
    assert len(words) > 500  # not one line per category
    assert set(simulate.DESCRIPTIONS) == set(CATEGORIES)  # every category has its own lines
    sample = next(t for t in town["ticket"] if t["category"] == "water")
    assert any(line.format(b="")[:4] in sample["description"] for line in simulate.DESCRIPTIONS["water"])


def test_cameras_are_aimed_as_a_street_aims_them(town):
    """Issue 13, item 16: random headings saw 0.9 % of the arterials. Road cameras now look along their
    road, gate cameras stand at an estate's edge, park and square cameras look across them; together
    they see a fair share of the main roads and most of the public squares."""
    from geo.coverage import coverage

    frames = coverage.frames_from_town(town)
    main = metric([r for r in town["road"] if r["kind"] in ("arterial", "street")]).to_numpy()
    cams = pd.DataFrame(town["camera"])
    pole_rows = [c for c in town["camera"] if c["name"].startswith("路口")]
    poles = metric(pole_rows).to_numpy()
    assert len(poles) >= 70
    # each pole looks down the main road it stands on (within 3°, either way along it)
    near = shapely.STRtree(main).query_nearest(poles, all_matches=False)[1]
    for pt, heading, line in zip(poles, [c["heading"] for c in pole_rows], main[near]):
        s = line.project(pt)
        a, b = line.interpolate(max(0.0, s - 5)), line.interpolate(min(line.length, s + 5))
        along = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 180
        assert min(abs(heading % 180 - along), 180 - abs(heading % 180 - along)) < 3, (heading, along)
    assert (cams["name"].str.startswith("小区门口")).sum() == 20
    assert set(cams.loc[cams["name"].str.startswith(("公园", "广场")), "kind"]) == {"天网"}
    seen = coverage.camera_coverage(frames["cameras"], frames["roads"], frames["buildings"],
                                    spaces=frames["open_spaces"])
    share = seen.roads.loc[["arterial", "street"], "seen_m"].sum() / seen.roads.loc[["arterial", "street"],
                                                                                 "length_m"].sum()
    assert share > 0.12 and seen.roads.loc["arterial", "share"] > 0.12  # 16.6 % / 19.0 % on the demo
    assert seen.space_share() > 0.8  # 95 % of the squares' and parks' area
