"""The one way glupy's administration talks to glusterd.

Which glusterd (:func:`resolve_node`: the system one, or an isolated node
directory made by :class:`~glupy.gluster.GlusterNode`, ``--node DIR``), the
``gluster`` commands it needs, and their failures turned into one line a user can
act on (:class:`~glupy.errors.AdminError`) here and nowhere else: every other
module of :mod:`glupy.admin` calls these functions or wraps what it does with
:func:`translated`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glupy import peer
from glupy.errors import AdminError
from glupy.gluster import GlusterNode, Volume, VolumeInfo, _proc
from glupy.gluster.errors import GlusterCommandError, GlusterError, GlusterNotInstalledError
from glupy.gluster.volfile import Volfile, VolfileError

INSTALL_HINT = "apt-get install glusterfs-server glusterfs-client libglusterfs-dev"


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


# ------------------------------------------------------------------ errors, translated once

def error_line(error: GlusterError) -> str:
    """The line of *error* that says what went wrong: a command's last line of output,
    else the error's first line."""
    if isinstance(error, GlusterCommandError):
        return (error.stderr.strip() or error.stdout.strip() or "failed").splitlines()[-1].strip()
    return (str(error).strip() or "failed").splitlines()[0]


def admin_error(error: GlusterError, node: GlusterNode, doing: str = "") -> AdminError:
    """*error*, met while *doing* something with *node*'s glusterd, as one line."""
    if isinstance(error, GlusterNotInstalledError):
        return AdminError(f"GlusterFS is not installed: run {INSTALL_HINT}")
    line = error_line(error)
    if "Connection failed" in line or "glusterd" in line and "operational" in line:
        return AdminError(f"glusterd is not reachable through {node.sockfile}: start it "
                          "(systemctl start glusterd) or choose one with --node DIR")
    return AdminError(f"{doing}: {line}" if doing else line)


@contextmanager
def translated(node: GlusterNode, doing: str = "") -> Iterator[None]:
    """Any GlusterError raised in the block leaves it as :func:`admin_error`'s AdminError."""
    try:
        yield
    except GlusterError as error:
        raise admin_error(error, node, doing) from None


def gluster(node: GlusterNode, *args: str, **kwargs):
    """``node.gluster(...)`` (see :meth:`GlusterNode.gluster`), failures as one AdminError line."""
    with translated(node, f"gluster {' '.join(args)}"):
        return node.gluster(*args, **kwargs)


# ------------------------------------------------------------------ volumes

def volume_info(node: GlusterNode, volume: str) -> VolumeInfo:
    """``gluster volume info VOLUME``; AdminError if there is no such volume."""
    from glupy.gluster.volume import parse_volume_info

    infos = parse_volume_info(gluster(node, "volume", "info", volume, xml=True, retries=3))
    if not infos:
        raise AdminError(f"no volume {volume}")
    return infos[0]


def volume_options(node: GlusterNode, volume: str) -> dict[str, str]:
    """The options set on *volume* (``volume info``'s, a copy)."""
    return dict(volume_info(node, volume).options)


def volume_names(node: GlusterNode) -> list[str]:
    """Every volume *node*'s glusterd knows."""
    root = gluster(node, "volume", "list", xml=True, retries=3)
    return [v.text for v in root.findall("volList/volume") if v.text]


def volume_set(node: GlusterNode, volume: str, *keys_and_values: str) -> None:
    """``gluster volume set VOLUME KEY VALUE [KEY VALUE ...]`` (one command)."""
    gluster(node, "volume", "set", volume, *keys_and_values)


def restart_volume(node: GlusterNode, volume: str, timeout: float = 120, *, start_only: bool = False) -> None:
    """``gluster volume stop``/``start`` and wait for the bricks (see also
    :func:`stop_after_failed_start`)."""
    vol = Volume(node, volume)
    with translated(node, f"restarting {volume}"):
        if not start_only:
            vol.stop(force=True)
        vol.start(timeout=timeout)


def restart_volume_forced(node: GlusterNode, volume: str) -> None:
    """Stop, then ``start force`` without waiting: glusterd starts every brick it can
    and marks the volume started even if some fail (glusterd_start_volume, GlusterFS 10.3)."""
    vol = Volume(node, volume)
    with translated(node, f"restarting {volume}"):
        vol.stop(force=True)
        vol.start(force=True, wait=False)


def stop_volume(node: GlusterNode, volume: str) -> None:
    """``gluster volume stop VOLUME force``."""
    with translated(node, f"stopping {volume}"):
        Volume(node, volume).stop(force=True)


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


def online_bricks(node: GlusterNode, volume: str) -> set[tuple[str, str]]:
    """{(host, path)} of *volume*'s bricks that are online (empty if glusterd cannot say)."""
    try:
        return {(b.brick.host, str(b.brick.path)) for b in Volume(node, volume).status().bricks if b.online}
    except GlusterError:
        return set()


# ------------------------------------------------------------------ volfiles as served

def served_volfile(node: GlusterNode, host: str, volume: str) -> str:
    """The client volfile *host*'s glusterd serves for *volume*, fetched over TCP as a
    client mounting from *host* fetches it; GlusterError if it cannot be fetched.

    Not through ``node.gluster``: the CLI connects to ``--glusterd-sock`` when it has
    one and then ignores ``--remote-host`` (cli.c, cli_rpc_init), so that would be this
    node's volfile whatever *host* is."""
    cmd = [_proc.find_program("gluster"), f"--remote-host={host}", "--mode=script",
           f"--log-file={node.cli_logfile}", "system::", "getspec", volume]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                              check=False)
    except subprocess.TimeoutExpired:
        raise GlusterError(f"no client volfile of {volume} from {host} within 60 s") from None
    if proc.returncode != 0 or "volume " not in proc.stdout:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise GlusterError(f"cannot fetch the client volfile of {volume} from {host}: "
                           f"{lines[-1] if lines else 'no answer'}")
    return proc.stdout


def fetch_client_volfile(node: GlusterNode, volume: str, server: str | None = None) -> Volfile:
    """The volume's FUSE client volfile as glusterd serves it (``gluster system:: getspec``),
    from *server*'s glusterd if given (a client mounting from *server* gets this one)."""
    if server and server != node.address:
        with translated(node):
            text = served_volfile(node, server, volume)
    else:
        text = gluster(node, "system::", "getspec", volume)
    try:
        return Volfile.parse(text)
    except VolfileError as error:
        raise AdminError(f"the volfile of {volume} cannot be parsed: {error}") from None


# ------------------------------------------------------------------ asking every node

_STAGING = re.compile(r"Staging failed on (\S+?)\.? Error: (.*)")


def peer_execute(node: GlusterNode, *args: str, timeout: float = 300) -> tuple[dict[str, dict[str, str]],
                                                                               dict[str, str]]:
    """``peer_glupy ARGS`` on every node of the pool (``gluster system:: execute``, see
    glupy.peer): ({uuid: {key: value}}, {host: why the command failed there}). glusterd
    runs it everywhere or nowhere."""
    try:
        out = node.gluster("system::", "execute", peer.COMMAND, *args, timeout=timeout)
    except GlusterCommandError as error:
        text = (error.stderr or error.stdout).strip()
        failed = {m.group(1): m.group(2).strip() for m in _STAGING.finditer(text)}
        if not failed:  # the node we ask is the one without it
            failed = {node.address: text.splitlines()[-1] if text else "failed"}
        return {}, failed
    facts: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            facts.setdefault(parts[0], {})[parts[1]] = parts[2]
    return facts, {}
