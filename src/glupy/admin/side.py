"""The one interface of the two places a glupy translator runs on a volume.

* **server side**: in every brick's graph, recorded as GlusterFS's own
  ``user.xlator.NAME`` keys, loaded through the alias ``xlator/user/NAME.so``
  (:mod:`glupy.admin.server`);
* **client side**: in the FUSE client graph, recorded as ``user.glupy.client.NAME``
  keys that glupy's volfile filter reads (:mod:`glupy.admin.client`).

Each is a :class:`Side`; :mod:`glupy.admin.operations` does attach, detach, list,
refresh and reload through this interface without asking which side it is.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from glupy.gluster import GlusterNode, VolumeInfo


@dataclass
class Entry:
    """One attached glupy translator (a row of ``glupy list``)."""

    volume: str
    name: str
    module: str
    cls: str
    side: str
    position: str
    options: dict[str, str] = field(default_factory=dict)
    state: str = ""
    # this node's processes running it: brick path or client mount point -> identity of the code it runs
    running: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The entry as JSON-ready data (``cls`` named ``class``)."""
        d = asdict(self)
        d["class"] = d.pop("cls")
        return d


@dataclass
class AttachPlan:
    """What an attach will do, every check passed (see operations.plan_attach)."""

    volume: str
    name: str
    spec: str
    side: str
    after: str
    options: dict[str, str]
    cls_name: str = ""
    started: bool = False
    guard: str = ""  # client side: the class's bypass_guard key (the bricks get a guard)
    before: dict[str, str] = field(default_factory=dict)  # the volume's options before this attach
    client: AttachPlan | None = None  # a guard: the client-side attach it protects (rolled back with it)
    guard_plan: AttachPlan | None = None  # client side with a guard: the guard's, checked before any change
    # --force: {host: why} of the nodes the pool check named (glupy.pool.attach_check); their
    # bricks may fail to start the translator (fail closed) without the attach being rolled back
    forced: dict[str, str] = field(default_factory=dict)


@dataclass
class DetachResult:
    """What a detach did."""

    side: str
    started: bool
    restarted: bool = False
    filter_removed: bool = False  # client side: no client-side translator left, filter removed
    alias_removed: bool = False  # server side: no volume uses NAME any more, user/NAME.so removed
    guard_left: str = ""  # client side: the bricks' guard that still refuses FOPs without it
    warnings: list[str] = field(default_factory=list)


class Side(ABC):
    """Where a translator runs, and how glusterd records it there."""

    #: "server" or "client" (``--side``)
    name: ClassVar[str]
    #: what runs it, for messages: "bricks" or "clients"
    runs_on: ClassVar[str]
    #: where it goes when --after is not given
    default_after: ClassVar[str]
    #: whether detaching it restarts a started volume
    detach_restarts: ClassVar[bool]
    #: whether its translators may bring a guard on the bricks (:meth:`guard_key`)
    brings_guards: ClassVar[bool] = False

    @abstractmethod
    def entries(self, volume: str, options: Mapping[str, str]) -> list[Entry]:
        """This side's glupy translators among a volume's options."""

    @abstractmethod
    def attached(self, options: Mapping[str, str], name: str) -> tuple[str, dict[str, str]] | None:
        """(module, options) of translator *name* if this side of the volume has it."""

    def has(self, options: Mapping[str, str], name: str) -> bool:
        """True if this side of the volume (its *options*) has translator *name*."""
        return self.attached(options, name) is not None

    def place(self, cls: type, after: str | None) -> str | None:
        """Where the class goes when attached with *after* (--after or None)."""
        return after

    def guard_key(self, cls: type) -> str:
        """The key of the bricks' guard this class wants ("" for none)."""
        return ""

    @abstractmethod
    def check_attach(self, node: GlusterNode, volume: str, name: str, after: str | None,
                     options: Mapping[str, str]) -> None:
        """AdminError if *name* cannot be attached here (taken, or *after* not found)."""

    @abstractmethod
    def attach(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        """Store *plan* in glusterd; returns notes for the user. On failure, what was
        stored is taken back and the AdminError raised."""

    @abstractmethod
    def roll_back(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        """Undo an applied *plan* whose translator could not start; returns warnings."""

    @abstractmethod
    def detach(self, node: GlusterNode, info: VolumeInfo, name: str, *, restart: bool) -> DetachResult:
        """Remove translator *name* from the volume (*restart*: a started volume may restart)."""

    @abstractmethod
    def fill_states(self, node: GlusterNode, info: VolumeInfo, entries: list[Entry]) -> None:
        """Set each entry's ``state`` (and what it runs, where this node can tell)."""

    @abstractmethod
    def record(self, node: GlusterNode, info: VolumeInfo, name: str, changes: Mapping[str, str]) -> None:
        """Set options of attached translator *name* (its identity, its generation)."""

    def reload(self, node: GlusterNode, info: VolumeInfo, name: str,
               changes: Mapping[str, str]) -> dict[str, str]:
        """:meth:`record` a new generation; returns {process: "reloaded" or why not}
        for the processes of this node it waits for (:meth:`process_logs`)."""
        logs = self.process_logs(node, info, name) if info.started else {}
        sizes = {label: log.stat().st_size for label, log in logs.items()}
        self.record(node, info, name, changes)
        return wait_reloaded(logs, sizes, changes["generation"])

    def process_logs(self, node: GlusterNode, info: VolumeInfo, name: str) -> dict[str, Path]:
        """{process: its log} for the processes of this node that run translator *name*
        (a brick's path, a client's mount point); none by default."""
        return {}


# ------------------------------------------------------------------ what the processes log

#: seconds glupy reload waits for each process of this node to say whether it switched
RELOAD_WAIT = 30


def wait_reloaded(logs: Mapping[str, Path], sizes: Mapping[str, int], generation: str) -> dict[str, str]:
    """{process: "reloaded" or the refusal} from what each log gained since *sizes*:
    the line the bridge writes when a new ``generation`` reached its reconfigure()."""
    done = re.compile(rf"glupy: reloaded module=\S+ generation={generation}\b")
    refused = re.compile(rf"glupy: reload of module=\S+ generation={generation} refused.*?: (.*)$", re.M)
    state: dict[str, str] = {}
    deadline = time.monotonic() + RELOAD_WAIT
    while len(state) < len(logs) and time.monotonic() < deadline:
        for label, log in logs.items():
            if label in state:
                continue
            with log.open("rb") as f:
                f.seek(sizes[label])
                text = f.read().decode(errors="replace")
            if done.search(text):
                state[label] = "reloaded"
            elif m := refused.search(text):
                state[label] = m.group(1).strip()
        if len(state) < len(logs):
            time.sleep(0.1)
    # in the order of *logs* (a volume's bricks in order), not of the answers
    return {label: state.get(label, f"no answer within {RELOAD_WAIT} s (see {log})") for label, log in logs.items()}


def running_identity(text: str, name: str) -> str | None:
    """The identity of the code translator *name* runs, as a process's log *text* (since
    the process started) tells: the line each start or accepted reload logs
    (lifecycle.announce), the last one. None: no such line."""
    # a brick's xlator is named VOLUME-NAME, a client's NAME
    line = re.compile(rf"\] \S+ \[[^]]*\] \S*-glupy\.(?:\S*-)?{re.escape(name)}: \S+ \((\S+)\) handles ")
    found = line.findall(text)
    return found[-1] if found else None
