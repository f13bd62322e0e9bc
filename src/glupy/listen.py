"""The ``listen`` option of translators that serve something over TCP (metrics, events)."""

from __future__ import annotations


def parse_listen(text: str, *, scan: bool = False) -> tuple[str, int, bool]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) -> (host, port, False). With `scan`, also
    ``HOST:PORT+``: the first free port from PORT to PORT+99 -> (host, port, True)."""
    text = text.strip()
    wanted = "host:port or host:port+" if scan else "host:port"
    scanning = scan and text.endswith("+")
    host, sep, port = (text[:-1] if scanning else text).rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not {wanted} (e.g. 127.0.0.1:9280)")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: the port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{text!r}: the port must be 0..65535")
    return host.strip("[]"), number, scanning
