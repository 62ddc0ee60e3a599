"""A street's own data in and out: files checked, previewed, loaded in one transaction, exported.

Holds: ``fields`` (the layers a street is made of and the columns each takes), ``codes``
(12-digit division codes, grid numbers, ID and phone numbers), ``mapping`` (a file's columns
matched to ours, the last mapping remembered per street), ``position`` (a layer's coordinates:
its CRS, Gauss–Krüger zones, GCJ-02 / BD-09 detected against the street's other layers),
``sources`` (files read through geo.io.vector_files into layers), ``doors`` (a door for every
building from its footprint and the nearest walkable line), ``stored`` (a street as stored, in
the same shape), ``checks`` (the validation report), ``plan`` (what an import would add, change,
remove), ``apply`` (one audited transaction), ``export`` (every layer out as GeoJSON, GeoPackage,
zipped Shapefile and Excel), ``preview_map`` (the report and the plan on the offline map), and the
command ``python -m geo.load``.
May import: every package below it (db … grids).
"""
