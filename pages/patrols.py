"""巡查评比: the month's patrol of a grid — rate households and buildings (清洁文明户, 卫生单元楼, 安全楼栋), a photo
and a note, a low rating opening a ticket; stars on the map; the table per grid and month; the grids compared.

Rules and figures are geo.people.patrols; the photo goes through geo.io.photos (kept only if the rating is).
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.errors import NotFoundError, OutsideAreaError, ValidationError
from geo.io import photos, plain
from geo.maps import leaflet, people_map
from geo.people import households, patrols
from pages import common

user = common.require("patrols")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
url, minute = settings.database_url(), common.minute_key()
K = "patrol_"
ERRORS = (ValidationError, NotFoundError, PermissionError, OutsideAreaError)

st.title(t("nav.patrols"))
if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))
mine = households.grids(engine, user.scope)
if mine.empty:
    st.warning(t("area.no_grid"))
    st.stop()
grid_names = {int(r.id): f"{r.community_name} · {r.name}" for r in mine.itertuples()}
months = list(dict.fromkeys([patrols.month_of(now.date()), *patrols.months(engine, scope=user.scope)]))
c1, c2 = st.columns(2)
grid_id = c1.selectbox(t("field.grid"), list(grid_names), format_func=grid_names.get, key=K + "grid")
month = c2.selectbox(t("patrol.month"), months, index=min(1, len(months) - 1), key=K + "month")
here = households.grid_scope(engine, user.scope, grid_id)
kinds = {k: v.name(lang) for k, v in patrols.RATING_KINDS.items()}
st.caption(t("patrol.rule").format(award=patrols.AWARD_STARS, low=patrols.LOW_STARS,
                                   kinds="、".join(kinds.values())))

tabs = st.tabs([t("patrol.tab_rate"), t("patrol.tab_results"), t("patrol.tab_compare")], key=K + "tab",
               on_change="rerun")

with tabs[0]:
    if not user.may("record_patrol"):
        st.info(t("patrol.read_only"))
    else:
        homes = households.households(engine, scope=here, now=now, grid_id=grid_id)
        buildings = dict(homes.drop_duplicates("building_id")[["building_id", "building"]].itertuples(index=False))
        kind = st.selectbox(t("patrol.kind"), list(kinds), format_func=kinds.get, key=K + "kind")
        building = st.selectbox(t("patrol.building"), list(buildings), format_func=buildings.get, key=K + "building")
        household = None
        if patrols.RATING_KINDS[kind].target == "household":
            here_homes = homes[homes["building_id"] == building]
            labels = dict(zip(here_homes["id"], here_homes["address"]))
            household = st.selectbox(t("patrol.household"), list(labels), format_func=labels.get, key=K + "household")
        with st.form(K + "rate", clear_on_submit=True):
            day = st.date_input(t("patrol.day"), value=now.date(), max_value=now.date(), key=K + "day")
            stars = st.slider(t("patrol.stars"), 1, 5, 4, key=K + "stars")
            note = st.text_area(t("patrol.note"), key=K + "note", height=70)
            photo = st.file_uploader(t("report.photo"), type=list(photos.IMAGE_TYPES), key=K + "photo",
                                     max_upload_size=photos.MAX_BYTES // (1024 * 1024))
            ticket = st.checkbox(t("patrol.open_ticket").format(n=patrols.LOW_STARS), key=K + "ticket")
            if st.form_submit_button(t("patrol.save"), type="primary", width="stretch"):
                try:
                    with photos.staged(photo.getvalue() if photo else None, photo.name if photo else None) as kept:
                        pid = patrols.patrol(engine, user, grid_id, patrolled_on=day, now=common.now())
                        done = patrols.rate(engine, user, pid, kind, building_id=int(building),
                                            household_id=None if household is None else int(household), stars=stars,
                                            note=note, photo=kept, open_ticket=ticket, now=common.now())
                except ERRORS as exc:
                    st.error(f"{plain.markdown(exc)}\n\n{t('patrol.not_saved')}")
                else:
                    text = t("patrol.saved").format(place=done["place"], k=kinds[kind], n=stars)
                    if done.get("ticket_code"):
                        text += t("patrol.ticket_made").format(code=done["ticket_code"])
                    st.session_state[K + "flash"] = text
                    st.rerun()

with tabs[1]:
    stars = patrols.building_stars(engine, scope=here, month=month, grid_id=grid_id)
    layers = common.grid_layers(url, lang, minute, here)
    m = leaflet.street_map({k: layers[k] for k in ("grids", "roads", "buildings") if k in layers}, lang=lang,
                           frame="grids")
    people_map.add_stars(m, stars, lang=lang,
                         kinds={k: v for k, v in kinds.items() if patrols.RATING_KINDS[k].target == "building"})
    st_folium(people_map.finish(m), height=420, use_container_width=True, returned_objects=[],
              key=f"{K}map_{grid_id}_{month}_{lang}")
    rated = patrols.ratings(engine, scope=here, month=month, grid_id=grid_id)
    if rated.empty:
        st.info(t("patrol.none").format(m=month))
    else:
        shown = rated.assign(kind=rated["kind"].map(kinds), stars=rated["stars"].map(lambda n: "★" * n),
                             awarded=rated["awarded"].map({True: "✔", False: ""}), ticket=rated["ticket"].fillna(""))
        cols = {"kind": "patrol.kind", "place": "patrol.place", "stars": "patrol.stars", "awarded": "patrol.awarded",
                "note": "patrol.note", "ticket": "col.ticket", "rated_by": "patrol.by"}
        st.dataframe(shown[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                     width="stretch", height=300)
    table = patrols.by_grid(patrols.ratings(engine, scope=here, grid_id=grid_id))
    st.markdown(f"**{t('patrol.by_month')}**")
    cols = {"month": "patrol.month", "rated": "patrol.rated", "mean_stars": "patrol.mean",
            **{f"awarded_{k}": None for k in kinds}, "low": "patrol.low", "tickets": "col.ticket"}
    heads = {k: (t(v) if v else kinds[k.removeprefix("awarded_")]) for k, v in cols.items()}
    st.dataframe(table[list(cols)].rename(columns=heads), hide_index=True, width="stretch")

with tabs[2]:
    compared = patrols.compare(engine, scope=user.scope, month=month)
    cols = {"grid": "field.grid", "rated": "patrol.rated", "mean_stars": "patrol.mean",
            **{f"awarded_{k}": None for k in kinds}, "low": "patrol.low", "tickets": "col.ticket"}
    heads = {k: (t(v) if v else kinds[k.removeprefix("awarded_")]) for k, v in cols.items()}
    st.caption(t("patrol.compare_caption").format(m=month, n=int((~compared["patrolled"]).sum())))
    st.dataframe(compared[list(cols)].rename(columns=heads), hide_index=True, width="stretch")
