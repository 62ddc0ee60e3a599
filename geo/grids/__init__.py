"""The grids themselves: adjusting their boundaries (and, to come, splitting, merging, cutting).

Holds: ``boundaries`` (grids out as GeoJSON, an edited file in, a checked plan,
one audited transaction), ``boundaries_map`` (its preview map).
May import: every package below it (db … coverage).
"""
