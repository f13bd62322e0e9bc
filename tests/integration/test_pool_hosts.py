"""A pool of three simulated hosts: each glusterd (and every brick it starts) in a mount
namespace of its own, with its own view of GlusterFS's library directory (xlator/user/,
filter/, peer commands) and of the Python environment's site-packages. Node 3 starts
without glupy: attach refuses naming it, the pool report says what is wrong there and
how to fix it; once glupy is installed there the same attach works on every brick and
the report is clean. A node with another version of the module is refused too. With
crypt attached by force while node 3 lacks glupy, a client served by node 3 cannot
write (the bricks' guard), and none of its plaintext lands on a brick."""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from glupy import pool as glupy_pool
from glupy.gluster import FuseMount, Pool, Volume
from glupy.gluster.mount import is_glusterfs_mount
from glupy.gluster.volfile import Volfile
from glupy.gluster.xlators import xlator_dir

GLUPY = str(Path(sys.executable).parent / "glupy")
LIBDIR = xlator_dir().parent.parent  # $libdir/glusterfs
USER_DIR = xlator_dir() / "user"
FILTER_DIR = xlator_dir().parent / "filter"
PURELIB = Path(sysconfig.get_paths()["purelib"])
PROBE = "glupy_pool_probe"
PROBE_SOURCE = '''import glupy

VERSION = {version!r}


class PoolProbe(glupy.Translator):
    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
'''


def uninstall_glupy(node) -> None:
    """*node*'s host without glupy: its own empty xlator/user/ and filter/ (opaque in its
    overlay, so that what other tests install on this machine is not seen there), no
    peer_glupy."""
    node.on_host("sh", "-c", f"rm -rf {USER_DIR} {FILTER_DIR} {LIBDIR / 'peer_glupy'} && "
                             f"mkdir -p {USER_DIR} {FILTER_DIR}")


def install_glupy(node, bridge: Path, *, with_filter: bool = False) -> None:
    """What `make install` (and `glupy install --filter`) put on *node*'s host, without
    building again: the bridge, peer_glupy (and the client volfile filter)."""
    node.on_host("install", "-m", "0755", str(bridge), str(USER_DIR / "glupy.so"))
    node.on_host(sys.executable, "-c", "from glupy import peer; peer.install()")
    if with_filter:
        node.on_host(sys.executable, "-c", "from glupy import filter; filter.install_filter()")


@pytest.fixture(scope="module")
def hosts(gluster_state_dir: Path):
    (PURELIB / f"{PROBE}.py").write_text(PROBE_SOURCE.format(version="1"))
    pool = Pool(gluster_state_dir / "hosts", 3, prefix="127.1.3", base_port=28100, private_dirs=[LIBDIR, PURELIB])
    # the bridge as installed on this machine (what `make install` put there)
    pool.bridge = gluster_state_dir / "hosts-glupy.so"
    shutil.copy2(USER_DIR / "glupy.so", pool.bridge)
    for node in pool:  # an earlier session's overlays (what it installed on each host) are not this one's
        if node.host_pid is None:
            shutil.rmtree(node.host_dir, ignore_errors=True)
    try:
        pool.start()
        for node in pool:  # every host starts with glupy (the bridge, peer_glupy) and nothing else
            uninstall_glupy(node)
            install_glupy(node, pool.bridge)
        yield pool
    finally:
        try:
            for name in pool[0].volume_names():
                Volume(pool[0], name).delete()
        finally:
            pool.stop()
            (PURELIB / f"{PROBE}.py").unlink(missing_ok=True)
            pool.bridge.unlink(missing_ok=True)


def glupy_on(node, *args: str) -> subprocess.CompletedProcess:
    """The glupy command run on *node*'s host, against its glusterd."""
    return node.on_host(GLUPY, "--node", str(node.root), *args, check=False)


