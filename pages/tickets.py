"""工单台: find tickets, open one, see where and how far it is, and move it on.

Optimistic locking from the page: the version of the ticket drawn on screen is
kept in session state (``tickets_seen``, by ticket id) and the move widgets are
keyed by id and version. A move is made in the submit button's callback with
that version, so a page drawn before someone else's move cannot overwrite it:
the user is told and sees the new state.

The pick is the ticket, not the row (issue 13): st.dataframe reports ticked rows by
position, so the row is turned into its ticket id at once, against the list as it
was drawn (``tickets_rows``), and ``tickets_open_id`` keeps it. The table's key
carries a digest of the listed ids, so when a move (or anyone's) re-sorts or
shortens the list the tick is cleared rather than left on whichever ticket slid
into that row; the pane stays on the ticket just moved, and no action is ever
preselected (the user picks one for the ticket in front of them).
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.tickets import categories, service as ts, rules, warnings, workflow
from geo.io import export, plain, photos
from geo.maps import layers, leaflet
from geo.people import councils
from geo.access import roles
from geo.errors import ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError
from pages import common

PAGE_ERRORS = (IllegalTransitionError, ConcurrentEditError, ValidationError, NotFoundError)
PICK, ROWS = "tickets_open_id", "tickets_rows"  # the picked ticket (by id); the ids of the rows as drawn
#: 超期 / 紧急 as coloured tags (a cell, not a greyed checkbox)
TAG_CSS = {"over": "background-color: #d00000; color: #ffffff; font-weight: 600",
           "urgent": "background-color: #f77f00; color: #ffffff; font-weight: 600"}

user = common.require("tickets")
lang, t = common.lang(), common.t
engine = common.engine()
scope, actor = user.scope, common.actor()
now = common.now()
if moved := st.session_state.pop("tickets_escalated", None):  # app.py's once-a-minute clock moved these
    st.toast(t("tickets.escalated").format(n=len(moved)))


def _key(name: str, ticket_id: int, version: int) -> str:
    return f"tickets_{name}_{ticket_id}_{version}"


def _flash(kind: str, text: str) -> None:
    st.session_state["tickets_flash"] = (kind, text)


@common.safe_callback
def _submit(ticket_id: int, names: dict[str, str]) -> None:
    """The move, with the version the user saw (a stale page is refused, nothing is written)."""
    version = st.session_state["tickets_seen"][ticket_id]
    state = st.session_state
    action = state.get(_key("move", ticket_id, version))
    if action is None:  # nothing is preselected: a click on 执行 alone does nothing to anyone's ticket
        _flash("error", t("tickets.pick_action"))
        return
    kwargs = {"note": state.get(_key("note", ticket_id, version)) or None}
    if action in ("rate", "reopen"):
        kwargs["rating"] = state.get(_key("rating", ticket_id, version))
        kwargs["rating_channel"] = state.get(_key("channel", ticket_id, version))  # staff: on whose behalf, how
    if action == "assign":
        kwargs["assignee_id"] = state.get(_key("assignee", ticket_id, version))
        kwargs["department"] = state.get(_key("department", ticket_id, version)) or None
    if action == "merge":
        kwargs["merged_into_id"] = state.get(_key("merge_into", ticket_id, version))
    try:
        done = ts.act(engine, ticket_id, action, actor, expected_version=version, now=common.now(), scope=scope,
                      **kwargs)
    except ConcurrentEditError as err:
        _flash("error", f"{err} {_state_now(ticket_id)}")
    except PAGE_ERRORS as err:
        _flash("error", str(err))
    else:
        _flash("success", f"{done['code']} · " + t("tickets.done").format(a=names.get(action, action)))


def _state_now(ticket_id: int) -> str:
    """"Here is its new state": what the other person's move left the ticket in."""
    try:
        fresh = ts.get(engine, ticket_id, scope=scope)
    except NotFoundError:
        return ""
    last = ts.history_table(engine, ticket_id, scope=scope, lang=lang).iloc[-1]
    return t("tickets.state_now").format(s=workflow.STATES[fresh["state"]].name(lang), by=last.iloc[1],
                                         at=last.iloc[0], a=last.iloc[2])


@common.safe_callback
def _arrive(ticket_id: int) -> None:
    version = st.session_state["tickets_seen"][ticket_id]
    try:
        ts.arrive(engine, ticket_id, actor, expected_version=version, now=common.now(), scope=scope)
    except ConcurrentEditError as err:
        _flash("error", f"{err} {_state_now(ticket_id)}")
    except PAGE_ERRORS as err:
        _flash("error", str(err))
    else:
        _flash("success", t("tickets.arrived"))


