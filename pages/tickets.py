"""工单台: find tickets, open one, see where and how far it is, and move it on."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import categories, export, layers, maps, ticket_service as ts, workflow
from geo.errors import ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError
from pages import common

user = common.require("tickets")
lang, t = common.lang(), common.t
engine = common.engine()
scope, actor = user.scope, common.actor()
now = common.now()

# the clock escalates urgent and overdue tickets, at most once a minute per visitor
if st.session_state.get("tickets_escalated_at") != common.minute_key():
    st.session_state["tickets_escalated_at"] = common.minute_key()
    moved = ts.escalate_due(engine, now, scope=scope)
    if moved:
        st.toast(t("tickets.escalated").format(n=len(moved)))

st.title(t("page.tickets"))
if "tickets_flash" in st.session_state:
    st.success(st.session_state.pop("tickets_flash"))

with st.sidebar:
    st.subheader(t("tickets.filters"))
    open_only = st.toggle(t("tickets.open_only"), value=True, key="tickets_open_only")
    overdue_only = st.toggle(t("tickets.overdue_only"), key="tickets_overdue_only")
    state_keys = workflow.OPEN_STATES if open_only else tuple(workflow.STATES)
    states = st.multiselect(t("tickets.state"), state_keys, format_func=lambda k: workflow.STATES[k].name(lang),
                            key="tickets_states")
    cats = st.multiselect(t("tickets.category"), list(categories.CATEGORIES),
                          format_func=lambda k: categories.CATEGORIES[k].name(lang), key="tickets_categories")
    comms = layers.community_names(engine, scope)
    community_id = st.selectbox(t("tickets.community"), [None, *comms],
                                format_func=lambda k: t("tickets.all") if k is None else comms[k],
                                key="tickets_community")
    grids = layers.grid_names(engine, community_id, scope) if community_id else {}
    grid_id = st.selectbox(t("tickets.grid"), [None, *grids],
                           format_func=lambda k: t("tickets.all") if k is None else grids[k], key="tickets_grid")
    min_age = st.number_input(t("tickets.min_age"), min_value=0, max_value=365, value=0, key="tickets_min_age")

found = ts.query(engine, now=now, scope=scope, states=states or None, categories=cats or None,
                 community_id=community_id, grid_id=grid_id, min_age_days=min_age or None,
                 overdue_only=overdue_only, open_only=open_only, limit=2000)
table = ts.listing(found, engine, lang)
st.caption(t("tickets.count").format(n=len(table), o=int(found["overdue"].sum()) if len(found) else 0))
left, right = st.columns(2)
left.download_button(t("tickets.export_csv"), export.csv_bytes(table), "tickets.csv", "text/csv",
                     key="tickets_csv")
right.download_button(t("tickets.export_xlsx"), export.excel_bytes({"工单": table}), "tickets.xlsx",
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="tickets_xlsx")
st.caption(t("tickets.pick"))
picked = st.dataframe(table, hide_index=True, width="stretch", height=320, on_select="rerun",
                      selection_mode="single-row", key="tickets_table",
                      column_config={"ID": None, table.columns[-1]: st.column_config.TextColumn(width="large")})
rows = picked.selection.rows if picked else []
ticket_id = int(table.iloc[rows[0]]["ID"]) if rows else st.session_state.get("tickets_open_id")
if ticket_id is None:
    st.stop()
st.session_state["tickets_open_id"] = ticket_id

try:
    ticket = ts.get(engine, ticket_id, scope=scope)
except NotFoundError as err:
    st.error(str(err))
    st.stop()

wf = workflow.workflow(ticket["workflow"])
state = workflow.STATES[ticket["state"]]
st.subheader(f"{ticket['code']} · {categories.CATEGORIES[ticket['category']].name(lang)} · {state.name(lang)}")
if ticket.get("routing_flag"):
    st.warning(t(f"tickets.routing_flag.{ticket['routing_flag']}"))
info, where = st.columns([3, 2])
with info:
    st.write(ticket["description"])
    overdue = workflow.is_open(ticket["state"]) and ticket["due_at"] and now > ticket["due_at"]
    c1, c2 = st.columns(2)
    c1.metric(t("tickets.deadline"), f"{ticket['due_at']:%m-%d %H:%M}",
              delta=t("field.overdue") if overdue else None, delta_color="inverse")
    if ticket.get("step_due_at"):
        c2.metric(t("tickets.step_deadline"), f"{ticket['step_due_at']:%m-%d %H:%M}")
    st.markdown(f"**{t('tickets.history')}**")
    st.dataframe(ts.history_table(engine, ticket_id, lang), hide_index=True, width="stretch")
with where:
    grid = layers.grids(engine).query("id == @ticket['grid_id']")
    one = layers.point_layer(ticket["geom"].x, ticket["geom"].y, overdue=bool(overdue),
                             **{k: ticket[k] for k in ("id", "code", "category", "state", "urgent", "created_at",
                                                        "due_at")})
    st_folium(maps.street_map({"grids": grid, "tickets": one}, lang=lang), height=300, returned_objects=[],
              use_container_width=True, key=f"ticket_map_{ticket_id}")

st.markdown(f"**{t('tickets.next_actions')}**")
moves = wf.allowed(ticket["state"], actor.role)
if ticket.get("arrive_by") and not ticket.get("arrived_at") and ticket["state"] == "in_progress":
    if st.button(t("tickets.arrive"), key="tickets_arrive"):
        ts.arrive(engine, ticket_id, actor, expected_version=ticket["version"], now=common.now(), scope=scope)
        st.rerun()
if not moves:
    st.info(t("tickets.no_actions"))
    st.stop()
with st.form("tickets_act"):
    move = st.radio(t("tickets.next_actions"), moves, format_func=lambda m: m.name(lang), horizontal=True,
                    label_visibility="collapsed", key="tickets_move")
    note = st.text_input(t("tickets.note"), key="tickets_note")
    extra = {}
    if any(m.action == "rate" for m in moves):
        extra["rating"] = st.slider(t("tickets.rating"), 1, 5, 5, key="tickets_rating")
    if any(m.action == "assign" for m in moves):
        people = ts.suggest_assignees(engine, ticket_id)
        options = [None, *people["id"].tolist()]
        labels = {r.id: f"{r.name}（{'党员' if r.role == 'party_member' else '志愿者'}，{r.distance_m:.0f} m）"
                  for r in people.itertuples()}
        extra["assignee_id"] = st.selectbox(t("tickets.assignee"), options, key="tickets_assignee",
                                            format_func=lambda k: "—" if k is None else labels[k])
        extra["department"] = st.text_input(t("tickets.department"),
                                            value=categories.CATEGORIES[ticket["category"]].department,
                                            key="tickets_department")
    if any(m.action == "merge" for m in moves):
        dups = ts.duplicates(engine, category=ticket["category"], lon=ticket["geom"].x, lat=ticket["geom"].y,
                             now=now, exclude_id=ticket_id)
        extra["merged_into_id"] = st.selectbox(t("tickets.merge_into"), [None, *dups["id"].tolist()],
                                               key="tickets_merge_into",
                                               format_func=lambda k: "—" if k is None else
                                               dups.set_index("id").loc[k, "code"])
    if st.form_submit_button(t("tickets.do"), type="primary"):
        kwargs = {"note": note or None}
        if move.action == "rate":
            kwargs["rating"] = extra["rating"]
        if move.action == "assign":
            kwargs["assignee_id"] = extra.get("assignee_id")
            kwargs["department"] = extra.get("department") if actor.role == workflow.STREET else None
        if move.action == "merge":
            kwargs["merged_into_id"] = extra.get("merged_into_id")
        try:
            ts.act(engine, ticket_id, move.action, actor, expected_version=ticket["version"],
                   now=common.now(), scope=scope, **kwargs)
        except (IllegalTransitionError, ConcurrentEditError, ValidationError, NotFoundError) as err:
            st.error(str(err))
        else:
            st.session_state["tickets_flash"] = f"{ticket['code']} · " + t("tickets.done").format(a=move.name(lang))
            st.rerun()
