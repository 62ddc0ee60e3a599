"""The grids themselves: the grid rule, adjusting, splitting, merging, making and retiring grids, cutting them.

Holds: ``rules`` (the bounds table per grid type, the code rule, ``check_grids`` and the
standing report), ``boundaries`` (grids out as GeoJSON, an edited file in, a checked plan,
one audited transaction; new and retired grids), ``edits`` (split, merge, new, retire on
the map), ``autocut`` (automatic cutting: units, a regionalisation with a floor and a
ceiling, a proposal as a plan), ``boundaries_map`` (preview, editing and proposal maps).
May import: every package below it (db … coverage).
"""
