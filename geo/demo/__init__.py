"""The demo town: a street generated deterministically, and the first start that builds it.

Holds: ``street`` (outline, communities, grids, buildings, roads, people,
facilities), ``simulate`` (a year of tickets through the workflow), ``accounts``
(demo logins and visits), ``people`` (the people around the grid: live claims,
volunteers' hours, patrols, leaders' visits, estates, councils), ``generator`` (``generate``, the summary, the CLI
``python -m geo.demo``, and ``ensure_database``: the app's first start).
May import: every package below it; nothing imports the demo but the app,
tests and benchmarks.
"""
