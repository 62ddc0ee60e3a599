"""社区治理一张图 core library: everything the dashboard shows is computed here.

Nothing in this package imports Streamlit, so every figure can be tested and
reused from the command line or the API. It is grouped by capability, in
layers: a package may import the top modules (settings, errors, i18n) and the
packages below it, never one above it (tests/test_layout.py checks this):

    db → place → io → access → tickets → people → maps → coverage → grids → load → intake → screen → reports → demo → web

Each package's ``__init__`` says what it holds and what it may import.
"""
