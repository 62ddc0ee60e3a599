"""社区治理一张图 for deployment: the same app.py, with security headers and /_stcore/metrics closed.

    streamlit run serve.py        # instead of `streamlit run app.py`; same options (--server.port …)

Streamlit's own server sets no security headers and has no option to (README: deployment);
its ASGI entry point st.App takes middleware, and geo.web.headers.SecurityHeaders adds them.
Behind a reverse proxy, keep the proxy's own headers and its block of /_stcore/metrics too.
"""
import streamlit as st
from starlette.middleware import Middleware

from geo.web.headers import SecurityHeaders

app = st.App("app.py", middleware=[Middleware(SecurityHeaders)])
