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

import itertools
import json

import glupy
from glupy.fop_table import FOPS

COUNTS_XATTR = "glupy.passthrough.counts"


def forwarder(fop, tail: bool = False, reply: bool = False):
    """`async def NAME(self, <the FOP's arguments>)`: counts, then winds the same
    arguments to the first child and returns its reply, written out as a translator
    author would (no ``*args``: a starred call builds a list and a tuple per FOP, a
    measurable part of what the benchmark using this translator would otherwise charge
    to the bridge). With `tail`, a plain `def` returning the child's wind unawaited (a
    tail call: the reply goes back to the caller without coming back to Python). With
    `reply`, the reply is named before it is returned (``reply = await ...``): not a
    `return await`, so the reply always comes into Python as its object."""
    names = ", ".join(a.name for a in fop.py_args)
    wind = f"self.child.{fop.name}({names})"
    body = (f"    return {wind}\n" if tail else
            f"    reply = await {wind}\n    return reply\n" if reply else
            f"    return await {wind}\n")
    src = (f"{'def' if tail else 'async def'} {fop.name}(self, {names}):\n"
           f"    next(self._counters[{fop.name!r}])\n" + body)
    namespace: dict = {}
    exec(src, namespace)
    handler = namespace[fop.name]
    handler.__doc__ = f"Count {fop.name}, then pass it to the first child unchanged."
    return handler


def _counted(counter: itertools.count) -> int:
    """How many times next() was called on a counter started at 0.

    An itertools.count is the cheapest thread-safe counter in CPython (next() is
    one C call under the GIL, no lock); its repr is the only public view of its
    position."""
    return int(repr(counter)[len("count("):-1])


class Passthrough(glupy.Translator):
    """Forwards every FOP unchanged and counts them."""

    def init(self) -> None:
        self._counters = {fop.name: itertools.count() for fop in FOPS}

    @property
    def counts(self) -> dict[str, int]:
        """{fop: how many this translator saw}, FOPs never seen left out."""
        return {name: n for name, counter in self._counters.items() if (n := _counted(counter))}

    def snapshot(self) -> dict[str, int]:
        return self.counts

    def statedump(self):
        return {f"count.{name}": n for name, n in sorted(self.snapshot().items())}

    async def getxattr(self, loc, name, xdata):
        """Answers the counts xattr: glupy.passthrough.counts (the first passthrough
        on the way) or glupy.passthrough.counts.NAME (only the one named NAME)."""
        next(self._counters["getxattr"])
        if name == COUNTS_XATTR or name == f"{COUNTS_XATTR}.{self.name}":
            value = json.dumps(self.snapshot(), sort_keys=True).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self.child.getxattr(loc, name, xdata)


for _fop in FOPS:
    if _fop.name not in vars(Passthrough):
        setattr(Passthrough, _fop.name, forwarder(_fop))
