"""Run isolated ``glusterd`` instances on one machine, the way GlusterFS's own tests do.

GlusterFS's test framework (``tests/cluster.rc``) runs N glusterd on one host,
each bound to its own loopback address ``127.1.1.N`` and with its own working,
run and log directories.  :class:`GlusterNode` does the same::

    node = GlusterNode(Path("/tmp/state"), index=1)   # 127.1.1.1
    node.start()
    node.gluster("volume", "list")
    node.stop()

and :class:`Pool` starts N of them and joins them into one trusted pool.

Layout of a node's directory (``STATE_DIR/node{index}/``)::

    glusterd/          management.working-directory (volume configs, volfiles)
    glusterd/gd.sock   management.glusterd-sockfile (the CLI talks to it)
    run/gluster/       management.run-directory (brick/shd pid files)
    log/               management.logging-directory
    log/glusterd.log   glusterd's own log
    log/cli.log        log of the gluster CLI commands run through gluster()
    log/bricks/*.log   brick logs (one per brick, named after the brick path)
    log/glustershd.log self-heal daemon log
    bricks/VOL/bN      default brick directories (see brick())
    glusterd.pid

Things glusterd still puts outside that directory (hard-coded in GlusterFS 10.3):
brick and self-heal daemon UNIX sockets ``/var/run/gluster/<xxhash>.socket``
(glusterd leaves them behind on ``volume stop``; :meth:`Volume.stop` and
:meth:`GlusterNode.stop` remove the stale ones, including those of crashed
bricks, found through the command lines in the node's logs), and empty
directories ``/var/lib/glusterd/{ss_brick,geo-replication}`` and
``/var/run/gluster/snaps``.

Facts checked on GlusterFS 10.3 (Debian 12):

* Each node must bind ``ADDRESS:24007``; a glusterd on ``0.0.0.0:24007``
  (the system service) makes that fail with EADDRINUSE.  The port cannot be
  moved: glusterd starts its bricks and self-heal daemon with ``-s ADDRESS``
  and no port, so they always fetch their volfiles from ``ADDRESS:24007``.
  A node with ``private_network=True`` runs in a network namespace of its own
  (loopback only) instead, where 24007 is free; the gluster CLI still reaches
  it through its UNIX socket (a file: it works across network namespaces), and
  its FUSE clients must run in that namespace too (``FuseMount(netns=...)``).
* Brick ports: glusterd tests a port by binding ``0.0.0.0:PORT``, so a port
  used by any brick on any address is skipped; several glusterd can share one
  range (two nodes with the same 4-port range got disjoint ports).  Distinct
  ranges (``port_range``) only avoid a race between concurrent brick starts.
* ``management.logging-directory`` moves brick logs (``bricks/PATH.log``),
  ``glustershd.log`` and ``cmd_history.log``; glusterd's own log follows
  ``--log-file``; FUSE clients default to ``/var/log/glusterfs/MOUNT.log``.
* glusterd daemonizes and its parent exits after init (~1.5 s), with a
  non-zero status on failure.
"""

from __future__ import annotations

import errno
import re
import shlex
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self, overload

from . import _proc
from .errors import GlusterCommandError, GlusterError, GlusterNotInstalledError, GlusterTimeoutError

if TYPE_CHECKING:
    from .volume import Brick, Volume

#: Port glusterd listens on (also used by clients to fetch volfiles).
GLUSTERD_PORT = 24007

#: First port of GlusterFS's default brick port range.
DEFAULT_BASE_PORT = 49152

#: Longest path a UNIX socket address can hold on Linux (sun_path is 108 bytes).
_MAX_SOCKET_PATH = 107

#: "-S /var/run/gluster/HASH.socket" in a daemon's logged command line.
_LOGGED_SOCKET = re.compile(r"-S (/(?:var/)?run/gluster/[0-9a-f]+\.socket)")

