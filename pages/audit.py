"""审计日志: every change, sign-in and view of personal data, for street leaders."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from geo.access import audit
from geo.tickets import workflow
from pages import common

user = common.require("audit")
t = common.t
engine, now = common.engine(), common.now()
K = "audit_"

st.title(t("audit.title"))
st.caption(t("audit.caption"))
lang = common.lang()
ACTIONS = {"": t("audit.all"), **{k: v[0 if lang == "zh" else 1] for k, v in audit.ACTION_GROUPS.items()}}
c = st.columns(3)
days = c[0].number_input(t("audit.days"), min_value=1, max_value=3650, value=30, key=K + "days")
who = c[1].text_input(t("audit.user"), key=K + "user").strip()
prefix = c[2].selectbox(t("audit.action"), list(ACTIONS), format_func=ACTIONS.get, key=K + "action")
rows = audit.read(engine, scope=user.scope, since=now - timedelta(days=int(days)), username=who or None,
                  action_prefix=prefix or None, limit=2000)
states = {k: s.name(lang) for k, s in workflow.STATES.items()}  # the log's ticket rows name states
st.dataframe(audit.table(rows, lang, states=states), hide_index=True, width="stretch")
