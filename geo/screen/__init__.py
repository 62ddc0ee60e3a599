"""The command centre's big screen: its figures, panels and deck.gl map.

Holds: ``figures`` (configuration and headline figures), ``panels`` (feed,
trend, categories, rankings), ``map_data`` (what the map shows: load per grid,
H3 cells, alerts, the basemap), ``wall`` (one refresh, everything at once),
``screen_map`` (the pydeck map), ``grid_card`` (one grid: its team, helpers and open tickets).
May import: every package below it (db … intake).
"""
