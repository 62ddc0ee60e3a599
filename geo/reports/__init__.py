"""The monthly report (月度报告, issue 19): one month of an area in tables, charts and a map.

Holds: monthly (the report's tables, every figure from geo.tickets.indicators and the other
packages' own definitions), report_pdf (the printable PDF, CJK font embedded, reportlab's own
charts), schedule (street staff's standing order to write it on the first of each month,
kept in the ``meta`` table, written under data/reports/).
May import: settings, errors, i18n, db, place, io, access, tickets, people, maps, coverage, screen
(the wall's straight-line 15-minute circle), and, optionally, geo.tickets.warnings when it exists.
"""
