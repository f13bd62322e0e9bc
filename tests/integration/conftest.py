"""Fixtures that run real GlusterFS: isolated glusterd nodes, volumes, FUSE mounts, gfapi clients.

Everything lives under one session state directory (``GLUPY_STATE_DIR`` or a
pytest temp dir): ``single/`` for the single node on 127.1.1.1, ``pool/`` for
the 3-node pool on 127.1.2.1-3, ``mnt/`` for mount points, ``clients/`` for
client logs.  At the end of the session, any process or mount still
referring to that directory is cleaned up *and reported as an error*.

Without GlusterFS (or without root / FUSE) the tests are skipped; with
``GLUPY_REQUIRE_GLUSTER=1`` they fail instead, so a CI run cannot silently
skip them.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from glupy import gfapi
from glupy.gluster import (
    FuseMount,
    GlusterError,
    GlusterNode,
    GlusterNotInstalledError,
    Pool,
    Volume,
    _proc,
    check_gluster_installed,
    mount_entry,
)
from glupy.gluster import xlators
from glupy.gluster.node import unlink_stale_socket
from glupy.testing.fixtures import misbehaving_mounts, skip_without_fuse

REQUIRE_ENV = "GLUPY_REQUIRE_GLUSTER"
STATE_ENV = "GLUPY_STATE_DIR"

#: Brick port ranges: single node and pool nodes never share ports.
SINGLE_NODE_PORTS = (29152, 29251)
POOL_BASE_PORT = 29252
POOL_PREFIX = "127.1.2"


def _unavailable(reason: str) -> None:
    """Skip, or fail when GLUPY_REQUIRE_GLUSTER=1."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def _check_environment(*, fuse: bool = False, gfapi_lib: bool = False) -> None:
    try:
        check_gluster_installed()
    except GlusterNotInstalledError as exc:
        _unavailable(str(exc))
    if os.geteuid() != 0:
        _unavailable("GlusterFS integration tests must run as root (glusterd, bricks, FUSE)")
    if fuse and not os.path.exists("/dev/fuse"):
        _unavailable("/dev/fuse is missing: FUSE mounts are impossible here (modprobe fuse)")
    if gfapi_lib:
        try:
            gfapi.lib()
        except GlusterNotInstalledError as exc:
            _unavailable(str(exc))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


# --------------------------------------------------------------------------- session


OWNER_FILE = ".glupy-session"


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()[19].decode()  # field 22: starttime


