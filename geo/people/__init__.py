"""The people of a grid, scoped and masked: households, residents, helpers, visits.

Holds: ``households`` (households, residents, reveal and correction, the
party members and volunteers bound to an area), ``visits`` (household visits,
which may open a ticket).
May import: the top modules and geo.db, geo.place, geo.io, geo.access, geo.tickets.
"""
