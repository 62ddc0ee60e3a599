"""社区治理一张图 core library.

Everything the dashboard shows is computed here: geometry, data store, demo
town, ticket rules and indicators. Nothing in this package imports Streamlit,
so every figure can be tested and reused from the command line or the API.
"""
