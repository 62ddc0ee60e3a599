"""The closed loop: how a resident's problem travels and how well it was handled.

Holds: ``workflow`` (states and moves, two configurations), ``categories``
(categories and time limits), ``rules`` (the rules over plain values, who acts
as what), ``service`` (routing one point or many, moves in transactions, escalation,
duplicates), ``routing`` (the bulk routing core: many points to their grids in whole arrays),
``indicators`` (立案率 … 满意率 with their definitions), ``warnings`` (智能预警: detectors over
the ticket stream, stored warnings, acknowledge and close).
May import: the top modules, geo.db, geo.place, geo.io and geo.access.
"""
