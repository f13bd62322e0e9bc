"""`glupy attach` on a trusted pool of three glusterd (127.1.2.1-3) with a
distributed-replicated volume: after attach, every brick on every node runs the
translator, and a client mounted from any node gets the client-side one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, Pool, Volume

GLUPY = str(Path(sys.executable).parent / "glupy")
COUNTS = "glupy.passthrough.counts"


def glupy(*args: str, node_dir: Path) -> str:
    proc = subprocess.run([GLUPY, "--node", str(node_dir), *args], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"glupy {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def final_graph(log: Path) -> str:
    text = log.read_text(errors="replace")
    return text[text.rfind("Final graph:"):]


@pytest.fixture
def client_filter() -> Iterator[None]:
    """The client volfile filter, as `glupy install --filter` puts it on every node of a
    pool (the three nodes here share this machine's): attach checks the other nodes
    have it. Removed at the end if this installed it (before: the test passed only after
    test_crypt_volume, which leaves it installed)."""
    from glupy import volfile_filter

    installed = not volfile_filter.filter_installed()
    if installed:
        volfile_filter.install_filter()
    try:
        yield
    finally:
        if installed:
            volfile_filter.remove_filter()


@pytest.mark.usefixtures("client_filter")
def test_attach_on_a_three_node_pool(gluster_pool: Pool, gluster_state_dir: Path) -> None:
    first = gluster_pool[0]
    vol = Volume.create(first, "poolvol", gluster_pool.bricks("poolvol", 6), replica=3)  # 2 x 3 over 3 nodes
    try:
        vol.start()
        out = glupy("attach", "poolvol", "glupy.translators.passthrough", "--name", "pool-pt", "--yes",
                     node_dir=first.root)
        assert "pool-pt" in out
        glupy("attach", "poolvol", "glupy.translators.passthrough", "--name", "pool-cpt", "--side", "client",
              "--yes", node_dir=first.root)
        listed = json.loads(glupy("list", "poolvol", "--json", node_dir=first.root))
        assert {e["name"]: e["side"] for e in listed} == {"pool-pt": "server", "pool-cpt": "client"}, listed

        # every brick, on every node, loaded the Python translator
        bricks = vol.status().bricks
        assert len(bricks) == 6 and all(b.online for b in bricks)
        hosts = set()
        for node in gluster_pool:
            for brick, log in Volume(node, "poolvol").brick_logs().items():
                if brick.host == node.address and log.exists():
                    assert "user/pool-pt" in final_graph(log), log
                    hosts.add(node.address)
        assert hosts == {n.address for n in gluster_pool}

        # a client mounted from each node gets the client-side translator
        for i, node in enumerate(gluster_pool):
            m = FuseMount(gluster_state_dir / "mnt" / f"pool-{i}", volfile_server=node.address,
                          volfile_id="poolvol", log_file=gluster_state_dir / f"pool-client-{i}.log")
            with m:
                (m.mountpoint / f"from-node{i}").write_text("x")
                counts = json.loads(os.getxattr(m.mountpoint, f"{COUNTS}.pool-cpt"))
                assert counts.get("create", 0) >= 1, counts
        glupy("detach", "poolvol", "pool-cpt", "--yes", node_dir=first.root)
        glupy("detach", "poolvol", "pool-pt", "--yes", node_dir=first.root)
        assert json.loads(glupy("list", "poolvol", "--json", node_dir=first.root)) == []
    finally:
        vol.delete()
