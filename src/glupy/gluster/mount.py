"""FUSE mounts of GlusterFS volumes (the ``glusterfs`` client process).

Two ways to get the client graph:

* from a glusterd: ``glusterfs --volfile-server=ADDR --volfile-id=VOL MNT``
  (:meth:`FuseMount.from_volume` / :meth:`Volume.fuse_mount`);
* from a local volfile, for custom client graphs:
  ``glusterfs --volfile=FILE MNT`` (:meth:`FuseMount.from_volfile`).

The client is started with ``--pid-file`` so that :meth:`FuseMount.unmount`
can make sure that exact process is gone (``umount``, then ``umount -l``,
then SIGTERM/SIGKILL by PID).

A volume of a node with a network namespace of its own
(``GlusterNode(private_network=True)``) can only be reached from inside that
namespace: ``FuseMount(..., netns=node.netns)`` starts the client there
(``nsenter --net=NETNS glusterfs ...``; the daemonized client stays in it).
Only the network is entered, so the mount is where every other mount is, and
unmounting, the PID file and statedumps work as for any other client.
:meth:`FuseMount.from_volume` does it by itself for such a node; code that
makes its mounts itself can be run in :func:`network_namespace` instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from . import _proc
from .errors import GlusterCommandError, GlusterError, GlusterTimeoutError

if TYPE_CHECKING:
    from .volume import Volume

#: Where glusterfs writes logs when not told otherwise.
DEFAULT_LOG_DIR = Path("/var/log/glusterfs")

#: Network namespace of the FuseMounts made without ``netns=`` (see :func:`network_namespace`).
_default_netns: ContextVar[Path | None] = ContextVar("glupy_fuse_netns", default=None)


@contextmanager
def network_namespace(netns: Path | str | None) -> Iterator[None]:
    """Every :class:`FuseMount` made inside this block without ``netns=`` starts its
    client in the network namespace *netns* (``/proc/PID/ns/net``; None: this
    process's), e.g. the mounts a helper makes for a ``private_network`` node::

        with network_namespace(node.netns):
            admin.mount(node, volume, mountpoint, withs)
    """
    token = _default_netns.set(Path(netns) if netns is not None else None)
    try:
        yield
    finally:
        _default_netns.reset(token)


def default_client_log(mountpoint: Path | str) -> Path:
    """Log file a ``glusterfs`` FUSE client uses when started without ``--log-file``.

    GlusterFS names it after the mount point: ``/mnt/a/b`` ->
    ``/var/log/glusterfs/mnt-a-b.log``.
    """
    path = os.path.abspath(os.fspath(mountpoint))
    return DEFAULT_LOG_DIR / (path.lstrip("/").replace("/", "-") + ".log")


def mount_entry(mountpoint: Path | str) -> tuple[str, str] | None:
    """``(fstype, source)`` of the mount at exactly *mountpoint*, or None if nothing is mounted there.

    Reads ``/proc/self/mountinfo`` (does not touch the mount itself, so it
    cannot hang on a dead FUSE server).
    """
    target = os.path.realpath(os.fspath(mountpoint))
    found: tuple[str, str] | None = None
    try:
        with open("/proc/self/mountinfo") as fh:
            lines = fh.readlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == target:
            rfields = right.split()
            found = (rfields[0] if rfields else "", rfields[1] if len(rfields) > 1 else "")
    return found  # last entry wins (stacked mounts)


def is_glusterfs_mount(mountpoint: Path | str) -> bool:
    """True if a GlusterFS FUSE client is mounted at *mountpoint*."""
    entry = mount_entry(mountpoint)
    return entry is not None and entry[0].startswith("fuse")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


class FuseMount:
    """A GlusterFS FUSE client mounted at a directory.

    Args:
        mountpoint: directory to mount on (created if missing).
        volfile_server: glusterd address to fetch the volfile from.
        volfile_id: volume name to fetch (with *volfile_server*).
        volfile: local volfile to build the graph from instead of fetching it.
        volume_name: with *volfile*, the xlator to use as the top of the graph
            (``--volume-name``; default: the last one in the file).
        log_file: client log (default: glusterfs's own choice, see
            :func:`default_client_log`).
        log_level: ``INFO``, ``DEBUG``, ``TRACE``...
        pid_file: where the client writes its PID (default: next to
            *log_file*, or in the temp directory).
        extra_args: more ``glusterfs`` options (e.g. ``--entry-timeout=0``).
        netns: network namespace to start the client in (``/proc/PID/ns/net``
            of a ``private_network`` node: :attr:`GlusterNode.netns`); default:
            the one set by :func:`network_namespace`, else this process's.

    Use as a context manager or call :meth:`mount` / :meth:`unmount`.
    """

    def __init__(
        self,
        mountpoint: Path | str,
        *,
        volfile_server: str | None = None,
        volfile_id: str | None = None,
        volfile: Path | str | None = None,
        volume_name: str | None = None,
        log_file: Path | str | None = None,
        log_level: str = "INFO",
        pid_file: Path | str | None = None,
        extra_args: Sequence[str] = (),
        netns: Path | str | None = None,
    ) -> None:
        if volfile is None and not (volfile_server and volfile_id):
            raise ValueError("give either volfile=FILE or both volfile_server= and volfile_id=")
        if volfile is not None and (volfile_server or volfile_id):
            raise ValueError("volfile= excludes volfile_server=/volfile_id=")
        self.mountpoint = Path(os.path.abspath(os.fspath(mountpoint)))
        self.volfile_server = volfile_server
        self.volfile_id = volfile_id
        self.volfile = Path(volfile).absolute() if volfile is not None else None
        self.volume_name = volume_name
        self.log_file = Path(log_file).absolute() if log_file is not None else default_client_log(self.mountpoint)
        self.log_level = log_level
        if pid_file is not None:
            self.pid_file = Path(pid_file).absolute()
        elif log_file is not None:
            self.pid_file = self.log_file.with_suffix(".pid")
        else:
            digest = hashlib.sha1(str(self.mountpoint).encode()).hexdigest()[:12]
            self.pid_file = Path(tempfile.gettempdir()) / f"glupy-fuse-{digest}.pid"
        self.extra_args = list(extra_args)
        self.netns = Path(netns) if netns is not None else _default_netns.get()

    def __repr__(self) -> str:
        source = f"volfile={self.volfile}" if self.volfile else f"{self.volfile_server}:{self.volfile_id}"
        return f"FuseMount({str(self.mountpoint)!r}, {source})"

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_volume(
        cls,
        volume: Volume,
        mountpoint: Path | str,
        *,
        log_file: Path | str | None = None,
        log_level: str = "INFO",
        pid_file: Path | str | None = None,
        extra_args: Sequence[str] = (),
        netns: Path | str | None = None,
    ) -> FuseMount:
        """A mount of *volume*, fetching the volfile from the volume's node (not yet mounted).

        The client runs in the node's network namespace when it has one of its
        own (:attr:`GlusterNode.netns`), unless *netns* says otherwise."""
        if netns is None:
            netns = getattr(volume.node, "netns", None)
        return cls(
            mountpoint,
            volfile_server=volume.server,
            volfile_id=volume.name,
            log_file=log_file,
            log_level=log_level,
            pid_file=pid_file,
            extra_args=extra_args,
            netns=netns,
        )

    @classmethod
    def from_volfile(
        cls,
        volfile: Path | str,
        mountpoint: Path | str,
        *,
        volume_name: str | None = None,
        log_file: Path | str | None = None,
        log_level: str = "INFO",
        pid_file: Path | str | None = None,
        extra_args: Sequence[str] = (),
        netns: Path | str | None = None,
    ) -> FuseMount:
        """A mount whose client graph is read from the local file *volfile* (not yet mounted)."""
        return cls(
            mountpoint,
            volfile=volfile,
            volume_name=volume_name,
            log_file=log_file,
            log_level=log_level,
            pid_file=pid_file,
            extra_args=extra_args,
            netns=netns,
        )

    # --------------------------------------------------------------- lifecycle

    def command(self) -> list[str]:
        """The argument vector :meth:`mount` runs: ``glusterfs ...``, behind
        ``nsenter --net=NETNS --`` when the client runs in another network namespace."""
        cmd = [_proc.find_program("nsenter"), f"--net={self.netns}", "--"] if self.netns is not None else []
        cmd.append(_proc.find_program("glusterfs"))
        if self.volfile is not None:
            cmd.append(f"--volfile={self.volfile}")
            if self.volume_name:
                cmd.append(f"--volume-name={self.volume_name}")
        else:
            cmd += [f"--volfile-server={self.volfile_server}", f"--volfile-id={self.volfile_id}"]
        cmd += [
            f"--log-file={self.log_file}",
            f"--log-level={self.log_level}",
            f"--pid-file={self.pid_file}",
            *self.extra_args,
            str(self.mountpoint),
        ]
        return cmd

    @property
    def pid(self) -> int | None:
        """PID of this mount's ``glusterfs`` client process, if it is alive."""
        pid = _proc.read_pidfile(self.pid_file)
        if pid is not None and _proc.pid_alive(pid):
            argv = _proc.read_cmdline(pid)
            if argv and argv[-1] == str(self.mountpoint):
                return pid
        # fall back to the exact mount point as last argument
        for pid, argv in _proc.pids_with_cmdline_containing(["\0" + str(self.mountpoint) + "\0"]).items():
            if argv[-1] == str(self.mountpoint) and "glusterfs" in os.path.basename(argv[0]):
                return pid
        return None

    def statedump(self, timeout: float = 15.0) -> dict[str, dict[str, str]]:
        """The client process's statedump, ``{section: {key: value}}``.

        A glupy translator's own lines are in the section ``xlator.glupy.NAME.priv``."""
        return parse_statedump(self.statedump_text(timeout))

    def statedump_text(self, timeout: float = 15.0) -> str:
        """The client process's statedump as GlusterFS writes it: on SIGUSR1, to
        /var/run/gluster/glusterdump.PID.dump.TIME (read once complete, then removed)."""
        pid = self.pid
        if pid is None:
            raise GlusterError(f"no client process for {self.mountpoint}")
        pattern = f"glusterdump.{pid}.dump.*"
        dump_dir = Path("/var/run/gluster")
        for old in dump_dir.glob(pattern):
            old.unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        text = ""
        while "DUMP-END-TIME" not in text:
            if time.monotonic() > deadline:
                raise GlusterTimeoutError(f"the client {pid} wrote no complete statedump in {timeout:.0f} s")
            time.sleep(0.1)
            dumps = sorted(dump_dir.glob(pattern))
            text = dumps[0].read_text(errors="replace") if dumps else ""
        for old in dump_dir.glob(pattern):
            old.unlink(missing_ok=True)
        return text

    def is_mounted(self) -> bool:
        """True if a FUSE file system is mounted at the mount point."""
        return is_glusterfs_mount(self.mountpoint)

    def mount(self, timeout: float = 30.0) -> FuseMount:
        """Start the client and wait until the mount is usable (``statvfs`` works).

        Raises:
            GlusterError: the mount point is busy or the client died (the
                message includes the end of the client log).
            GlusterTimeoutError: the mount did not become usable in time.
        """
        if self.is_mounted():
            raise GlusterError(f"something is already mounted at {self.mountpoint}")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        cmd = self.command()
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            self.unmount()
            raise GlusterError(
                f"glusterfs client did not daemonize within {timeout:.0f}s: {' '.join(cmd)}\n"
                f"--- {self.log_file} ---\n{_proc.tail(self.log_file)}"
            ) from None
        if proc.returncode != 0:
            self.unmount()
            raise GlusterCommandError(
                cmd,
                proc.returncode,
                proc.stdout,
                proc.stderr + f"\n--- {self.log_file} ---\n{_proc.tail(self.log_file)}",
            )

        def usable() -> bool:
            if not self.is_mounted():
                if self.pid is None and _proc.read_pidfile(self.pid_file) is not None:
                    raise GlusterError(
                        f"glusterfs client for {self.mountpoint} exited before mounting\n"
                        f"--- {self.log_file} ---\n{_proc.tail(self.log_file)}"
                    )
                return False
            try:
                os.statvfs(self.mountpoint)
                os.listdir(self.mountpoint)
            except OSError:
                return False
            return True

        try:
            _proc.wait_for(
                usable,
                timeout,
                f"FUSE mount at {self.mountpoint}",
                interval=0.1,
                detail=lambda: f"--- {self.log_file} ---\n{_proc.tail(self.log_file)}",
            )
        except BaseException:
            self.unmount()
            raise
        return self

    def unmount(self, timeout: float = 20.0) -> None:
        """Unmount and make sure the client process is gone.

        ``umount``; if that fails, ``umount -l``; then the client is
        SIGTERMed (SIGKILLed after *timeout*) by PID if it is still alive.
        Safe to call when not mounted.
        """
        pid = self.pid
        if self.is_mounted() and not _run_quiet(["umount", str(self.mountpoint)], timeout):
            _run_quiet(["umount", "-l", str(self.mountpoint)], timeout)
        if pid is not None:
            try:
                _proc.wait_for(lambda: not _proc.pid_alive(pid), timeout / 2, "client exit", 0.05)
            except GlusterError:
                _proc.terminate_pids([pid], timeout=timeout / 2)
        if self.is_mounted():  # process killed but kernel mount left (ENOTCONN)
            _run_quiet(["umount", "-l", str(self.mountpoint)], timeout)
        self.pid_file.unlink(missing_ok=True)

    def abort(self) -> bool:
        """Abort this mount's FUSE connection (``/sys/fs/fuse/connections/N/abort``):
        every request pending in the kernel fails ENOTCONN at once. The way out when
        the client is deadlocked or gone while processes wait in the mount (a process
        cannot even be killed while one of its threads waits on its own mount).
        True if a connection was aborted."""
        device = None
        try:
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                fields = line.split()
                if len(fields) > 4 and fields[4] == str(self.mountpoint):
                    device = fields[2]  # major:minor; the minor names the fuse connection
        except OSError:
            return False
        if device is None:
            return False
        connections = Path("/sys/fs/fuse/connections")
        connection = connections / device.split(":")[1]
        if not connection.exists():  # fusectl not mounted yet
            _run_quiet(["mount", "-t", "fusectl", "fusectl", str(connections)], 10)
        try:
            (connection / "abort").write_text("1")
        except OSError:
            return False
        return True

    def __enter__(self) -> Self:
        if not self.is_mounted():
            self.mount()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unmount()

    # ------------------------------------------------------------- inspection

    def graph_xlators(self) -> list[str]:
        """Names of the xlators in the client's active graph (from ``MNT/.meta/graphs/active``)."""
        active = self.mountpoint / ".meta" / "graphs" / "active"
        return sorted(p.name for p in active.iterdir() if p.is_dir())

    def active_volfile(self) -> str:
        """The client graph actually loaded (``MNT/.meta/graphs/active/volfile``)."""
        return (self.mountpoint / ".meta" / "graphs" / "active" / "volfile").read_text()

    def clients_connected(self) -> dict[str, bool]:
        """Each protocol/client of the active graph, by name: attached to its brick now
        (``connected`` in ``MNT/.meta/graphs/active/NAME/private``)."""
        active = self.mountpoint / ".meta" / "graphs" / "active"
        found = {}
        for xl in active.iterdir():
            if xl.is_dir() and (xl / "type").read_text().strip() == "protocol/client":
                private = (xl / "private").read_text()
                found[xl.name] = re.search(r"^connected\s*=\s*1\s*$", private, re.M) is not None
        return found

    def wait_connected(self, timeout: float = 20.0) -> None:
        """Wait until every protocol/client of the graph is attached to its brick.

        A mount is usable as soon as AFR hears from each child, even when one of them
        failed to attach, and what is written then reaches only the others. Tests that
        need every brick written wait here.

        Raises:
            GlusterError: the client gave up on a brick for good (its log says
                "Needs remount": the brick answered a volume id other than its peers').
            GlusterTimeoutError: not all attached in time.
        """
        def attached() -> bool:
            if "Needs remount" in self.log_file.read_text(errors="replace"):
                raise GlusterError(f"the client of {self.mountpoint} needs a remount\n"
                                   f"--- {self.log_file} ---\n{self.log_tail(30)}")
            clients = self.clients_connected()
            return bool(clients) and all(clients.values())

        _proc.wait_for(attached, timeout, f"every brick attached to {self.mountpoint}", interval=0.1,
                       detail=lambda: f"{self.clients_connected()}\n--- {self.log_file} ---\n{self.log_tail(30)}")

    def log_tail(self, lines: int = 50) -> str:
        """The last *lines* lines of the client log."""
        return _proc.tail(self.log_file, lines)


def _run_quiet(cmd: list[str], timeout: float) -> bool:
    try:
        return (
            subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


__all__ = ["FuseMount", "default_client_log", "is_glusterfs_mount", "mount_entry"]


def parse_statedump(text: str) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}`` of a GlusterFS statedump's text."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        header = re.fullmatch(r"\[(.+)\]", line.strip())
        if header:
            current = sections.setdefault(header.group(1), {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections
