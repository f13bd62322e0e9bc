"""What the ``glupy`` command does, as functions (the CLI in :mod:`glupy.cli` only parses and prints).

Every function raises :class:`AdminError` with a one-line message for failures
a user can fix; the CLI prints it and exits non-zero.

Which glusterd: :func:`resolve_node` gives a :class:`~glupy.gluster.GlusterNode`
for either the system glusterd (``/var/lib/glusterd``, ``/var/run/glusterd.socket``)
or an isolated node directory made by :class:`GlusterNode` (``--node DIR``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from glupy import volfile_filter as gfilter
from glupy.errors import AdminError, OptionError, TranslatorLoadError
from glupy.gluster import FuseMount, GlusterNode, Volume, _proc
from glupy.gluster import xlators
from glupy.gluster.errors import GlusterCommandError, GlusterError, GlusterNotInstalledError
from glupy.gluster.volfile import Volfile, VolfileError, glupy_xlator

SERVER_PREFIX = "user.xlator."
DEFAULT_SERVER_POSITION = "posix"
MOUNT_STATE_DIR = Path("/run/glupy/mounts")
INSTALL_HINT = "apt-get install glusterfs-server glusterfs-client libglusterfs-dev"


# ------------------------------------------------------------------ small pure helpers

def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` -> {KEY: VALUE}; AdminError on a malformed pair."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AdminError(f"bad option {pair!r}: use -o KEY=VALUE")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", key):
            raise AdminError(f"bad option name {key!r}: use letters, digits, '-', '_' and '.'")
        if any(c.isspace() for c in value):
            raise AdminError(f"option {key}: values with spaces cannot be stored in a volfile")
        if key in result:
            raise AdminError(f"option {key} given twice")
        result[key] = value
    return result


def group_with_options(args: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """``--with A -o k=v --with B`` (raw command-line words) -> [(A, {k: v}), (B, {})].

    Each ``-o``/``--option`` applies to the ``--with`` before it; an ``-o`` before
    any ``--with`` is an error. Other words are ignored.
    """
    groups: list[tuple[str, list[str]]] = []
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        value: str | None = None
        name = word
        if word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
        elif word.startswith("-o") and len(word) > 2 and not word.startswith("--"):
            name, value = "-o", word[2:]
        if name in ("--with", "-o", "--option"):
            if value is None:
                if i + 1 >= len(words):
                    raise AdminError(f"{name} needs a value")
                value = words[i + 1]
                i += 1
            if name == "--with":
                groups.append((value, []))
            elif not groups:
                raise AdminError(f"-o {value}: put it after the --with MODULE it applies to")
            else:
                groups[-1][1].append(value)
        elif word == "--":
            break
        i += 1
    return [(spec, parse_options(opts)) for spec, opts in groups]


def default_name(spec: str) -> str:
    """A translator name from ``module[:Class]``: the class or last module component, lowercased."""
    module, _, cls = spec.partition(":")
    base = (cls or module.rsplit(".", 1)[-1]).lower()
    base = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_") or "xlator"
    return "py" if base == "glupy" else base


def validate_translator(spec: str, options: Mapping[str, str]) -> type:
    """Import the class and check the option values; AdminError saying why not."""
    module = spec.partition(":")[0]
    if not module or not re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?", spec):
        raise AdminError(f"{spec!r} is not MODULE or MODULE:CLASS")
    from glupy import loader

    try:
        return loader.validate(spec, options.get("class", ""), options)
    except (TranslatorLoadError, OptionError) as error:
        raise AdminError(f"{spec}: {error}") from None
    except Exception as error:  # noqa: BLE001 - the module failed while importing
        raise AdminError(f"{spec}: importing it failed: {type(error).__name__}: {error}") from None


#: seconds a translator's init() may take in a dry run
DRY_RUN_TIMEOUT = 60


def dry_run(spec: str, options: Mapping[str, str], name: str) -> None:
    """Create the translator and run its init() (and fini()) with these options, off
    any volume, in a child process of this Python (the one the bridge embeds; see
    :mod:`glupy.dryrun`). AdminError with the translator's own error if it cannot start."""
    cmd = [sys.executable, "-m", "glupy.dryrun", spec, json.dumps(dict(options)), name]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DRY_RUN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise AdminError(f"{spec}: its init() did not finish within {DRY_RUN_TIMEOUT} s in a trial start; "
                         "nothing was changed") from None
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise AdminError(f"{spec}: a trial start failed: {tail}; nothing was changed") from None
    if not result.get("ok"):
        raise AdminError(f"{spec} cannot start with these options: {result.get('error')}; nothing was changed")


#: what the bridge logs when a translator cannot start (native/bridge.c)
_START_FAILED = re.compile(r"(glupy: (?:cannot start translator|module=).*)$")


def translator_error(logs: Iterable[Path]) -> str | None:
    """The last 'cannot start' line the bridge wrote in these logs, if any."""
    found = None
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = _START_FAILED.search(line)
            if m:
                found = m.group(1)
    return found


def placement_after(cls: type, after: str | None) -> str:
    """Where a client-side translator goes: --after if given, else where its class
    says it belongs (``placement``), else '' (right under the top)."""
    return after or getattr(cls, "placement", None) or ""


def is_python_xlator(x) -> bool:
    """True for a glupy translator in a volfile (client ``user/glupy`` or a server ``user/NAME`` alias)."""
    return x.type == "user/glupy" or (x.type.startswith("user/") and "module" in x.options)


# ------------------------------------------------------------------ which glusterd

def system_node() -> GlusterNode:
    """The system glusterd (``systemctl start glusterd``)."""
    node = GlusterNode("/", 1, address="localhost", name="system")
    node.root = Path("/")
    node.workdir = Path("/var/lib/glusterd")
    node.rundir = Path("/var/run/gluster")
    node.logdir = Path("/var/log/glusterfs")
    node.sockfile = Path("/var/run/glusterd.socket")
    node.pidfile = Path("/var/run/glusterd.pid")
    node.logfile = node.logdir / "glusterd.log"
    node.cli_logfile = node.logdir / "cli.log"
    return node


