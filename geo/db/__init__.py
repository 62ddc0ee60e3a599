"""The database: the tables (schema) and the one engine over SQLite or PostGIS (store).

Holds: ``schema`` (street → community → grid → estate → building → household →
resident, people, tickets, users, audit), ``store`` (engine, loading a town,
spatial queries pushed into SQL on PostGIS).
May import: the top modules (settings, errors, i18n) only. What a first start
fills in is passed to ``store.ensure_database`` by the caller (geo.demo).
"""
