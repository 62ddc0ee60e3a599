"""服务圈规划: who is inside the 15-minute circle, who is not, where the next sites go."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import catalogue, coverage, coverage_io, coverage_map, maps, settings, siting, store
from geo.errors import ValidationError
from pages import common

lang = common.lang()
t = common.t
common.engine()
url, minute = settings.database_url(), common.minute_key()


@st.cache_resource(show_spinner=False)
def _plan(url_: str) -> coverage.Plan:
    """Buildings, facilities, the walking graph and snapped doors: built once per database."""
    return coverage.build_plan(coverage.load_frames(store.make_engine(url_)))


plan = _plan(url)
layers = common.street_layers(url, lang, minute)
K = "coverage_"  # session-state prefix of this page
st.session_state.setdefault(K + "added", [])

@st.cache_resource(show_spinner=False)
def _cameras(url_: str) -> coverage.CameraCoverage:
    """Camera views, road seen and blind stretches: the cameras change only with the database."""
    p = _plan(url_)
    return coverage.camera_coverage(p.cameras, p.roads, p.buildings)


st.title(t("page.coverage"))
modes = {"service": t("coverage.mode_service"), "camera": t("coverage.mode_camera")}
mode = st.segmented_control(t("coverage.mode"), list(modes), format_func=modes.get, default="service",
                            key=K + "mode") or "service"

if mode == "camera":
    st.caption(t("coverage.cam_subtitle"))
    cams = _cameras(url)
    roads, n = cams.roads, cams.status()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("coverage.cam_share"), f"{roads.loc['all', 'share']:.1%}")
    c2.metric(t("coverage.cam_seen_km"), f"{roads.loc['all', 'seen_m'] / 1000:,.1f}")
    c3.metric(t("coverage.cam_online"), f"{n['online']:,}", help=t("coverage.cam_of").format(n=n["total"]))
    c4.metric(t("coverage.cam_offline"), f"{n['offline']:,}")
    basemap = st.radio(t("basemap.label"), list(maps.basemap_labels(lang)),
                       format_func=maps.basemap_labels(lang).get, horizontal=True, key=K + "cam_basemap")
    st_folium(coverage_map.camera_map(layers, cams, basemap=basemap, lang=lang), height=620,
              use_container_width=True, returned_objects=[], key=f"{K}cam_map_{basemap}_{lang}")
    st.markdown(coverage_map.camera_legend_html(lang), unsafe_allow_html=True)
    st.caption(t("coverage.cam_blind_note").format(m=int(coverage.MIN_BLIND_M))
               + f" · {t('coverage.cam_blind')}: {len(cams.blind):,}")
    st.subheader(t("coverage.cam_by_kind"))
    table = roads.rename(index=lambda k: t("coverage.cam_all") if k == "all" else t(f"road.{k}")).round(
        {"length_m": 0, "seen_m": 0})
    st.dataframe(table.rename_axis(t("field.road_kind")).rename(columns={
        "length_m": t("coverage.cam_length"), "seen_m": t("coverage.cam_seen"), "share": t("coverage.cam_share")}),
        column_config={t("coverage.cam_share"): st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                               max_value=1)},
        key=K + "cam_table")
    st.stop()

st.caption(t("coverage.subtitle"))

types = [coverage.REQUIRED, *catalogue.FACILITY_TYPES]
c1, c2, c3 = st.columns([2, 2, 1])
target = c1.selectbox(t("coverage.target"), types, key=K + "target",
                      format_func=lambda k: t("coverage.required") if k == coverage.REQUIRED
                      else catalogue.facility_type(k).name(lang))
methods = {"walking": t("coverage.method_walking"), "straight": t("coverage.method_straight")}
method = c2.radio(t("coverage.method"), list(methods), format_func=methods.get, horizontal=True, key=K + "method")
reach = ()
if target != coverage.REQUIRED:
    ft = catalogue.facility_type(target)
    r = c3.number_input(t("coverage.reach"), 50, 3000, int(ft.reach_m), 50, key=K + f"reach_{target}",
                        help=f"{t('coverage.reach_source')}: {ft.source}")
    reach = ((target, float(r)),)

with st.expander(t("coverage.whatif"), expanded=False):
    fac = plan.facilities[plan.facilities["type"].isin(coverage.target_types(target))]
    names = dict(zip(fac["id"], fac["name"]))
    closed = st.multiselect(t("coverage.close"), list(names), format_func=names.get, key=K + f"closed_{target}")
    add_mode = st.toggle(t("coverage.add_mode"), key=K + "add_mode", disabled=target == coverage.REQUIRED)
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
if len(plan.unreachable_doors):
    st.caption(t("coverage.unreachable").format(m=int(plan.snap_m), n=len(plan.unreachable_doors)))

sites = st.session_state.get(K + "sites")
if sites is not None and (sites.ftype != target or sites.method != method):
    sites = None
basemap = st.radio(t("basemap.label"), list(maps.basemap_labels(lang)),
                   format_func=maps.basemap_labels(lang).get, horizontal=True, key=K + "basemap")
m = coverage_map.coverage_map(layers, result, sites=sites.sites if sites else None, basemap=basemap, lang=lang)
out = st_folium(m, height=620, use_container_width=True, returned_objects=["last_clicked"],
                key=f"{K}map_{basemap}_{lang}")
st.markdown(coverage_map.legend_html(result, lang), unsafe_allow_html=True)
click = (out or {}).get("last_clicked")
if add_mode and click and click != st.session_state.get(K + "last_click"):
    st.session_state[K + "last_click"] = click
    st.session_state[K + "added"].append((click["lng"], click["lat"], target))
    st.rerun()

with st.expander(t("coverage.planning"), expanded=False):
    cols = st.columns(3)
    k = cols[0].number_input(t("coverage.k"), 1, 30, 3, key=K + "k")
    kinds = {c: t(f"coverage.cand_{c}") for c in siting.CANDIDATE_KINDS}
    kind = cols[1].radio(t("coverage.candidates"), list(kinds), format_func=kinds.get, key=K + "cand")
    if cols[2].button(t("coverage.run"), key=K + "run", disabled=target == coverage.REQUIRED):
        pts = [(lon, lat) for lon, lat, _ in st.session_state[K + "added"]]
        try:
            cands = siting.candidates(plan, kind, points=pts)
            st.session_state[K + "sites"] = siting.plan_sites(plan, target, int(k), cands=cands,
                                                              method=method, scenario=scenario)
            st.rerun()
        except (ValidationError, siting.SolverError) as exc:
            st.error(str(exc))
    if sites is not None:
        st.write(t("coverage.mclp_result").format(e=int(sites.mclp.solution.objective),
                                                  g=int(sites.mclp.greedy_solution.objective),
                                                  u=sites.uncovered_residents))
        st.write(t("coverage.set_cover").format(n=sites.lscp.n_sites, g=len(sites.lscp.greedy_solution.sites))
                 + ("" if sites.lscp.proven else t("coverage.not_proven")))
        table = sites.sites.drop(columns=["geometry", "candidate"]).assign(
            method=lambda d: d["method"].map({"exact": t("coverage.exact"), "greedy": t("coverage.greedy")}))
        st.dataframe(table.rename(columns={"method": t("coverage.method"), "rank": t("coverage.rank"),
                                           "label": t("coverage.site"), "gain": t("coverage.gain"),
                                           "cumulative": t("coverage.cumulative")}), hide_index=True)

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
e1, e2 = st.columns(2)
e1.download_button(t("coverage.export_geojson"), coverage_io.to_geojson(result, sites.sites if sites else None),
                   file_name=f"coverage_{target}_{method}.geojson", mime="application/geo+json",
                   key=K + "dl_geojson")
e2.download_button(t("coverage.export_excel"), coverage_io.to_excel(result, lang=lang),
                   file_name=f"coverage_{target}_{method}.xlsx", key=K + "dl_excel",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
