"""Where things are on the ground, before any map is drawn.

Holds: ``projection`` (the one metric projection for distances and areas),
``coords`` (WGS 84 ↔ GCJ-02 ↔ BD-09), ``catalogue`` (the facility types, their
icons and service reach, with the standard each comes from).
May import: the top modules and geo.db.
"""
