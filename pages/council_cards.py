"""Published council matters as cards (一征三议两公开's 两公开): on 议事协商's preview and on the residents'
phone page, which show the very same thing. The list is geo.people.councils.public_list (no names);
every text a council wrote is shown as plain text.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.io import plain


def show(public: pd.DataFrame, t) -> None:
    """One bordered card per matter: title, council and stage, the decision with its votes, the notice,
    and the outcome once there is one."""
    for r in public.itertuples():
        with st.container(border=True):
            st.markdown(f"**{plain.markdown(r.title)}** · {plain.markdown(r.council)} · {r.stage_name}")
            st.text(f"{r.decision}（{t('council.f_votes_for')} {r.votes_for}，{t('council.f_votes_against')} "
                    f"{r.votes_against}，{r.decided_on}）")
            st.text(str(r.notice))
            if isinstance(r.outcome, str):
                st.text(f"{t('council.f_outcome')}：{r.outcome}（{r.outcome_on}）")
