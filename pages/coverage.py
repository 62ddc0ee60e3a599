"""服务圈规划: who is inside the 15-minute circle, who is not, where the next sites go."""
from __future__ import annotations

import hashlib

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.place import catalogue
from geo.coverage import coverage, coverage_io, coverage_map, network, siting
from geo.maps import leaflet
from geo.io import plain
from geo.db import store
from geo.errors import ValidationError
from pages import common

user = common.require("coverage")
lang = common.lang()
t = common.t
url, minute = settings.database_url(), common.minute_key()
K = "coverage_"  # session-state prefix of this page
for key in ("added", "cands"):  # what-if facilities and clicked candidate sites: kept apart
    st.session_state.setdefault(K + key, [])


area = user.scope  # the user's street, community or grid: the page computes and draws that, plus a border
layout = common.layout_version()  # the plans below are rebuilt after a load or a boundary cut on any server


@st.cache_resource(show_spinner=False, max_entries=32)
def _frames(url_: str, area_, border: float, layout_: str) -> dict:
    """The area's buildings and everything within ``border`` metres of it (coverage.load_frames)."""
    return coverage.load_frames(common.engine(), scope=area_, border=border)


@st.cache_resource(show_spinner=False, max_entries=32)
def _plan(url_: str, area_, border: float, layout_: str) -> coverage.Plan:
    """Buildings, facilities, the walking graph and snapped doors of one area: built once per area, border and
    layout (rebuilt after a load or a boundary cut on any server)."""
    return coverage.build_plan(_frames(url_, area_, border, layout_))


@st.cache_resource(show_spinner=False, max_entries=4)
def _imported_plan(url_: str, area_, border: float, layout_: str, digest: str, name: str,
                   _data: bytes) -> coverage.Plan:
    """The same plan on a planner's own road file (keyed by its content)."""
    frames = _frames(url_, area_, border, layout_)
    return coverage.build_plan(frames, roads=coverage_io.read_roads_upload(name, _data, town=frames["buildings"]))


# The _plan_ arguments below are not hashed: ``key`` (database, area, border, road network) says which plan it is.
@st.cache_data(show_spinner=False, max_entries=64)
def _areas(_plan_: coverage.Plan, key: tuple, target: str, method: str, scenario: coverage.Scenario):
    """Service-area polygons (the slow part of a walking answer), once per question."""
    return coverage.analyse(_plan_, target, method=method, scenario=scenario).service_areas()


@st.cache_data(show_spinner=False, max_entries=16)
def _summary(_plan_: coverage.Plan, key: tuple, reach: tuple):
    return coverage.weakest_first(coverage.coverage_table(_plan_, scenario=coverage.Scenario(reach=reach)))


@st.cache_data(show_spinner=False, max_entries=16)
def _circle(_plan_: coverage.Plan, key: tuple) -> coverage.Circle:
    """The 15-minute circle, the wall's very figure (coverage.circle), once per road network."""
    return coverage.circle(_plan_)


@st.cache_resource(show_spinner=False, max_entries=16)
def _cameras(url_: str, area_, layout_: str) -> coverage.CameraCoverage:
    """The area's cameras, roads and squares: what they see, blind stretches (they change only with the layout)."""
    p = _plan(url_, area_, coverage.border_m(), layout_)
    return coverage.camera_coverage(p.in_area(p.cameras), p.in_area(p.roads), p.buildings,
                                    spaces=p.in_area(p.open_spaces))


@st.cache_data(show_spinner=False, max_entries=16)
def _base(_plan_: coverage.Plan, key: tuple) -> dict:
    """The area's outlines and the roads in view, simplified for the map's zoom (coverage_map.base_layers)."""
    return coverage_map.base_layers(_plan_)


st.title(t("page.coverage"))
modes = {"service": t("coverage.mode_service"), "camera": t("coverage.mode_camera")}
mode = st.segmented_control(t("coverage.mode"), list(modes), format_func=modes.get, default="service",
                            key=K + "mode") or "service"
pct = st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)

