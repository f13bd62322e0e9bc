"""guard: on the bricks, refuse data FOPs that did not pass through a client translator.

Some client-side translators must never be bypassed: a client without ``crypt``
in its graph (its volfile came from a server where glupy is not installed, or a
hand-made volfile) would write plaintext next to ciphertext. Such a translator
marks the data FOPs it winds with an xdata key (:class:`MarkedChild`); ``guard``,
on every brick, answers EACCES to data FOPs that come without the key, and
strips the key from the ones that have it (storage/posix would store an unknown
create key as an xattr). ``glupy attach`` puts it on the bricks by itself when the
class declares ``bypass_guard`` (``crypt`` does).

Checked FOPs (:data:`GUARDED`): those that read or write file data or make a
file: readv, writev, create, mknod, truncate, ftruncate, fallocate, discard,
zerofill, copy_file_range, put. Metadata FOPs (lookup, stat, readdir, open,
xattrs, locks...) pass: they neither carry nor expose file data.

Always allowed: GlusterFS's own daemons (self-heal, rebalance, ...: frames with a
negative pid), which copy stored bytes as they are. Allowed on purpose: clients
whose host matches ``allow-hosts`` (space-separated shell patterns, e.g. for a
maintenance mount that must see the raw ciphertext), never by accident.

This is a guard against mistakes, not against a hostile client: a client that
sets the key by hand passes. Refusals are counted (statedump ``refused``) and
logged, at most once a minute per client.
"""

from __future__ import annotations

import errno
import fnmatch
import time
from typing import Any

import glupy
from glupy.fop_table import FOP_BY_NAME

#: the FOPs a guard checks and a MarkedChild marks
GUARDED = frozenset({"readv", "writev", "create", "mknod", "truncate", "ftruncate", "fallocate", "discard",
                     "zerofill", "copy_file_range", "put"})

#: the xdata key crypt marks its FOPs with (the guard's default)
CRYPT_KEY = "glupy.crypt.via"


def marked(xdata: Any, key: str) -> Any:
    """A copy of the request's xdata (or a new one) carrying `key`."""
    out = xdata.copy() if xdata is not None else glupy.Xdata()
    out[key] = b"1"
    return out


def _marking(name: str) -> Any:
    wind = getattr(glupy.Child, name)
    count = len(FOP_BY_NAME[name].py_args)  # xdata is the last

    def method(self, *args: Any, lk_owner: Any = None) -> Any:
        head, xdata = args[:count - 1], (args[count - 1] if len(args) >= count else None)
        return wind(self, *head, marked(xdata, self.mark), lk_owner=lk_owner)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{name} to the child, its xdata marked for the bricks' guard."
    return method


class MarkedChild(glupy.Child):
    """A translator's child whose :data:`GUARDED` FOPs carry the xdata key `mark`."""

    __slots__ = ("mark",)

    def __init__(self, child: glupy.Child, mark: str) -> None:
        super().__init__(child.xlator, child.index)
        self.mark = mark


for _name in GUARDED:
    setattr(MarkedChild, _name, _marking(_name))


def _client_host(client: str | None) -> str:
    """HOST of a brick's client identifier (``CTX_ID:...-HOST:name-PC_NAME:...``)."""
    if not client:
        return ""
    at = client.find("HOST:")
    if at < 0:
        return ""
    return client[at + 5:].split("-PC_NAME:", 1)[0]


def _guarded(name: str) -> Any:
    wind = getattr(glupy.Child, name)

    async def handler(self: "Guard", *args: Any) -> Any:
        *head, xdata = args
        if xdata is not None and self.key in xdata:
            clean = xdata.copy()
            del clean[self.key]
            return await wind(self.child, *head, clean)
        if self._allowed(self.caller):
            return await wind(self.child, *args)
        self._refuse(name)
        raise glupy.FopError(errno.EACCES)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"{name} only if it passed through the client translator (or an allowed client)."
    return handler


class Guard(glupy.Translator):
    """Refuses data FOPs that do not carry the key a client-side translator marks them with."""

    key = glupy.Option(str, default=CRYPT_KEY, doc="the xdata key data FOPs must carry")
    allow_hosts = glupy.Option(str, default="", doc="space-separated shell patterns of client hosts allowed "
                                                    "without the key (maintenance mounts)")

    def init(self) -> None:
        self.refused = 0
        self._logged: dict[str, float] = {}

    def _allowed(self, frame: Any) -> bool:
        if frame.pid < 0:  # self-heal, rebalance...: GlusterFS's own daemons copy bytes as stored
            return True
        host = _client_host(frame.client)
        return bool(host) and any(fnmatch.fnmatchcase(host, p) for p in self.allow_hosts.split())

    def _refuse(self, fop: str) -> None:
        self.refused += 1
        client = self.caller.client or "?"
        now = time.monotonic()
        if now - self._logged.get(client, -120.0) >= 60:
            self._logged[client] = now
            self.log.warning("guard: refused %s from client %s: it did not pass through the client translator "
                             "marking %s (a client whose graph lacks it; allow a maintenance host with "
                             "allow-hosts)", fop, client, self.key)

    def statedump(self) -> dict[str, Any]:
        return {"refused": self.refused, "key": self.key}


for _name in GUARDED:
    setattr(Guard, _name, _guarded(_name))
