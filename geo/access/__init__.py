"""Who may see and do what: accounts, roles and scopes, sign-in, sessions, the audit log.

Holds: ``users`` (accounts and password hashes), ``roles`` (roles, scopes, page
access), ``audit`` (the audit log), ``throttle`` (growing waits against
guessing), ``sessions`` (server-side sessions), ``kiosk`` (the wall displays'
token), ``auth`` (signing in, first-start accounts), ``masks`` (张*, 138****1234).
May import: the top modules, geo.db, geo.place and geo.io.
"""
