"""A pool of three simulated hosts: each glusterd (and every brick it starts) in a mount
namespace of its own, with its own view of GlusterFS's library directory (xlator/user/,
filter/, peer commands) and of the Python environment's site-packages. Node 3 starts
without glupy: attach refuses naming it, the pool report says what is wrong there and
how to fix it; once glupy is installed there the same attach works on every brick and
the report is clean. A node with another version of the module is refused too."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from glupy.gluster import Pool, Volume
from glupy.gluster.xlators import xlator_dir

GLUPY = str(Path(sys.executable).parent / "glupy")
LIBDIR = xlator_dir().parent.parent  # $libdir/glusterfs
PURELIB = Path(sysconfig.get_paths()["purelib"])
BRIDGE = Path(__file__).resolve().parents[2] / "native" / "build" / "glupy.so"
PROBE = "glupy_pool_probe"
PROBE_SOURCE = '''import glupy

VERSION = {version!r}


class PoolProbe(glupy.Translator):
    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
'''


@pytest.fixture(scope="module")
def hosts(gluster_state_dir: Path):
    (PURELIB / f"{PROBE}.py").write_text(PROBE_SOURCE.format(version="1"))
    pool = Pool(gluster_state_dir / "hosts", 3, prefix="127.1.3", base_port=48100, private_dirs=[LIBDIR, PURELIB])
    try:
        pool.start()
        yield pool
    finally:
        try:
            for name in pool[0].volume_names():
                Volume(pool[0], name).delete()
        finally:
            pool.stop()
            (PURELIB / f"{PROBE}.py").unlink(missing_ok=True)


def glupy_on(node, *args: str) -> subprocess.CompletedProcess:
    """The glupy command run on *node*'s host, against its glusterd."""
    return node.on_host(GLUPY, "--node", str(node.root), *args, check=False)


def test_a_node_without_glupy_is_named_and_fixed(hosts: Pool) -> None:
    n1, n2, n3 = hosts
    for path in (LIBDIR / "peer_glupy", xlator_dir() / "user" / "glupy.so"):
        n3.on_host("rm", "-f", str(path))
    assert n3.on_host("ls", str(xlator_dir() / "user")).stdout.split() == []
    assert (xlator_dir() / "user" / "glupy.so").exists()  # the other hosts, and this machine, keep it
    vol = Volume.create(n1, "hostvol", hosts.bricks("hostvol", 6), replica=2)  # 3 x 2 over 3 hosts
    vol.start()
    options = dict(vol.info().options)

    proc = glupy_on(n1, "attach", "hostvol", f"{PROBE}:PoolProbe", "--name", "hp", "--yes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "127.1.3.3: glupy is not installed" in proc.stderr and "127.1.3.1" not in proc.stderr, proc.stderr
    assert dict(vol.info().options) == options  # nothing changed
    assert "hp.so" not in n1.on_host("ls", str(xlator_dir() / "user")).stdout

    # install glupy on node 3 (its bridge and its pool command), as its admin would
    n3.on_host("cp", str(BRIDGE), str(xlator_dir() / "user" / "glupy.so"))
    n3.on_host(sys.executable, "-c", "from glupy import peer; peer.install()")
    proc = glupy_on(n1, "attach", "hostvol", f"{PROBE}:PoolProbe", "--name", "hp", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = vol.status()
    assert len(status.bricks) == 6 and all(b.online for b in status.bricks), status
    for node in hosts:  # every host's bricks run it: the alias was made on each
        assert "hp.so" in node.on_host("ls", str(xlator_dir() / "user")).stdout
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