def node_from_dir(directory: Path | str) -> GlusterNode:
    """The isolated node living in *directory* (a ``GlusterNode`` root, e.g. ``STATE/node9``)."""
    root = Path(directory).absolute()
    if not (root / "glusterd").is_dir():
        raise AdminError(f"{root} is not a glusterd node directory (no glusterd/ in it)")
    address = None
    pid = _proc.read_pidfile(root / "glusterd.pid")
    if pid is not None and _proc.pid_alive(pid):
        for arg in _proc.read_cmdline(pid):
            if arg.startswith("management.transport.socket.bind-address="):
                address = arg.split("=", 1)[1]
    if address is None:
        raise AdminError(f"the glusterd of {root} is not running")
    return GlusterNode(root.parent, 1, name=root.name, address=address)


def resolve_node(directory: Path | str | None = None) -> GlusterNode:
    """``--node DIR`` / ``$GLUPY_NODE``, else the system glusterd."""
    directory = directory or os.environ.get("GLUPY_NODE")
    return node_from_dir(directory) if directory else system_node()


def gluster(node: GlusterNode, *args: str, **kwargs):
    """``node.gluster(...)`` with errors turned into one clear line."""
    try:
        return node.gluster(*args, **kwargs)
    except GlusterNotInstalledError as error:
        raise AdminError(f"GlusterFS is not installed: run {INSTALL_HINT}") from error
    except GlusterCommandError as error:
        text = (error.stderr.strip() or error.stdout.strip() or "failed").splitlines()[-1].strip()
        if "Connection failed" in text or "glusterd" in text and "operational" in text:
            raise AdminError(f"glusterd is not reachable through {node.sockfile}: start it "
                             "(systemctl start glusterd) or choose one with --node DIR") from None
        raise AdminError(f"gluster {' '.join(args)}: {text}") from None


def volume_options(node: GlusterNode, volume: str) -> dict[str, str]:
    return dict(volume_info(node, volume).options)


def volume_info(node: GlusterNode, volume: str):
    from glupy.gluster.volume import parse_volume_info

    infos = parse_volume_info(gluster(node, "volume", "info", volume, xml=True, retries=3))
    if not infos:
        raise AdminError(f"no volume {volume}")
    return infos[0]


def volume_names(node: GlusterNode) -> list[str]:
    root = gluster(node, "volume", "list", xml=True, retries=3)
    return [v.text for v in root.findall("volList/volume") if v.text]


# ------------------------------------------------------------------ list

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
        d = asdict(self)
        d["class"] = d.pop("cls")
        return d


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
        entries.append(Entry(volume, name, module, _class_of(module, sub), "server", f"above {value}", sub))
    return sorted(entries, key=lambda e: e.name)


def client_entries(volume: str, options: Mapping[str, str]) -> list[Entry]:
    return [Entry(volume, cx.name, cx.module, _class_of(cx.module, cx.options), "client",
                  f"above {cx.after}" if cx.after else "below top", dict(cx.options))
            for cx in gfilter.client_config(options)]


def _class_of(module: str, options: Mapping[str, str]) -> str:
    cls = options.get("class") or module.partition(":")[2]
    if cls:
        return cls
    try:
        from glupy import loader

        return loader.resolve(module).__name__
    except Exception:  # noqa: BLE001 - listing must not fail on a broken module
        return "?"


def _last_graph(text: str | None) -> str | None:
    at = text.rfind("Final graph:") if text is not None else -1
    return text[at:] if at >= 0 else None


def brick_log_texts(node: GlusterNode, info) -> dict[str, str | None]:
    """{brick path: its log on this node (None: no log here)}, each read once."""
    texts: dict[str, str | None] = {}
    for brick in info.bricks:
        try:
            texts[str(brick.path)] = node.brick_log(brick.path).read_text(errors="replace")
        except OSError:
            texts[str(brick.path)] = None
    return texts


def server_state(node: GlusterNode, info, name: str, texts: Mapping[str, str | None] | None = None) -> str:
    if not info.started:
        return "volume stopped"
    texts = brick_log_texts(node, info) if texts is None else texts
    # a brick is this node's if this node logs it (its host may be a name, not the node's address)
    graphs = [_last_graph(texts.get(str(b.path))) for b in info.bricks]
    graphs = [g for g in graphs if g is not None]
    if not graphs:
        return "configured"
    loaded = sum(bool(re.search(rf"volume \S*{re.escape(name)}\n", g)) for g in graphs)
    if loaded == len(graphs):
        return "active"
    return "restart needed" if loaded == 0 else f"active on {loaded}/{len(graphs)} bricks"


