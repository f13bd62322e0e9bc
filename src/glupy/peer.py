"""What glupy looks like on this host, for the pool report and attach's pool check.

glusterd runs ``$libdir/glusterfs/peer_glupy ARGS`` on every node of the pool for
``gluster system:: execute glupy ARGS`` and gathers what each prints: GlusterFS's
own way to ask every host something. ``peer_glupy`` (installed next to glusterd's
other peer commands by ``make install`` / ``glupy install``) runs this module with
the Python environment glupy was installed in. A node without it fails the command
at staging, and glusterd's error names the node.

    peer_glupy report [NAME=MODULE[:CLASS]]...
    peer_glupy alias NAME        (xlator/user/NAME.so -> glupy.so, for server-side attach)
    peer_glupy bricks VOLUME NAME [GENERATION]
                                 (what this node's bricks run of NAME; how they took a reload)

prints one line per fact, ``UUID<TAB>KEY<TAB>VALUE``: ``version``, ``bridge``
(present/missing), ``filter`` (present/missing), ``python``, and for each
translator ``module.NAME`` (its identity here, or ``missing: why``) and ``alias.NAME``
(present/missing: ``xlator/user/NAME.so``, which bricks load a server-side NAME from).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

COMMAND = "glupy"  # gluster system:: execute glupy ... runs peer_glupy
SCRIPT_NAME = f"peer_{COMMAND}"


def glusterd_option(key: str, default: str) -> str:
    """Option ``management.KEY`` of the glusterd that runs us (our parent), from its command line."""
    try:
        argv = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return default
    prefix = f"management.{key}=".encode()
    for arg in argv:
        if arg.startswith(prefix):
            return arg[len(prefix):].decode()
    return default


def glusterd_uuid() -> str:
    """The UUID of the glusterd that runs us (our parent), from its working directory."""
    workdir = Path(glusterd_option("working-directory", "/var/lib/glusterd"))
    try:
        for line in (workdir / "glusterd.info").read_text().splitlines():
            if line.startswith("UUID="):
                return line[5:].strip()
    except OSError:
        pass
    return "unknown"


def report(translators: list[str]) -> list[tuple[str, str]]:
    """(key, value) facts about glupy on this host."""
    import glupy
    from glupy import volfile_filter as gfilter
    from glupy.gluster import xlators

    facts = [("version", glupy.__version__), ("python", sys.executable),
             ("bridge", "present" if (xlators.xlator_dir() / "user" / "glupy.so").is_file() else "missing"),
             ("filter", "present" if gfilter.filter_installed() else "missing")]
    for spec in translators:
        name, _, module = spec.partition("=")
        facts.append((f"module.{name}", module_identity(module)))
        alias = xlators.xlator_dir() / "user" / f"{name}.so"
        facts.append((f"alias.{name}", "present" if alias.exists() else "missing"))
    return facts


def _own_brick_logs(volume: str):
    """(HOST:PATH, its log's text or None when there is none) for each brick of *volume*
    on this node, in glusterd's order."""
    from glupy.gluster import Brick
    from glupy.gluster.node import brick_file_name

    workdir = Path(glusterd_option("working-directory", "/var/lib/glusterd"))
    logdir = Path(glusterd_option("logging-directory", "/var/log/glusterfs"))
    uuid = glusterd_uuid()
    for stored in sorted((workdir / "vols" / volume / "bricks").glob("*")):
        # glusterd's record of a brick: key=value lines, the owning node's uuid among them
        brick = dict(line.split("=", 1) for line in stored.read_text(errors="replace").splitlines() if "=" in line)
        if brick.get("uuid") != uuid or not brick.get("path"):
            continue
        label = str(Brick(brick.get("hostname", "?"), Path(brick["path"])))  # HOST:PATH, as glupy reload names it
        try:
            text = (logdir / "bricks" / f"{brick_file_name(brick['path'])}.log").read_text(errors="replace")
        except OSError:
            text = None
        yield label, text


def bricks(volume: str, name: str, generation: str | None = None) -> list[tuple[str, str]]:
    """What this node's bricks of *volume* run of translator *name*, from their logs:
    ``running.HOST:PATH`` (the identity of its code, ``-`` if the brick does not run it,
    ``no log``) and, given a reload *generation*, ``reload.HOST:PATH`` ("reloaded", the
    cause of the refusal, or "pending": nothing logged about it yet)."""
    from glupy.admin.logs import reload_outcome, running_since_start

    facts = []
    for label, text in _own_brick_logs(volume):
        facts.append((f"running.{label}", "no log" if text is None else running_since_start(text, name) or "-"))
        if generation is not None and text is not None:
            facts.append((f"reload.{label}", reload_outcome(text, generation) or "pending"))
    return facts


def running(volume: str, names: list[str]) -> list[tuple[str, str]]:
    """``running.NAME.HOST:PATH`` for each translator of *names* (which have no dots) and
    each brick of *volume* on this node: as :func:`bricks`, for several translators from
    one reading of each log (``glupy list``)."""
    from glupy.admin.logs import running_since_start

    return [(f"running.{name}.{label}", "no log" if text is None else running_since_start(text, name) or "-")
            for label, text in _own_brick_logs(volume) for name in names]


def module_identity(spec: str) -> str:
    """The identity of translator class *spec* (``module[:Class]``) here, or ``missing: why``."""
    from glupy import loader
    from glupy.errors import init_error_line

    try:
        return loader.identity(loader.resolve(spec))
    except BaseException as error:  # noqa: BLE001 - anything the import does is the answer
        return "missing: " + init_error_line(error)


def script_path() -> Path:
    """``$libdir/glusterfs/peer_glupy``: where glusterd looks for peer commands (GSYNCD_PREFIX)."""
    from glupy.gluster import xlators

    return xlators.xlator_dir().parent.parent / SCRIPT_NAME


def install(python: str | None = None) -> Path:
    """Install (or update) peer_glupy for this Python environment; idempotent."""
    from glupy.gluster.xlators import install_executable

    return install_executable(script_path(), "#!/bin/sh\n# glupy's answer to `gluster system:: execute glupy "
                              f"...` (see glupy.peer)\nexec {python or sys.executable} -I -m glupy.peer \"$@\"\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "alias":
        from glupy.gluster import xlators

        xlators.check_name(args[1])
        xlators.ensure_alias(args[1])
        return 0
    if args and args[0] == "report":
        facts = report(args[1:])
    elif args and args[0] == "bricks" and len(args) in (3, 4):
        facts = bricks(*args[1:])
    elif args and args[0] == "running" and len(args) >= 3:
        facts = running(args[1], args[2:])
    else:
        print("usage: peer_glupy report [NAME=MODULE[:CLASS]]... | alias NAME | bricks VOLUME NAME [GENERATION] "
              "| running VOLUME NAME...",
              file=sys.stderr)
        return 2
    uuid = glusterd_uuid()
    for key, value in facts:
        print(f"{uuid}\t{key}\t{value}".replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