def test_a_node_without_glupy_is_named_and_fixed(hosts: Pool) -> None:
    n1, n2, n3 = hosts
    uninstall_glupy(n3)
    assert n3.on_host("ls", str(USER_DIR)).stdout.split() == []
    assert (USER_DIR / "glupy.so").exists()  # the other hosts, and this machine, keep it
    vol = Volume.create(n1, "hostvol", hosts.bricks("hostvol", 6), replica=2)  # 3 x 2 over 3 hosts
    vol.start()
    options = dict(vol.info().options)

    proc = glupy_on(n1, "attach", "hostvol", f"{PROBE}:PoolProbe", "--name", "hp", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "127.1.3.3: glupy is not installed" in proc.stderr and "127.1.3.1" not in proc.stderr, proc.stderr
    assert dict(vol.info().options) == options  # nothing changed
    assert "hp.so" not in n1.on_host("ls", str(USER_DIR)).stdout

    # --force: node 3 may keep its bricks down, but node 2 (glupy without the volfile
    # filter, and `system:: execute glupy alias` cannot run while node 3 lacks peer_glupy)
    # cannot make user/hp.so either: its bricks do not start, and attach rolls back
    proc = glupy_on(n1, "attach", "hostvol", f"{PROBE}:PoolProbe", "--name", "hp", "--yes", "--force")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "attach rolled back (bricks of 127.1.3.2 (" in err and "stay down" not in proc.stdout, err
    assert not any(k.startswith("user.xlator.hp") for k in vol.info().options), vol.info().options
    status = vol.status()
    assert len(status.bricks) == 6 and all(b.online for b in status.bricks), status
    assert "hp.so" not in n1.on_host("ls", str(USER_DIR)).stdout

    # install glupy on node 3 (its bridge and its pool command), as its admin would
    install_glupy(n3, hosts.bridge)
    proc = glupy_on(n1, "attach", "hostvol", f"{PROBE}:PoolProbe", "--name", "hp", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = vol.status()
    assert len(status.bricks) == 6 and all(b.online for b in status.bricks), status
    for node in hosts:  # every host's bricks run it: the alias was made on each
        assert "hp.so" in node.on_host("ls", str(USER_DIR)).stdout
        logs = [log for brick, log in Volume(node, "hostvol").brick_logs().items()
                if brick.host == node.address and log.exists()]
        assert len(logs) == 2 and all("glupy_pool_probe.PoolProbe (" in log.read_text() for log in logs)
    report = glupy_on(n1, "doctor", "hostvol")
    assert report.returncode == 0 and "every node of the pool can run" in report.stdout, report.stdout

    # another version of the module on node 2: the report names it, expected vs found
    n2.on_host("sh", "-c", f"cat > {PURELIB / (PROBE + '.py')} <<'EOF'\n{PROBE_SOURCE.format(version='2')}\nEOF")
    report = glupy_on(n1, "doctor", "hostvol")
    assert report.returncode == 1, report.stdout
    text = " ".join(report.stdout.split())
    assert "127.1.3.2: hp: module is unversioned+sha256." in text and "the volume was attached with" in text, text
    assert "glupy refresh hostvol hp" in text and "127.1.3.3:" not in text, text
    # and a brick of node 2 that starts now refuses to run other code than the pool's
    vol.stop(force=True)
    proc = subprocess.run(n1.cli_command("volume", "start", "hostvol", "force"), capture_output=True, text=True)
    n2_logs = "".join(log.read_text(errors="replace") for brick, log in Volume(n2, "hostvol").brick_logs().items()
                      if brick.host == n2.address and log.exists())
    assert "but the volume was attached with" in n2_logs
    vol.stop(force=True)


PLAINTEXT = b"plaintext that must never reach a brick "


def served(via, node, volume: str) -> list[str]:
    """The translators of the client volfile *node* serves, fetched as a client would
    (over TCP from *node*: not `via.gluster`, whose --glusterd-sock wins over --remote-host)."""
    return Volfile.parse(glupy_pool.served_volfile(via, node.address, volume)).names()


def brick_files_with(hosts: Pool, volume: str, needle: bytes) -> list[Path]:
    """Every file under the brick directories of *volume* (on every host) that holds *needle*."""
    found = []
    for node in hosts:
        for path in (node.brick_root / volume).rglob("*"):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found


def test_a_client_served_by_a_node_without_glupy_cannot_bypass_crypt(hosts: Pool, gluster_state_dir: Path) -> None:
    """`glupy attach --force` of crypt while node 3 lacks glupy: node 3 serves a client graph
    without crypt, and the bricks refuse that client's data FOPs (the guard; node 3's own
    bricks cannot start without glupy): an error, no plaintext on any brick. Once glupy is
    installed on node 3 and the pool report's fixes are run, every node serves crypt,
    every client works through it and the report is clean.

    Node 2's user/crypt-guard.so is made by its volfile filter (`system:: execute glupy
    alias` cannot run while node 3 lacks peer_glupy: glusterd runs it everywhere or
    nowhere); node 3, without glupy, makes none: its bricks stay down, the others run the
    guard, and attach keeps the configuration, naming node 3's bricks."""
    n1, n2, n3 = hosts
    uninstall_glupy(n3)
    install_glupy(n2, hosts.bridge, with_filter=True)  # the documented install, filter included
    n2.on_host("rm", "-f", str(USER_DIR / "crypt-guard.so"))
    vol = Volume.create(n1, "cryptvol", hosts.bricks("cryptvol", 6), replica=2)  # 3 x 2 over 3 hosts
    vol.start()
    key = gluster_state_dir / "hosts-crypt.key"
    key.unlink(missing_ok=True)
    assert glupy_on(n1, "crypt", "keygen", str(key)).returncode == 0
    options = dict(vol.info().options)
    attach = ("attach", "cryptvol", "glupy.translators.crypt", "--side", "client", "--name", "crypt",
              "-o", f"key-file={key}", "--yes")

    proc = glupy_on(n1, *attach)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "127.1.3.3: glupy is not installed" in proc.stderr, proc.stderr
    assert dict(vol.info().options) == options

    proc = glupy_on(n1, *attach, "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "attached crypt-guard" in out, out
    n3_bricks = [str(b.path) for b in vol.info().bricks if b.host == n3.address]
    assert f"bricks of 127.1.3.3 stay down until glupy is installed there: {' '.join(n3_bricks)}" in out, out
    assert "rolled back" not in out + proc.stderr, out + proc.stderr
    for node in (n1, n2):  # made by attach on node 1, by the volfile filter on node 2
        assert "crypt-guard.so" in node.on_host("ls", str(USER_DIR)).stdout.split(), node
    assert n3.on_host("ls", str(USER_DIR)).stdout.split() == []
    status = vol.status()
    assert sorted((b.brick.host, b.online) for b in status.bricks) == [
        (n1.address, True), (n1.address, True), (n2.address, True), (n2.address, True),
        (n3.address, False), (n3.address, False)], status
    assert "crypt" in served(n1, n1, "cryptvol") and "crypt" in served(n1, n2, "cryptvol")
    assert "crypt" not in served(n1, n3, "cryptvol")  # what a client mounting from node 3 gets

    mounts: list[FuseMount] = []

    def mount_from(node, tag: str) -> FuseMount:
        m = FuseMount(gluster_state_dir / "mnt" / f"hosts-{tag}", volfile_server=node.address,
                      volfile_id="cryptvol", log_file=gluster_state_dir / "clients" / f"hosts-{tag}.log")
        m.mount()
        mounts.append(m)
        return m

    try:
        bypass = mount_from(n3, "bypass")
        assert "crypt" not in bypass.graph_xlators()
        for i in range(8):  # files hashed to every replica set
            with pytest.raises(OSError) as refused:
                (bypass.mountpoint / f"leak-{i}").write_bytes(PLAINTEXT * 100)
            assert refused.value.errno in (errno.EACCES, errno.EIO), refused.value
        assert brick_files_with(hosts, "cryptvol", PLAINTEXT) == []
        bypass.unmount()

        # install glupy on node 3 as its admin would, then what the pool report says to run
        install_glupy(n3, hosts.bridge, with_filter=True)
        report = glupy_on(n1, "doctor", "cryptvol")
        text = " ".join(report.stdout.split())
        assert report.returncode == 1 and "127.1.3.3" in text, report.stdout
        assert f"gluster system:: execute glupy alias crypt-guard" in text, text
        assert "gluster volume start cryptvol force" in text and "glupy refresh cryptvol crypt" in text, text
        for fix in (("system::", "execute", "glupy", "alias", "crypt-guard"), ("volume", "start", "cryptvol", "force")):
            n1.gluster(*fix)
        assert glupy_on(n1, "refresh", "cryptvol", "crypt", "--yes").returncode == 0
        report = glupy_on(n1, "doctor", "cryptvol")
        assert report.returncode == 0 and "every node of the pool can run" in report.stdout, report.stdout
        status = vol.status()
        assert len(status.bricks) == 6 and all(b.online for b in status.bricks), status

        for node in hosts:
            assert "crypt" in served(n1, node, "cryptvol"), node
            m = mount_from(node, node.name)
            assert "crypt" in m.graph_xlators(), node
            secret = PLAINTEXT + node.name.encode()
            (m.mountpoint / f"secret-{node.name}").write_bytes(secret * 100)
        for m in mounts[1:]:
            for node in hosts:
                assert (m.mountpoint / f"secret-{node.name}").read_bytes() == (PLAINTEXT + node.name.encode()) * 100
        assert brick_files_with(hosts, "cryptvol", PLAINTEXT) == []
    finally:
        for m in mounts:
            if is_glusterfs_mount(m.mountpoint):
                m.unmount()


GUARD_MISSING_PTH = "glupy_test_guard_missing.pth"
#: on one host only, and only inside brick processes: glupy.translators.guard cannot be imported
GUARD_MISSING = (
    "import sys; exec(\"import importlib.abc\\nclass _NoGuard(importlib.abc.MetaPathFinder):\\n"
    "    def find_spec(self, name, path=None, target=None):\\n"
    "        if name == 'glupy.translators.guard':\\n"
    "            raise ImportError('glupy.translators.guard is not installed on this host (test)')\\n"
    "sys.meta_path.insert(0, _NoGuard())\") "
    "if open('/proc/self/cmdline', 'rb').read().split(b'\\0')[0].endswith(b'glusterfsd') else None\n")


def test_client_attach_is_rolled_back_when_the_bricks_cannot_start_its_guard(hosts: Pool,
                                                                             gluster_state_dir: Path) -> None:
    """crypt (client side) passes its trial mount, but the bricks of node 1 cannot import
    its guard: attach exits 1 with the bridge's line, and crypt goes too: the volume's
    options are exactly as before, every brick runs, no node serves crypt."""
    n1, _, _ = hosts
    for node in hosts:
        install_glupy(node, hosts.bridge, with_filter=True)
    vol = Volume.create(n1, "guardvol", hosts.bricks("guardvol", 6), replica=2)
    vol.start()
    # a rollback sets the options again after `volume reset all`; granular-entry-heal only
    # comes back through `gluster volume heal`, which an isolated glusterd cannot run
    # (see test_cli): start from a volume without it
    vol.stop(force=True)
    n1.gluster("volume", "reset", "guardvol", "all")
    vol.start()
    options = dict(vol.info().options)
    key = gluster_state_dir / "hosts-guard.key"
    key.unlink(missing_ok=True)
    assert glupy_on(n1, "crypt", "keygen", str(key)).returncode == 0
    n1.on_host("sh", "-c", f"cat > {PURELIB / GUARD_MISSING_PTH} <<'EOF'\n{GUARD_MISSING}EOF")
    try:
        proc = glupy_on(n1, "attach", "guardvol", "glupy.translators.crypt", "--side", "client", "--name", "crypt",
                        "-o", f"key-file={key}", "--yes")
    finally:
        n1.on_host("rm", "-f", str(PURELIB / GUARD_MISSING_PTH))
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rolled back" in err and "could not start crypt-guard" in err, err
    assert "glupy.translators.guard is not installed on this host (test)" in err, err
    assert dict(vol.info().options) == options
    status = vol.status()
    assert len(status.bricks) == 6 and all(b.online for b in status.bricks), status
    for node in hosts:
        assert "crypt" not in served(n1, node, "guardvol") and "crypt-guard" not in served(n1, node, "guardvol")
    vol.stop(force=True)


RELOAD_PROBE = "glupy_pool_reload_probe"
RELOAD_PROBE_SOURCE = '''import glupy

VERSION = {version!r}


class ReloadProbe(glupy.Translator):
    def init(self):
        if VERSION == "broken":
            raise RuntimeError("this host's copy of the probe is broken")

    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
'''


def install_module(node, name: str, text: str) -> None:
    """*text* as module *name* in *node*'s host's Python environment."""
    node.on_host("sh", "-c", f"cat > {PURELIB / (name + '.py')} <<'EOF'\n{text}\nEOF")


def test_reload_reports_the_bricks_of_every_node(hosts: Pool) -> None:
    """glupy reload on node 1 of a volume with a brick on each host: each node reads its own
    bricks' logs (peer_glupy bricks, through glusterd) and the command prints every brick,
    HOST:PATH, reloaded or why not; glupy list shows what each brick runs, of each of
    two translators. A version broken
    on node 3 only (reloaded with --force) exits 1 naming node 3's brick and the cause, and
    node 3's brick goes on running the old code."""
    n1, n2, n3 = hosts
    for node in hosts:
        install_glupy(node, hosts.bridge)
        install_module(node, RELOAD_PROBE, RELOAD_PROBE_SOURCE.format(version="1"))
    vol = Volume.create(n1, "reloadvol", hosts.bricks("reloadvol", 3), replica=3)  # one brick per host
    vol.start()
    labels = [str(b) for b in vol.info().bricks]
    assert sorted(label.split(":")[0] for label in labels) == [n.address for n in hosts]
    proc = glupy_on(n1, "attach", "reloadvol", f"{RELOAD_PROBE}:ReloadProbe", "--name", "rp", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def running() -> dict[str, str]:
        [entry] = json.loads(glupy_on(n1, "list", "reloadvol", "--json").stdout)
        return entry["running"]

    v1 = set(running().values())
    assert len(v1) == 1 and set(running()) == set(labels), running()

    # two translators: each node is asked once about both (peer_glupy running), and
    # each entry gets its own bricks
    proc = glupy_on(n1, "attach", "reloadvol", f"{RELOAD_PROBE}:ReloadProbe", "--name", "rp2", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    both = {e["name"]: e["running"] for e in json.loads(glupy_on(n1, "list", "reloadvol", "--json").stdout)}
    assert both == {"rp": {label: next(iter(v1)) for label in labels},
                    "rp2": {label: next(iter(v1)) for label in labels}}, both
    proc = glupy_on(n1, "detach", "reloadvol", "rp2", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(running().values()) == v1 and set(running()) == set(labels), running()

    for node in hosts:
        install_module(node, RELOAD_PROBE, RELOAD_PROBE_SOURCE.format(version="2"))
    proc = glupy_on(n1, "reload", "reloadvol", "rp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.findall(r"^  (\S+): reloaded$", proc.stdout, re.M) == labels, proc.stdout
    v2 = set(running().values())
    assert len(v2) == 1 and v2 != v1 and set(running()) == set(labels), running()

    for node in (n1, n2):
        install_module(node, RELOAD_PROBE, RELOAD_PROBE_SOURCE.format(version="3"))
    install_module(n3, RELOAD_PROBE, RELOAD_PROBE_SOURCE.format(version="broken"))
    proc = glupy_on(n1, "reload", "reloadvol", "rp", "--force")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [n3_brick] = [label for label in labels if label.startswith(n3.address + ":")]
    assert re.findall(r"^  (\S+): reloaded$", proc.stdout, re.M) == [x for x in labels if x != n3_brick], proc.stdout
    assert f"1 of 3 bricks kept the old code: {n3_brick}: " in err, err
    now = running()
    assert now[n3_brick] in v2 and len({now[x] for x in labels if x != n3_brick} - v2) == 1, now
    vol.stop(force=True)


def test_no_brick_of_any_host_crashed(hosts: Pool) -> None:
    """After the tests above (runs last): bricks a node could not load a translator for stay
    down or keep their old graph, but none crashed. A server-side attach that set its keys
    one by one gave running bricks `type user/NAME` before the module, their filter made no
    .so for it, and GlusterFS's parser crashed them at the next volfile (graphyyerror)."""
    crashed = [str(log) for node in hosts for log in (node.root / "log" / "bricks").glob("*.log")
               if "signal received" in log.read_text(errors="replace")]
    assert not crashed, crashed
