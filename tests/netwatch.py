"""Run ``streamlit`` (or any module) with every outbound network attempt of the process written down.

    python tests/netwatch.py LOG -m streamlit run app.py --server.port 8555

A Python audit hook (PEP 578) sees each socket.connect / sendto and each name lookup the
server makes, in any library; every one whose address is not this machine's loopback is
appended to LOG as a line, so a test can fail on it (conftest.run_app does). The promise
checked is the product's: a government dashboard sends nothing anywhere it was not told to,
and with no internet it still starts and serves (DESIGN.md: offline first).
"""
from __future__ import annotations

import ipaddress
import runpy
import sys

LOCAL_NAMES = frozenset({"", "localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0", "::"})


def is_local(host) -> bool:
    """Loopback, a wildcard (a bind, not a peer) or no host at all (a Unix socket path is a str, not a tuple)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost: a lookup of something outside


def watch(log_path: str) -> None:
    def hook(event: str, args) -> None:
        if not event.startswith("socket."):
            return
        host = None
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            address = args[1] if len(args) > 1 else None
            if not isinstance(address, tuple):  # AF_UNIX: a path on this machine
                return
            host = address[0]
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                       "socket.gethostbyaddr"):
            host = args[0] if args else None
        else:
            return
        if not is_local(host):
            with open(log_path, "a", encoding="utf-8") as out:
                out.write(f"{event} {host!s}\n")

    sys.addaudithook(hook)


if __name__ == "__main__":
    log, flag, module, *rest = sys.argv[1:]
    assert flag == "-m", "usage: netwatch.py LOG -m MODULE [ARGS…]"
    watch(log)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
