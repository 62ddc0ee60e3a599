"""The people around the grid on the folium map: patrol stars on buildings, estates by management,
leaders' contact points, volunteer activities and party members on their way to a ticket.

Each ``add_*`` draws one overlay onto a map made by geo.maps.leaflet.street_map; ``finish`` then puts
the layer control last, moves everything onto GCJ-02 tiles when those are shown, and serves the
assets locally (the same three steps every map with extra layers takes). Text is escaped
(geo.io.plain), markers are DivIcons or circles (no CDN icon sets).
"""
from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from geo.i18n import t
from geo.io import plain
from geo.maps import leaflet, offline
from geo.people.estates import STATUSES, status_label

#: Star badge colour by mean stars: ≤ 2 red, < 4 amber, else green.
STAR_COLOURS = ((2.0, "#d62828"), (3.99, "#f4a261"), (5.0, "#2a9d8f"))
ON_THE_WAY = "#2a9d8f"
LATE = "#d62828"


def finish(m: folium.Map) -> folium.Map:
    """The layer control after every overlay, overlays moved to the tiles' datum, assets served locally."""
    return offline.localise(leaflet.to_tile_datum(leaflet.layer_control_last(m)))


def _star_colour(stars: float) -> str:
    return next(c for top, c in STAR_COLOURS if stars <= top)


def add_stars(m: folium.Map, buildings: gpd.GeoDataFrame, *, lang: str = "zh", kinds: dict | None = None) -> None:
    """Rated buildings as a star badge (mean stars) at their entrance; the tooltip lists each title's stars."""
    if buildings is None or buildings.empty:
        return
    group = folium.FeatureGroup(t("patrol.layer", lang)).add_to(m)
    kinds = kinds or {}
    for row in buildings.itertuples():
        parts = [f"{plain.html(name)} {'★' * int(getattr(row, key))}" for key, name in kinds.items()
                 if pd.notna(getattr(row, key, None))]
        tip = f"{plain.html(row.building)} · " + ("；".join(parts) or f"★{row.mean_stars:.1f}")
        icon = folium.DivIcon(html=(f'<div style="background:{_star_colour(row.mean_stars)};color:#fff;'
                                    'font:bold 11px/16px sans-serif;border-radius:8px;padding:0 4px;'
                                    f'white-space:nowrap;box-shadow:0 0 2px #0006">★{row.mean_stars:.1f}</div>'),
                              icon_size=(40, 16), icon_anchor=(20, 8), class_name="")
        folium.Marker([row.geometry.y, row.geometry.x], icon=icon, tooltip=tip).add_to(group)


def add_estates(m: folium.Map, estates: gpd.GeoDataFrame, *, lang: str = "zh") -> None:
    """Estates filled by their status colour (三无 red, 无主管 orange …), with name, status and open tickets."""
    if estates is None or estates.empty:
        return
    colours = {k: v[2] for k, v in STATUSES.items()}
    labels = {k: status_label(k, lang) for k in STATUSES}
    shown = estates.assign(status_name=estates["status"].map(labels),
                           company=estates["property_company"].fillna("—"),
                           unit=estates["supervising_unit"].fillna("—"))
    cols = ["name", "status_name", "company", "unit", "open_tickets"]
    data = plain.html_columns(shown[[*cols, "status", "geometry"]], ["name", "status_name", "company", "unit"])
    folium.GeoJson(
        data.to_json(drop_id=True, na="null"), name=t("estate.layer", lang),
        style_function=lambda f: {"color": colours.get(f["properties"]["status"], "#457b9d"), "weight": 2,
                                  "fillColor": colours.get(f["properties"]["status"], "#457b9d"), "fillOpacity": 0.35},
        tooltip=folium.GeoJsonTooltip(cols, [t("field.name", lang), t("estate.col_status", lang),
                                             t("estate.col_company", lang), t("estate.col_unit", lang),
                                             t("estate.col_tickets", lang)], localize=True)).add_to(m)


def add_contact_points(m: folium.Map, points: gpd.GeoDataFrame, *, lang: str = "zh") -> None:
    """Leaders' contact points: a red flag with the leader's name; a dashed ring when this quarter's visit is due."""
    if points is None or points.empty:
        return
    group = folium.FeatureGroup(t("contact.layer", lang)).add_to(m)
    for row in points[points.geometry.notna()].itertuples():
        ring = "2px dashed #d62828" if row.due else "2px solid #fff"
        icon = folium.DivIcon(html=(f'<div style="background:#c1121f;color:#fff;font:bold 12px/18px sans-serif;'
                                    f'border-radius:9px;padding:0 6px;white-space:nowrap;outline:{ring};'
                                    f'box-shadow:0 0 3px #0007">⚑ {plain.html(row.leader)}</div>'),
                              icon_size=(90, 18), icon_anchor=(45, 9), class_name="")
        tip = (f"{t('contact.leader', lang)} {plain.html(row.leader)} · {plain.html(row.point)}"
               + (f" · {t('contact.due', lang)}" if row.due else ""))
        folium.Marker([row.geometry.y, row.geometry.x], icon=icon, tooltip=tip).add_to(group)


def add_activities(m: folium.Map, activities: pd.DataFrame, *, lang: str = "zh") -> None:
    """Volunteer activities as small heart dots (title, team, date, person-times on hover)."""
    if activities is None or activities.empty:
        return
    group = folium.FeatureGroup(t("vol.layer", lang)).add_to(m)
    for row in activities.itertuples():
        tip = (f"{plain.html(row.title)} · {plain.html(row.team)} · {pd.Timestamp(row.started_at):%Y-%m-%d} · "
               f"{int(row.person_times)}{t('vol.person_times_unit', lang)}")
        folium.CircleMarker([row.lat, row.lon], radius=5, color="#ffffff", weight=1, fill=True,
                            fill_color="#e76f51", fill_opacity=0.9, tooltip=tip).add_to(group)


def add_on_the_way(m: folium.Map, way: pd.DataFrame, *, lang: str = "zh") -> None:
    """A ring round each ticket a party member is on the way to (green within the 30 minutes, red once late)."""
    if way is None or way.empty:
        return
    group = folium.FeatureGroup(t("party.layer", lang)).add_to(m)
    for row in way.itertuples():
        late = row.minutes_left < 0
        tip = (f"{plain.html(row.code)} · {t('party.member', lang)} {plain.html(row.member)} · "
               + (t("party.late_by", lang).format(n=int(-row.minutes_left)) if late
                  else t("party.left", lang).format(n=int(row.minutes_left))))
        folium.CircleMarker([row.lat, row.lon], radius=16, color=LATE if late else ON_THE_WAY, weight=4,
                            fill=False, dash_array=None if late else "6 4", tooltip=tip).add_to(group)


__all__ = ["finish", "add_stars", "add_estates", "add_contact_points", "add_activities", "add_on_the_way"]
