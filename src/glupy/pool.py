"""The pool as it really is, node by node: what `glupy doctor VOLUME` reports and
what `glupy attach` checks before it changes anything.

Two questions are asked of every node through GlusterFS itself, not inferred from
this one:

* ``gluster system:: execute glupy report NAME=MODULE...`` runs ``peer_glupy``
  (glupy.peer) on every node of the pool: glupy's version, whether the bridge and
  the client filter are installed, and the identity of each translator's module
  there. A node without glupy fails the command, and glusterd names it.
* ``gluster --remote-host=HOST system:: getspec VOLUME`` fetches the client volfile
  HOST serves, as a client mounting from HOST would: does it carry the client-side
  translators?
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glupy import peer
from glupy.admin.glusterd import peer_execute, served_volfile, translated
from glupy.gluster import GlusterNode
from glupy.gluster.errors import GlusterError
from glupy.gluster.volfile import Volfile, VolfileError

FILTER_MISSING = "the client volfile filter is missing"


@dataclass
class Translator:
    """An attached translator as the volume records it."""

    name: str
    spec: str  # module[:Class]
    side: str
    identity: str = ""  # recorded at attach ("" if none)


@dataclass
class NodeState:
    """What one node of the pool has, and what is wrong there (each with its fix)."""

    host: str
    uuid: str
    facts: dict[str, str] = field(default_factory=dict)  # peer_glupy's report; empty if it could not run
    served: set[str] | None = None  # client-side translators in the client volfile it serves
    asked: bool = True  # False: peer_glupy was not run (another node failed the command)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (problem, fix)


def nodes(node: GlusterNode) -> dict[str, str]:
    """{uuid: host} of every node of the pool, this one included."""
    found = {node.uuid(): node.address}
    for p in node.peers():
        found[p.uuid] = p.hostname
    return found


def ask_every_node(node: GlusterNode, translators: list[Translator]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({uuid: {key: value}} from peer_glupy on every node, {host: why the command failed there})."""
    return peer_execute(node, "report", *(f"{t.name}={t.spec}" for t in translators))


def served_translators(node: GlusterNode, host: str, volume: str) -> set[str] | None:
    """Names of the translators in the client volfile *host* serves for *volume* (None: cannot fetch)."""
    try:
        return set(Volfile.parse(served_volfile(node, host, volume)).names())
    except (GlusterError, VolfileError):
        return None


def survey(node: GlusterNode, volume: str | None, translators: list[Translator]) -> list[NodeState]:
    """Every node of the pool with its problems for *translators* (of *volume*, if given)."""
    with translated(node, "cannot list the pool's nodes"):
        members = nodes(node)
    facts, failed = ask_every_node(node, translators)
    offline = offline_bricks(node, volume) if volume else {}
    states = []
    for uuid, host in members.items():
        state = NodeState(host, uuid, facts.get(uuid, {}))
        if host in failed or (not failed and not state.facts):
            why = failed.get(host, "no answer")
            state.problems.append((f"glupy is not installed ({why})",
                                   f"on {host}: install glupy (make install in a glupy checkout, with the "
                                   "Python environment the translators use)"))
        elif failed:
            state.asked = False  # glusterd runs the command everywhere or nowhere
        _check_facts(state, volume, translators)
        if offline.get(host):
            state.problems.append((f"bricks of {volume} offline: {' '.join(offline[host])}",
                                   f"once the problems above are fixed: gluster volume start {volume} force"))
        if volume and any(t.side == "client" for t in translators):
            state.served = served_translators(node, host, volume)
            for t in translators:
                if t.side == "client" and state.served is not None and t.name not in state.served:
                    state.problems.append((f"clients mounting from {host} do not get {t.name}",
                                           f"on {host}: glupy install --filter, then (anywhere) "
                                           f"glupy refresh {volume} {t.name}"))
        states.append(state)
    return states


