"""What a process running a glupy translator logs about its code, read back.

The bridge and the lifecycle write these lines (``lifecycle.announce`` at every start
and accepted reload; ``bridge.c:gp_reload`` when a new ``generation`` reaches
reconfigure()); ``glupy list`` and ``glupy reload`` read them from the logs of this
node's processes, and ``peer_glupy bricks`` (glupy.peer) from the bricks' logs of
every other node. One parser for both, so that a node's answer means what a local
log means.
"""

from __future__ import annotations

import re


def running_identity(text: str, name: str) -> str | None:
    """The identity of the code translator *name* runs, as a process's log *text* (since
    the process started) tells: the line each start or accepted reload logs
    (lifecycle.announce), the last one. None: no such line."""
    # a brick's xlator is named VOLUME-NAME, a client's NAME
    line = re.compile(rf"\] \S+ \[[^]]*\] \S*-glupy\.(?:\S*-)?{re.escape(name)}: \S+ \((\S+)\) handles ")
    found = line.findall(text)
    return found[-1] if found else None


def running_since_start(text: str, name: str) -> str | None:
    """:func:`running_identity` in a whole log: only what the process that wrote it last
    (its last "Started running") says counts."""
    return running_identity(text[text.rfind("Started running"):], name)


def reload_outcome(text: str, generation: str) -> str | None:
    """What a process did with reload *generation*, as its log *text* says: "reloaded",
    the cause of its refusal, or None (nothing about it yet). A generation is unique
    (glupy reload makes it from the clock), so the whole log may be searched."""
    if re.search(rf"glupy: reloaded module=\S+ generation={re.escape(generation)}\b", text):
        return "reloaded"
    refused = re.search(rf"glupy: reload of module=\S+ generation={re.escape(generation)} refused.*?: (.*)$",
                        text, re.M)
    return refused.group(1).strip() if refused else None
