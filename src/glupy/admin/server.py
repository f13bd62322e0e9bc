"""Server side: a glupy translator in every brick's graph.

GlusterFS's own mechanism: ``user.xlator.NAME`` (the translator it sits above),
``user.xlator.NAME.module`` and ``user.xlator.NAME.OPTION`` keys, and the brick
loading ``xlator/user/NAME.so``, an alias of the bridge (made here, on the other
nodes by ``peer_glupy alias`` or their volfile filter). The bricks load it when
they (re)start; ``reload`` switches running bricks to new code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from glupy.admin.glusterd import (
    online_bricks,
    peer_execute,
    restart_volume_forced,
    stop_after_failed_start,
    volume_info,
    volume_names,
    volume_options,
    volume_set,
)
from glupy.admin.logs import running_since_start
from glupy.admin.options import drop_options, restore_options
from glupy.admin.side import RELOAD_WAIT, AttachPlan, DetachResult, Entry, Side
from glupy.admin.translators import class_name, translator_error
from glupy.errors import AdminError
from glupy.gluster import Brick, GlusterNode, VolumeInfo, xlators

SERVER_PREFIX = "user.xlator."
DEFAULT_SERVER_POSITION = "posix"


class ServerSide(Side):
    """Translators on the bricks (``user.xlator.NAME``)."""

    name = "server"
    runs_on = "bricks"
    default_after = DEFAULT_SERVER_POSITION
    detach_restarts = True

    def entries(self, volume: str, options: Mapping[str, str]) -> list[Entry]:
        return server_entries(volume, options)

    def attached(self, options: Mapping[str, str], name: str) -> tuple[str, dict[str, str]] | None:
        base = f"{SERVER_PREFIX}{name}"
        if base not in options:
            return None
        own = {k[len(base) + 1:]: v for k, v in options.items() if k.startswith(base + ".")}
        return own.pop("module", ""), own

    def check_attach(self, node: GlusterNode, volume: str, name: str, after: str | None,
                     options: Mapping[str, str]) -> None:
        if self.has(options, name):
            raise AdminError(f"volume {volume} already has a server-side translator {name}: detach it first "
                             "or choose another --name")
        alias = xlators.alias_path(name)
        if (alias.exists() or alias.is_symlink()) and not (alias.is_symlink() and alias.readlink() == Path(xlators.BRIDGE)):
            raise AdminError(f"{alias} exists and is not glupy's: choose another --name")

    def attach(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        notes: list[str] = []
        done: list[str] = []
        try:
            xlators.ensure_alias(plan.name)
            from glupy import peer, pool

            # the bricks of other hosts load it too: their volfile filter makes user/NAME.so
            # when glusterd writes the brick volfiles below; peer_glupy for those without it
            missing = pool.alias_everywhere(node, plan.name)
            if missing:
                notes.append(f"`gluster system:: execute {peer.COMMAND} alias {plan.name}` failed: "
                             f"{missing}; nodes with glupy's volfile filter make user/{plan.name}.so themselves")
            base = f"{SERVER_PREFIX}{plan.name}"
            keys = {base: plan.after, f"{base}.module": plan.spec}
            keys.update({f"{base}.{k}": v for k, v in plan.options.items()})
            # one command, so that every brick volfile glusterd writes has the module: a
            # node's filter makes user/NAME.so only for a translator with one, and a running
            # brick given `type user/NAME` without the .so fails to parse it, after which
            # GlusterFS 10.3's parser crashed the brick at its next volfile (graph.y keeps
            # the failed parse's state: strlen of a freed volume name in graphyyerror)
            volume_set(node, plan.volume, *(word for key, value in keys.items() for word in (key, value)))
            done.extend(keys)
        except AdminError:
            if done:
                try:  # GlusterFS 10 cannot reset user.* keys one by one (see glupy.admin.options)
                    drop_options(node, plan.volume, done, restart=False)
                except AdminError:
                    pass
            remove_alias_if_unused(node, plan.name)
            raise
        return notes

    def roll_back(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        """After bricks failed to start with the new translator: its keys dropped, the
        volume back in the running state it had (bricks restarted without it)."""
        stop_after_failed_start(node, plan.volume)
        # restart=True: reset while stopped, start again, then the options that need a
        # running volume (granular-entry-heal); a volume that was stopped stays stopped
        if plan.client is not None:  # a guard: the client-side translator it protects goes too
            warnings = restore_options(node, plan.volume, plan.client.before, restart=plan.started)
        else:
            base = f"{SERVER_PREFIX}{plan.name}"
            keys = [k for k in volume_options(node, plan.volume) if k == base or k.startswith(base + ".")]
            warnings = drop_options(node, plan.volume, keys, restart=plan.started)
        remove_alias_if_unused(node, plan.name)
        return warnings

    def detach(self, node: GlusterNode, info: VolumeInfo, name: str, *, restart: bool) -> DetachResult:
        """Drop the keys (``volume reset all`` and the others set again, see
        glupy.admin.options) while the volume is stopped, so a started volume restarts,
        which the bricks need anyway to drop the translator: *restart* must be True for
        a started volume. ``user/NAME.so`` goes too if no volume uses NAME."""
        if info.started and not restart:
            raise AdminError(f"detaching {name} from the bricks of {info.name} needs a volume restart: "
                             "confirm it or add --yes")
        base = f"{SERVER_PREFIX}{name}"
        keys = [base] + [k for k in info.options if k.startswith(base + ".")]
        warnings = drop_options(node, info.name, keys, restart=info.started)
        result = DetachResult("server", info.started, restarted=info.started, warnings=warnings)
        result.alias_removed = remove_alias_if_unused(node, name)
        return result

    def fill_states(self, node: GlusterNode, info: VolumeInfo, entries: list[Entry]) -> None:
        texts = brick_log_texts(node, info) if entries and info.started else {}  # each log read once
        labels = list(map(brick_label, info.bricks))
        for e in entries:
            e.state = server_state(node, info, e.name, texts)
            if info.started:
                e.running = running_identities(node, info, e.name, texts)
        # the bricks whose logs are not here: their nodes are asked once for every translator
        elsewhere = [e for e in entries if info.started and any(label not in e.running for label in labels)]
        if elsewhere:
            facts = _other_nodes_running(node, info.name, [e.name for e in elsewhere])
            for e in elsewhere:
                e.running.update({label: facts[(e.name, label)] for label in labels
                                  if label not in e.running and (e.name, label) in facts})

    def record(self, node: GlusterNode, info: VolumeInfo, name: str, changes: Mapping[str, str]) -> None:
        base = f"{SERVER_PREFIX}{name}"
        volume_set(node, info.name, *(word for k, v in changes.items() for word in (f"{base}.{k}", v)))

    def process_logs(self, node: GlusterNode, info: VolumeInfo, name: str) -> dict[str, Path]:
        """The bricks of this node (a brick whose log is not here is another node's)."""
        logs = {brick_label(b): node.brick_log(b.path) for b in info.bricks}
        return {label: log for label, log in logs.items() if log.exists()}

    def reload(self, node: GlusterNode, info: VolumeInfo, name: str,
               changes: Mapping[str, str]) -> dict[str, str]:
        """Side.reload for this node's bricks (their logs), then the other nodes' bricks
        as their nodes read their logs (peer_glupy bricks, through glusterd), in the
        volume's order of bricks."""
        here = super().reload(node, info, name, changes)
        others = [label for label in map(brick_label, info.bricks) if label not in here] if info.started else []
        if not others:
            return here
        there = other_nodes_reloaded(node, info.name, name, changes["generation"], others)
        return {label: here.get(label) or there[label] for label in map(brick_label, info.bricks)}


def server_entries(volume: str, options: Mapping[str, str]) -> list[Entry]:
    """Server-side glupy translators among a volume's options (``user.xlator.NAME`` with a module)."""
    entries = []
    for key, value in options.items():
        if not key.startswith(SERVER_PREFIX):
            continue
        name = key[len(SERVER_PREFIX):]
        if "." in name:
            continue
        sub = {k[len(key) + 1:]: v for k, v in options.items() if k.startswith(key + ".")}
        module = sub.pop("module", "")
        if not module:
            continue  # a user xlator that is not glupy's
        entries.append(Entry(volume, name, module, class_name(module, sub), "server", f"above {value}", sub))
    return sorted(entries, key=lambda e: e.name)


# ------------------------------------------------------------------ what the bricks of this node run

def brick_label(brick: Brick) -> str:
    """How glupy names a brick to people: GlusterFS's own ``HOST:PATH``."""
    return str(brick)


def brick_facts(node: GlusterNode, volume: str, name: str, generation: str | None = None) -> dict[str, str]:
    """{"running.HOST:PATH" or "reload.HOST:PATH": value} of the bricks of *volume* on every
    node, as each node reads its own bricks' logs (``peer_glupy bricks``, glupy.peer);
    {"failed.HOST": why} for a node where the command failed."""
    facts, failed = peer_execute(node, "bricks", volume, name, *([generation] if generation else []))
    merged = {f"failed.{host}": why for host, why in failed.items()}
    for node_facts in facts.values():
        merged.update(node_facts)
    return merged


def _other_nodes_running(node: GlusterNode, volume: str, names: list[str]) -> dict[tuple[str, str], str]:
    """{(translator, "HOST:PATH"): identity} for the bricks of *volume* that run one of the
    translators *names*, as their nodes read their logs (``peer_glupy running``, one
    question to the pool for all of them); nothing for a node that cannot answer."""
    facts, _failed = peer_execute(node, "running", volume, *names)
    found: dict[tuple[str, str], str] = {}
    for node_facts in facts.values():
        for key, value in node_facts.items():
            name, _, label = key.removeprefix("running.").partition(".")
            if value not in ("-", "no log"):
                found[(name, label)] = value
    return found


def other_nodes_reloaded(node: GlusterNode, volume: str, name: str, generation: str,
                         labels: list[str]) -> dict[str, str]:
    """{"HOST:PATH": "reloaded" or why not} for the bricks *labels* (of other nodes), asked
    of their nodes until each has answered or RELOAD_WAIT seconds have passed."""
    deadline = time.monotonic() + RELOAD_WAIT
    while True:
        facts = brick_facts(node, volume, name, generation)
        failed = "; ".join(f"{k.removeprefix('failed.')}: {v}" for k, v in facts.items() if k.startswith("failed."))
        outcomes = {label: facts.get(f"reload.{label}", "pending") for label in labels}
        if failed or "pending" not in outcomes.values() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    why = f"no answer (peer_glupy bricks failed: {failed})" if failed else f"no answer within {RELOAD_WAIT} s"
    return {label: why if v == "pending" else v for label, v in outcomes.items()}


def brick_log_texts(node: GlusterNode, info: VolumeInfo) -> dict[str, str | None]:
    """{brick path: its log on this node (None: no log here)}, each read once."""
    texts: dict[str, str | None] = {}
    for brick in info.bricks:
        try:
            texts[str(brick.path)] = node.brick_log(brick.path).read_text(errors="replace")
        except OSError:
            texts[str(brick.path)] = None
    return texts


def _last_graph(text: str | None) -> str | None:
    """The last graph a brick log shows (None: no log, or no graph in it)."""
    at = -1 if text is None else text.rfind("Final graph:")
    return None if text is None or at < 0 else text[at:]


def server_state(node: GlusterNode, info: VolumeInfo, name: str,
                 texts: Mapping[str, str | None] | None = None) -> str:
    """Whether this node's bricks run translator *name*: "active", "restart needed",
    "active on N/M bricks", "configured" (no brick log here) or "volume stopped"."""
    if not info.started:
        return "volume stopped"
    texts = brick_log_texts(node, info) if texts is None else texts
    # a brick is this node's if this node logs it (its host may be a name, not the node's address)
    graphs = [g for b in info.bricks if (g := _last_graph(texts.get(str(b.path)))) is not None]
    if not graphs:
        return "configured"
    loaded = sum(bool(re.search(rf"volume \S*{re.escape(name)}\n", g)) for g in graphs)
    if loaded == len(graphs):
        return "active"
    return "restart needed" if loaded == 0 else f"active on {loaded}/{len(graphs)} bricks"


def running_identities(node: GlusterNode, info: VolumeInfo, name: str,
                       texts: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """{"HOST:PATH": identity of the code it runs} for the bricks of this node that run
    translator *name*, from each log since the brick process started (logs.running_since_start)."""
    texts = brick_log_texts(node, info) if texts is None else texts
    running = {}
    for brick in info.bricks:
        text = texts.get(str(brick.path))
        if text is not None and (found := running_since_start(text, name)):
            running[brick_label(brick)] = found
    return running


def server_start_error(node: GlusterNode, volume: str, name: str) -> str:
    """Why the bricks did not start translator *name*: the bridge's line in their logs."""
    logs = [node.brick_log(b.path) for b in volume_info(node, volume).bricks]
    return translator_error(logs) or f"see the brick logs under {node.logdir / 'bricks'}"


# ------------------------------------------------------------------ restarts and the alias

def restart_forced(node: GlusterNode, plan: AttachPlan, timeout: float = 60) -> dict[str, list[str]]:
    """Restart *plan*'s (started) volume after a ``--force`` attach: stop, ``start force``
    (glusterd starts every brick it can and marks the volume started even if some fail,
    glusterd_start_volume in GlusterFS 10.3), then wait for every brick not on a host
    of ``plan.forced`` to come online.

    Returns {host: paths of its bricks that stay down} for the hosts of ``plan.forced``
    (they cannot load the translator: fail closed). Raises AdminError if a brick of any
    other host is not online: the caller rolls back."""
    restart_volume_forced(node, plan.volume)
    deadline = time.monotonic() + timeout
    grace = None  # a forced host's bricks that can start get a few seconds more
    bricks = volume_info(node, plan.volume).bricks
    while True:
        online = online_bricks(node, plan.volume)
        down: dict[str, list[str]] = {}
        for brick in bricks:
            if (brick.host, str(brick.path)) not in online:
                down.setdefault(brick.host, []).append(str(brick.path))
        others = {h: p for h, p in down.items() if h not in plan.forced}
        now = time.monotonic()
        if not others:
            if not down:
                return {}
            grace = grace or now + 5
            if now >= grace:
                return down
        elif now >= deadline:
            raise AdminError("bricks of " + "; ".join(f"{h} ({' '.join(p)})" for h, p in others.items())
                             + f" not online after {timeout:.0f} s")
        time.sleep(0.5)


def remove_alias_if_unused(node: GlusterNode, name: str) -> bool:
    """Remove ``user/NAME.so`` unless a volume of this glusterd still uses NAME; True if removed."""
    try:
        for vol in volume_names(node):
            if f"{SERVER_PREFIX}{name}" in volume_options(node, vol):
                return False
    except AdminError:
        return False
    xlators.remove_alias(name)
    return True