def _session_alive(state: Path) -> bool:
    try:
        pid_text, start = (state / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return False
    return _process_start(int(pid_text)) == start


def _reap_dead_sessions() -> list[str]:
    """Clean up after test sessions that died without teardown (e.g. a crashed interpreter).

    Looks at the processes bound to a loopback address (glusterd and bricks),
    finds the state directory they belong to by its owner file, and — only if
    the pytest process that owned it is gone — unmounts and stops everything
    that refers to that directory.  Processes of live sessions and anything
    not created under a session state directory are left alone.
    """
    needles = ["transport.socket.bind-address=127."]
    states: set[Path] = set()
    for argv in _proc.pids_with_cmdline_containing(needles).values():
        for arg in argv:
            path = arg.split("=", 1)[-1]
            if not path.startswith("/"):
                continue
            for parent in list(Path(path).parents)[:-1]:
                if (parent / OWNER_FILE).is_file():
                    states.add(parent)
                    break
    report = []
    for state in sorted(states):
        if not _session_alive(state):
            found = _leftovers(state)
            if found:
                report.append(f"{state}:\n{found}")
    return report


@pytest.fixture(scope="session")
def gluster_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Session state directory; at teardown, fails if anything still uses it.

    At setup, leftovers of earlier sessions that died without teardown are
    cleaned up first (with a warning).
    """
    _check_environment()
    if os.environ.get(STATE_ENV):
        state = Path(os.environ[STATE_ENV]).absolute()
        state.mkdir(parents=True, exist_ok=True)
    else:
        state = tmp_path_factory.mktemp("gluster")
    reaped = _reap_dead_sessions()
    if reaped:
        warnings.warn("cleaned up after dead test sessions:\n" + "\n".join(reaped), stacklevel=1)
    (state / OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid())}\n")
    yield state
    leftovers = _leftovers(state)
    if leftovers:
        pytest.fail("left behind by the GlusterFS fixtures (now cleaned up):\n" + leftovers, pytrace=False)


def _leftovers(state: Path) -> str:
    """Unmount and kill whatever still refers to *state*; describe it."""
    problems: list[str] = []
    try:
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh]
    except OSError:
        points = []
    for point in points:
        if point.startswith(str(state) + "/"):
            problems.append(f"mount: {point} ({mount_entry(point)})")
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    procs = _proc.pids_with_cmdline_containing([str(state) + "/"])
    sockets: list[Path] = []
    for pid, argv in procs.items():
        problems.append(f"process {pid}: {' '.join(argv)}")
        socket_arg = _proc.option_value(argv, "-S", "--socket-file")
        if socket_arg:
            sockets.append(Path(socket_arg))
    _proc.terminate_pids(procs, timeout=5)
    for path in sockets:  # brick/shd sockets live in /var/run/gluster
        unlink_stale_socket(path)
    return "\n".join(problems)


#: Test modules that run a glusterd of their own: address 127.1.1.N and brick ports.
#: Distinct addresses and port ranges keep one module's volumes away from another's.
MODULE_NODES: dict[str, tuple[int, tuple[int, int]]] = {
    "test_safety": (4, (29600, 29699)),
    "test_core": (5, (29700, 29799)),
    "test_shared_suite": (6, (29300, 29399)),
    "test_cli": (8, (29400, 29499)),
    "test_negative_volume": (10, (29000, 29099)),
    "test_library": (12, (29200, 29299)),
    "test_mirror_trace": (13, (28800, 28899)),
    "test_crypt_volume": (14, (28600, 28699)),
    "test_chaos_volume": (15, (28400, 28499)),
    "test_events_volume": (16, (27900, 27999)),
    "test_gfapi_doc": (19, (27600, 27699)),
    "test_hostile": (21, (27000, 27099)),
    "test_reload_live": (24, (26800, 26899)),
}


def _module_name(request: pytest.FixtureRequest) -> str:
    """The requesting test module's name without its package: ``test_NAME``."""
    return request.module.__name__.rsplit(".", 1)[-1]


@pytest.fixture(scope="module")
def module_node(request: pytest.FixtureRequest, gluster_state_dir: Path) -> Iterator[GlusterNode]:
    """A glusterd of the requesting module's own (see MODULE_NODES)."""
    module = _module_name(request)
    index, ports = MODULE_NODES[module]
    node = GlusterNode(gluster_state_dir / module.removeprefix("test_"), index, port_range=ports)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def aliased_node(request: pytest.FixtureRequest, module_node: GlusterNode) -> Iterator[GlusterNode]:
    """The module's own glusterd, with ``user/NAME.so`` (NAME: the module's ``NAME``)
    loading the bridge, so that ``user.xlator.NAME`` puts a glupy translator on bricks."""
    name = request.module.NAME
    xlators.ensure_alias(name)
    try:
        yield module_node
    finally:
        xlators.remove_alias(name)


# --------------------------------------------------------------------------- misbehaving translators over FUSE
# For the modules that mount one misbehaving translator at a time over storage/posix (test_hostile,
# test_adversary*): they name the translators' module in MODULE and ask for FUSE with
# ``pytestmark = pytest.mark.usefixtures("needs_fuse")``.


@pytest.fixture
def needs_fuse() -> None:
    """Skips the test unless this is root with /dev/fuse and the bridge under test is installed
    (:func:`glupy.testing.fixtures.skip_without_fuse`)."""
    skip_without_fuse()


@pytest.fixture(scope="module")
def state(request: pytest.FixtureRequest, gluster_state_dir: Path) -> Path:
    """The requesting module's own directory under the session state directory, created:
    ``NAME`` for test_NAME.py (the directory its module_node uses too). Its volfiles, bricks,
    mount points and client logs go there. A module may define a ``state`` of its own."""
    path = gluster_state_dir / _module_name(request).removeprefix("test_")
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def mounted(request: pytest.FixtureRequest, state: Path) -> Iterator[Callable[..., FuseMount]]:
    """``mounted(label, cls, **options)``: a :func:`glupy.testing.fixtures.misbehaving_mount` of
    ``MODULE:cls`` (MODULE: the requesting module's), mounted under `state`; every mount made is
    stopped at teardown (:func:`glupy.testing.fixtures.misbehaving_mounts`)."""
    with misbehaving_mounts(state, request.module.MODULE) as make:
        yield make


@pytest.fixture(scope="session")
def gluster_node(gluster_state_dir: Path) -> Iterator[GlusterNode]:
    """One isolated glusterd on 127.1.1.1 (started once per session)."""
    node = GlusterNode(gluster_state_dir / "single", 1, port_range=SINGLE_NODE_PORTS)
    try:
        node.start()
    except GlusterError as exc:
        node.stop()
        pytest.fail(f"cannot start glusterd: {exc}", pytrace=False)
    yield node
    _delete_all_volumes(node)
    node.stop()


@pytest.fixture(scope="session")
def gluster_pool(gluster_state_dir: Path) -> Iterator[Pool]:
    """Three glusterd on 127.1.2.1-3 in one trusted pool (started once per session)."""
    pool = Pool(gluster_state_dir / "pool", 3, prefix=POOL_PREFIX, base_port=POOL_BASE_PORT)
    try:
        pool.start()
    except GlusterError as exc:
        pytest.fail(f"cannot start the 3-node pool: {exc}", pytrace=False)
    yield pool
    _delete_all_volumes(pool[0])
    pool.stop()


def _delete_all_volumes(node: GlusterNode) -> None:
    try:
        names = node.volume_names()
    except GlusterError:
        return
    for name in names:
        try:
            node.volume(name).delete()
        except GlusterError:
            pass


# ---------------------------------------------------------------------- factories

_volume_counter = itertools.count(1)
_mount_counter = itertools.count(1)


class VolumeFactory:
    """Creates uniquely named volumes; deletes them (and their bricks) at teardown.

    Call it as ``volume_factory(where, bricks=N, replica=R, ...)``; *where* is
    a :class:`GlusterNode`, a :class:`Pool` (bricks spread round-robin over its
    nodes, managed through the first node) or None for the session's single
    node.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.created: list[Volume] = []
        base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
        self._prefix = ("v-" + base)[:40].rstrip("-")

    def name(self) -> str:
        """A fresh, unique volume name derived from the test name."""
        return f"{self._prefix}-{os.getpid()}-{next(_volume_counter)}"

    def __call__(
        self,
        where: GlusterNode | Pool | None = None,
        *,
        bricks: int = 1,
        replica: int | None = None,
        arbiter: int | None = None,
        disperse: int | None = None,
        redundancy: int | None = None,
        options: Mapping[str, str] | None = None,
        start: bool = True,
        name: str | None = None,
    ) -> Volume:
        if where is None:
            where = self._request.getfixturevalue("gluster_node")
        name = name or self.name()
        if isinstance(where, Pool):
            node = where[0]
            brick_list = where.bricks(name, bricks)
        else:
            node = where
            brick_list = [node.brick(name, i) for i in range(bricks)]
        volume = Volume.create(
            node,
            name,
            brick_list,
            replica=replica,
            arbiter=arbiter,
            disperse=disperse,
            redundancy=redundancy,
            options=options,
        )
        self.created.append(volume)
        if start:
            volume.start()
        return volume

    def cleanup(self) -> None:
        errors = []
        for volume in reversed(self.created):
            try:
                if volume.exists():
                    volume.delete(remove_bricks=True)
            except GlusterError as exc:
                errors.append(f"{volume.name}: {exc}")
        self.created.clear()
        if errors:
            pytest.fail("volume cleanup failed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def volume_factory(request: pytest.FixtureRequest, gluster_state_dir: Path) -> Iterator[VolumeFactory]:
    """Factory of uniquely named volumes, deleted with their bricks at teardown."""
    factory = VolumeFactory(request)
    yield factory
    factory.cleanup()


class MountFactory:
    """Mounts volumes (or local volfiles) with FUSE; unmounts them at teardown.

    ``fuse_mount(volume)`` mounts from the volume's glusterd;
    ``fuse_mount(volfile=path)`` mounts a local volfile (custom graph).
    Mount points are under ``STATE/mnt/``, client logs under ``STATE/clients/``.
    """

    def __init__(self, state: Path) -> None:
        self.state = state
        self.mounts: list[FuseMount] = []

    def __call__(
        self,
        volume: Volume | None = None,
        *,
        volfile: Path | str | None = None,
        volume_name: str | None = None,
        server: GlusterNode | None = None,
        log_level: str = "INFO",
        extra_args: Sequence[str] = (),
    ) -> FuseMount:
        n = next(_mount_counter)
        label = volume.name if volume is not None else Path(str(volfile)).stem
        mountpoint = self.state / "mnt" / f"{n}-{label}"[:60]
        log_file = self.state / "clients" / f"fuse-{n}-{label}.log"
        if volfile is not None:
            mount = FuseMount.from_volfile(
                volfile, mountpoint, volume_name=volume_name, log_file=log_file,
                log_level=log_level, extra_args=extra_args,
            )
        elif volume is not None:
            mount = FuseMount(
                mountpoint,
                volfile_server=(server.address if server else volume.server),
                volfile_id=volume.name,
                log_file=log_file,
                log_level=log_level,
                extra_args=extra_args,
            )
        else:
            raise ValueError("fuse_mount needs a volume or volfile=")
        self.mounts.append(mount)
        mount.mount()
        return mount

    def cleanup(self) -> None:
        for mount in reversed(self.mounts):
            mount.unmount()
        self.mounts.clear()


@pytest.fixture
def fuse_mount(gluster_state_dir: Path, volume_factory: VolumeFactory) -> Iterator[MountFactory]:
    """Factory of FUSE mounts, unmounted (before the volumes are deleted) at teardown."""
    _check_environment(fuse=True)
    factory = MountFactory(gluster_state_dir)
    yield factory
    factory.cleanup()


class GfapiFactory:
    """Opens gfapi clients (``glupy.gfapi.Volume``) and finalizes them at teardown."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.clients: list[gfapi.Volume] = []

    def __call__(
        self,
        volume: Volume | None = None,
        *,
        volfile: Path | str | None = None,
        server: GlusterNode | None = None,
        log_level: str = "INFO",
    ) -> gfapi.Volume:
        n = len(self.clients) + 1
        if volfile is not None:
            name = volume.name if volume is not None else Path(str(volfile)).stem
            log_file = self.state / "clients" / f"gfapi-{os.getpid()}-{n}-{name}.log"
            client = gfapi.Volume(name, volfile=volfile, log_file=log_file, log_level=log_level)
        elif volume is not None:
            log_file = self.state / "clients" / f"gfapi-{os.getpid()}-{n}-{volume.name}.log"
            host = server.address if server else volume.server
            client = gfapi.Volume(volume.name, host, log_file=log_file, log_level=log_level)
        else:
            raise ValueError("gfapi_client needs a volume or volfile=")
        self.clients.append(client)
        client.mount()
        return client

    def cleanup(self) -> None:
        # glfs_fini takes up to ~10 s with libgfapi 10.3 (see gfapi.Volume.umount)
        for client in reversed(self.clients):
            client.umount()
        self.clients.clear()


@pytest.fixture
def gfapi_client(gluster_state_dir: Path, volume_factory: VolumeFactory) -> Iterator[GfapiFactory]:
    """Factory of gfapi clients (``glfs_init``), finalized before the volumes are deleted."""
    _check_environment(gfapi_lib=True)
    factory = GfapiFactory(gluster_state_dir)
    yield factory
    factory.cleanup()


__all__ = ["GfapiFactory", "MountFactory", "VolumeFactory"]