if mode == "camera":
    st.caption(t("coverage.cam_subtitle"))
    cams = _cameras(url, area, layout)
    roads, n = cams.roads, cams.status()
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric(t("coverage.cam_share"), f"{roads.loc['all', 'share']:.1%}")
    c2.metric(t("coverage.cam_seen_km"), f"{roads.loc['all', 'seen_m'] / 1000:,.1f}")
    c3.metric(t("coverage.cam_space_share"), f"{cams.space_share():.1%}")
    c4.metric(t("coverage.cam_online"), f"{n['online']:,}", help=t("coverage.cam_of").format(n=n["total"]))
    c5.metric(t("coverage.cam_offline"), f"{n['offline']:,}")
    basemap = st.radio(t("basemap.label"), list(leaflet.basemap_labels(lang)),
                       format_func=leaflet.basemap_labels(lang).get, horizontal=True, key=K + "cam_basemap")
    cam_plan = _plan(url, area, coverage.border_m(), layout)
    st_folium(coverage_map.camera_map(_base(cam_plan, (url, area, cam_plan.border_m, "db")), cams, basemap=basemap, lang=lang), height=620,
              use_container_width=True, returned_objects=[], key=f"{K}cam_map_{basemap}_{lang}")
    st.markdown(coverage_map.camera_legend_html(lang), unsafe_allow_html=True)
    st.caption(t("coverage.cam_blind_note").format(m=int(coverage.MIN_BLIND_M))
               + f" · {t('coverage.cam_blind')}: {len(cams.blind):,}")
    left, right = st.columns(2)
    left.subheader(t("coverage.cam_by_kind"))
    table = roads.rename(index=lambda k: t("coverage.cam_all") if k == "all" else t(f"road.{k}")).round(
        {"length_m": 0, "seen_m": 0})
    left.dataframe(table.rename_axis(t("field.road_kind")).rename(columns={
        "length_m": t("coverage.cam_length"), "seen_m": t("coverage.cam_seen"), "share": t("coverage.cam_share")}),
        column_config={t("coverage.cam_share"): pct}, key=K + "cam_table")
    right.subheader(t("coverage.cam_spaces"))
    spaces = cams.spaces.drop(columns="geometry").assign(kind=lambda d: d["kind"].map(lambda k: t(f"space.{k}")))
    right.dataframe(spaces.rename(columns={"name": t("field.name"), "kind": t("field.type"),
                                           "area_m2": t("coverage.cam_area"), "seen_m2": t("coverage.cam_seen_area"),
                                           "share": t("coverage.cam_space_share")}),
                    column_config={t("coverage.cam_space_share"): pct}, hide_index=True, key=K + "cam_spaces")
    st.stop()

st.caption(t("coverage.subtitle"))

with st.expander(t("coverage.roads"), expanded=False):
    upload = st.file_uploader(t("coverage.roads_upload"), type=["geojson", "json", "gpkg", "pbf"],
                              help=t("coverage.roads_help"), key=K + "roads_file")
roads_note = st.empty()  # which road network is used, said under its uploader once the plan is built

reach_modes = {"type": t("coverage.reach_by_type"), "time": t("coverage.reach_by_time")}
types = [coverage.REQUIRED, *catalogue.FACILITY_TYPES]
c1, c2, c3 = st.columns([2, 2, 2])
target = c1.selectbox(t("coverage.target"), types, key=K + "target",
                      format_func=lambda k: t("coverage.required") if k == coverage.REQUIRED
                      else catalogue.facility_type(k).name(lang))
methods = {"walking": t("coverage.method_walking"), "straight": t("coverage.method_straight")}
method = c2.radio(t("coverage.method"), list(methods), format_func=methods.get, horizontal=True, key=K + "method")
reach_mode = c3.radio(t("coverage.reach_mode"), list(reach_modes), format_func=reach_modes.get, horizontal=True,
                      key=K + "reach_mode")
reach, summary_reach = (), ()
if reach_mode == "time":  # minutes at a speed → metres for every type (metres stay the stored reach)
    r1, r2, r3 = st.columns([1, 1, 2])
    minutes = r1.number_input(t("coverage.minutes"), 1.0, 60.0, network.CIRCLE_MINUTES, 1.0, key=K + "minutes")
    speed = r2.number_input(t("coverage.speed"), 1.0, 8.0, network.WALK_SPEED_KMH, 0.1, key=K + "speed")
    metres = network.walk_distance_m(minutes, speed)
    r3.caption(t("coverage.reach_equals").format(m=metres))
    reach = summary_reach = tuple((k, metres) for k in catalogue.FACILITY_TYPES)
elif target != coverage.REQUIRED:
    ft = catalogue.facility_type(target)
    r = st.number_input(t("coverage.reach"), 50, 3000, int(ft.reach_m), 50, key=K + f"reach_{target}",
                        help=f"{t('coverage.reach_source')}: {ft.source}")
    reach = ((target, float(r)),)

border = coverage.border_m(reach)  # the plan reads this far around the area (a longer reach asked: a wider plan)
plan = _plan(url, area, border, layout)
roads_key = f"db@{layout}"  # what the answers below were computed on
if upload is not None:
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        plan = _imported_plan(url, area, border, layout, digest, upload.name, data)
        roads_key = f"{digest}@{layout}"
        roads_note.info(t("coverage.roads_using").format(name=plain.markdown(upload.name), n=len(plan.roads)))
    except coverage_io.RoadFileError as exc:
        roads_note.error(plain.markdown(exc.message(lang)))  # it quotes the file's name
    except ValidationError as exc:
        roads_note.error(plain.markdown(f"{upload.name}: {exc}"))
