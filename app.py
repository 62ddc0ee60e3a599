"""社区治理一张图 — entry point: page config, language, navigation.

Run with ``streamlit run app.py``. On first start the demo street is built
into data/shequ.db (or DATABASE_URL) with a progress bar.
"""
from __future__ import annotations

import streamlit as st

from geo import i18n
from pages import common

st.set_page_config(page_title="社区治理一张图", page_icon="🗺️", layout="wide",
                   initial_sidebar_state="expanded")

common.install_assets()
lang = common.lang()  # seeds st.session_state["lang"], which the selectbox then owns
with st.sidebar:
    st.markdown(f"### {i18n.t('app.title', lang)}")
    lang = st.selectbox(i18n.t("lang.label", lang), list(i18n.LANGS), format_func=i18n.LANGS.get,
                        key="lang")

common.engine()  # builds the demo town on first start, before any page draws

pages = [
    st.Page("pages/map.py", title=i18n.t("page.map", lang), icon="🗺️", default=True, url_path="map"),
    st.Page("pages/tickets.py", title=i18n.t("page.tickets", lang), icon="📋", url_path="tickets"),
    st.Page("pages/report.py", title=i18n.t("page.report", lang), icon="📍", url_path="report"),
    st.Page("pages/coverage.py", title=i18n.t("page.coverage", lang), icon="🧭", url_path="coverage"),
]
st.navigation(pages).run()
