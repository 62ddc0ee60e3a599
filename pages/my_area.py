"""我的网格: the grid head's patch — boundary, households to visit, tickets, helpers, figures.

Reads go through the user's own scope (geo.people.households.grid_scope refuses any grid
outside it, also when asked with ?grid=<id>); personal data arrives masked and
a full view of one household is audited. Laid out in tabs so it reads on a
phone (390 px) as well as on a laptop.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.maps import area, leaflet, people_map
from geo.place import catalogue
from geo.tickets import categories, indicators, rules, workflow
from geo.people import households, orders, visits
from geo.io import plain
from geo.tickets import service as ts
from geo.errors import ConcurrentEditError, NotFoundError, ValidationError
from pages import common, grid_people

user = common.require("my_area")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
url, minute = settings.database_url(), common.minute_key()
K = "my_area_"


def reveal_household(choices: list[int], names: dict) -> None:
    """Show one household in full (audited) and, for roles that may, correct its phones and care flags.

    The revealed rows stay in the session while the same household is picked, so the
    edit form compares against exactly what the user read (the core's optimistic lock).
    """
    st.markdown(f"**{t('area.reveal_pick')}**")
    pick = st.selectbox(t("area.visit_household"), choices, format_func=names.get, key=K + "reveal_hh",
                        label_visibility="collapsed")
    if st.button(t("area.reveal"), key=K + "reveal"):
        try:  # the core checks the household is in the user's own area, whatever id arrives here
            st.session_state[K + "shown"] = households.reveal(engine, user, int(pick), now=common.now())
        except (NotFoundError, PermissionError) as exc:
            st.session_state.pop(K + "shown", None)
            st.error(plain.markdown(exc))
    shown = st.session_state.get(K + "shown")
    if not shown or shown["id"] != int(pick):
        return
    rows = pd.DataFrame(shown["residents"])[["name", "gender", "birth_year", "phone", "elderly_alone", "disabled",
                                             "low_income"]]
    # stored as M / F (the ID-number convention): shown as 男 / 女; no phone is a blank, not None
    rows["gender"] = rows["gender"].map(lambda g: t(f"gender.{g}") if g in ("M", "F") else (g or ""))
    rows["phone"] = rows["phone"].fillna("")
    st.dataframe(rows.rename(columns={c: t(f"col.{c}") for c in rows.columns}), hide_index=True, width="stretch")
    if user.may("edit_people"):
        edit_resident(shown)


def edit_resident(shown: dict) -> None:
    """Correct one member's phone and care flags (a form: it reads on a phone, and the core checks it)."""
    st.caption(t("area.edit_caption"))
    members = {int(r["id"]): r for r in shown["residents"]}
    rid = st.selectbox(t("area.edit_who"), list(members), format_func=lambda i: members[i]["name"],
                       key=f"{K}edit_who_{shown['id']}")
    was = members[rid]
    with st.form(f"{K}edit_{rid}", enter_to_submit=False):  # keyed by member, so its fields start from that member's values
        phone = st.text_input(t("col.phone"), value=was["phone"] or "", key=f"{K}edit_phone_{rid}")
        flags = {f: st.checkbox(t(f"col.{f}"), value=bool(was[f]), key=f"{K}edit_{f}_{rid}")
                 for f in households.FLAGS}
        if not st.form_submit_button(t("area.edit_save"), type="primary"):
            return
    after = [{**r, "phone": phone, **flags} if int(r["id"]) == rid else r for r in shown["residents"]]
    try:
        n = households.update_household(engine, user, shown["id"], before=shown["residents"], after=after,
                                    now=common.now())
    except ConcurrentEditError as exc:
        st.session_state.pop(K + "shown", None)
        st.error(f"{plain.markdown(exc)}\n\n{t('area.edit_again')}")
    except (ValidationError, NotFoundError, PermissionError) as exc:
        st.error(plain.markdown(exc))
    else:
        if not n:
            st.info(t("area.edit_none"))
            return
        st.session_state.pop(K + "shown", None)
        st.session_state[K + "flash"] = t("area.edit_saved").format(n=n)
        st.rerun()


mine = households.grids(engine, user.scope)
asked = st.query_params.get("grid")
if mine.empty:  # an account bound to no grid, or an area that holds none: say so, not "no tickets"
    st.warning(t("area.no_grid"))
    st.stop()
if asked is None and len(mine) > 1:
    labels = {int(r.id): f"{r.community_name} · {r.name}" for r in mine.itertuples()}
    asked = st.selectbox(t("area.pick_grid"), list(labels), format_func=labels.get, key=K + "grid")
try:
    here = households.grid_scope(engine, user.scope, asked if asked is not None else int(mine["id"].iloc[0]))
except NotFoundError as exc:
    st.error(plain.markdown(exc))
    st.stop()
grid = mine[mine["id"] == here.grid_id].iloc[0]

if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))
st.title(plain.markdown(grid["name"]))
head = grid["grid_head"] if isinstance(grid["grid_head"], str) and grid["grid_head"] else t("area.no_head")
st.caption(plain.markdown(f"{grid['community_name']} · {grid['code']} · {t(f'grid_type.{grid.grid_type}')} · "
                          f"{t('area.grid_head')}：{head}"))  # the grid's 网格长, whoever is looking