def offline_bricks(node: GlusterNode, volume: str) -> dict[str, list[str]]:
    """{host: paths of its bricks of *volume* that are not online} ({} if the volume is stopped)."""
    from glupy.gluster import Volume

    vol = Volume(node, volume)
    try:
        info = vol.info()
        if not info.started:
            return {}
        online = {(b.brick.host, str(b.brick.path)) for b in vol.status().bricks if b.online}
    except GlusterError:
        return {}
    found: dict[str, list[str]] = {}
    for brick in info.bricks:
        if (brick.host, str(brick.path)) not in online:
            found.setdefault(brick.host, []).append(str(brick.path))
    return found


def _check_facts(state: NodeState, volume: str | None, translators: list[Translator]) -> None:
    facts, host = state.facts, state.host
    if not facts:
        return
    if facts.get("bridge") != "present":
        state.problems.append(("the bridge (xlator/user/glupy.so) is missing", f"on {host}: make install"))
    if facts.get("filter") != "present" and any(t.side == "client" for t in translators):
        state.problems.append((FILTER_MISSING, f"on {host}: glupy install --filter"))
    python = facts.get("python", "its Python")
    for t in translators:
        found = facts.get(f"module.{t.name}", "missing: not reported")
        if found.startswith("missing: "):
            state.problems.append((f"{t.name}: {found[9:]}",
                                   f"on {host}: install the package of {t.spec.partition(':')[0]} into {python}"))
        elif volume and t.side == "server" and facts.get(f"alias.{t.name}") == "missing":
            state.problems.append((f"{t.name}: xlator/user/{t.name}.so is missing (its bricks cannot load it)",
                                   f"from any node: gluster system:: execute {peer.COMMAND} alias {t.name}; or on "
                                   f"{host}: glupy install --filter, and its filter makes it at the next volume set"))
        elif t.identity and found != t.identity:
            refresh = f"glupy refresh {volume} {t.name}" if volume else "glupy refresh VOLUME NAME"
            state.problems.append((f"{t.name}: module is {found}, the volume was attached with {t.identity}",
                                   f"on {host}: install the recorded version, or after upgrading every host: "
                                   f"{refresh}"))


def attach_check(node: GlusterNode, translator: Translator) -> dict[str, list[str]]:
    """{host: why it cannot run *translator*} for every node of the pool that cannot
    (empty: all can). Each reason is ``problem (fix)``.

    The identity expected is the one this node has (attach records it); this node's
    own client filter does not count (attach installs it here)."""
    found: dict[str, list[str]] = {}
    for state in survey(node, None, [translator, *_guard_of(translator)]):
        for problem, fix in state.problems:
            if state.host == node.address and problem == FILTER_MISSING:
                continue
            found.setdefault(state.host, []).append(f"{problem} ({fix})")
    return found


def attach_problems(node: GlusterNode, translator: Translator) -> list[str]:
    """Why some node of the pool cannot run *translator* (one ``HOST: problem (fix)``
    line per problem; empty: all can)."""
    return [f"{host}: {why}" for host, reasons in attach_check(node, translator).items() for why in reasons]


def _guard_of(translator: Translator) -> list[Translator]:
    """The bricks' guard a client-side translator brings (its class's ``bypass_guard``):
    every node must be able to run it too."""
    if translator.side != "client":
        return []
    from glupy import loader

    try:
        if not getattr(loader.resolve(translator.spec), "bypass_guard", None):
            return []
        from glupy.translators.guard import Guard

        return [Translator(f"{translator.name}-guard", "glupy.translators.guard", "server", loader.identity(Guard))]
    except Exception:  # noqa: BLE001 - attach already checked the class; a guard that fails shows in its trial
        return []


def alias_everywhere(node: GlusterNode, name: str) -> str:
    """``xlator/user/NAME.so`` (the bridge under the translator's name) on every node of
    the pool, for their bricks to load; "" if done, else why not (which nodes).

    glusterd runs ``system:: execute`` on every node or on none: while one node lacks
    ``peer_glupy`` this makes the alias nowhere. Nodes with glupy's volfile filter do
    not need it: their filter makes it when glusterd writes the brick volfiles with
    NAME (glupy.volfile_filter); this is the way for nodes without the filter."""
    _, failed = peer_execute(node, "alias", name, timeout=120)
    return "; ".join(f"{host} ({why})" for host, why in failed.items())
