"""What the HTTP servers around the app need (serve.py, and the API to come).

Holds: ``headers`` (security headers and the closed metrics endpoint), ``housekeeping`` (the minute's
escalations, warnings and due reports, once a minute for every app server on the database).
May import: any package of geo.
"""
