"""Create, start, inspect and delete GlusterFS volumes through a :class:`GlusterNode`.

Output of ``gluster ... --xml`` is parsed with :mod:`xml.etree` into small
dataclasses (:class:`VolumeInfo`, :class:`VolumeStatus`).  glustercli 0.8.6
could drive the CLI too, but only through the process-global
``glustercli.cli.utils.GLUSTERD_SOCKET`` (not usable with several nodes at
once, and it cannot pass ``--log-file``), and its status parser drops the
self-heal daemon entries and ports, so it is not used here.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from . import _proc
from .errors import GlusterCommandError, GlusterError
from .node import GlusterNode, brick_file_name, unlink_stale_socket

if TYPE_CHECKING:
    from .mount import FuseMount


@dataclass(frozen=True)
class Brick:
    """A brick: ``HOST:PATH``."""

    host: str
    path: Path

    @classmethod
    def parse(cls, spec: str) -> Brick:
        """Parse ``"HOST:/path"``."""
        host, sep, path = spec.rpartition(":")
        if not sep or not host or not path.startswith("/"):
            raise ValueError(f"not a brick spec (HOST:/PATH): {spec!r}")
        return cls(host, Path(path))

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


BrickLike: TypeAlias = Brick | str


@dataclass(frozen=True)
class VolumeInfo:
    """``gluster volume info VOL``, parsed."""

    name: str
    id: str
    status: str  #: "Created", "Started" or "Stopped"
    type: str  #: e.g. "Replicate", "Distributed-Replicate", "Distribute"
    brick_count: int
    dist_count: int
    replica_count: int
    arbiter_count: int
    disperse_count: int
    redundancy_count: int
    transport: str  #: "tcp", "rdma" or "tcp,rdma"
    bricks: tuple[Brick, ...]
    options: Mapping[str, str]

    @property
    def started(self) -> bool:
        """True if the volume is started."""
        return self.status == "Started"


@dataclass(frozen=True)
class BrickStatus:
    """One brick line of ``gluster volume status VOL``."""

    brick: Brick
    online: bool
    pid: int | None
    port: int | None
    peer_uuid: str


@dataclass(frozen=True)
class DaemonStatus:
    """A volume daemon line of ``gluster volume status`` (e.g. "Self-heal Daemon")."""

    name: str
    host: str
    online: bool
    pid: int | None
    peer_uuid: str


@dataclass(frozen=True)
class VolumeStatus:
    """``gluster volume status VOL``, parsed."""

    name: str
    bricks: tuple[BrickStatus, ...]
    daemons: tuple[DaemonStatus, ...] = field(default=())

    @property
    def all_bricks_online(self) -> bool:
        """True if every brick listed is online with a PID."""
        return bool(self.bricks) and all(b.online and b.pid for b in self.bricks)


_TRANSPORTS = {"0": "tcp", "1": "rdma", "2": "tcp,rdma"}


def _int(text: str | None) -> int | None:
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


def parse_volume_info(root: ET.Element) -> list[VolumeInfo]:
    """Parse the ``<cliOutput>`` of ``gluster volume info --xml``."""
    result = []
    for el in root.findall("volInfo/volumes/volume"):
        bricks = tuple(
            Brick.parse(b.findtext("name") or (b.text or "").strip())
            for b in el.findall("bricks/brick")
        )
        options = {
            o.findtext("name", ""): o.findtext("value", "") for o in el.findall("options/option")
        }
        result.append(
            VolumeInfo(
                name=el.findtext("name", ""),
                id=el.findtext("id", ""),
                status=el.findtext("statusStr", ""),
                type=el.findtext("typeStr", ""),
                brick_count=int(el.findtext("brickCount", "0")),
                dist_count=int(el.findtext("distCount", "0")),
                replica_count=int(el.findtext("replicaCount", "0")),
                arbiter_count=int(el.findtext("arbiterCount", "0")),
                disperse_count=int(el.findtext("disperseCount", "0")),
                redundancy_count=int(el.findtext("redundancyCount", "0")),
                transport=_TRANSPORTS.get(el.findtext("transport", "0"), "tcp"),
                bricks=bricks,
                options=options,
            )
        )
    return result


def parse_volume_status(root: ET.Element) -> list[VolumeStatus]:
    """Parse the ``<cliOutput>`` of ``gluster volume status [VOL] --xml``."""
    result = []
    for vol in root.findall("volStatus/volumes/volume"):
        bricks: list[BrickStatus] = []
        daemons: list[DaemonStatus] = []
        for node in vol.findall("node"):
            host = node.findtext("hostname", "")
            path = node.findtext("path", "")
            online = node.findtext("status", "0").strip() == "1"
            pid = _int(node.findtext("pid"))
            uuid = node.findtext("peerid", "")
            if path.startswith("/"):
                port = _int(node.findtext("ports/tcp") or node.findtext("port"))
                bricks.append(BrickStatus(Brick(host, Path(path)), online, pid, port, uuid))
            else:
                daemons.append(DaemonStatus(host, path, online, pid, uuid))
        result.append(VolumeStatus(vol.findtext("volName", ""), tuple(bricks), tuple(daemons)))
    return result


class Volume:
    """A GlusterFS volume managed through one node's glusterd.

    Create one with :meth:`Volume.create` (or :meth:`GlusterNode.volume` for
    an existing volume).  Clients fetch its volfile from :attr:`server`.
    """

    def __init__(self, node: GlusterNode, name: str) -> None:
        self.node = node
        self.name = name

    def __repr__(self) -> str:
        return f"Volume({self.name!r}, node={self.node.name!r})"

    @property
    def server(self) -> str:
        """Address of the glusterd that clients can fetch the volfile from."""
        return self.node.address

    # ---------------------------------------------------------------- creation

    @classmethod
    def create(
        cls,
        node: GlusterNode,
        name: str,
        bricks: Sequence[BrickLike],
        *,
        replica: int | None = None,
        arbiter: int | None = None,
        disperse: int | None = None,
        redundancy: int | None = None,
        transport: str | None = None,
        force: bool = True,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """``gluster volume create NAME [replica N [arbiter N]] [disperse N] ... BRICKS [force]``.

        Brick directories on this machine are created if missing.  *force* is
        on by default: bricks on the root filesystem (and several bricks of a
        replica set on one host) need it.  *options* are set right after
        creation.  If setting them fails, the volume is deleted again.
        """
        if not bricks:
            raise ValueError("a volume needs at least one brick")
        specs = [b if isinstance(b, Brick) else Brick.parse(b) for b in bricks]
        for brick in specs:
            brick.path.mkdir(parents=True, exist_ok=True)
        args: list[str] = ["volume", "create", name]
        if replica:
            args += ["replica", str(replica)]
            if arbiter:
                args += ["arbiter", str(arbiter)]
        if disperse:
            args += ["disperse", str(disperse)]
        if redundancy:
            args += ["redundancy", str(redundancy)]
        if transport:
            args += ["transport", transport]
        args += [str(b) for b in specs]
        if force:
            args.append("force")
        node.gluster(*args)
        volume = cls(node, name)
        if options:
            try:
                volume.set_options(options)
            except BaseException:
                volume.delete(remove_bricks=True)
                raise
        return volume

    # --------------------------------------------------------------- lifecycle

    @classmethod
    @contextmanager
    def running(cls, node: GlusterNode, name: str, bricks: Sequence[BrickLike], **create_args: object
                ) -> Iterator[Volume]:
        """A volume created and started for a ``with`` block, then deleted (bricks too):
        ``with Volume.running(node, "v", [node.brick("v", 0)]) as vol: ...``; keyword
        arguments as for :meth:`create`."""
        vol = cls.create(node, name, bricks, **create_args)  # type: ignore[arg-type]
        try:
            vol.start()
            yield vol
        finally:
            vol.delete()

    def start(self, *, force: bool = False, wait: bool = True, timeout: float = 60.0) -> None:
        """``gluster volume start``; with *wait*, also wait until all bricks are online."""
        args = ["volume", "start", self.name]
        if force:
            args.append("force")
        self.node.gluster(*args)
        if wait:
            self.wait_bricks_online(timeout=timeout)

    def stop(self, *, force: bool = False) -> None:
        """``gluster volume stop`` (no-op if the volume is not started).

        Removes the stopped bricks' UNIX sockets from ``/var/run/gluster``,
        which glusterd leaves behind.
        """
        if not self.info().started:
            return
        sockets = self._brick_sockets()
        args = ["volume", "stop", self.name]
        if force:
            args.append("force")
        self.node.gluster(*args)
        for path in sockets:
            unlink_stale_socket(path)

    def delete(self, *, remove_bricks: bool = True, stop: bool = True) -> None:
        """Delete the volume (stopping it first if *stop*).

        With *remove_bricks*, brick directories are removed too — only those
        inside the node's state directory, never anything elsewhere.
        """
        info = self.info()
        if stop and info.started:
            self.stop(force=True)
        self.node.gluster("volume", "delete", self.name)
        if remove_bricks:
            state = self.node.state_dir.resolve()
            for brick in info.bricks:
                path = brick.path.resolve()
                if path != state and path.is_relative_to(state) and path.exists():
                    shutil.rmtree(path, ignore_errors=True)
                    # also the now-empty per-volume parent (bricks/VOL)
                    try:
                        path.parent.rmdir()
                    except OSError:
                        pass

    def exists(self) -> bool:
        """True if the volume is known to glusterd."""
        return self.name in self.node.volume_names()

    # ----------------------------------------------------------------- options

    def set(self, key: str, value: str | int | bool) -> None:
        """``gluster volume set VOL KEY VALUE`` (booleans become on/off)."""
        if isinstance(value, bool):
            value = "on" if value else "off"
        self.node.gluster("volume", "set", self.name, key, str(value))

    def set_options(self, options: Mapping[str, str | int | bool]) -> None:
        """Set several options, one CLI call each."""
        for key, value in options.items():
            self.set(key, value)

    def reset(self, key: str | None = None, *, force: bool = False) -> None:
        """``gluster volume reset VOL [KEY|all] [force]``."""
        args = ["volume", "reset", self.name, key or "all"]
        if force:
            args.append("force")
        self.node.gluster(*args)

    def get(self, key: str) -> str:
        """The effective value of option *key* (``gluster volume get``)."""
        root = self.node.gluster("volume", "get", self.name, key, xml=True)
        for opt in root.findall("volGetopts/Opt"):
            if opt.findtext("Option") == key:
                return opt.findtext("Value", "")
        opts = root.findall("volGetopts/Opt")
        if len(opts) == 1:
            return opts[0].findtext("Value", "")
        raise GlusterError(f"option {key!r} not found for volume {self.name}")

    # ------------------------------------------------------------------ status

    def info(self) -> VolumeInfo:
        """``gluster volume info VOL``, parsed."""
        root = self.node.gluster("volume", "info", self.name, xml=True)
        infos = parse_volume_info(root)
        if not infos:
            raise GlusterError(f"volume {self.name} not found in `gluster volume info` output")
        return infos[0]

    def status(self) -> VolumeStatus:
        """``gluster volume status VOL``, parsed (the volume must be started)."""
        root = self.node.gluster("volume", "status", self.name, xml=True)
        statuses = parse_volume_status(root)
        if not statuses:
            raise GlusterError(f"volume {self.name} not found in `gluster volume status` output")
        return statuses[0]

    def brick_pids(self) -> dict[Brick, int]:
        """PIDs of the online bricks."""
        return {b.brick: b.pid for b in self.status().bricks if b.online and b.pid}

    def wait_bricks_online(self, timeout: float = 60.0) -> VolumeStatus:
        """Wait until every brick of the volume is online; return the status."""
        expected = self.info().brick_count

        def ready() -> VolumeStatus | None:
            try:
                st = self.status()
            except GlusterCommandError:
                return None
            if len(st.bricks) == expected and st.all_bricks_online:
                return st
            return None

        def detail() -> str:
            try:
                return str(self.status())
            except GlusterError as exc:
                return str(exc)

        return _proc.wait_for(ready, timeout, f"bricks of volume {self.name} online", 0.3, detail)

    def _brick_sockets(self) -> list[Path]:
        sockets = []
        try:
            status = self.status()
        except GlusterError:
            return []
        pids = [b.pid for b in status.bricks if b.pid] + [d.pid for d in status.daemons if d.pid]
        for pid in pids:
            sock = _proc.option_value(_proc.read_cmdline(pid), "-S", "--socket-file")
            if sock:
                sockets.append(Path(sock))
        return sockets

    # ---------------------------------------------------------------- volfiles

    def volfile_dir(self, node: GlusterNode | None = None) -> Path:
        """Directory with the generated volfiles on *node* (default: the managing node)."""
        return (node or self.node).volume_dir(self.name)

    def client_volfile(self, node: GlusterNode | None = None, *, trusted: bool = False) -> Path:
        """Path of the generated FUSE client volfile ``VOL.tcp-fuse.vol``.

        With *trusted*, ``trusted-VOL.tcp-fuse.vol`` (the one glusterd's own
        clients such as the self-heal daemon use).
        """
        prefix = "trusted-" if trusted else ""
        path = self.volfile_dir(node) / f"{prefix}{self.name}.tcp-fuse.vol"
        if not path.exists():
            raise GlusterError(f"client volfile {path} does not exist (is volume {self.name} created?)")
        return path

    def brick_volfiles(self, node: GlusterNode | None = None) -> dict[Brick, Path]:
        """Brick volfiles (``VOL.HOST.BRICK-PATH.vol``) on *node*, by brick."""
        directory = self.volfile_dir(node)
        result = {}
        for brick in self.info().bricks:
            path = directory / f"{self.name}.{brick.host}.{brick_file_name(brick.path)}.vol"
            if path.exists():
                result[brick] = path
        return result

    def volfiles(self, node: GlusterNode | None = None) -> list[Path]:
        """Every generated ``*.vol`` file of the volume on *node*."""
        return sorted(self.volfile_dir(node).glob("*.vol"))

    def brick_logs(self) -> dict[Brick, Path]:
        """Brick log files of the volume's bricks that are served by this volume's node."""
        return {
            b: self.node.brick_log(b.path) for b in self.info().bricks if b.host == self.node.address
        }

    # ------------------------------------------------------------------ mounts

    def fuse_mount(
        self,
        mountpoint: Path | str,
        *,
        log_file: Path | str | None = None,
        log_level: str = "INFO",
        extra_args: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> FuseMount:
        """Mount the volume with FUSE at *mountpoint* and return the mounted :class:`FuseMount`."""
        from .mount import FuseMount

        mount = FuseMount.from_volume(
            self, mountpoint, log_file=log_file, log_level=log_level, extra_args=extra_args
        )
        mount.mount(timeout=timeout)
        return mount


def bricks_for(nodes: Iterable[GlusterNode], volume: str, count: int) -> list[Brick]:
    """*count* bricks for *volume*, round-robin over *nodes* (see :meth:`Pool.bricks`)."""
    nodes = list(nodes)
    return [nodes[i % len(nodes)].brick(volume, i) for i in range(count)]


__all__ = [
    "Brick",
    "BrickStatus",
    "DaemonStatus",
    "Volume",
    "VolumeInfo",
    "VolumeStatus",
    "bricks_for",
    "parse_volume_info",
    "parse_volume_status",
]