key = (url, area, border, roads_key)  # which plan: the cached answers below are keyed by it

st.subheader(t("coverage.summary_title"))
summary = _summary(plan, key, summary_reach)
names = {k: (t("coverage.required") if k == coverage.REQUIRED else catalogue.facility_type(k).name(lang))
         for k in summary.index}
st.dataframe(summary.reset_index().assign(type=lambda d: d["type"].map(names), reach_m=lambda d: [
    "—" if v is None or v != v else f"{v:,.0f}" for v in d["reach_m"]])[
    ["type", "reach_m", "walking_share", "straight_share", "gap", "walking_elderly_share"]].rename(columns={
        "type": t("coverage.col_type"), "reach_m": t("coverage.col_reach"), "walking_share": t("coverage.col_walking"),
        "straight_share": t("coverage.col_straight"), "gap": t("coverage.col_gap"),
        "walking_elderly_share": t("coverage.col_elderly")}).round({t("coverage.col_gap"): 1}),
    column_config={t(c): pct for c in ("coverage.col_walking", "coverage.col_straight", "coverage.col_elderly")},
    hide_index=True, key=K + "summary", height=250)
st.caption(t("coverage.summary_note"))
circle = _circle(plan, key)  # one figure, one definition: the wall shows this very share
st.info(t("coverage.circle_line").format(share=f"{circle.share:.1%}", n=f"{circle.covered:,}",
                                         loose=f"{circle.loose_share:.1%}", m=f"{circle.loose_reach_m:,.0f}"))

with st.expander(t("coverage.whatif"), expanded=False):
    fac = plan.facilities[plan.facilities["type"].isin(coverage.target_types(target))]
    fac_names = dict(zip(fac["id"], fac["name"]))
    closed = st.multiselect(t("coverage.close"), list(fac_names), format_func=fac_names.get,
                            placeholder=t("common.choose_many"), key=K + f"closed_{target}", select_all=False)
    if st.button(t("coverage.clear_added"), key=K + "clear"):
        st.session_state[K + "added"] = []

scenario = coverage.Scenario(closed=frozenset(closed), reach=reach,
                             added=tuple(tuple(a) for a in st.session_state[K + "added"]))
result = coverage.analyse(plan, target, method=method, scenario=scenario)
today = coverage.analyse(plan, target, method=method, scenario=coverage.Scenario(reach=reach))
now_s, base_s = result.summary().loc[target], today.summary().loc[target]

m1, m2, m3, m4 = st.columns(4)
m1.metric(t("coverage.covered"), f"{int(now_s['covered']):,}",
          delta=f"{int(now_s['covered'] - base_s['covered']):+,}"
          if scenario != coverage.Scenario(reach=reach) else None)
m2.metric(t("coverage.share"), f"{now_s['share']:.1%}")
m3.metric(t("coverage.elderly_share"), f"{now_s['elderly_share']:.1%}")
m4.metric(t("coverage.blind_buildings"), f"{len(result.blind_buildings()):,}")
for n, eff in enumerate(coverage.added_effects(plan, target, method=method, scenario=scenario).itertuples(), 1):
    if eff.gain:  # each added facility says what it brings, and why when it brings nobody
        st.caption(t("coverage.added_gain").format(n=n, g=f"{eff.gain:,}"))
    else:
        st.warning(t(f"coverage.added_{eff.reason}").format(n=n, m=int(plan.snap_m)))
if len(plan.unreachable_doors):
    st.caption(t("coverage.unreachable").format(m=int(plan.snap_m), n=len(plan.unreachable_doors)))
if len(plan.filled_doors):
    st.caption(t("coverage.filled_doors").format(n=len(plan.filled_doors)))

sites = st.session_state.get(K + "sites")
if sites is not None and (sites.ftype != target or sites.method != method):
    sites = None
clicks = {"none": t("coverage.click_none"), "add": t("coverage.click_add"), "cand": t("coverage.click_cand")}
if target == coverage.REQUIRED:
    clicks.pop("add")  # a new facility has one type
b1, b2 = st.columns([3, 2])
basemap = b1.radio(t("basemap.label"), list(leaflet.basemap_labels(lang)),
                   format_func=leaflet.basemap_labels(lang).get, horizontal=True, key=K + "basemap")
click_mode = b2.radio(t("coverage.click_mode"), list(clicks), format_func=clicks.get, horizontal=True,
                      key=K + "click_mode")