def running_identities(node: GlusterNode, info, name: str,
                       texts: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """{brick path: identity of the code it runs} for the bricks of this node that run
    translator *name*: from the line each start or reload logs (lifecycle.start), the
    last one since the brick process started (a refused reload logs none)."""
    line = re.compile(rf"\] \S+ \[[^]]*\] \S*-glupy\.\S*-{re.escape(name)}: \S+ \((\S+)\) handles ")
    texts = brick_log_texts(node, info) if texts is None else texts
    running = {}
    for brick in info.bricks:
        text = texts.get(str(brick.path))
        if text is None:
            continue
        if (found := line.findall(text[text.rfind("Started running"):])):
            running[str(brick.path)] = found[-1]
    return running


def client_state(node: GlusterNode, volume: str, name: str) -> str:
    if not gfilter.filter_installed():
        return "filter missing"
    vf = node.volume_dir(volume) / f"{volume}.tcp-fuse.vol"
    try:
        graph = Volfile.read(vf)
    except (OSError, VolfileError):
        return "configured"
    return "new mounts" if name in graph else "pending"


def list_translators(node: GlusterNode, volume: str | None = None) -> list[Entry]:
    names = [volume] if volume else volume_names(node)
    entries: list[Entry] = []
    for vol in names:
        info = volume_info(node, vol)
        servers = server_entries(vol, info.options)
        texts = brick_log_texts(node, info) if servers and info.started else {}  # each log read once
        for e in servers:
            e.state = server_state(node, info, e.name, texts)
            if info.started:
                e.running = running_identities(node, info, e.name, texts)
            entries.append(e)
        for e in client_entries(vol, info.options):
            e.state = client_state(node, vol, e.name)
            entries.append(e)
    return entries


def attached_translators(node: GlusterNode, volume: str):
    """The glupy translators of *volume* as glupy.pool sees them (name, module, side, identity)."""
    from glupy import pool

    opts = volume_options(node, volume)
    return [pool.Translator(e.name, f"{e.module.partition(':')[0]}:{e.options['class']}" if e.options.get("class")
                            else e.module, e.side, e.options.get("identity", ""))
            for e in server_entries(volume, opts) + client_entries(volume, opts)]


def entries_json(entries: Sequence[Entry]) -> str:
    return json.dumps([e.as_dict() for e in entries], indent=2, sort_keys=True)


def entries_table(entries: Sequence[Entry], title: str = "glupy translators"):
    """A rich Table of the entries."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("volume", "name", "class", "side", "position", "options", "state", "code"):
        table.add_column(column, overflow="fold")
    for e in entries:
        opts = " ".join(f"{k}={v}" for k, v in sorted(e.options.items()) if k not in ("identity", "generation"))
        state_style = "green" if e.state in ("active", "new mounts") else "yellow"
        table.add_row(e.volume, e.name, f"{e.module.partition(':')[0]}:{e.cls}" if e.cls != "?" else e.module,
                      e.side, e.position, opts or "-", f"[{state_style}]{e.state}[/]", _code_text(e))
    return table


def _code_text(entry: Entry) -> str:
    """The recorded identity, then, in red, any other that bricks of this node run."""
    recorded = entry.options.get("identity", "")
    lines = [recorded or "-"]
    for ident, n in sorted(Counter(entry.running.values()).items()):
        if ident != recorded:
            lines.append(f"[red]{n} of {len(entry.running)} bricks here run {ident}[/]")
    return "\n".join(lines)


# ------------------------------------------------------------------ attach / detach

@dataclass
class AttachPlan:
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


def plan_attach(node: GlusterNode, volume: str, spec: str, *, name: str | None = None, side: str = "server",
                after: str | None = None, options: Mapping[str, str] | None = None) -> AttachPlan:
    """Check everything and return what attach would do; changes nothing."""
    options = dict(options or {})
    if side not in ("server", "client"):
        raise AdminError(f"--side must be server or client, not {side!r}")
    name = name or default_name(spec)
    try:
        xlators.check_name(name)
    except ValueError as error:
        raise AdminError(str(error)) from None
    cls = validate_translator(spec, options)
    try:
        xlators.check_bridge_installed()
    except GlusterNotInstalledError as error:
        raise AdminError(str(error).splitlines()[0]) from None
    info = volume_info(node, volume)
    for option, why in getattr(cls, "refused_volume_options", {}).items():  # e.g. crypt: cache-invalidation
        if _on(info.options.get(option, "off")):
            raise AdminError(f"volume {volume} has {option} on, which {cls.__name__} cannot work with ({why}): "
                             f"turn it off first: gluster volume set {volume} {option} off")
    if side == "client":
        after = placement_after(cls, after)
    from glupy import loader

    options.setdefault("identity", loader.identity(cls))
    dry_run(spec, options, name)
    opts = info.options
    if side == "server":
        if f"{SERVER_PREFIX}{name}" in opts:
            raise AdminError(f"volume {volume} already has a server-side translator {name}: detach it first "
                             "or choose another --name")
        alias = xlators.alias_path(name)
        if (alias.exists() or alias.is_symlink()) and not (alias.is_symlink() and alias.readlink() == Path(xlators.BRIDGE)):
            raise AdminError(f"{alias} exists and is not glupy's: choose another --name")
    else:
        if any(c.name == name for c in gfilter.client_config(opts)):
            raise AdminError(f"volume {volume} already has a client-side translator {name}: detach it first "
                             "or choose another --name")
        if after:
            try:
                graph = Volfile.read(node.volume_dir(volume) / f"{volume}.tcp-fuse.vol")
                names = {c.name for c in gfilter.client_config(opts)}
                if after not in names:
                    gfilter.find_xlator(graph, after, volume)
            except OSError:
                pass
            except VolfileError as error:
                raise AdminError(f"--after: {error}") from None
    guard = (getattr(cls, "bypass_guard", None) or "") if side == "client" else ""
    if guard:
        try:
            xlators.check_name(guard_name(name))
        except ValueError as error:
            raise AdminError(f"{error} (the bricks' guard of {name})") from None
        if f"{SERVER_PREFIX}{guard_name(name)}" in opts:
            raise AdminError(f"volume {volume} already has a server-side translator {guard_name(name)}")
    plan = AttachPlan(volume, name, spec, side, after or (DEFAULT_SERVER_POSITION if side == "server" else ""),
                      options, cls.__name__, info.started, guard, dict(opts))
    if guard:  # the guard's own checks and trial start, before anything changes
        plan.guard_plan = plan_attach(node, volume, "glupy.translators.guard", name=guard_name(name),
                                      side="server", options={"key": guard})
        plan.guard_plan.client = plan
    return plan


def guard_name(name: str) -> str:
    """The bricks' guard of client-side translator *name* (see glupy.translators.guard)."""
    return f"{name}-guard"


def plan_guard(node: GlusterNode, plan: AttachPlan) -> AttachPlan:
    """The server-side guard that refuses data FOPs not marked by *plan*'s translator,
    once *plan* (client side) is applied. If the guard cannot be attached, or later
    cannot start in the bricks (:func:`apply_attach`, :func:`rollback_server_attach`),
    *plan* is rolled back with it: no client-side translator without its guard."""
    guard = plan.guard_plan
    if guard is None:
        guard = plan_attach(node, plan.volume, "glupy.translators.guard", name=guard_name(plan.name),
                            side="server", options={"key": plan.guard})
    guard.client = plan
    guard.forced = dict(plan.forced)
    return guard


def apply_attach(node: GlusterNode, plan: AttachPlan) -> list[str]:
    """Store the translator in glusterd. Returns notes for the user. Rolls back on failure."""
    notes: list[str] = []
    done: list[str] = []
    try:
        if plan.side == "server":
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
            for key, value in keys.items():
                gluster(node, "volume", "set", plan.volume, key, value)
                done.append(key)
        else:
            path = gfilter.install_filter()
            notes.append(f"client volfile filter: {path}")
            cx = gfilter.ClientXlator(plan.name, plan.spec, plan.options, plan.after)
            try:
                value = cx.value()
            except ValueError as error:
                raise AdminError(str(error)) from None
            gluster(node, "volume", "set", plan.volume, cx.key, value)
            done.append(cx.key)
            bump_generation(node, plan.volume)
    except AdminError:
        if plan.side == "client" and done:
            try:
                node.gluster("volume", "set", plan.volume, done[0], gfilter.DETACHED, retries=3)
            except GlusterError:
                pass
        elif plan.side == "server" and done:
            try:  # GlusterFS 10 cannot reset user.* keys one by one (see detach)
                _reset_keys(node, plan.volume, done, restart=False)
            except AdminError:
                pass
        if plan.side == "server":
            _remove_alias_if_unused(node, plan.name)
        if plan.client is not None:  # a guard: its client-side translator goes too
            try:
                rollback_client_attach(node, plan.client)
            except AdminError:
                pass
        raise
    return notes


def restart_forced(node: GlusterNode, plan: AttachPlan, timeout: float = 60) -> dict[str, list[str]]:
    """Restart *plan*'s (started) volume after a ``--force`` attach: stop, ``start force``
    (glusterd starts every brick it can and marks the volume started even if some fail,
    glusterd_start_volume in GlusterFS 10.3), then wait for every brick not on a host
    of ``plan.forced`` to come online.

    Returns {host: paths of its bricks that stay down} for the hosts of ``plan.forced``
    (they cannot load the translator: fail closed). Raises AdminError if a brick of any
    other host is not online: the caller rolls back."""
    vol = Volume(node, plan.volume)
    try:
        vol.stop(force=True)
        vol.start(force=True, wait=False)
    except GlusterCommandError as error:
        raise AdminError(f"restarting {plan.volume}: "
                         + (error.stderr.strip() or "failed").splitlines()[-1]) from None
    except GlusterError as error:
        raise AdminError(f"restarting {plan.volume}: {str(error).splitlines()[0]}") from None
    deadline = time.monotonic() + timeout
    grace = None  # a forced host's bricks that can start get a few seconds more
    bricks = vol.info().bricks
    while True:
        try:
            online = {(b.brick.host, str(b.brick.path)) for b in vol.status().bricks if b.online}
        except GlusterError:
            online = set()
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


def rollback_server_attach(node: GlusterNode, plan: AttachPlan) -> list[str]:
    """After bricks failed to start with the new translator: its keys dropped, the
    volume back in the running state it had (bricks restarted without it)."""
    stop_after_failed_start(node, plan.volume)
    # restart=True: reset while stopped, start again, then the options that need a
    # running volume (granular-entry-heal); a volume that was stopped stays stopped
    if plan.client is not None:  # a guard: the client-side translator it protects goes too
        warnings = _restore_options(node, plan.volume, plan.client.before, restart=plan.started)
    else:
        base = f"{SERVER_PREFIX}{plan.name}"
        keys = [k for k in volume_options(node, plan.volume) if k == base or k.startswith(base + ".")]
        warnings = _reset_keys(node, plan.volume, keys, restart=plan.started)
    _remove_alias_if_unused(node, plan.name)
    return warnings


def _restore_options(node: GlusterNode, volume: str, before: Mapping[str, str], *, restart: bool) -> list[str]:
    """The volume's options exactly as *before*: keys added since dropped, changed
    ones set back (see :func:`_reset_keys`)."""
    now = volume_options(node, volume)
    changed = [k for k, v in now.items() if before.get(k) != v]
    warnings = _reset_keys(node, volume, changed, restart=restart) if changed else []
    for key in changed:
        if key in before:
            try:
                gluster(node, "volume", "set", volume, key, before[key])
            except AdminError as error:
                warnings.append(f"{key}={before[key]} not set again ({error})")
    client = [k for k in changed if k.startswith(gfilter.CLIENT_PREFIX)]
    same = next((k for k in before if not k.startswith("user.")), None)
    if client and gfilter.GENERATION_KEY not in before and same:
        # the filter ran while the dropped keys were still stored (see bump_generation):
        # once more, with the old options stored, without adding a generation key
        try:
            gluster(node, "volume", "set", volume, same, before[same])
        except AdminError as error:
            warnings.append(f"client volfiles of {volume} not regenerated ({error})")
    return warnings


def server_start_error(node: GlusterNode, volume: str, name: str) -> str:
    """Why the bricks did not start translator *name*: the bridge's line in their logs."""
    logs = [node.brick_log(b.path) for b in volume_info(node, volume).bricks]
    return translator_error(logs) or f"see the brick logs under {node.logdir / 'bricks'}"


def trial_mount(node: GlusterNode, volume: str, name: str) -> str | None:
    """Mount *volume* as a new client would, check that translator *name* is in its
    active graph, unmount. None if it is, else why not (the translator's own error
    line when the client log has one)."""
    from glupy.gluster.mount import is_glusterfs_mount

    trial = Path(tempfile.mkdtemp(prefix="glupy-trial-"))
    mp, log = trial / "mnt", trial / "client.log"
    mp.mkdir()
    fm = FuseMount(mp, volfile_server=node.address, volfile_id=volume, log_file=log)
    try:
        try:
            fm.mount()
        except GlusterError as error:
            return translator_error([log]) or f"a trial mount failed: {str(error).splitlines()[0]}"
        if name not in fm.graph_xlators():
            return translator_error([log]) or f"a trial mount's active graph has no {name} (see {log})"
        return None
    finally:
        if is_glusterfs_mount(mp):
            fm.unmount()
        shutil.rmtree(trial, ignore_errors=True)


def rollback_client_attach(node: GlusterNode, plan: AttachPlan) -> None:
    gluster(node, "volume", "set", plan.volume, f"{gfilter.CLIENT_PREFIX}{plan.name}", gfilter.DETACHED)
    bump_generation(node, plan.volume)


@dataclass
class Refresh:
    side: str
    old: str
    new: str
    started: bool


def _attached(opts: Mapping[str, str], volume: str,
              name: str) -> tuple[str, dict[str, str], gfilter.ClientXlator | None]:
    """(module, options, filter entry) of translator *name* as *volume* records it; the
    filter entry is None for a server-side translator."""
    base = f"{SERVER_PREFIX}{name}"
    if base in opts:
        own = {k[len(base) + 1:]: v for k, v in opts.items() if k.startswith(base + ".")}
        return own.pop("module", ""), own, None
    for cx in gfilter.client_config(opts):
        if cx.name == name:
            return cx.module, cx.options, cx
    raise AdminError(f"volume {volume} has no glupy translator {name}")


def _installed_identity(module: str, options: Mapping[str, str]) -> str:
    """The identity of *module* as installed here, its class's options checked."""
    from glupy import loader

    return loader.identity(validate_translator(module, {k: v for k, v in options.items()
                                                         if k not in ("identity", "generation")}))


def refresh_identity(node: GlusterNode, volume: str, name: str) -> Refresh:
    """Record the identity of translator *name*'s module as installed here (after an
    upgrade on every host): processes that load it from then on check against it."""
    info = volume_info(node, volume)
    module, own, cx = _attached(info.options, volume, name)
    old, new = own.get("identity", ""), _installed_identity(module, own)
    if cx is None:
        gluster(node, "volume", "set", volume, f"{SERVER_PREFIX}{name}.identity", new)
        return Refresh("server", old, new, info.started)
    cx.options["identity"] = new
    gluster(node, "volume", "set", volume, cx.key, cx.value())
    bump_generation(node, volume)
    return Refresh("client", old, new, info.started)


@dataclass
class Reload:
    side: str
    generation: str
    identity: str
    bricks: dict[str, str] = field(default_factory=dict)  # brick path -> "reloaded" or why not


#: seconds glupy reload waits for each local brick to say whether it switched
RELOAD_WAIT = 30


def reload_translator(node: GlusterNode, volume: str, name: str) -> Reload:
    """Make every process running translator *name* import its code again and switch
    to a new instance, without a restart (option ``generation``); the module's
    identity as installed here is recorded with it. Server side, waits for each
    brick of this node to log that it reloaded or why it refused."""
    info = volume_info(node, volume)
    module, own, cx = _attached(info.options, volume, name)
    identity = _installed_identity(module, own)
    dry_run(module, {**{k: v for k, v in own.items() if k != "generation"}, "identity": identity}, name)
    generation = str(time.time_ns())
    if cx is not None:
        cx.options.update(identity=identity, generation=generation)
        gluster(node, "volume", "set", volume, cx.key, cx.value())
        bump_generation(node, volume)
        return Reload("client", generation, identity)
    logs = {str(b.path): node.brick_log(b.path) for b in info.bricks}
    logs = {path: log for path, log in logs.items() if log.exists()}
    sizes = {path: log.stat().st_size for path, log in logs.items()}
    base = f"{SERVER_PREFIX}{name}"
    gluster(node, "volume", "set", volume, f"{base}.identity", identity, f"{base}.generation", generation)
    result = Reload("server", generation, identity)
    if info.started:
        result.bricks = _wait_reloaded(logs, sizes, generation)
    return result


def _wait_reloaded(logs: Mapping[str, Path], sizes: Mapping[str, int], generation: str) -> dict[str, str]:
    """{brick: "reloaded" or the refusal} from what each log gained since `sizes`."""
    done = re.compile(rf"glupy: reloaded module=\S+ generation={generation}\b")
    refused = re.compile(rf"glupy: reload of module=\S+ generation={generation} refused.*?: (.*)$", re.M)
    state: dict[str, str] = {}
    deadline = time.monotonic() + RELOAD_WAIT
    while len(state) < len(logs) and time.monotonic() < deadline:
        for path, log in logs.items():
            if path in state:
                continue
            with log.open("rb") as f:
                f.seek(sizes[path])
                text = f.read().decode(errors="replace")
            if done.search(text):
                state[path] = "reloaded"
            elif m := refused.search(text):
                state[path] = m.group(1).strip()
        time.sleep(0.2)
    for path in logs:
        state.setdefault(path, f"no answer within {RELOAD_WAIT} s (see {logs[path]})")
    return state


def bump_generation(node: GlusterNode, volume: str) -> None:
    """Make glusterd regenerate the client volfiles now that the options are stored (see glupy.volfile_filter)."""
    gluster(node, "volume", "set", volume, gfilter.GENERATION_KEY, str(time.time_ns()))


def verify_client_volfile(node: GlusterNode, volume: str, name: str, present: bool = True) -> bool:
    vf = node.volume_dir(volume) / f"{volume}.tcp-fuse.vol"
    try:
        return (name in Volfile.read(vf)) == present
    except (OSError, VolfileError):
        return False


def stop_after_failed_start(node: GlusterNode, volume: str) -> None:
    """Leave *volume* stopped with glusterd ready to start every brick again.

    A ``volume start`` that fails leaves the volume stopped and the brick that failed
    marked "starting" in glusterd, which then skips it, without a word, in every later
    start until the volume is stopped (glusterd_brick_start, GlusterFS 10.3); a stopped
    volume cannot be stopped, so it is started (``force``: whatever can start) first.
    """
    vol = Volume(node, volume)
    try:
        if not vol.info().started:
            vol.start(force=True, wait=False)
    except GlusterError:
        pass  # a brick that fails again changes nothing: the stop below resets them all
    try:
        vol.stop(force=True)
    except GlusterError:
        pass


def restart_volume(node: GlusterNode, volume: str, timeout: float = 120, *, start_only: bool = False) -> None:
    """``gluster volume stop``/``start`` and wait for the bricks (see also
    stop_after_failed_start)."""
    vol = Volume(node, volume)
    try:
        if not start_only:
            vol.stop(force=True)
        vol.start(timeout=timeout)
    except GlusterCommandError as error:
        raise AdminError(f"restarting {volume}: " + (error.stderr.strip() or "failed").splitlines()[-1]) from None
    except GlusterError as error:
        raise AdminError(f"restarting {volume}: {str(error).splitlines()[0]}") from None


def local_mounts(volume: str) -> list[Path]:
    """FUSE mounts on this machine that fetched *volume* from a glusterd (``HOST:VOL`` sources)."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) > 4 and len(rfields) > 1 and rfields[0].startswith("fuse.glusterfs"):
            source = rfields[1]
            if source.rpartition(":")[2].lstrip("/") == volume:
                found.append(Path(fields[4].replace("\\040", " ")))
    return found


def graph_switch(volume: str, name: str, present: bool = True, timeout: float = 10.0) -> dict[Path, bool]:
    """Wait until the existing mounts of *volume* have (or no longer have) *name* in their active graph."""
    mounts = local_mounts(volume)
    result = {m: False for m in mounts}
    deadline = time.monotonic() + timeout
    while mounts and time.monotonic() < deadline:
        for m in mounts:
            try:
                os.stat(m)  # a FOP lets FUSE switch to a new graph
                result[m] = (m / ".meta" / "graphs" / "active" / name).exists() == present
            except OSError:
                result[m] = False
        if all(result.values()):
            break
        time.sleep(0.5)
    return result


@dataclass
class DetachResult:
    side: str
    started: bool
    restarted: bool = False
    filter_removed: bool = False
    warnings: list[str] = field(default_factory=list)


def detach(node: GlusterNode, volume: str, name: str, *, restart: bool = False) -> DetachResult:
    """Remove translator *name* (either side) from the volume's configuration.

    Server side: GlusterFS 10.3 refuses ``gluster volume reset VOL user.*`` ("Did you
    mean ...?"), so the only way to drop ``user.xlator.NAME`` is ``volume reset VOL
    all`` and setting every other option again. glupy does that while the volume is
    stopped (no client sees the intermediate options), so a started volume is
    restarted, which the bricks need anyway to drop the translator: *restart* must
    be True for a started volume.

    Client side: ``user.glupy.client.NAME`` is set to ``-`` (detached) and the
    volfiles regenerated.
    """
    info = volume_info(node, volume)
    opts = info.options
    base = f"{SERVER_PREFIX}{name}"
    if base in opts:
        if info.started and not restart:
            raise AdminError(f"detaching {name} from the bricks of {volume} needs a volume restart: "
                             "confirm it or add --yes")
        keys = [base] + [k for k in opts if k.startswith(base + ".")]
        warnings = _reset_keys(node, volume, keys, restart=info.started)
        return DetachResult("server", info.started, restarted=info.started, warnings=warnings)
    if any(c.name == name for c in gfilter.client_config(opts)):
        gluster(node, "volume", "set", volume, f"{gfilter.CLIENT_PREFIX}{name}", gfilter.DETACHED)
        bump_generation(node, volume)
        result = DetachResult("client", info.started)
        if not any(client_entries(v, volume_options(node, v)) for v in volume_names(node)):
            result.filter_removed = gfilter.remove_filter()
        return result
    known = [e.name for e in server_entries(volume, opts) + client_entries(volume, opts)]
    raise AdminError(f"volume {volume} has no glupy translator {name} (it has: {', '.join(known) or 'none'})")


def _on(value: str) -> bool:
    return value.lower() in ("on", "yes", "true", "enable", "1")


#: options that `volume reset all` clears but `volume set` refuses while the volume is
#: started: how to set them again then
_SET_OTHERWISE = {
    "cluster.granular-entry-heal": lambda vol, v: ("volume", "heal", vol, "granular-entry-heal",
                                                   "enable" if _on(v) else "disable"),
}


def _reset_keys(node: GlusterNode, volume: str, keys: Sequence[str], *, restart: bool) -> list[str]:
    """Drop *keys* from the volume's options: stop, ``reset all``, set the others again, start."""
    saved = volume_options(node, volume)
    vol = Volume(node, volume)
    if restart:
        try:
            vol.stop(force=True)
        except GlusterError as error:
            raise AdminError(f"stopping {volume}: {str(error).strip().splitlines()[-1]}") from None
    failed = []
    later = []
    try:
        gluster(node, "volume", "reset", volume, "all")
        now = volume_options(node, volume)
        for key, value in saved.items():
            if key in keys or now.get(key) == value:
                continue
            try:
                gluster(node, "volume", "set", volume, key, value)
            except AdminError as error:
                if key in _SET_OTHERWISE:  # refused while started: its own command, once started
                    later.append(_SET_OTHERWISE[key](volume, value))
                else:
                    failed.append(f"{key}={value} ({error})")
        if any(k.startswith(gfilter.CLIENT_PREFIX) and k not in keys for k in saved):  # set again: regenerate
            bump_generation(node, volume)
    finally:
        if restart:
            restart_volume(node, volume, start_only=True)
    warnings = []
    for args in later:
        for attempt in range(10):  # heal commands need the self-heal daemon up
            try:
                gluster(node, *args)
                break
            except AdminError as error:
                if attempt == 9:
                    warnings.append(f"{error}: run `gluster {' '.join(args)}`")
                time.sleep(1)
    if failed:
        raise AdminError(f"could not set again after `volume reset {volume} all`: {'; '.join(failed)}")
    return warnings


def _remove_alias_if_unused(node: GlusterNode, name: str) -> bool:
    try:
        for vol in volume_names(node):
            if f"{SERVER_PREFIX}{name}" in volume_options(node, vol):
                return False
    except AdminError:
        return False
    xlators.remove_alias(name)
    return True


def finish_server_detach(node: GlusterNode, name: str) -> bool:
    """After the bricks restarted without it: remove ``user/NAME.so`` if no volume uses NAME."""
    return _remove_alias_if_unused(node, name)


# ------------------------------------------------------------------ mount / umount

def fetch_client_volfile(node: GlusterNode, volume: str, server: str | None = None) -> Volfile:
    """The volume's FUSE client volfile as glusterd serves it (``gluster system:: getspec``)."""
    if server and server != node.address:
        cmd = [_proc.find_program("gluster"), f"--remote-host={server}", "--mode=script", "system::", "getspec", volume]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0 or "volume " not in proc.stdout:
            raise AdminError(f"cannot fetch the volfile of {volume} from {server}: "
                             f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:] or 'no answer'}")
        text = proc.stdout
    else:
        text = gluster(node, "system::", "getspec", volume)
    try:
        return Volfile.parse(text)
    except VolfileError as error:
        raise AdminError(f"the volfile of {volume} cannot be parsed: {error}") from None


def build_client_graph(graph: Volfile, withs: Sequence[tuple[str, Mapping[str, str]]],
                       places: Sequence[str] = (), volume: str = "") -> list[str]:
    """Insert ``--with`` translators: each above the translator its place names
    (see :func:`placement_after`), or under the top when its place is '' (the first
    one nearest the top); returns their names."""
    names: list[str] = []
    for spec, opts in withs:
        base = default_name(spec)
        name, n = base, 2
        while name in names or name in graph:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    places = list(places) or [""] * len(withs)
    for (spec, opts), name, place in reversed(list(zip(withs, names, places))):
        xl = glupy_xlator(name, spec, dict(opts))
        if place:
            graph.insert_above(gfilter.find_xlator(graph, place, volume), xl)
        else:
            graph.insert_below_top(xl)
    return names


def _mount_files(mountpoint: Path) -> tuple[Path, Path]:
    digest = hashlib.sha1(str(mountpoint).encode()).hexdigest()[:12]
    return MOUNT_STATE_DIR / f"{digest}.vol", MOUNT_STATE_DIR / f"{digest}.pid"


def mount(node: GlusterNode, volume: str, mountpoint: Path | str, withs: Sequence[tuple[str, Mapping[str, str]]] = (),
          *, server: str | None = None, log_file: Path | str | None = None,
          after: str | None = None) -> tuple[FuseMount, list[str]]:
    """Mount *volume*, with extra Python translators on this client only (each where
    its class says it belongs, or above *after*). Returns the mount and their names."""
    mp = Path(os.path.abspath(mountpoint))
    places = []
    for spec, opts in withs:
        places.append(placement_after(validate_translator(spec, opts), after))
        dry_run(spec, opts, default_name(spec))
    if withs:
        try:
            xlators.check_bridge_installed()
        except GlusterNotInstalledError as error:
            raise AdminError(str(error).splitlines()[0]) from None
    if not os.path.exists("/dev/fuse"):
        raise AdminError("/dev/fuse is missing: load the fuse module (modprobe fuse)")
    from glupy.gluster.mount import is_glusterfs_mount

    if is_glusterfs_mount(mp):
        raise AdminError(f"something is already mounted at {mp}")
    volfile, pidfile = _mount_files(mp)
    names: list[str] = []
    if withs:
        graph = fetch_client_volfile(node, volume, server)
        try:
            names = build_client_graph(graph, withs, places, volume)
        except VolfileError as error:
            raise AdminError(f"cannot insert the translators: {error}") from None
        MOUNT_STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        graph.write(volfile)
        fm = FuseMount.from_volfile(volfile, mp, log_file=log_file, pid_file=pidfile)
    else:
        fm = FuseMount(mp, volfile_server=server or node.address, volfile_id=volume, log_file=log_file,
                       pid_file=pidfile)
    try:
        fm.mount()
    except GlusterError as error:
        volfile.unlink(missing_ok=True)
        cause = translator_error([Path(fm.log_file)]) if withs else None
        raise AdminError(f"mount of {volume} at {mp} failed: {cause or str(error).splitlines()[0]} "
                         f"(see {fm.log_file})") from None
    return fm, names


def umount(mountpoint: Path | str) -> None:
    from glupy.gluster.mount import is_glusterfs_mount

    mp = Path(os.path.abspath(mountpoint))
    volfile, pidfile = _mount_files(mp)
    if not is_glusterfs_mount(mp):
        volfile.unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)
        raise AdminError(f"no GlusterFS mount at {mp}")
    fm = FuseMount(mp, volfile_server="-", volfile_id="-", pid_file=pidfile)
    fm.unmount()
    if is_glusterfs_mount(mp):
        raise AdminError(f"{mp} is still mounted (busy?): try umount -l {mp}")
    volfile.unlink(missing_ok=True)


