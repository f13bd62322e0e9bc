"""A wind waiting for a lock does not count against its FOP's fop-timeout.

A FOP's deadline is for what Python does with it. A blocking lock waits as long as
another client holds the lock, with or without glupy: through the passthrough, a
process's fcntl(F_SETLKW) was answered ETIMEDOUT at the deadline while its wind stayed
out; the brick granted the lock later to the process that had been told it failed, and
every other process was refused for as long as that one kept its file open (a sixth
red-team session). The same held for AFR's and DHT's own inodelk and entrylk.

Real GlusterFS: a one-brick volume (features/locks on the brick) and a FUSE client with
the passthrough, its fop-timeout 2 s; three processes take turns on one lock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator
from glupy.testing.fixtures import bridge_under_test

HOLD = """import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(4)
fcntl.lockf(fd, fcntl.LOCK_UN)
time.sleep(60)
"""

WAIT = """import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
start = time.monotonic()
try:
    fcntl.lockf(fd, fcntl.LOCK_EX)
    print("got %.1f" % (time.monotonic() - start), flush=True)
    fcntl.lockf(fd, fcntl.LOCK_UN)
except OSError as error:
    print("failed %d %.1f" % (error.errno, time.monotonic() - start), flush=True)
time.sleep(60)
"""


@pytest.fixture(scope="module")
def mount(gluster_node: GlusterNode, gluster_state_dir: Path) -> Iterator[FuseMount]:
    vol = Volume.create(gluster_node, "lock-waits", [gluster_node.brick("lock-waits", 0)])
    m: FuseMount | None = None
    try:
        vol.start()
        state = gluster_state_dir / "lock-waits"
        state.mkdir(exist_ok=True)
        graph = Volfile.read(vol.client_volfile())
        graph.insert_below_top(glupy_xlator("pt", "glupy.translators.passthrough:Passthrough", {"fop-timeout": "2"},
                                            xlator_type=f"user/{bridge_under_test()}"))
        graph.write(state / "client.vol")
        m = FuseMount.from_volfile(state / "client.vol", gluster_state_dir / "mnt" / "lock-waits",
                                   log_file=state / "client.log")
        m.mount()
        yield m
    finally:
        if m is not None:
            m.unmount()
        vol.delete()


def test_a_blocking_lock_waits_past_the_fop_timeout(mount: FuseMount) -> None:
    f = mount.mountpoint / "lockme"
    f.write_bytes(b"x")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-c", HOLD, str(f)], stdout=subprocess.PIPE, text=True))
        assert procs[0].stdout.readline() == "held\n"
        procs.append(subprocess.Popen([sys.executable, "-c", WAIT, str(f)], stdout=subprocess.PIPE, text=True))
        waited = procs[1].stdout.readline().split()
        # the first process unlocks 4 s after taking the lock: the second gets it then, past the 2 s
        # fop-timeout (before: failed 110, ETIMEDOUT, at 2 s)
        assert waited[0] == "got" and 3.0 < float(waited[1]) < 10.0, waited
        fd = os.open(f, os.O_RDWR)  # the second unlocked at once: a third gets the lock
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        for p in procs:
            p.kill()
            p.wait()
