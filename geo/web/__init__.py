"""What the HTTP servers around the app need (serve.py, and the API to come).

Holds: ``headers`` (security headers and the closed metrics endpoint).
May import: any package of geo.
"""
