"""Attach, detach, list, refresh and reload glupy translators on a volume, on either
side, through the :class:`~glupy.admin.side.Side` interface.

Every function raises :class:`~glupy.errors.AdminError` with a one-line message
for failures a user can fix; an attach that cannot go through changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from glupy.admin.client import ClientSide
from glupy.admin.glusterd import volume_info, volume_names, volume_options
from glupy.admin.options import is_on
from glupy.admin.server import ServerSide
from glupy.admin.side import AttachPlan, DetachResult, Entry, Side
from glupy.admin.translators import (
    check_name,
    default_name,
    dry_run,
    guard_name,
    installed_identity,
    require_bridge,
    validate_translator,
)
from glupy.errors import AdminError
from glupy.gluster import GlusterNode

SERVER = ServerSide()
CLIENT = ClientSide()
#: the sides, in the order ``glupy list`` shows them
SIDES: dict[str, Side] = {SERVER.name: SERVER, CLIENT.name: CLIENT}

GUARD_MODULE = "glupy.translators.guard"


def side_named(name: str) -> Side:
    """The side ``--side NAME`` means; AdminError for anything but server or client."""
    try:
        return SIDES[name]
    except KeyError:
        raise AdminError(f"--side must be server or client, not {name!r}") from None


def attached_side(options: Mapping[str, str], name: str) -> Side | None:
    """The side of the volume (its *options*) that has translator *name*, if any."""
    return next((side for side in SIDES.values() if side.has(options, name)), None)


def _attached(options: Mapping[str, str], volume: str, name: str) -> tuple[Side, str, dict[str, str]]:
    """(side, module, options) of translator *name* as *volume* records it."""
    for side in SIDES.values():
        found = side.attached(options, name)
        if found is not None:
            return side, *found
    raise AdminError(f"volume {volume} has no glupy translator {name}")


# ------------------------------------------------------------------ attach

def plan_attach(node: GlusterNode, volume: str, spec: str, *, name: str | None = None, side: str = "server",
                after: str | None = None, options: Mapping[str, str] | None = None) -> AttachPlan:
    """Check everything and return what attach would do; changes nothing."""
    options = dict(options or {})
    where = side_named(side)
    name = name or default_name(spec)
    check_name(name)
    cls = validate_translator(spec, options)
    require_bridge()
    info = volume_info(node, volume)
    for option, why in getattr(cls, "refused_volume_options", {}).items():  # e.g. crypt: cache-invalidation
        if is_on(info.options.get(option, "off")):
            raise AdminError(f"volume {volume} has {option} on, which {cls.__name__} cannot work with ({why}): "
                             f"turn it off first: gluster volume set {volume} {option} off")
    after = where.place(cls, after)
    from glupy import loader

    options.setdefault("identity", loader.identity(cls))
    dry_run(spec, options, name)
    opts = info.options
    where.check_attach(node, volume, name, after, opts)
    guard = where.guard_key(cls)
    if guard:
        try:
            check_name(guard_name(name))
        except AdminError as error:
            raise AdminError(f"{error} (the bricks' guard of {name})") from None
        if SERVER.has(opts, guard_name(name)):
            raise AdminError(f"volume {volume} already has a server-side translator {guard_name(name)}")
    plan = AttachPlan(volume, name, spec, where.name, after or where.default_after,
                      options, cls.__name__, info.started, guard, dict(opts))
    if guard:  # the guard's own checks and trial start, before anything changes
        plan.guard_plan = plan_attach(node, volume, GUARD_MODULE, name=guard_name(name),
                                      side=SERVER.name, options={"key": guard})
        plan.guard_plan.client = plan
    return plan


def plan_guard(node: GlusterNode, plan: AttachPlan) -> AttachPlan:
    """The server-side guard that refuses data FOPs not marked by *plan*'s translator,
    once *plan* (client side) is applied. If the guard cannot be attached, or later
    cannot start in the bricks (:func:`apply_attach`, :func:`roll_back_attach`),
    *plan* is rolled back with it: no client-side translator without its guard."""
    guard = plan.guard_plan
    if guard is None:
        guard = plan_attach(node, plan.volume, GUARD_MODULE, name=guard_name(plan.name),
                            side=SERVER.name, options={"key": plan.guard})
    guard.client = plan
    guard.forced = dict(plan.forced)
    return guard


def apply_attach(node: GlusterNode, plan: AttachPlan) -> list[str]:
    """Store the translator in glusterd. Returns notes for the user. Rolls back on failure
    (a guard's client-side translator too)."""
    try:
        return side_named(plan.side).attach(node, plan)
    except AdminError:
        if plan.client is not None:  # a guard: its client-side translator goes too
            try:
                roll_back_attach(node, plan.client)
            except AdminError:
                pass
        raise


def roll_back_attach(node: GlusterNode, plan: AttachPlan) -> list[str]:
    """Undo an applied attach whose translator could not start (the bricks, or a trial
    mount): the previous configuration, and for the bricks the running state they had.
    Returns warnings."""
    return side_named(plan.side).roll_back(node, plan)


# ------------------------------------------------------------------ detach

def detach(node: GlusterNode, volume: str, name: str, *, restart: bool = False) -> DetachResult:
    """Remove translator *name* (either side) from the volume's configuration.

    Server side this restarts a started volume, so *restart* must be True for one
    (see :meth:`glupy.admin.server.ServerSide.detach`); client side it does not.
    A client-side translator's guard on the bricks is named in ``guard_left``.
    """
    info = volume_info(node, volume)
    side = attached_side(info.options, name)
    if side is None:
        known = [e.name for s in SIDES.values() for e in s.entries(volume, info.options)]
        raise AdminError(f"volume {volume} has no glupy translator {name} (it has: {', '.join(known) or 'none'})")
    result = side.detach(node, info, name, restart=restart)
    if side.brings_guards and SERVER.has(volume_options(node, volume), guard_name(name)):
        result.guard_left = guard_name(name)
    return result


# ------------------------------------------------------------------ list

def list_translators(node: GlusterNode, volume: str | None = None) -> list[Entry]:
    """The glupy translators attached to *volume* (default: every volume), with their state."""
    entries: list[Entry] = []
    for vol in [volume] if volume else volume_names(node):
        info = volume_info(node, vol)
        for side in SIDES.values():
            found = side.entries(vol, info.options)
            side.fill_states(node, info, found)
            entries += found
    return entries


def attached_translators(node: GlusterNode, volume: str):
    """The glupy translators of *volume* as glupy.pool sees them (name, module, side, identity)."""
    from glupy import pool

    opts = volume_options(node, volume)
    return [pool.Translator(e.name, f"{e.module.partition(':')[0]}:{e.options['class']}" if e.options.get("class")
                            else e.module, e.side, e.options.get("identity", ""))
            for side in SIDES.values() for e in side.entries(volume, opts)]


# ------------------------------------------------------------------ refresh / reload

@dataclass
class Refresh:
    """What ``glupy refresh`` recorded."""

    side: str
    old: str
    new: str
    started: bool


def refresh_identity(node: GlusterNode, volume: str, name: str) -> Refresh:
    """Record the identity of translator *name*'s module as installed here (after an
    upgrade on every host): processes that load it from then on check against it."""
    info = volume_info(node, volume)
    side, module, own = _attached(info.options, volume, name)
    old, new = own.get("identity", ""), installed_identity(module, own)
    side.record(node, info, name, {"identity": new})
    return Refresh(side.name, old, new, info.started)


@dataclass
class Reload:
    """What ``glupy reload`` did."""

    side: str
    generation: str
    identity: str
    # this node's processes running it (brick path, client mount point) -> "reloaded" or why not
    processes: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> dict[str, str]:
        """{process: why} of those that kept the old code."""
        return {p: why for p, why in self.processes.items() if why != "reloaded"}


@dataclass
class ReloadPlan:
    """What a reload will do, the new version checked here (see :func:`plan_reload`)."""

    volume: str
    name: str
    side: str
    module: str
    identity: str  # of the module as installed here: what every process must find


def plan_reload(node: GlusterNode, volume: str, name: str) -> ReloadPlan:
    """Check the new version of translator *name* as installed here (import, options,
    a trial start off the volume) and return what :func:`apply_reload` will record;
    changes nothing."""
    info = volume_info(node, volume)
    side, module, own = _attached(info.options, volume, name)
    identity = installed_identity(module, own)
    dry_run(module, {**{k: v for k, v in own.items() if k != "generation"}, "identity": identity}, name)
    return ReloadPlan(volume, name, side.name, module, identity)


def apply_reload(node: GlusterNode, plan: ReloadPlan) -> Reload:
    """Make every process running the translator import its code again and switch to a
    new instance, without a restart (option ``generation``), the new identity recorded
    with it. Waits for each process of this node running it (bricks; FUSE clients
    whose graph has it) to log that it reloaded or why it refused (processes of other
    nodes switch as glusterd tells them)."""
    info = volume_info(node, plan.volume)
    generation = str(time.time_ns())
    processes = SIDES[plan.side].reload(node, info, plan.name, {"identity": plan.identity, "generation": generation})
    return Reload(plan.side, generation, plan.identity, processes)


def plan_new_version(node: GlusterNode, volume: str, spec: str, *, name: str | None = None, side: str = "server",
                     after: str | None = None, options: Mapping[str, str] | None = None) -> ReloadPlan | None:
    """``glupy attach`` of a translator the volume has: the :func:`plan_reload` that
    switches it to the version installed here, if *name* is attached on *side* with
    the same module and options (the attach says where and how it runs; only the
    code is new). None if the volume has no translator *name* (a plain attach).
    AdminError if it has, but otherwise attached, or already with this version."""
    name = name or default_name(spec)
    validate_translator(spec, dict(options or {}))  # a module that cannot be attached is refused first
    info = volume_info(node, volume)
    found = side_named(side).attached(info.options, name)
    if found is None:
        return None
    module, recorded = found
    own = {k: v for k, v in recorded.items() if k not in ("identity", "generation")}
    if module != spec or own != dict(options or {}) or after:
        raise AdminError(f"volume {volume} already has a {side}-side translator {name} ({module}"
                         + "".join(f" -o {k}={v}" for k, v in sorted(own.items())) + "): attach with the same "
                         "module and options, without --after, to switch it to new code; else detach it first "
                         "or choose another --name")
    plan = plan_reload(node, volume, name)
    if plan.identity == recorded.get("identity"):
        raise AdminError(f"volume {volume} already runs {name} with this version ({plan.identity}): nothing "
                         f"to do (glupy reload {volume} {name} imports it again anyway)")
    return plan


def reload_translator(node: GlusterNode, volume: str, name: str) -> Reload:
    """:func:`plan_reload`, then :func:`apply_reload` (``glupy reload`` asks the pool in between)."""
    return apply_reload(node, plan_reload(node, volume, name))
