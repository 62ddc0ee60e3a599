"""The command centre's big screen: its figures, panels and deck.gl map.

Holds: ``figures`` (every figure and panel the wall shows), ``screen_map`` (its
pydeck map).
May import: every package below it (db … grids).
"""
