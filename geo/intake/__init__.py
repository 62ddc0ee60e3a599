"""Residents' own doors into the ticket loop: the Open311 API, the no-account phone page, QR codes, 12345.

Every door ends in the desk's own ``geo.tickets.service.report`` (same routing, tolerance and
flags), in one transaction with the row that says how the ticket came in (``ticket_intake``).

Holds: ``keys`` (API keys: made, named, revoked by street staff; stored hashed; the demo key),
``limits`` (posts counted per key, address and phone; the phone page's challenge), ``doors``
(submit through a door, the resident's tracking token, what the resident sees, their rating),
``address`` (an address in words matched to a building), ``open311`` (GeoReport v2: services,
requests, errors, JSON and XML), ``qr`` (一码通: a building's link and printable QR sheets),
``hotline`` (the 12345 hotline's batches of work orders).
May import: the top modules, geo.db, geo.place, geo.io, geo.access, geo.tickets, geo.people,
geo.maps, geo.coverage and geo.grids.
"""
