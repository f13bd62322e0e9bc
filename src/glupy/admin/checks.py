"""``glupy doctor`` (what this machine lacks, with the fix) and ``glupy install``
(the build command of a source checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from glupy import volfile_filter as gfilter
from glupy.admin.glusterd import INSTALL_HINT, gluster, resolve_node
from glupy.errors import AdminError
from glupy.gluster import _proc, xlators
from glupy.gluster.errors import GlusterNotInstalledError

#: the glupy package (src/glupy in a checkout)
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass
class Check:
    """One line of ``glupy doctor``."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def doctor(node_dir: str | None = None) -> list[Check]:
    """What glupy needs on this machine, each found or not (with the command that fixes it)."""
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
        checks += _installed_parts()
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


def _installed_parts() -> list[Check]:
    """The bridge, the pool command and the client filter (GlusterFS being installed)."""
    checks = []
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


def source_checkout() -> Path | None:
    """The repository glupy runs from, if it is a source checkout (has Makefile and native/)."""
    root = _PACKAGE.parents[1]
    if (root / "Makefile").is_file() and (root / "native" / "bridge.c").is_file():
        return root
    return None


def install_command() -> list[str]:
    """The command that builds and installs the bridge (``make -C REPO install``);
    AdminError if glupy does not run from a source checkout."""
    root = source_checkout()
    if root is None:
        raise AdminError("glupy install builds the bridge from a source checkout; this glupy is installed "
                         f"from a package ({_PACKAGE}): clone the repository and run `make install`")
    return ["make", "-C", str(root), "install"]
