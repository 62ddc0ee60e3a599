"""The demo town: a street generated deterministically, and the first start that builds it.

Holds: ``generator`` (the street, its people and a year of tickets; the CLI
``python -m geo.demo``; ``ensure_database``, the app's first start).
May import: every package below it; nothing imports the demo but the app,
tests and benchmarks.
"""