# ------------------------------------------------------------------ graph

def volume_graph(node: GlusterNode, volume: str, side: str = "client") -> Volfile:
    """The client graph (as served, filter applied) or the server graph of the first brick."""
    if side == "client":
        return fetch_client_volfile(node, volume)
    if side != "server":
        raise AdminError(f"--side must be server or client, not {side!r}")
    info = volume_info(node, volume)
    directory = node.volume_dir(volume)
    for brick in info.bricks:
        exp = str(brick.path).strip("/").replace("/", "-")
        path = directory / f"{volume}.{brick.host}.{exp}.vol"
        if path.exists():
            return Volfile.read(path)
    raise AdminError(f"no brick volfile of {volume} in {directory}")


def graph_lines(graph: Volfile) -> list:
    """The graph as text lines, top first: a chain stays in one column, branches are drawn.

    Python translators are highlighted (rich Text styles).
    """
    from rich.text import Text

    lines: list[Text] = []

    def label(x, prefix: str) -> Text:
        t = Text(prefix, style="dim")
        python = is_python_xlator(x)
        t.append(x.name, style="bold magenta" if python else "")
        t.append(f"  {x.type}", style="dim")
        if python:
            t.append(f"  [python {x.options.get('module', '')}]", style="magenta")
        return t

    def walk(name: str, first: str, rest: str, seen: frozenset) -> None:
        while True:
            x = graph[name]
            lines.append(label(x, first))
            if name in seen or len(lines) > 10000:
                return
            seen = seen | {name}
            first = rest
            if len(x.subvolumes) != 1:
                break
            name = x.subvolumes[0]
        for i, child in enumerate(x.subvolumes):
            last = i == len(x.subvolumes) - 1
            walk(child, rest + ("└─ " if last else "├─ "), rest + ("   " if last else "│  "), seen)

    walk(graph.top.name, "", "", frozenset())
    return lines