visiting = user.may("record_visit")  # a party member records no visits: no list of visits owed (issue 13)
days = int(st.session_state.get(K + "days", settings.VISIT_INTERVAL_DAYS))  # the control is on the visits tab
counts = households.head_count(engine, scope=here, grid_id=here.grid_id)
due = households.to_visit(engine, scope=here, now=now, grid_id=here.grid_id, days=days) if visiting else None
open_t = ts.query(engine, now=now, scope=here, open_only=True)
overdue = int(open_t["overdue"].sum()) if len(open_t) else 0
# one wrapping row: four across on a laptop, two by two on a phone (st.columns would stack one per
# row and push the map off the first screen)
st.html(f"""<style>@media (max-width: 640px) {{
  .st-key-{K}figures > .stElementContainer {{ flex: 1 1 calc(50% - 0.5rem); }}
  .st-key-{K}figures [data-testid="stMetricValue"] {{ font-size: 1.75rem; }} }}</style>""")
with st.container(horizontal=True, gap="small", key=K + "figures"):
    for label, value, delta in filter(None, [
            (t("area.households"), f"{counts['households']:,}", None),
            (t("area.residents"), f"{counts['residents']:,}", None),
            (t("area.to_visit"), f"{len(due):,}", None) if visiting else None,
            (t("area.open_tickets"), f"{len(open_t):,}", f"{overdue} {t('area.overdue')}" if overdue else None)]):
        st.metric(label, value, delta=delta, delta_color="inverse", delta_arrow="off", border=True)

# the tabs keep their state, so saving a visit (a rerun) leaves the worker on the visits tab
names_ = ["map", "visits", "tickets", "people", "bindings", "places", "figures"] if visiting else \
    ["map", "tickets", "people", "bindings", "places", "figures"]
tabs = dict(zip(names_, st.tabs([t(f"area.tab_{n}") for n in names_], key=K + "tab", on_change="rerun")))
layers = common.grid_layers(url, lang, minute, here)

with tabs["map"]:
    grid_map = leaflet.street_map(layers, lang=lang, frame="grids")
    people_map.add_on_the_way(grid_map, orders.on_the_way(engine, scope=here, now=now), lang=lang)  # 党员在途
    st_folium(people_map.finish(grid_map), height=460, use_container_width=True, returned_objects=[],
              key=f"{K}map_{here.grid_id}_{lang}")