#: gluster CLI errors worth retrying (another CLI transaction holds the cluster lock).
_TRANSIENT_ERRORS = (
    "Another transaction is in progress",
    "Locking failed",
    "Please try again after sometime",
    "is not in 'Peer in Cluster' state",
)


def gluster_installed() -> bool:
    """True if ``glusterd``, ``glusterfsd``, ``glusterfs`` and ``gluster`` are installed."""
    try:
        check_gluster_installed()
    except GlusterNotInstalledError:
        return False
    return True


def check_gluster_installed() -> None:
    """Raise :class:`GlusterNotInstalledError` (saying what to install) if GlusterFS is missing."""
    for program in ("glusterd", "glusterfsd", "glusterfs", "gluster"):
        _proc.find_program(program)


@dataclass(frozen=True)
class Peer:
    """One entry of ``gluster peer status``."""

    uuid: str
    hostname: str
    hostnames: tuple[str, ...]
    connected: bool
    state: str

    @property
    def in_cluster(self) -> bool:
        """True when the peer is connected and in state "Peer in Cluster"."""
        return self.connected and self.state == "Peer in Cluster"


class GlusterNode:
    """One isolated ``glusterd`` bound to its own loopback address.

    Args:
        state_dir: parent directory; the node lives in ``state_dir/name``.
        index: node number N; the default address is ``127.1.1.N`` and the
            default name ``nodeN``.
        address: address glusterd binds to (``transport.socket.bind-address``);
            bricks started by this glusterd bind to it too.  Any 127.0.0.0/8
            address works on Linux without configuring the loopback interface.
        name: directory name of the node under *state_dir*.
        port_range: ``(base_port, max_port)`` for bricks.  glusterd checks a
            port is free on all addresses before giving it to a brick, so
            several glusterd can share the default range; distinct ranges only
            remove a small race between concurrently starting bricks.
        log_level: glusterd log level (``INFO``, ``DEBUG``, ``TRACE``...).
        private_dirs: directories this node sees as its own, as a separate host
            would (e.g. GlusterFS's library directory with ``xlator/user`` and
            ``filter/``, a Python environment's site-packages): glusterd, and
            every brick it spawns, runs in a mount namespace of its own where each
            is an overlay of the real directory, so that what :meth:`on_host`
            installs or removes there changes this node only.  The namespace is
            held by a process of its own (``host.pid``), stopped with the node.
        private_network: run glusterd, and every brick and daemon it spawns, in
            a network namespace of its own with only the loopback interface (up,
            so all of 127.0.0.0/8 works), held by the same kind of process
            (``host.pid``).  The node then binds ``ADDRESS:24007`` there, next
            to a glusterd that holds ``0.0.0.0:24007`` on the host.  Only the
            network is private: files, mounts and PIDs are shared.  The CLI
            (:meth:`gluster`) works unchanged through the UNIX socket; a FUSE
            client of its volumes must run in :attr:`netns` (``FuseMount(...,
            netns=node.netns)``, automatic with :meth:`FuseMount.from_volume`);
            nothing outside the namespace can reach its bricks over TCP.

    The node must be able to bind ``ADDRESS:24007``.  A glusterd listening on
    ``0.0.0.0:24007`` (e.g. the distribution's ``glusterd.service``) makes that
    impossible outside a private network: :meth:`start` detects it and says so
    (:func:`glusterd_port_in_use` tells beforehand).
    """

    def __init__(
        self,
        state_dir: Path | str,
        index: int = 1,
        *,
        address: str | None = None,
        name: str | None = None,
        port_range: tuple[int, int] | None = None,
        log_level: str = "INFO",
        private_dirs: Sequence[Path | str] = (),
        private_network: bool = False,
    ) -> None:
        if index < 1:
            raise ValueError(f"node index must be >= 1, got {index}")
        self.index = index
        self.address = address or f"127.1.1.{index}"
        self.name = name or f"node{index}"
        self.state_dir = Path(state_dir).absolute()
        self.root = self.state_dir / self.name
        self.workdir = self.root / "glusterd"
        self.rundir = self.root / "run" / "gluster"
        self.logdir = self.root / "log"
        self.brick_root = self.root / "bricks"
        self.sockfile = self.workdir / "gd.sock"
        self.pidfile = self.root / "glusterd.pid"
        self.logfile = self.logdir / "glusterd.log"
        self.cli_logfile = self.logdir / "cli.log"
        self.port_range = port_range
        self.log_level = log_level
        self.private_dirs = [Path(d).absolute() for d in private_dirs]
        self.private_network = private_network
        self.host_dir = self.root / "host"
        self.host_pidfile = self.host_dir / "host.pid"
        if port_range is not None and not (0 < port_range[0] <= port_range[1] < 65536):
            raise ValueError(f"invalid port range {port_range!r}")

    def __repr__(self) -> str:
        return f"GlusterNode({self.name!r}, address={self.address!r}, root={str(self.root)!r})"

    # ------------------------------------------------------------------ paths

    def brick(self, volume: str, number: int) -> Brick:
        """A brick of *volume* on this node, under ``bricks/VOLUME/bNUMBER`` in the node dir."""
        from .volume import Brick

        return Brick(self.address, self.brick_root / volume / f"b{number}")

    def volume_dir(self, volume: str) -> Path:
        """glusterd's configuration directory of *volume* (holds its generated volfiles)."""
        return self.workdir / "vols" / volume

    def brick_log(self, brick_path: Path | str) -> Path:
        """Log file of the brick process serving *brick_path* on this node."""
        return self.logdir / "bricks" / f"{brick_file_name(brick_path)}.log"

    def volume(self, name: str) -> Volume:
        """A :class:`~glupy.gluster.volume.Volume` handle for *name*, managed through this node."""
        from .volume import Volume

        return Volume(self, name)

    # --------------------------------------------------------------- lifecycle

    @property
    def pid(self) -> int | None:
        """PID of this node's glusterd if it is running, else None."""
        pid = _proc.read_pidfile(self.pidfile)
        if pid is None or not _proc.pid_alive(pid):
            return None
        if str(self.pidfile) not in "\0".join(_proc.read_cmdline(pid)):
            return None  # stale pid file, PID reused by something else
        return pid

    def is_running(self) -> bool:
        """True if this node's glusterd process is alive."""
        return self.pid is not None

    def command(self) -> list[str]:
        """The glusterd command line used by :meth:`start` (as in tests/cluster.rc)."""
        opts = {
            "working-directory": str(self.workdir),
            "transport.socket.bind-address": self.address,
            "run-directory": str(self.rundir),
            "glusterd-sockfile": str(self.sockfile),
            "logging-directory": str(self.logdir),
        }
        if self.port_range is not None:
            opts["base-port"] = str(self.port_range[0])
            opts["max-port"] = str(self.port_range[1])
        cmd = [_proc.find_program("glusterd")]
        for key, value in opts.items():
            cmd += ["--xlator-option", f"management.{key}={value}"]
        cmd += [
            f"--log-file={self.logfile}",
            f"--log-level={self.log_level}",
            f"--pid-file={self.pidfile}",
        ]
        return cmd

    def start(self, timeout: float = 30.0) -> None:
        """Start glusterd and wait until it answers CLI requests.

        Does nothing if this node's glusterd is already running.

        Raises:
            GlusterNotInstalledError: GlusterFS is not installed.
            GlusterError: glusterd failed to start (the message includes the
                end of its log), or ``ADDRESS:24007`` is taken.
            GlusterTimeoutError: glusterd did not answer within *timeout*.
        """
        self._prepare_start()
        if self.is_running():
            return
        if not self.private_network:
            self._check_port_free()
        self._await_start(self._launch(), timeout)

    # ------------------------------------------------------- a host of its own

    @property
    def host_pid(self) -> int | None:
        """PID of the process that holds this node's namespaces (mount, network), if it runs."""
        pid = _proc.read_pidfile(self.host_pidfile)
        if pid is None or not _proc.pid_alive(pid) or str(self.host_dir) not in " ".join(_proc.read_cmdline(pid)):
            return None
        return pid

    @property
    def netns(self) -> Path | None:
        """``/proc/PID/ns/net`` of this node's private network namespace, or None.

        None when the node has no private network of its own: neither
        *private_network* nor a running holder in another network namespace
        than this process's (a node started with ``private_network=True`` and
        opened again without it, e.g. ``glupy --node DIR`` after ``glupy demo
        --keep``, still has its namespace found).  Raises :class:`GlusterError`
        when *private_network* is set and the holder is not running (start the
        node first).
        """
        pid = self.host_pid
        if pid is not None:
            path = Path(f"/proc/{pid}/ns/net")
            try:
                if path.stat().st_ino != Path("/proc/self/ns/net").stat().st_ino:
                    return path
            except OSError:
                pass
        if self.private_network:
            raise GlusterError(f"{self.name} has no network namespace yet: start it first")
        return None

    def _host_prefix(self) -> list[str]:
        """``nsenter`` into this node's namespaces (started if needed), or nothing."""
        if not self.private_dirs and not self.private_network:
            return []
        pid = self.host_pid
        if pid is None:
            pid = self._start_host()
        prefix = [_proc.find_program("nsenter")]
        if self.private_dirs:
            prefix.append(f"--mount=/proc/{pid}/ns/mnt")
        if self.private_network:
            prefix.append(f"--net=/proc/{pid}/ns/net")
        return prefix + ["--"]

    def _host_unshare(self) -> list[str]:
        """The ``unshare`` command line that makes this node's namespaces (see :meth:`_start_host`)."""
        cmd = [_proc.find_program("unshare")]
        if self.private_dirs:
            cmd += ["--mount", "--propagation", "private"]
        if self.private_network:
            cmd.append("--net")
        return cmd

    def _start_host(self) -> int:
        self.host_dir.mkdir(parents=True, exist_ok=True)
        mounts = []
        for i, lower in enumerate(self.private_dirs):
            upper, work = self.host_dir / f"upper{i}", self.host_dir / f"work{i}"
            upper.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True, exist_ok=True)
            mounts.append(f"mount -t overlay overlay -o lowerdir={shlex.quote(str(lower))},"
                          f"upperdir={shlex.quote(str(upper))},workdir={shlex.quote(str(work))} "
                          f"{shlex.quote(str(lower))}")
        # the host directory on the command line identifies the holder (see host_pid)
        hold = f"exec {shlex.quote(sys.executable)} -c 'import signal; signal.pause()' {shlex.quote(str(self.host_dir))}"
        # a new network namespace has only lo, down: up, it answers all of 127.0.0.0/8
        lo_up = [f"{shlex.quote(_proc.find_program('ip'))} link set lo up"] if self.private_network else []
        script = " && ".join(mounts + lo_up + ["echo ready", hold])
        holder = subprocess.Popen(self._host_unshare() + ["sh", "-c", script, str(self.host_dir)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True)
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            holder.kill()
            _, err = holder.communicate()
            what = " and ".join(w for w, on in (("a mount namespace", bool(self.private_dirs)),
                                                  ("a network namespace", self.private_network)) if on)
            raise GlusterError(f"cannot give {self.name} {what} of its own: {err.strip()}")
        self.host_pidfile.write_text(f"{holder.pid}\n")
        return holder.pid

    def on_host(self, *args: str, timeout: float = 300, check: bool = True,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command on this node's host: in its mount and network namespaces
        (see *private_dirs* and *private_network*)."""
        proc = subprocess.run(self._host_prefix() + list(args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)
        if check and proc.returncode != 0:
            raise GlusterCommandError(list(args), proc.returncode, proc.stdout, proc.stderr)
        return proc

    def _stop_host(self, timeout: float) -> None:
        pid = self.host_pid
        if pid is not None:
            _proc.terminate_pids([pid], timeout=timeout)
        self.host_pidfile.unlink(missing_ok=True)

    def _launch(self) -> subprocess.Popen[str]:
        # glusterd daemonizes; the parent exits once the daemon has initialized
        # (status 0) or failed (non-zero).  Takes about 1.5 s.
        return subprocess.Popen(
            self._host_prefix() + self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _await_start(self, proc: subprocess.Popen[str], timeout: float) -> None:
        cmd = self.command()
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self._kill_leftover_glusterd()
            raise GlusterTimeoutError(
                f"glusterd for {self.name} did not daemonize within {timeout:.0f}s\n"
                f"--- {self.logfile} ---\n{_proc.tail(self.logfile)}"
            ) from None
        if proc.returncode != 0:
            self._kill_leftover_glusterd()
            raise GlusterError(
                f"glusterd for {self.name} ({self.address}) failed to start "
                f"(exit status {proc.returncode}): {' '.join(cmd)}\n{stderr.strip()}\n"
                f"--- {self.logfile} ---\n{_proc.tail(self.logfile)}"
            )
        try:
            _proc.wait_for(
                self._answers,
                timeout,
                f"glusterd of {self.name} at {self.sockfile}",
                interval=0.1,
                detail=lambda: f"--- {self.logfile} ---\n{_proc.tail(self.logfile)}",
            )
        except BaseException:
            self.stop()
            raise

    def _prepare_start(self) -> None:
        check_gluster_installed()
        if self.is_running():
            return
        if len(str(self.sockfile)) > _MAX_SOCKET_PATH:
            raise GlusterError(
                f"socket path {self.sockfile} is longer than {_MAX_SOCKET_PATH} bytes; "
                "use a shorter state directory"
            )
        for directory in (self.workdir, self.rundir, self.logdir, self.brick_root):
            directory.mkdir(parents=True, exist_ok=True)

    def _answers(self) -> bool:
        if not self.sockfile.exists():
            return False
        try:
            self.gluster("peer", "status", timeout=10, retries=0)
        except GlusterError:
            return False
        return True

    def _check_port_free(self, wait: float = 5.0) -> None:
        """Raise if a glusterd here could not bind its port. A listener that is going
        away (a glusterd stopped a moment ago) is waited for up to `wait` seconds; the
        error names what still listens."""
        deadline = time.monotonic() + wait
        while True:
            try:
                in_use = glusterd_port_in_use(self.address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise GlusterError(
                        f"cannot bind {self.address}: address not available on this host "
                        "(use an address in 127.0.0.0/8)"
                    ) from exc
                raise
            if not in_use or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        if in_use:
            raise GlusterError(
                f"cannot start glusterd for {self.name}: {self.address}:{GLUSTERD_PORT} is in use "
                f"(by: {port_listeners()}). "
                f"Another glusterd listens there or on 0.0.0.0:{GLUSTERD_PORT} — typically the "
                "system glusterd: stop it first (`systemctl stop glusterd`, or kill its PID "
                "from /var/run/glusterd.pid), or give this node a network namespace of its own "
                "(GlusterNode(..., private_network=True); `glupy demo` does that by itself)."
            )

    def _kill_leftover_glusterd(self) -> None:
        leftovers = _proc.pids_with_cmdline_containing([f"--pid-file={self.pidfile}"])
        _proc.terminate_pids(leftovers, timeout=5)

    def owned_processes(self) -> dict[int, list[str]]:
        """Live processes belonging to this node: glusterd and what it spawned.

        Found through the pid files under the run directory (bricks, self-heal
        daemon, ...) and glusterd's pid file, plus any live process whose
        command line names this node's run or working directory.  Every PID is
        checked against its command line, so a recycled PID is never returned.
        """
        found: dict[int, list[str]] = {}
        pidfiles = [self.pidfile]
        if self.rundir.exists():
            pidfiles += sorted(self.rundir.rglob("*.pid"))
        for pidfile in pidfiles:
            pid = _proc.read_pidfile(pidfile)
            if pid is None or not _proc.pid_alive(pid):
                continue
            argv = _proc.read_cmdline(pid)
            if str(pidfile) in "\0".join(argv):
                found[pid] = argv
        # Daemons spawned by glusterd get "-p RUNDIR/..."; glusterd itself has
        # "working-directory=WORKDIR".  (Not WORKDIR/ in general: a FUSE client
        # started from a volfile in WORKDIR/vols/ is not the node's to kill.)
        found.update(
            _proc.pids_with_cmdline_containing(
                [str(self.rundir) + "/", f"management.working-directory={self.workdir}\0"]
            )
        )
        return found

    def stop(self, timeout: float = 15.0) -> None:
        """Stop this glusterd and every process it spawned (bricks, self-heal daemon...).

        Processes are found with :meth:`owned_processes` and stopped by PID
        (SIGTERM, then SIGKILL after *timeout*).  Volumes keep their
        configuration: starting the node again restarts the bricks of started
        volumes.  FUSE mounts and gfapi clients are not touched.  Also removes
        the stopped processes' UNIX sockets from ``/var/run/gluster``.
        """
        procs = self.owned_processes()
        sockets = {
            s for argv in procs.values() if (s := _proc.option_value(argv, "-S", "--socket-file"))
        }
        gd_pid = self.pid
        if gd_pid is not None:
            # glusterd first, so that it does not react to its bricks going away.
            _proc.terminate_pids([gd_pid], timeout=timeout)
        _proc.terminate_pids([p for p in procs if p != gd_pid], timeout=timeout)
        for path in sockets | self._logged_sockets():
            unlink_stale_socket(Path(path))
        if _proc.read_pidfile(self.pidfile) is not None and self.pid is None:
            self.pidfile.unlink(missing_ok=True)
        self._stop_host(timeout)

    def _logged_sockets(self) -> set[str]:
        """UNIX sockets named in the command lines logged by this node's daemons.

        Catches sockets of bricks that died on their own (crashed), which
        :meth:`owned_processes` cannot see any more.
        """
        found: set[str] = set()
        if not self.logdir.is_dir():
            return found
        for log in self.logdir.rglob("*.log"):
            try:
                with open(log, errors="replace") as fh:
                    for line in fh:
                        if "cmdlinestr=" in line:
                            found.update(_LOGGED_SOCKET.findall(line))
            except OSError:
                continue
        return found

    def restart(self, timeout: float = 30.0) -> None:
        """Stop glusterd only (bricks keep running) and start it again."""
        pid = self.pid
        if pid is not None:
            _proc.terminate_pids([pid], timeout=timeout)
        self.start(timeout=timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --------------------------------------------------------------------- CLI

    def cli_command(self, *args: str, xml: bool = False) -> list[str]:
        """The ``gluster`` argument vector :meth:`gluster` runs for *args*."""
        cmd = [
            _proc.find_program("gluster"),
            f"--glusterd-sock={self.sockfile}",
            "--mode=script",
            f"--log-file={self.cli_logfile}",
        ]
        if xml:
            cmd.append("--xml")
        return cmd + [str(a) for a in args]

    @overload
    def gluster(
        self, *args: str, xml: Literal[False] = ..., timeout: float = ..., retries: int = ...
    ) -> str: ...

    @overload
    def gluster(
        self, *args: str, xml: Literal[True], timeout: float = ..., retries: int = ...
    ) -> ET.Element: ...

    def gluster(
        self, *args: str, xml: bool = False, timeout: float = 180.0, retries: int = 10
    ) -> str | ET.Element:
        """Run the ``gluster`` CLI against this node's glusterd.

        Args:
            args: CLI words, e.g. ``("volume", "info", "v0")``.
            xml: add ``--xml`` and return the parsed ``<cliOutput>`` element
                (after checking ``opRet``); otherwise return stdout.
            timeout: seconds before the CLI process is killed.
            retries: times to retry (1 s apart) when glusterd answers that
                another transaction holds the cluster lock.

        Raises:
            GlusterCommandError: non-zero exit status or ``opRet != 0``; the
                message carries the CLI's error text.
        """
        cmd = self.cli_command(*args, xml=xml)
        for attempt in range(retries + 1):
            try:
                proc = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise GlusterCommandError(
                    cmd, -1, _text(exc.stdout), f"timed out after {timeout:.0f}s"
                ) from None
            out, err, rc = proc.stdout, proc.stderr, proc.returncode
            root: ET.Element | None = None
            if xml and out.strip():
                try:
                    root = ET.fromstring(out)
                except ET.ParseError:
                    root = None
                if root is not None:
                    op_ret = root.findtext("opRet", "0").strip()
                    if op_ret not in ("0", ""):
                        err = (root.findtext("opErrstr") or "").strip() or err or out
                        rc = rc or 1
            if rc == 0:
                if not xml:
                    return out
                if root is None:
                    raise GlusterCommandError(cmd, rc, out, "unparsable --xml output\n" + err)
                return root
            message = err or out
            if attempt < retries and any(t in message for t in _TRANSIENT_ERRORS):
                time.sleep(1.0)
                continue
            raise GlusterCommandError(cmd, rc, out, err)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------- peers

    def peers(self) -> list[Peer]:
        """``gluster peer status``, parsed."""
        root = self.gluster("peer", "status", xml=True)
        result = []
        for el in root.findall("peerStatus/peer"):
            hostnames = tuple(h.text or "" for h in el.findall("hostnames/hostname"))
            result.append(
                Peer(
                    uuid=el.findtext("uuid", ""),
                    hostname=el.findtext("hostname", ""),
                    hostnames=hostnames,
                    connected=el.findtext("connected", "0").strip() == "1",
                    state=el.findtext("stateStr", ""),
                )
            )
        return result

    def peer_probe(self, address: str) -> None:
        """``gluster peer probe ADDRESS``."""
        self.gluster("peer", "probe", address)

    def uuid(self) -> str:
        """This glusterd's UUID (from ``glusterd.info`` in its working directory)."""
        for line in (self.workdir / "glusterd.info").read_text().splitlines():
            if line.startswith("UUID="):
                return line.split("=", 1)[1].strip()
        raise GlusterError(f"no UUID in {self.workdir / 'glusterd.info'}")

    def volume_names(self) -> list[str]:
        """Names of all volumes known to this glusterd."""
        root = self.gluster("volume", "list", xml=True)
        return [v.text for v in root.findall("volList/volume") if v.text]


def port_listeners(port: int = GLUSTERD_PORT) -> str:
    """Who listens on TCP `port`, as ``ss`` says ("unknown" if it cannot tell): for an
    error or skip message."""
    try:
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "; ".join(" ".join(line.split()[3:]) for line in out.splitlines()) or "unknown"


def glusterd_port_in_use(address: str) -> bool:
    """True if a glusterd at *address* could not bind ``ADDRESS:24007`` in this
    network namespace (something listens there, or on ``0.0.0.0:24007``).

    Binds the port for a moment (with ``SO_REUSEADDR``, as glusterd does), so a
    socket left in TIME_WAIT does not count.  Raises :class:`OSError` for any other
    failure (``EADDRNOTAVAIL``: *address* is not on this host).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, GLUSTERD_PORT))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def brick_file_name(brick_path: Path | str) -> str:
    """How glusterd names a brick in file names (its log, its volfile): the path without
    its leading slash, every other slash a dash (``/data/b0`` is ``data-b0``)."""
    return str(brick_path).strip("/").replace("/", "-")


def unlink_stale_socket(path: Path) -> None:
    """Remove a UNIX socket file nobody listens on any more."""
    if not path.is_socket():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)


class Pool:
    """N :class:`GlusterNode` on one machine joined into one trusted storage pool.

    Node *i* (1-based) gets address ``PREFIX.i`` and directory
    ``state_dir/node{i}``; each node gets its own brick port range of
    *ports_per_node* ports starting at ``base_port + (i - 1) * ports_per_node``.

    Example::

        with Pool(tmp, size=3) as pool:
            pool[0].gluster("peer", "status")
    """

    def __init__(
        self,
        state_dir: Path | str,
        size: int = 3,
        *,
        prefix: str = "127.1.1",
        base_port: int = DEFAULT_BASE_PORT,
        ports_per_node: int = 100,
        log_level: str = "INFO",
        private_dirs: Sequence[Path | str] = (),
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one node")
        self.state_dir = Path(state_dir).absolute()
        self.nodes: list[GlusterNode] = [
            GlusterNode(
                self.state_dir,
                i,
                address=f"{prefix}.{i}",
                port_range=(base_port + (i - 1) * ports_per_node, base_port + i * ports_per_node - 1),
                log_level=log_level,
                private_dirs=private_dirs,
            )
            for i in range(1, size + 1)
        ]

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, i: int) -> GlusterNode:
        return self.nodes[i]

    def __iter__(self) -> Iterator[GlusterNode]:
        return iter(self.nodes)

    def __repr__(self) -> str:
        return f"Pool({[n.address for n in self.nodes]!r})"

    def start(self, timeout: float = 60.0) -> None:
        """Start every glusterd, probe all peers from the first node, wait until connected.

        On failure, every node already started is stopped before the error propagates.
        """
        try:
            # glusterd takes ~1.5 s to daemonize: start them all at once.
            launched = []
            for node in self.nodes:
                node._prepare_start()
                if not node.is_running():
                    if not node.private_network:
                        node._check_port_free()
                    launched.append((node, node._launch()))
            failure: BaseException | None = None
            for node, proc in launched:  # await every launch, even after a failure
                try:
                    node._await_start(proc, timeout)
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    failure = failure or exc
            if failure is not None:
                raise failure
            first = self.nodes[0]
            for node in self.nodes[1:]:
                first.peer_probe(node.address)
            self.wait_connected(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Wait until every node sees every other node connected and "Peer in Cluster"."""
        expected = len(self.nodes) - 1

        def all_connected() -> bool:
            for node in self.nodes:
                try:
                    peers = node.peers()
                except GlusterError:
                    return False
                if sum(p.in_cluster for p in peers) != expected:
                    return False
            return True

        def detail() -> str:
            lines = []
            for node in self.nodes:
                try:
                    lines.append(f"{node.name}: {node.peers()}")
                except GlusterError as exc:
                    lines.append(f"{node.name}: {exc}")
            return "\n".join(lines)

        _proc.wait_for(all_connected, timeout, f"{len(self.nodes)} peers connected", 0.3, detail)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every node (see :meth:`GlusterNode.stop`); errors are raised after all were tried."""
        errors: list[BaseException] = []
        for node in reversed(self.nodes):
            try:
                node.stop(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                errors.append(exc)
        if errors:
            raise GlusterError(f"failed to stop {len(errors)} node(s): {errors}")

    def bricks(self, volume: str, count: int, start: int = 0) -> list[Brick]:
        """*count* bricks for *volume* spread round-robin over the nodes.

        With replica R and ``R <= len(pool)``, consecutive bricks (one replica
        set) land on distinct nodes: e.g. 4 bricks on 3 nodes ->
        node1, node2 | node3, node1.
        """
        return [
            self.nodes[i % len(self.nodes)].brick(volume, i)
            for i in range(start, start + count)
        ]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = [
    "DEFAULT_BASE_PORT",
    "GLUSTERD_PORT",
    "GlusterNode",
    "Peer",
    "Pool",
    "check_gluster_installed",
    "gluster_installed",
    "glusterd_port_in_use",
    "unlink_stale_socket",
]