def graph_tree(graph: Volfile, title: str = ""):
    """A printable rich renderable of the graph (see :func:`graph_lines`)."""
    from rich.console import Group
    from rich.text import Text

    return Group(Text(title or "graph", style="bold"), *(Text("  ") + line for line in graph_lines(graph)))


def graph_dot(graph: Volfile, title: str = ""):
    """A graphviz Digraph of the graph; Python translators filled."""
    import graphviz

    dot = graphviz.Digraph(title or "graph", graph_attr={"rankdir": "TB", "label": title, "labelloc": "t"},
                           node_attr={"shape": "box", "fontname": "Helvetica", "style": "rounded"})
    for x in graph.xlators:
        if is_python_xlator(x):
            dot.node(x.name, f"{x.name}\n{x.type}\npython: {x.options.get('module', '')}",
                     style="rounded,filled", fillcolor="#ffd54f", color="#e65100", penwidth="2",
                     **{"class": "glupy-python"})
        else:
            dot.node(x.name, f"{x.name}\n{x.type}")
        for child in x.subvolumes:
            dot.edge(x.name, child)
    return dot


def render_graph(graph: Volfile, output: Path | str, title: str = "") -> Path:
    out = Path(output)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise AdminError(f"-o {out}: use a .svg, .png, .pdf or .dot file")
    dot = graph_dot(graph, title)
    if fmt == "dot":
        out.write_text(dot.source)
        return out
    if shutil.which("dot") is None:
        raise AdminError("graphviz's `dot` is not installed: apt-get install graphviz")
    try:
        data = dot.pipe(format=fmt)
    except Exception as error:  # noqa: BLE001 - graphviz.ExecutableNotFound, CalledProcessError
        raise AdminError(f"graphviz failed: {error}") from None
    out.write_bytes(data)
    return out