def visits_tab() -> None:
    """Households owed a visit, the visit form, a household in full, the recent visits."""
    st.number_input(t("area.visit_days"), min_value=1, max_value=366, value=settings.VISIT_INTERVAL_DAYS, step=1,
                    key=K + "days", help=t("area.visit_days_help"))
    st.caption(t("area.to_visit_caption").format(d=days))
    cols = {"address": "col.address", "head": "col.head", "phone": "col.phone", "reasons": "col.reasons",
            "last_visit": "col.last_visit", "days_since_visit": "col.days"}
    if due.empty:
        st.success(t("area.nobody_to_visit"))
    else:
        never = due["last_visit"].isna()  # "never visited", not a blank "None"
        shown = due[list(cols)].assign(last_visit=due["last_visit"].astype(str).where(~never, t("area.never")),
                                       days_since_visit=due["days_since_visit"].astype("Int64").astype(str)
                                       .where(~never, ""))
        st.dataframe(shown.rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                     width="stretch", height=260)
    everyone = households.households(engine, scope=here, now=now, grid_id=here.grid_id)
    choices = list(dict.fromkeys(due["id"].tolist() + everyone["id"].tolist()))
    names = dict(zip(everyone["id"], everyone["address"] + " " + everyone["head"]))

    if visiting:
        with st.form(K + "visit", clear_on_submit=True, enter_to_submit=False):
            st.markdown(f"**{t('area.visit_form')}**")
            hid = st.selectbox(t("area.visit_household"), choices, format_func=names.get, key=K + "visit_hh")
            day = st.date_input(t("area.visit_date"), value=now.date(), max_value=now.date(), key=K + "visit_day")
            note = st.text_area(t("area.visit_note"), key=K + "visit_note", height=80)
            issues = st.multiselect(t("area.visit_issues"), list(visits.ISSUES), placeholder=t("common.choose_many"),
                                    format_func=lambda k: visits.issue_label(k, lang), key=K + "visit_issues", select_all=False)
            make_ticket = st.checkbox(t("area.visit_ticket"), key=K + "visit_ticket")
            cat = st.selectbox(t("area.visit_category"), list(categories.CATEGORIES),
                               format_func=lambda k: categories.CATEGORIES[k].name(lang), key=K + "visit_cat")
            if st.form_submit_button(t("area.visit_submit"), type="primary"):
                try:
                    v = visits.record(engine, user, household_id=int(hid), visited_on=day, now=common.now(),
                                      note=note, issues=issues,
                                      ticket={"category": cat, "description": note or names.get(hid)}
                                      if make_ticket else None)
                except (ValidationError, NotFoundError, PermissionError) as exc:
                    # one transaction: nothing was kept
                    st.error(f"{plain.markdown(exc)}\n\n{t('area.visit_not_saved')}")
                else:
                    msg = t("area.visit_saved") + (t("area.visit_ticket_made").format(code=v["ticket_code"])
                                                   if v.get("ticket_code") else "")
                    st.session_state[K + "flash"] = msg
                    st.rerun()

    if user.may("reveal_household"):
        reveal_household(choices, names)

    st.markdown(f"**{t('area.recent_visits')}**")
    recent = visits.history(engine, scope=here, grid_id=here.grid_id, limit=15)
    recent["household_id"] = recent["household_id"].map(names)
    recent["issues"] = recent["issues"].fillna("").map(
        lambda s: "、".join(visits.issue_label(k, lang) for k in s.split(",") if k))
    cols = {"household_id": "col.household", "visited_on": "col.visited_on", "visitor": "col.visitor",
            "note": "col.note", "issues": "col.issues", "ticket_code": "col.ticket"}
    st.dataframe(recent[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch")

if visiting:
    with tabs["visits"]:
        visits_tab()

with tabs["tickets"]:
    if open_t.empty:
        st.info(t("area.no_tickets"))
    else:
        acts_as = rules.ACTS_AS.get(user.role)
        table = pd.DataFrame({
            "code": open_t["code"],
            "category": open_t["category"].map(lambda k: categories.CATEGORIES[k].name(lang)),
            "state": open_t["state"].map(lambda k: workflow.STATES[k].name(lang)),
            "due": pd.to_datetime(open_t["due_at"]).dt.strftime("%m-%d %H:%M"),
            "overdue": open_t["overdue"].astype(bool).map({True: t("field.overdue"), False: ""}),  # a tag, not a box
            "next": [" / ".join(m.name(lang) for m in workflow.workflow(w).allowed(s, acts_as or ""))
                     for w, s in zip(open_t["workflow"], open_t["state"])],
        }).sort_values(["overdue", "due"], ascending=[False, True])  # "超期" before ""
        st.dataframe(table.rename(columns={"code": t("field.code"), "category": t("field.category"),
                                           "state": t("field.state"), "due": t("field.due"),
                                           "overdue": t("field.overdue"), "next": t("col.next")}),
                     hide_index=True, width="stretch")
    if user.may_see("tickets") and (settings.ROOT / "pages/tickets.py").exists():
        st.page_link("pages/tickets.py", label=t("area.to_ticket_desk"), icon="📋")

with tabs["people"]:
    helpers = households.helpers(engine, scope=here, grid_id=here.grid_id)
    if helpers.empty:
        st.info(t("area.no_helpers"))
    else:
        helpers["role"] = helpers["role"].map(lambda r: t(f"person.{r}"))
        helpers["team"] = helpers["team"].fillna(helpers["workplace"]).fillna("")
        cols = {"name": "col.name", "role": "col.role", "phone": "col.phone", "team": "col.team",
                "households": "col.cares_for"}
        st.dataframe(helpers[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                     width="stretch")

with tabs["bindings"]:  # who looks after each household, and whom each helper looks after (包保, 联户长, 楼栋长)
    grid_people.bindings_tab(engine, user, here)

with tabs["places"]:
    poly = layers["grids"]
    fac = area.nearby(layers.get("facilities"), poly)
    if len(fac):
        fac["type"] = fac["type"].map(lambda k: catalogue.FACILITY_TYPES[k].name(lang)
                                      if k in catalogue.FACILITY_TYPES else k)
    st.markdown(f"**{t('area.facilities').format(m=int(area.NEAR_M))}**")
    st.dataframe(fac.reindex(columns=["name", "type", "inside", "distance_m"]).rename(columns={
        "name": t("field.name"), "type": t("field.type"), "inside": t("area.inside"),
        "distance_m": t("area.distance")}), hide_index=True, width="stretch")
    cams = area.nearby(layers.get("cameras"), poly)
    if len(cams):
        cams["status"] = cams["status"].map(lambda s: t(f"camera.{s}"))
    st.markdown(f"**{t('area.cameras').format(m=int(area.NEAR_M))}**")
    st.dataframe(cams.reindex(columns=["code", "name", "status", "inside", "distance_m"]).rename(columns={
        "code": t("field.code"), "name": t("field.name"), "status": t("field.status"), "inside": t("area.inside"),
        "distance_m": t("area.distance")}), hide_index=True, width="stretch")

with tabs["figures"]:
    grid_people.party_figures(engine, here, now)
    st.dataframe(indicators.table(indicators.for_area(engine, now, scope=here), lang), hide_index=True,
                 width="stretch")