areas = _areas(plan, key, target, method, scenario)
m = coverage_map.coverage_map(_base(plan, key), result, sites=sites.sites if sites else None, areas=areas,
                              candidates=st.session_state[K + "cands"], basemap=basemap, lang=lang)
out = st_folium(m, height=620, use_container_width=True, returned_objects=["last_clicked"],
                key=f"{K}map_{basemap}_{lang}")
st.markdown(coverage_map.legend_html(result, lang), unsafe_allow_html=True)
click = (out or {}).get("last_clicked")
if click_mode != "none" and click and click != st.session_state.get(K + "last_click"):
    st.session_state[K + "last_click"] = click
    lon, lat = leaflet.click_lonlat(basemap, click["lat"], click["lng"])  # stored in WGS 84 whatever the tiles
    if click_mode == "add":
        st.session_state[K + "added"].append((lon, lat, target))
    else:
        st.session_state[K + "cands"].append((lon, lat))
    st.rerun()

with st.expander(t("coverage.planning"), expanded=sites is not None):
    cols = st.columns(3)
    k = cols[0].number_input(t("coverage.k"), 1, 30, 3, key=K + "k")
    kinds = {c: t(f"coverage.cand_{c}") for c in siting.CANDIDATE_KINDS}
    kind = cols[1].radio(t("coverage.candidates"), list(kinds), format_func=kinds.get, key=K + "cand")
    if kind == "points":
        cols[1].caption(t("coverage.cand_count").format(n=len(st.session_state[K + "cands"])))
        if cols[1].button(t("coverage.clear_cands"), key=K + "clear_cands"):
            st.session_state[K + "cands"] = []
    why_not = siting.cannot_run(target, kind, st.session_state[K + "cands"])
    if why_not:  # a disabled button says why, and what to do
        cols[2].caption(t(why_not))
    if cols[2].button(t("coverage.run"), key=K + "run", disabled=bool(why_not)):
        try:
            cands = siting.candidates(plan, kind, points=st.session_state[K + "cands"])
            st.session_state[K + "sites"] = siting.plan_sites(plan, target, int(k), cands=cands,
                                                              method=method, scenario=scenario)
            st.rerun()
        except (ValidationError, siting.SolverError) as exc:
            st.error(plain.markdown(exc))
    if sites is not None:
        st.write(t("coverage.mclp_result").format(e=int(sites.mclp.solution.objective),
                                                  g=int(sites.mclp.greedy_solution.objective),
                                                  u=sites.uncovered_residents)
                 + ("" if sites.mclp.proven else t("coverage.not_proven")))
        st.write(t("coverage.set_cover").format(n=sites.lscp.n_sites, g=len(sites.lscp.greedy_solution.sites))
                 + ("" if sites.lscp.proven else t("coverage.set_cover_bound").format(b=sites.lscp.lower_bound)))
        method_names = {"exact": t("coverage.exact"), "greedy": t("coverage.greedy"), "cover": t("coverage.cover")}
        table = sites.sites.drop(columns=["geometry", "candidate"]).assign(
            method=lambda d: d["method"].map(method_names))
        st.dataframe(table.rename(columns={"method": t("coverage.answer"), "rank": t("coverage.rank"),
                                           "label": t("coverage.site"), "gain": t("coverage.gain"),
                                           "cumulative": t("coverage.cumulative")}), hide_index=True,
                     key=K + "sites_table")

st.subheader(t("coverage.by_grid"))
grid_table = result.by_area("grid")
st.dataframe(grid_table.drop(columns=["id"]).rename(columns={
    "name": t("field.name"), "code": t("field.code"), "residents": t("field.residents"),
    "covered": t("coverage.covered"), "share": t("coverage.share"),
    "elderly_alone": t("coverage.elderly_alone"), "elderly_covered": t("coverage.elderly_covered"),
    "elderly_share": t("coverage.elderly_share"), "buildings": t("coverage.buildings"),
    "buildings_covered": t("coverage.buildings_covered")}), hide_index=True, key=K + "grid_table",
    column_config={t(c): st.column_config.NumberColumn(format="percent")
                   for c in ("coverage.share", "coverage.elderly_share")})
e1, e2 = st.columns(2)  # files are made only when asked for
e1.download_button(t("coverage.export_geojson"),
                   lambda: coverage_io.to_geojson(result, sites.sites if sites else None, areas=areas),
                   file_name=f"coverage_{target}_{method}.geojson", mime="application/geo+json",
                   key=K + "dl_geojson")
e2.download_button(t("coverage.export_excel"), lambda: coverage_io.to_excel(result, lang=lang),
                   file_name=f"coverage_{target}_{method}.xlsx", key=K + "dl_excel",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