# ------------------------------------------------------------------ install

def source_checkout() -> Path | None:
    """The repository glupy runs from, if it is a source checkout (has Makefile and native/)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "Makefile").is_file() and (root / "native" / "bridge.c").is_file():
        return root
    return None


def install_command() -> list[str]:
    root = source_checkout()
    if root is None:
        raise AdminError("glupy install builds the bridge from a source checkout; this glupy is installed "
                         f"from a package ({Path(__file__).parent}): clone the repository and run `make install`")
    return ["make", "-C", str(root), "install"]


# ------------------------------------------------------------------ doctor

@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def doctor(node_dir: str | None = None) -> list[Check]:
    checks: list[Check] = []
    try:
        version = xlators.gluster_version()
        checks.append(Check("GlusterFS", True, f"version {version}"))
    except GlusterNotInstalledError:
        version = None
        checks.append(Check("GlusterFS", False, "not installed", f"apt-get install {INSTALL_HINT.split(' ', 2)[2]}"))
    for program in ("glusterd", "glusterfsd", "gluster"):
        try:
            _proc.find_program(program)
        except GlusterNotInstalledError:
            checks.append(Check(program, False, "not found", "apt-get install glusterfs-server glusterfs-client"))
    header = Path("/usr/include/glusterfs/xlator.h")
    checks.append(Check("GlusterFS headers", header.exists(), str(header) if header.exists() else f"{header} missing",
                        "apt-get install libglusterfs-dev"))
    py_header = _python_header()
    checks.append(Check("Python headers", py_header is not None, str(py_header or "Python.h missing"),
                        "apt-get install python3-dev"))
    if version:
        try:
            path = xlators.bridge_path()
            ok = path.exists()
            checks.append(Check("glupy bridge", ok, str(path) if ok else f"{path} missing", "glupy install"))
        except GlusterNotInstalledError as error:
            checks.append(Check("glupy bridge", False, str(error).splitlines()[0], "glupy install"))
        from glupy import peer

        ok = peer.script_path().is_file()
        checks.append(Check("pool command", ok, str(peer.script_path()) if ok else f"{peer.script_path()} missing "
                            "(other nodes cannot ask this one: `gluster system:: execute glupy`)", "glupy install"))
        checks.append(Check("client filter", gfilter.filter_installed(),
                            str(gfilter.filter_path()) if gfilter.filter_installed() else "not installed "
                            "(only needed for `glupy attach --side client`)", "glupy install", required=False))
    explicit = bool(node_dir or os.environ.get("GLUPY_NODE"))
    try:
        node = resolve_node(node_dir)
        gluster(node, "volume", "list", retries=0, timeout=20)
        checks.append(Check("glusterd", True, f"reachable through {node.sockfile}"))
    except AdminError as error:
        checks.append(Check("glusterd", False, str(error), "systemctl start glusterd (or --node DIR)",
                            required=explicit))
    fuse = os.path.exists("/dev/fuse")
    checks.append(Check("/dev/fuse", fuse, "present" if fuse else "missing", "modprobe fuse"))
    try:
        import glupy.translators.passthrough  # noqa: F401

        checks.append(Check("Python", True, f"{sys.executable} ({sys.version.split()[0]})"))
    except Exception as error:  # noqa: BLE001
        checks.append(Check("Python", False, f"glupy does not import: {error}", "pip install -e ."))
    return checks


def _python_header() -> Path | None:
    # The bridge is built against the system python3 (Makefile PYTHON_BASE=/usr/bin/python3)
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                             capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(out) / "Python.h"
    return path if path.exists() else None


# ------------------------------------------------------------------ new

def new_project(name: str, directory: Path | str) -> list[Path]:
    """Scaffold a translator package NAME in *directory* (which must not exist or be empty)."""
    from glupy import scaffold

    return scaffold.create(name, Path(directory))
