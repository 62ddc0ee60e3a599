"""群众点单: a resident's phone page, no account. Place (a building's QR code, a map tap or the phone's
location), a category from big icons, a line, a photo → a ticket code and a tracking link.

Public: app.py serves it to anyone, signed in or not (and nothing else of the app). Every
rule is in geo.intake: the door (doors.submit, the desk's own report), the limits per
address and phone and the challenge after repeated posts (limits), the photo cleaned of
its EXIF (geo.io.photos). The map shows the street's outlines, roads and buildings only:
no ticket, no camera, nobody's data.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.errors import OutsideAreaError, ValidationError
from geo.intake import address, doors, limits, qr
from geo.io import photos, plain
from geo.maps import layers, leaflet
from geo.tickets import categories
from geo.tickets.rules import MAX_DESCRIPTION
from pages import common, council_cards

common.enter("resident")
lang, t = common.lang(), common.t
engine = common.engine()
K = "resident_"
st.html("""<style>
[data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"], [data-testid="stSidebar"] { display: none; }
.st-key-resident_category button { font-size: 1.15rem; padding: .55rem .8rem; min-height: 3rem; }
.st-key-resident_submit button, .st-key-resident_again button { width: 100%; min-height: 3.2rem; font-size: 1.2rem; }
</style>""")


@st.cache_data(ttl=600, show_spinner=False)
def public_layers(url: str, street_id: int | None, layout: str) -> dict:
    """What a resident's map shows: outlines, roads, buildings (nothing about tickets or people)."""
    return doors.public_map_layers(common._engine(url), street_id)


st.title(t("resident.title"))
if done := st.session_state.get(K + "done"):  # the receipt, until they ask to report another
    code, link = done
    st.success(t("resident.done").format(code=code))
    st.markdown(t("resident.done_help"))
    st.code(link, language=None, wrap_lines=True)
    st.link_button(t("resident.open_track"), link, type="primary", use_container_width=True)
    if st.button(t("resident.again"), key=K + "again"):
        for key in [k for k in st.session_state if k.startswith(K)]:
            del st.session_state[key]
        st.query_params.clear()
        st.rerun()
    st.stop()
st.caption(t("resident.caption"))

# ① the place: a QR code's building (?b=), the phone's location (?lat=&lon=), or a tap on the map
params = st.query_params
if K + "place" not in st.session_state:
    st.session_state[K + "place"] = None
    if str(params.get("b", "")).isdigit():
        where = address.building(engine, int(params["b"]))
        if where is None:
            st.warning(t("resident.bad_building"))
        else:
            grid = layers.grid_names(engine).get(where.grid_id, "")
            label = where.label if where.label.startswith(grid) else t("resident.place_from_qr").format(
                label=where.label, grid=grid)
            st.session_state[K + "place"] = (where.lon, where.lat, label if label.startswith("📍") else f"📍 {label}",
                                             "qr")
    elif params.get("lat") and params.get("lon"):
        try:
            lon, lat = float(params["lon"]), float(params["lat"])
            st.session_state[K + "place"] = (lon, lat, t("resident.place_point").format(lon=lon, lat=lat), "phone")
        except ValueError:
            st.warning(t("resident.locate_failed"))
place = st.session_state[K + "place"]
st.subheader(t("resident.place"))
if place:
    st.markdown(f"**{plain.markdown(place[2])}**")
choose = place is None or st.toggle(t("resident.change_place"), key=K + "choose")
if choose:
    st.html(f"""<button style="font-size:1.05rem;padding:.5rem 1rem;border-radius:.5rem;border:1px solid #ccc;
        background:#fff" onclick="navigator.geolocation && navigator.geolocation.getCurrentPosition(function(p) {{
        var u = new URL(window.location.href); u.searchParams.set('lat', p.coords.latitude.toFixed(6));
        u.searchParams.set('lon', p.coords.longitude.toFixed(6)); u.searchParams.delete('b');
        window.location.href = u.toString(); }}, function() {{ alert('{t("resident.locate_failed")}'); }})">
        {t("resident.locate")}</button>""", unsafe_allow_javascript=True)
    base = public_layers(settings.database_url(), common.my_street(settings.database_url()), common.layout_version())
    if place:
        base["tickets"] = layers.point_layer(place[0], place[1])
    clicked = st_folium(leaflet.street_map(base, lang=lang), height=360, use_container_width=True,
                        returned_objects=["last_clicked"], key=K + "map")
    spot = (clicked or {}).get("last_clicked")
    if spot and spot != st.session_state.get(K + "seen"):
        st.session_state[K + "seen"] = spot
        st.session_state[K + "place"] = (spot["lng"], spot["lat"], t("resident.place_point").format(
            lon=spot["lng"], lat=spot["lat"]), "phone")
        st.rerun()
    if not place:
        st.info(t("resident.place_none"))

# ② what: big icons; ③ a line, a photo, optional contact; a challenge after repeated posts
st.subheader(t("resident.category"))
category = st.pills(t("resident.pick_category"), list(categories.CATEGORIES), key=K + "category",
                    format_func=lambda k: f"{doors.CATEGORY_ICONS[k]} {categories.CATEGORIES[k].name(lang)}",
                    label_visibility="collapsed")
who = common.client_address()
posts_here = st.session_state.get(K + "posts", 0)
if limits.needs_challenge(engine, who, now=common.now(), posts_in_session=posts_here):
    st.session_state.setdefault(K + "challenge", limits.new_challenge())
with st.form(K + "form"):
    description = st.text_area(t("resident.description"), max_chars=MAX_DESCRIPTION, height=90, key=K + "text")
    photo = st.file_uploader(t("resident.photo"), type=list(photos.IMAGE_TYPES), key=K + "photo",
                             max_upload_size=photos.MAX_BYTES // (1024 * 1024))
    name = st.text_input(t("resident.name"), max_chars=32, key=K + "name")
    phone = st.text_input(t("resident.phone"), max_chars=16, key=K + "phone")
    challenge = st.session_state.get(K + "challenge")
    answer = st.text_input(t("resident.challenge").format(question=challenge.question), key=K + "answer") \
        if challenge else None
    sent = st.form_submit_button(t("resident.submit"), type="primary", key=K + "submit")

if sent:
    now = common.now()
    try:
        if place is None:
            raise ValidationError(t("resident.need_place"))
        if not category:
            raise ValidationError(t("resident.pick_category"))
        if challenge and not challenge.passed(answer):
            st.session_state[K + "challenge"] = limits.new_challenge()
            raise ValidationError(t("resident.challenge_wrong"))
        tel = doors.check_phone(phone) if phone else None
        for kind, subject in (("phone_addr", who), ("phone_tel", tel and limits.phone_subject(tel))):
            if subject and not (verdict := limits.hit(engine, kind, subject, now=now)).allowed:
                raise ValidationError(t("resident.too_many").format(minutes=-(-verdict.retry_after_s // 60)))
        with photos.staged(photo.getvalue() if photo else None, photo.name if photo else None) as saved:
            receipt = doors.submit(engine, door=place[3], category=category, description=description, lon=place[0],
                                   lat=place[1], now=now, reporter_name=name or None, reporter_phone=tel,
                                   photo=saved)
    except (OutsideAreaError, ValidationError) as err:
        st.error(plain.markdown(err))
    else:
        st.session_state[K + "posts"] = posts_here + 1
        st.session_state.pop(K + "challenge", None)
        st.session_state[K + "done"] = (receipt.ticket["code"],
                                        qr.track_url(qr.base_url(st.context.url), receipt.token))
        st.rerun()

# what the councils of the place's community have made public (一征三议两公开), below the form
if place:
    notices = doors.council_notices(engine, place[0], place[1], lang)
    if not notices.empty:
        with st.expander(t("resident.council").format(n=len(notices))):
            council_cards.show(notices, t)

