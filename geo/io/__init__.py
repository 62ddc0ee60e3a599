"""What crosses the edge as files or text: every upload read, every export written.

Holds: ``vector_files`` (the one door for uploaded GIS files and registers),
``osm`` (.osm.pbf extracts through pyrosm), ``export`` (CSV/Excel with formulas
neutralised), ``photos`` (cleaned, bounded report photos), ``plain`` (user text
made safe for Markdown and HTML sinks).
May import: the top modules, geo.db and geo.place.
"""
