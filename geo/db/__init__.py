"""The database: the tables, the one engine, schema upgrades and backups.

Holds: ``schema`` (street → community → grid → estate → building → household →
resident, people, tickets, users, audit), ``connect`` (the engine over SQLite
or PostGIS), ``store`` (opening, loading a town, spatial queries pushed into
SQL on PostGIS), ``migrate`` (versioned schema upgrades with a backup first;
revisions in ``migrations/versions``), ``backup`` (back up and restore).
May import: the top modules (settings, errors, i18n) only. What a first start
fills in is passed to ``store.ensure_database`` by the caller (geo.demo).
"""
