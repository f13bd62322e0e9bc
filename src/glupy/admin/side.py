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

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
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
    running: dict[str, str] = field(default_factory=dict)  # this node's bricks: path -> identity run

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
        for the processes it waits for (none by default)."""
        self.record(node, info, name, changes)
        return {}
