"""The 15-minute service circle: who is within reach, who is not, where to build next.

Holds: ``network`` (the walking graph and isochrones), ``coverage`` (coverage
in people, blind spots, what-if, cameras), ``siting`` (new sites: MCLP / LSCP),
``coverage_io`` (its files in and out), ``coverage_map`` (its maps).
May import: every package below it (db … maps).
"""
