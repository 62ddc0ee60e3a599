"""Whose address a sign-in counts against (geo.access.throttle.client_address): the connection's own, unless a
trusted proxy says otherwise; a forged X-Forwarded-For never picks the bucket (issue 11, item 3)."""
from __future__ import annotations

import pytest

from geo.access import throttle

PROXY = ("10.0.0.0/8",)


@pytest.mark.parametrize("peer,forwarded,trusted,expected", [
    (None, [], (), ""),  # a local connection (Streamlit says None): no address bucket
    ("127.0.0.1", [], (), ""),
    ("::ffff:127.0.0.1", [], (), ""),  # how a dual-stack server sees a local IPv4 connection
    ("::ffff:203.0.113.5", [], (), "203.0.113.5"),
    ("203.0.113.5", [], (), "203.0.113.5"),
    ("2001:db8::7", [], (), "2001:db8::7"),
    ("203.0.113.5", ["198.51.100.1"], (), "203.0.113.5"),  # header from an untrusted peer: ignored
    ("10.0.0.2", ["198.51.100.1"], PROXY, "198.51.100.1"),  # our proxy says who it saw
    ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], PROXY, "198.51.100.1"),  # the client's own left part is not believed
    ("10.0.0.2", ["198.51.100.1, 10.0.0.9"], PROXY, "198.51.100.1"),  # two proxies of ours
    ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], PROXY, "198.51.100.1"),  # the header twice: read as one list
    ("10.0.0.2", ["not-an-address"], PROXY, ""),
    ("127.0.0.1", ["198.51.100.1"], ("127.0.0.1",), "198.51.100.1"),  # a proxy on the same machine, trusted
])
def test_the_address_counted(peer, forwarded, trusted, expected):
    assert throttle.client_address(peer, forwarded, trusted=trusted) == expected


def test_a_forged_header_cannot_move_a_guesser_to_a_fresh_bucket_each_time():
    seen = {throttle.client_address("10.0.0.2", [f"{i}.{i}.{i}.{i}, 198.51.100.1"], trusted=PROXY)
            for i in range(1, 50)}
    assert seen == {"198.51.100.1"}
