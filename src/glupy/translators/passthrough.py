"""passthrough: overrides every FOP, forwards it unchanged, and counts FOPs by type.

It exists to prove the bridge end to end and to measure its cost. The counts can
be read from outside in two ways:

* ``getfattr -n glupy.passthrough.counts FILE`` on a mount (answered by the
  passthrough nearest to the caller: the client-side one, or on bricks the one on
  the brick that afr reads from), a JSON object {fop: count};
  ``glupy.passthrough.counts.NAME`` asks the passthrough named NAME in the graph;
* ``gluster volume statedump VOL``: a ``count.<fop>`` line per FOP in the
  ``xlator.glupy.<name>.priv`` section of each brick's dump.
"""

from __future__ import annotations

import json
import threading

import glupy
from glupy.fop_table import FOPS

COUNTS_XATTR = "glupy.passthrough.counts"


def _forwarder(name: str):
    wind = getattr(glupy.Child, name)

    async def handler(self, *args):
        with self._lock:
            counts = self.counts
            counts[name] = counts.get(name, 0) + 1
        return await wind(self.child, *args)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Count {name}, then pass it to the first child unchanged."
    return handler


class Passthrough(glupy.Translator):
    """Forwards every FOP unchanged and counts them."""

    def init(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def statedump(self):
        return {f"count.{name}": n for name, n in sorted(self.snapshot().items())}

    async def getxattr(self, loc, name, xdata):
        """Answers the counts xattr: glupy.passthrough.counts (the first passthrough
        on the way) or glupy.passthrough.counts.NAME (only the one named NAME)."""
        with self._lock:
            self.counts["getxattr"] = self.counts.get("getxattr", 0) + 1
        if name == COUNTS_XATTR or name == f"{COUNTS_XATTR}.{self.name}":
            value = json.dumps(self.snapshot(), sort_keys=True).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self.child.getxattr(loc, name, xdata)


for _fop in FOPS:
    if _fop.name not in vars(Passthrough):
        setattr(Passthrough, _fop.name, _forwarder(_fop.name))
