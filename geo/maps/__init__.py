"""Maps for people to read: the folium street map, its layers and its offline assets.

Holds: ``offline`` (Leaflet & co. served by the app), ``leaflet`` (the folium
map: basemaps, GCJ-02 shift, popups, legends), ``layers`` (map layers of a
street by scope), ``area`` (one grid's patch for its grid head), ``addresses``
(a place found by its name: estate and building, facility, road), ``people_map`` (patrol
stars, estates by management, leaders' contact points, volunteer activities, party
members on their way).
May import: every package below it (db, place, io, access, tickets, people).
"""
