"""Memory stays flat over a million FOPs through Python (issue 11, item 7).

A FUSE client over storage/posix with io-threads (replies come on its threads, as a
real client's come on protocol/client's) and three translators that override every
FOP above it, one per way a FOP can go through the bridge:

* ``Passthrough`` (``return await self.child.<fop>(...)``): the reply is checked and
  unwound in C where it arrives, the coroutine finished later on a worker;
* ``TailPassthrough`` (``return self.child.<fop>(...)`` from a plain ``def``): the FOP
  goes on in C, its reply never comes back to Python;
* ``ReplyPassthrough`` (``reply = await ...; return reply``): every reply converted
  into its Python object and back.

After a warm-up (pools, caches, thread states and Python's free lists reach their
steady size), a mixed workload of system calls (creates, writes, reads, fsync,
xattrs, truncates, renames, links, symlinks, directories, fallocate, seek, statfs) sends GLUPY_LEAK_FOPS (default 1,000,000) FOPs through the
three translators, as their own counts say (a FOP through each translator counts
once). The client's resident memory is read every SAMPLE_FOPS FOPs; the median of
the growth rates of those stretches may not reach LEAK_BYTES_PER_FOP bytes per FOP.
A leak grows every stretch alike: 3 bytes kept per FOP in the bridge, or 8 per FOP in
one of the three translators, is over the limit. One-off steps are not (a thread the
worker pool starts for a while gets a malloc arena of its own that stays: +2 MiB once,
measured at about a million FOPs, then flat up to 2 million); the total is printed.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pytest

from glupy.testing.fixtures import posix_mount
from glupy.testing.workload import rss_bytes

FOPS = int(os.environ.get("GLUPY_LEAK_FOPS", "1000000"))
WARM_UP_FOPS = 150_000
SAMPLE_FOPS = 100_000
LEAK_BYTES_PER_FOP = 1.0
LAYERS = ["glupy.translators.passthrough:Passthrough", "TailPassthrough", "ReplyPassthrough"]
COUNTS_XATTR = "glupy.passthrough.counts"


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")


def one_round(mp: Path, i: int) -> None:
    """About 70 FOPs of most kinds a FUSE client sends (some every 8th round)."""
    p = mp / f"f{i % 64}"
    with open(p, "wb") as fh:
        fh.write(b"x" * 100)
    os.stat(p)
    with open(p, "r+b") as fh:
        fh.read()
        fh.write(b"y")
        os.fsync(fh.fileno())
        if i % 8 == 0:
            os.posix_fallocate(fh.fileno(), 0, 8192)
            os.lseek(fh.fileno(), 0, os.SEEK_DATA)
    os.setxattr(p, "user.k", b"v")
    os.getxattr(p, "user.k")
    os.listxattr(p)
    os.removexattr(p, "user.k")
    os.truncate(p, 10)
    os.chmod(p, 0o644)
    os.utime(p)
    q = mp / f"n{i % 64}"
    os.rename(p, q)
    os.rename(q, p)
    if i % 8 == 0:
        d = mp / f"d{i % 64}"
        d.mkdir()
        os.listdir(d)
        d.rmdir()
        s = mp / f"s{i % 64}"
        os.symlink(p.name, s)
        os.readlink(s)
        os.unlink(s)
        link = mp / f"l{i % 64}"
        os.link(p, link)
        os.unlink(link)
        os.statvfs(mp)


def test_memory_stays_flat_over_a_million_fops(gluster_state_dir: Path) -> None:
    state = gluster_state_dir / "memory"
    state.mkdir(exist_ok=True)
    below = [("performance/io-threads", {})]
    m = posix_mount(state, "memory", *below, *((cls, {}) for cls in LAYERS))
    try:
        mp, pid = m.mountpoint, m.pid
        assert pid is not None
        names = [f"{cls.rpartition(':')[2].lower()}-{i}" for i, cls in enumerate(LAYERS, start=len(below))]

        def counts() -> dict[str, dict[str, int]]:
            return {name: json.loads(os.getxattr(mp / "f", f"{COUNTS_XATTR}.{name}")) for name in names}

        def fops() -> int:
            return sum(sum(c.values()) for c in counts().values())

        i = 0
        start = fops()
        while fops() - start < WARM_UP_FOPS:
            for _ in range(200):
                one_round(mp, i)
                i += 1
        samples = [(fops(), rss_bytes(pid))]  # (FOPs so far, RSS), every SAMPLE_FOPS FOPs
        began = time.monotonic()
        while samples[-1][0] - samples[0][0] < FOPS:
            while fops() - samples[-1][0] < SAMPLE_FOPS:
                for _ in range(100):
                    one_round(mp, i)
                    i += 1
            samples.append((fops(), rss_bytes(pid)))
        took = time.monotonic() - began
        (first, before), (last, after) = samples[0], samples[-1]
        rates = [(r2 - r1) / (f2 - f1) for (f1, r1), (f2, r2) in zip(samples, samples[1:])]
        rate = statistics.median(rates)
        seen = counts()
        print(f"\nclient RSS {before >> 10} KiB -> {after >> 10} KiB ({after - before:+,} bytes) over "
              f"{last - first:,} FOPs through Python in {took:.0f} s ({(after - before) / (last - first):+.3f} bytes "
              f"per FOP); median of {len(rates)} stretches of {SAMPLE_FOPS:,}: {rate:+.3f} bytes per FOP; "
              f"stretches: {', '.join(f'{r:+.2f}' for r in rates)}")
        # every layer saw every kind of FOP the workload sends (the counts are the layers' own)
        kinds = {"lookup", "create", "open", "readv", "writev", "fsync", "flush", "fallocate", "seek",
                 "setxattr", "getxattr", "removexattr", "truncate", "setattr", "rename", "mkdir", "opendir",
                 "readdirp", "rmdir", "symlink", "readlink", "unlink", "link", "statfs"}
        for name, c in seen.items():
            assert kinds <= set(c), (name, sorted(kinds - set(c)))
        assert rate < LEAK_BYTES_PER_FOP, f"the client grew {rate:.2f} bytes per FOP (median of {rates})"
    finally:
        m.unmount()
