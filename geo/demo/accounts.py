"""The demo's logins of every role (README: demo users) and its history of household visits."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from geo.tickets import workflow
from geo.demo import street

DEMO_PASSWORD = "demo2026"


def users_and_visits(town: street.Town, seed: int, now: datetime) -> None:
    """Demo logins of every role for the first street, and a history of household visits in every street.

    Own random stream, so adding them changed nothing else in the town. The
    streamed city (geo.demo.stream) calls the two halves apart: ``visits`` street
    by street with one stream carried across them, ``logins`` at the end.
    """
    logins(town, now)
    visits(town, np.random.default_rng([seed, 5]), now)


def logins(town: street.Town, now: datetime) -> None:
    """Demo logins of every role for the first street (``town`` needs only that street's rows).

    Each community's grid head (and for communities 1 and 2 its grid worker and
    party member) answers for the community's grid with the most open tickets,
    so signing in as one shows tickets with deadlines, not an empty list.

    Demo hashes use geo.access.users.DEMO_HASHER (argon2id t=1, m=8 MiB): ~20 accounts in
    well under a second; real accounts get the full-cost hasher.
    """
    from collections import Counter

    from geo.access import users

    street = town["street"][0]
    comms = sorted((c for c in town["community"] if c["street_id"] == street["id"]), key=lambda c: c["code"])
    grids = sorted(town["grid"], key=lambda g: g["code"])
    people = _people_by_place(town)
    rows = []

    def add(username: str, role: str, person: dict | None = None, **place) -> None:
        rows.append(users.user_row(username, DEMO_PASSWORD, role, hasher=users.DEMO_HASHER, created_at=now,
                                  display_name=person["name"] if person else username,
                                  person_id=person["id"] if person else None, street_id=street["id"], **place))

    leaders = [p for p in town["person"] if p["role"] == "leader" and p.get("street_id") == street["id"]]
    staff = [p for p in town["person"] if p["role"] == "street_staff" and p.get("street_id") == street["id"]]
    add("leader", "street_leader", leaders[0] if leaders else None)
    add("staff", "street_staff", staff[0] if staff else None)
    open_here = Counter(t["grid_id"] for t in town.get("ticket", []) if t["state"] in workflow.OPEN_STATES)
    for i, c in enumerate(comms, start=1):
        # the community's busiest grid (most open tickets, then the lowest code)
        busiest = min((g for g in grids if g["community_id"] == c["id"]),
                      key=lambda g: (-open_here[g["id"]], g["code"]))
        add(f"community{i}", "community_staff", (people.get(("community_staff", c["id"])) or [None])[0],
            community_id=c["id"])
        add(f"gridhead{i}", "grid_head", (people.get(("grid_head", busiest["id"])) or [None])[0],
            community_id=c["id"], grid_id=busiest["id"])
        if i <= 2:
            add(f"gridworker{i}", "grid_worker", (people.get(("grid_worker", busiest["id"])) or [None])[0],
                community_id=c["id"], grid_id=busiest["id"])
            party = people.get(("party_member", busiest["id"])) or [None]
            add(f"party{i}", "party_member", party[0], community_id=c["id"], grid_id=busiest["id"])
    rows.append(users.user_row("screen", DEMO_PASSWORD, "screen", hasher=users.DEMO_HASHER, created_at=now,
                              display_name="指挥中心大屏", street_id=street["id"]))
    town["app_user"] = rows
    from geo.intake import keys

    town["api_key"] = [keys.demo_row(street_id=street["id"], now=now)]  # README: the demo's Open311 key


def visits(town: street.Town, rng: np.random.Generator, now: datetime) -> None:
    """A history of visits to the vulnerable households of ``town`` (one street or several), drawn from
    ``rng`` household by household: the same stream carried across streets gives the same visits as
    one call over all of them."""
    people = _people_by_place(town)
    disabled = {r["household_id"] for r in town["resident"] if r["disabled"]}
    notes = ["入户走访，情况稳定", "身体状况良好，已提醒注意用电安全", "了解生活需求，已转告社区", "电话未接通，上门见面",
             "送去慰问品，家中整洁"]
    made = []
    for h in town["household"]:
        if not (h["elderly_alone"] or h["low_income"] or h["id"] in disabled) or rng.random() < 0.2:
            continue
        workers = people.get(("grid_worker", h["grid_id"])) or [{"name": "网格员"}]
        ago = int(rng.integers(0, 75))
        for _ in range(int(rng.integers(1, 4))):
            day = (now - timedelta(days=ago)).date()
            made.append(dict(household_id=h["id"], grid_id=h["grid_id"], visited_on=day,
                             visitor=workers[int(rng.integers(len(workers)))]["name"],
                             note=notes[int(rng.integers(len(notes)))], issues=None, ticket_id=None,
                             created_at=datetime.combine(day, datetime.min.time()) + timedelta(hours=10)))
            ago += int(rng.integers(25, 40))
    town["visit"] = made


def _people_by_place(town: street.Town) -> dict[tuple[str, int | None], list[dict]]:
    """Persons by (role, their grid, else their community)."""
    people: dict[tuple[str, int | None], list[dict]] = {}
    for p in town["person"]:
        people.setdefault((p["role"], p.get("grid_id") or p.get("community_id")), []).append(p)
    return people