def filters() -> dict:
    with st.sidebar:
        st.subheader(t("tickets.filters"))
        search = st.text_input(t("tickets.search"), key="tickets_search", placeholder=t("tickets.search_hint"))
        mine = st.toggle(t("tickets.mine"), key="tickets_mine", help=t("tickets.mine_help"))
        open_only = st.toggle(t("tickets.open_only"), value=True, key="tickets_open_only")
        overdue_only = st.toggle(t("tickets.overdue_only"), key="tickets_overdue_only")
        state_keys = workflow.OPEN_STATES if open_only else tuple(workflow.STATES)
        states = st.multiselect(t("tickets.state"), state_keys, key="tickets_states", placeholder=t("tickets.all"),
                                format_func=lambda k: workflow.STATES[k].name(lang), select_all=False)
        cats = st.multiselect(t("tickets.category"), list(categories.CATEGORIES), key="tickets_categories",
                              placeholder=t("tickets.all"), format_func=lambda k: categories.CATEGORIES[k].name(lang), select_all=False)
        comms = layers.community_names(engine, scope)
        community_id = st.selectbox(t("tickets.community"), [None, *comms], key="tickets_community",
                                    format_func=lambda k: t("tickets.all") if k is None else comms[k])
        grids = layers.grid_names(engine, community_id, scope) if community_id else {}
        grid_id = st.selectbox(t("tickets.grid"), [None, *grids], key="tickets_grid",
                               format_func=lambda k: t("tickets.all") if k is None else grids[k])
        min_age = st.number_input(t("tickets.min_age"), min_value=0, max_value=365, value=0, key="tickets_min_age")
    return dict(states=states or None, categories=cats or None, community_id=community_id, grid_id=grid_id,
                min_age_days=min_age or None, overdue_only=overdue_only, open_only=open_only, search=search,
                actionable_by=actor if mine else None)


def ticket_list() -> tuple[int | None, list[int]]:
    """The filtered list (a tick picks a ticket by id); the picked ticket's id and the ids listed."""
    found = ts.query(engine, now=now, scope=scope, **filters())
    table = ts.listing(found, engine, lang)
    late = found["overdue"].to_numpy() if len(found) else []
    st.caption(t("tickets.count").format(n=len(table), o=int(sum(late))) + " · " + t("tickets.overdue_legend"))
    row = st.container(horizontal=True)  # side by side on a phone too; the bytes are made only when pressed
    row.download_button(t("tickets.export_csv"), lambda: export.csv_bytes(table), "tickets.csv", "text/csv",
                         key="tickets_csv")
    row.download_button(t("tickets.export_xlsx"), lambda: export.excel_bytes({"工单": table}), "tickets.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="tickets_xlsx")
    shown = table.head(ts.DESK_ROWS)
    if len(table) > ts.DESK_ROWS:
        st.info(t("tickets.shown_cap").format(shown=ts.DESK_ROWS, n=len(table)))
    st.caption(t("tickets.pick"))
    over, urgent = ts.OVERDUE_TAG[lang == "zh"], ts.URGENT_TAG[lang == "zh"]
    styled = shown.style.apply(lambda row: ["background-color: #fff1f1" if late[row.name]
                                            else "" for _ in row], axis=1).map(
        lambda v: TAG_CSS["over"] if v else "", subset=[over]).map(
        lambda v: TAG_CSS["urgent"] if v else "", subset=[urgent]).format(
        {**{c: "{:%m-%d %H:%M}" for c in shown.select_dtypes("datetime").columns},
         **{c: "{:.1f}" for c in shown.select_dtypes("float").columns}})
    ids = [int(i) for i in shown["ID"]]
    key = "tickets_table_" + hashlib.blake2s(",".join(map(str, ids)).encode(), digest_size=6).hexdigest()
    st.session_state[ROWS] = {key: ids}  # what a tick in this table means, for the next run's callback
    st.dataframe(styled, hide_index=True, width="stretch", height=min(420, 35 * (len(shown) + 1) + 3),
                 on_select=lambda: _picked(key), selection_mode="single-row", key=key,
                 placeholder=t("tickets.empty"),
                 column_config={"ID": None, table.columns[-1]: st.column_config.TextColumn(width="large")})
    return st.session_state.get(PICK), [int(i) for i in table["ID"]]


@common.safe_callback
def _picked(key: str) -> None:
    """A row ticked or unticked: remember the ticket it showed (by id), or that nothing is picked."""
    rows = st.session_state[key].selection.rows
    ids = st.session_state.get(ROWS, {}).get(key, [])
    if rows and rows[0] < len(ids):
        st.session_state[PICK] = ids[rows[0]]
    else:
        st.session_state.pop(PICK, None)


def detail(ticket: dict) -> None:
    state = workflow.STATES[ticket["state"]]
    st.subheader(plain.markdown(f"{ticket['code']} · {categories.CATEGORIES[ticket['category']].name(lang)} · "
                                f"{state.name(lang)}"))
    if ticket.get("routing_flag"):
        st.warning(t(f"tickets.routing_flag.{ticket['routing_flag']}"))
    info, where = st.columns([3, 2])
    overdue = rules.is_overdue(ticket, now)
    with info:
        st.text(ticket["description"])  # the resident's words as typed: st.text parses no Markdown or HTML
        c1, c2 = st.columns(2)
        c1.metric(t("tickets.deadline"), f"{ticket['due_at']:%m-%d %H:%M}",
                  delta=t("field.overdue") if overdue else None, delta_color="inverse")
        if ticket.get("step_due_at"):
            c2.metric(t("tickets.step_deadline"), f"{ticket['step_due_at']:%m-%d %H:%M}")
        st.markdown(f"**{t('tickets.history')}**")
        st.dataframe(ts.history_table(engine, ticket["id"], scope=scope, lang=lang), hide_index=True,
                     width="stretch")
        for m in councils.for_ticket(engine, ticket["id"], scope=scope).itertuples():  # 议事: what was decided
            st.markdown(f"**{t('tickets.council')}**：{plain.markdown(m.title)} · {councils.stage_label(m.stage, lang)}")
            st.text(m.decision if isinstance(m.decision, str) else t("tickets.council_pending"))
    with where:
        grid = layers.grids(engine).query("id == @ticket['grid_id']")
        one = layers.point_layer(ticket["geom"].x, ticket["geom"].y, overdue=bool(overdue),
                                 **{k: ticket[k] for k in ("id", "code", "category", "state", "urgent",
                                                            "created_at", "due_at")})
        st_folium(leaflet.street_map({"grids": grid, "tickets": one}, lang=lang), height=300, returned_objects=[],
                  use_container_width=True, key=f"ticket_map_{ticket['id']}")
        if ticket.get("photo"):  # inline, now that ts.get found the ticket in this user's scope (st.image of
            shown = photos.data_uri(ticket["photo"])  # a path would publish a /media/ URL answering anyone)
            if shown:
                st.image(shown, caption=t("tickets.photo"))
            else:
                st.caption(t("tickets.photo_missing"))


def actions(ticket: dict) -> None:
    tid, version = ticket["id"], ticket["version"]
    st.markdown(f"**{t('tickets.next_actions')}**")
    if rules.may_record_arrival(ticket, actor):
        st.button(t("tickets.arrive"), key=_key("arrive", tid, version), on_click=_arrive, args=(tid,))
    moves = rules.allowed_moves(ticket, actor)
    if not moves:
        st.info(t("tickets.no_actions"))
        return
    proxy = actor.role != workflow.RESIDENT  # staff rate only on the resident's behalf (代居民评价)
    names = {m.action: t("tickets.proxy_move").format(m=m.name(lang)) if m.ratings and proxy else m.name(lang)
             for m in moves}
    with st.form(_key("form", tid, version), enter_to_submit=False):
        st.radio(t("tickets.next_actions"), list(names), format_func=names.get, horizontal=True, index=None,
                 label_visibility="collapsed", key=_key("move", tid, version))
        st.text_input(t("tickets.note"), key=_key("note", tid, version))
        if any(m.ratings for m in moves):
            st.slider(t("tickets.rating_proxy" if proxy else "tickets.rating"), 1, 5, 5,
                      key=_key("rating", tid, version), help=t("tickets.rating_help"))
            st.caption(t("tickets.rating_help"))
            if proxy:
                st.radio(t("tickets.rating_channel"), list(rules.PROXY_CHANNELS), index=None, horizontal=True,
                         format_func=lambda k: rules.RATING_CHANNELS[k][0 if lang == "zh" else 1],
                         key=_key("channel", tid, version))
                st.caption(t("tickets.rating_proxy_note"))
        if "assign" in names:
            people = ts.suggest_assignees(engine, tid, scope=scope)
            labels = {r.id: ts.assignee_label(r, lang) for r in people.itertuples()}
            st.selectbox(t("tickets.assignee"), [None, *labels], key=_key("assignee", tid, version),
                         format_func=lambda k: "—" if k is None else labels[k])
            st.text_input(t("tickets.department"), key=_key("department", tid, version),
                          value=categories.CATEGORIES[ticket["category"]].department
                          if actor.role == workflow.STREET else "", help=t("tickets.assign_hint"))
        if "merge" in names:
            dups = ts.duplicates(engine, scope=scope, category=ticket["category"], lon=ticket["geom"].x,
                                 lat=ticket["geom"].y, now=now, exclude_id=tid).set_index("id")
            st.selectbox(t("tickets.merge_into"), [None, *dups.index], key=_key("merge_into", tid, version),
                         format_func=lambda k: "—" if k is None else f"{dups.loc[k, 'code']}（{dups.loc[k, 'distance_m']:.0f} m）")
        st.form_submit_button(t("tickets.do"), type="primary", on_click=_submit, args=(tid, names),
                              key=_key("do", tid, version))


WARN_FLASH = "tickets_warn_flash"


@common.safe_callback
def _warning(warning_id: int, to: str) -> None:
    """Acknowledge or close a warning (geo.tickets.warnings: in the user's scope, audited)."""
    note = st.session_state.get(f"tickets_warn_note_{warning_id}")
    try:
        fn = warnings.acknowledge if to == "ack" else warnings.close
        fn(engine, warning_id, username=user.username, role=user.role, scope=scope, now=common.now(), note=note)
    except (*PAGE_ERRORS, PermissionError) as err:
        st.session_state[WARN_FLASH] = ("error", str(err))
        return
    st.session_state[WARN_FLASH] = ("success", t("warn.acked" if to == "ack" else "warn.closed"))


def warning_list() -> None:
    """智能预警 of the user's area: what, since when, how unusual, the tickets; acknowledge and close."""
    live = warnings.live(engine, scope=scope, lang=lang)
    flash = st.session_state.pop(WARN_FLASH, None)
    # folded (its title counts them): the desk's first screen is the user's tickets; open after acting on one
    with st.expander(("🔔 " if (live["state"] == "open").any() else "") + t("warn.title").format(n=len(live)),
                     expanded=bool(flash)):
        if flash:
            (st.error if flash[0] == "error" else st.success)(plain.markdown(flash[1]))
        if live.empty:
            st.caption(t("warn.none"))
            return
        may = roles.may(user.role, "handle_warnings")
        codes = warnings.ticket_codes(engine, sorted({i for ids in live["ticket_ids"] for i in ids}), scope=scope)
        for w in live.itertuples():
            with st.container(border=True):
                st.markdown(f"**【{plain.markdown(w.kind_name)}】{plain.markdown(w.title)}** · {w.state_name} · "
                            + t("warn.since").format(t=f"{w.since:%m-%d %H:%M}"))
                st.caption(plain.markdown(w.meaning))
                shown = [codes.get(i, str(i)) for i in w.ticket_ids[:12]]
                st.caption(t("warn.tickets").format(n=len(w.ticket_ids), codes="、".join(shown)
                                                    + ("…" if len(w.ticket_ids) > 12 else "")))
                if pd.notna(w.acknowledged_at):  # (a missing name reads as NaN, which is truthy)
                    st.caption(t("warn.by").format(who=plain.markdown(w.acknowledged_by),
                                                   t=f"{w.acknowledged_at:%m-%d %H:%M}"))
                if not may:
                    continue
                note, ack, close = st.columns([4, 1, 1], vertical_alignment="bottom")
                note.text_input(t("warn.note"), key=f"tickets_warn_note_{w.id}", max_chars=500)
                ack.button(t("warn.ack"), key=f"tickets_warn_ack_{w.id}", on_click=_warning, args=(w.id, "ack"),
                           disabled=w.state != "open")
                close.button(t("warn.close"), key=f"tickets_warn_close_{w.id}", on_click=_warning,
                             args=(w.id, "close"))


st.title(t("page.tickets"))
warning_list()
ticket_id, listed = ticket_list()
if ticket_id is None:
    st.stop()
st.divider()
if "tickets_flash" in st.session_state:
    kind, text = st.session_state.pop("tickets_flash")
    (st.error if kind == "error" else st.success)(plain.markdown(text))
try:
    ticket = ts.get(engine, ticket_id, scope=scope)
except NotFoundError as err:
    st.error(plain.markdown(err))
    st.stop()
st.session_state.setdefault("tickets_seen", {})[ticket_id] = ticket["version"]  # what this page shows
if ticket_id not in listed:
    st.caption(t("tickets.not_listed"))
detail(ticket)
actions(ticket)
