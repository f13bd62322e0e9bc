"""glupy.translators.negative on a real volume: two FUSE clients of one single-brick volume.

The first mount has the negative-lookup cache (ttl 2) right under its top
(io-stats); the second is plain. Both mount with ``--negative-timeout=0
--entry-timeout=0`` so that the kernel does not cache negative (or positive)
lookups itself and every probe reaches GlusterFS.

A second volume has ``features.cache-invalidation`` on (upcalls to clients, as
GlusterFS's group-nl-cache sets it); its cached mount has the cache right below
md-cache, where nl-cache sits and where every lookup carries md-cache's xattr
requests, with a ttl of 600 s and watch-directories off (lookups of known names stay in
C, directories' mtimes are not watched), so that only an upcall can make another
client's create visible in time.

Two more pairs of mounts have the cache with no options at all (where ``glupy
mount --with glupy.translators.negative`` puts it), one on each of those
volumes: the statedump shows what it chose (ttl 5 s until a cache-invalidation
upcall arrives, 60 s after), and another client's create shows up within it.

This module runs its own glusterd on 127.1.1.10 (bricks in ports 29000-29099),
apart from the session's nodes.
"""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator
from glupy.testing.fixtures import mounts_with_and_without, unmount_checked
from glupy.testing.translators import STATS_XATTR

TTL = 2.0
MOUNT_ARGS = ["--negative-timeout=0", "--entry-timeout=0", "--attribute-timeout=0"]


@pytest.fixture(scope="module")
def neg_node(module_node: GlusterNode) -> GlusterNode:
    return module_node


@pytest.fixture(scope="module")
def neg_volume(neg_node: GlusterNode) -> Iterator[Volume]:
    with Volume.running(neg_node, "negative", [neg_node.brick("negative", 0)]) as vol:
        yield vol


@pytest.fixture(scope="module")
def cached_mount(neg_volume: Volume, gluster_state_dir: Path) -> Iterator[list[FuseMount]]:
    yield []


@pytest.fixture(scope="module")
def mounts(neg_volume: Volume, gluster_state_dir: Path, cached_mount: list[FuseMount]) -> Iterator[tuple[Path, Path]]:
    """(cached, plain): mount points of the same volume, with and without the cache."""
    graph = Volfile.read(neg_volume.client_volfile())
    graph.insert_below_top(glupy_xlator("neg", "glupy.translators.negative", {"ttl": str(TTL)}))
    made = mounts_with_and_without(neg_volume, graph, gluster_state_dir / "negative-clients",
                                   gluster_state_dir / "mnt", "negative", MOUNT_ARGS)
    try:
        cached_mount.append(made[0])
        yield made[0].mountpoint, made[1].mountpoint
    finally:
        unmount_checked(made)


def counters(mount: FuseMount) -> dict[str, int]:
    """The cache's statedump counters in the client process (SIGUSR1 writes a statedump)."""
    assert mount.pid, "the cached mount has no client process"
    section = mount.statedump().get("xlator.glupy.neg.priv")
    assert section, "no statedump section of the cache"
    return {k: int(v) for k, v in section.items()
            if k in ("entries", "hits", "misses", "evictions", "expired", "invalidations", "upcalls")}


def missing(path: Path) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    return False


def wait_visible(path: Path, deadline: float) -> float | None:
    """Seconds until `path` exists (polling), or None if it does not before `deadline`."""
    start = time.monotonic()
    while time.monotonic() < deadline:
        if not missing(path):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def test_another_clients_create_is_visible_within_the_ttl(mounts: tuple[Path, Path]) -> None:
    cached, plain = mounts
    name = f"late-{time.monotonic_ns()}"  # in the root: FUSE never revalidates it, only the ttl helps
    assert missing(cached / name)  # ENOENT, now cached
    t_miss = time.monotonic()
    (plain / name).write_bytes(b"made elsewhere")
    created = time.monotonic()
    assert not missing(plain / name)
    # Stale (ENOENT from the cache) is allowed here, within the ttl; in practice FUSE
    # turns the kernel's getattr of the root into a lookup of the root, whose new
    # mtime makes the cache drop the root's entries, so the file is often seen at once.
    missing(cached / name)
    assert time.monotonic() - t_miss < TTL
    took = wait_visible(cached / name, created + TTL + 1.0)
    assert took is not None, f"{name} was still invisible on the cached mount {TTL + 1.0} s after its creation"
    assert (cached / name).read_bytes() == b"made elsewhere"


def test_a_create_through_the_cache_is_visible_at_once(mounts: tuple[Path, Path],
                                                       cached_mount: list[FuseMount]) -> None:
    cached, plain = mounts
    d = cached / f"own-{time.monotonic_ns()}"
    d.mkdir()
    name = f"{d.name}/f"
    before = counters(cached_mount[0])
    for _ in range(5):
        assert missing(cached / name)
    after = counters(cached_mount[0])
    assert after["hits"] - before["hits"] >= 4, (before, after)  # the repeats were answered from the cache
    assert after["misses"] - before["misses"] >= 1
    (cached / name).write_bytes(b"mine")
    assert not missing(cached / name)
    assert (cached / name).read_bytes() == b"mine"
    assert (plain / name).read_bytes() == b"mine"


def test_namespace_changes_through_the_cache_are_visible_at_once(mounts: tuple[Path, Path]) -> None:
    cached, plain = mounts
    base = cached / f"ns-{time.monotonic_ns()}"
    base.mkdir()
    (base / "src").write_bytes(b"s")
    names = ["dir", "sym", "hard", "renamed", "fifo"]
    for n in names:
        assert missing(base / n)
        assert missing(base / n)
    (base / "dir").mkdir()
    os.symlink("src", base / "sym")
    os.link(base / "src", base / "hard")
    (base / "tmp").write_bytes(b"t")
    os.rename(base / "tmp", base / "renamed")
    os.mkfifo(base / "fifo")
    for n in names:
        assert not missing(base / n), n
    assert sorted(os.listdir(plain / base.name)) == sorted(names + ["src"])


def test_a_subdirectory_create_elsewhere_is_visible_within_the_ttl(mounts: tuple[Path, Path]) -> None:
    cached, plain = mounts
    d = f"sub-{time.monotonic_ns()}"
    (plain / d).mkdir()
    assert missing(cached / d / "x")
    (plain / d / "x").write_bytes(b"x")
    created = time.monotonic()
    # the cache may notice /d's new mtime when the kernel revalidates /d (at once), or the ttl expires
    took = wait_visible(cached / d / "x", created + TTL + 1.0)
    assert took is not None


def test_errors_other_than_enoent_pass(mounts: tuple[Path, Path]) -> None:
    cached, _ = mounts
    f = cached / f"file-{time.monotonic_ns()}"
    f.write_bytes(b"")
    with pytest.raises(OSError) as info:
        os.stat(f / "below-a-file")
    assert info.value.errno == errno.ENOTDIR


# ---------------------------------------------------------------- below md-cache, with upcalls

CI_TTL = 600.0


@pytest.fixture(scope="module")
def ci_mounts(neg_node: GlusterNode, gluster_state_dir: Path) -> Iterator[tuple[FuseMount, Path]]:
    """(cached mount, plain mount point) of a volume with cache-invalidation; the cache below md-cache."""
    vol = Volume.create(neg_node, "negative-ci", [neg_node.brick("negative-ci", 0)])
    made: list[FuseMount] = []
    try:
        vol.set_options({"features.cache-invalidation": "on", "features.cache-invalidation-timeout": "600"})
        vol.start()
        graph = Volfile.read(vol.client_volfile())
        md_cache = graph.find_type("performance/md-cache")[0]
        graph.insert_above(md_cache.subvolumes[0],
                           glupy_xlator("neg", "glupy.translators.negative",
                                        {"ttl": str(CI_TTL), "watch-directories": "off"}))
        # a Probe above it records the upcalls Python receives (with their data)
        graph.insert_above("neg", glupy_xlator("probe", "glupy.testing.translators:Probe"))
        made = mounts_with_and_without(vol, graph, gluster_state_dir / "negative-ci-clients",
                                       gluster_state_dir / "mnt", "negative-ci", MOUNT_ARGS)
        yield made[0], made[1].mountpoint
    finally:
        try:
            unmount_checked(made)
        finally:
            vol.delete()


def test_below_md_cache_repeated_probes_are_answered_from_the_cache(ci_mounts: tuple[FuseMount, Path]) -> None:
    # Below md-cache every lookup carries md-cache's xattr requests (security.capability,
    # security.ima, ...); they ask nothing of a missing name, so the cache answers anyway.
    cached, plain = ci_mounts
    d = f"probe-{time.monotonic_ns()}"
    (plain / d).mkdir()
    before = counters(cached)
    for _ in range(20):
        assert missing(cached.mountpoint / d / "nothing.h")
    after = counters(cached)
    assert after["hits"] - before["hits"] >= 18, (before, after)
    assert after["misses"] - before["misses"] <= 2, (before, after)


def test_an_upcall_shows_another_clients_create_long_before_the_ttl(ci_mounts: tuple[FuseMount, Path]) -> None:
    cached, plain = ci_mounts
    d = f"up-{time.monotonic_ns()}"
    (plain / d).mkdir()
    for _ in range(3):
        assert missing(cached.mountpoint / d / "late.h")
    before = counters(cached)
    assert before["hits"] >= 1
    (plain / d / "late.h").write_bytes(b"made elsewhere")
    created = time.monotonic()
    took = wait_visible(cached.mountpoint / d / "late.h", created + 20.0)
    assert took is not None, f"another client's create was still hidden after 20 s (ttl {CI_TTL:.0f} s)"
    assert (cached.mountpoint / d / "late.h").read_bytes() == b"made elsewhere"
    after = counters(cached)
    assert after["upcalls"] > before["upcalls"], (before, after)
    # the upcalls reached Python with their data: what changed, and which inode
    stats = json.loads(os.getxattr(cached.mountpoint / d, STATS_XATTR))
    upcalls = stats.get("upcalls", [])
    assert any(u["kind"] == "CACHE_INVALIDATION" and u["flags"] for u in upcalls), upcalls
    gfids = {str(uuid.UUID(bytes=os.getxattr(plain / d / "late.h", "glusterfs.gfid"))),
             str(uuid.UUID(bytes=os.getxattr(plain / d, "glusterfs.gfid")))}
    assert gfids & {u["gfid"] for u in upcalls}, (gfids, upcalls)


# ---------------------------------------------------------------- no options: what it chooses by itself


def choice(mount: FuseMount) -> dict[str, str]:
    """ttl (in effect), ttl-chosen-by and watching from the cache's statedump section."""
    section = mount.statedump().get("xlator.glupy.neg.priv")
    assert section, "no statedump section of the cache"
    return {k: section.get(k, "") for k in ("ttl", "ttl-chosen-by", "watching", "option.ttl")}


NO_UPCALL = {"ttl": "5", "ttl-chosen-by": "auto: no cache-invalidation upcall seen", "watching": "misses",
             "option.ttl": "auto"}
#: the bricks' features.cache-invalidation-timeout (600 here), as the upcall carries it
UPCALLS = {"ttl": "600", "ttl-chosen-by": "auto: cache-invalidation upcalls seen", "watching": "misses",
           "option.ttl": "auto"}


def mount_pair(vol: Volume, state: Path, mnt: Path, prefix: str) -> list[FuseMount]:
    """[cached, plain] mounts of `vol`: the cache with no options at all, where `glupy mount
    --with glupy.translators.negative` puts it (under the top); the cached one mounted first."""
    graph = Volfile.read(vol.client_volfile())
    graph.insert_below_top(glupy_xlator("neg", "glupy.translators.negative", {}))
    return mounts_with_and_without(vol, graph, state, mnt, prefix, MOUNT_ARGS)


@pytest.fixture(scope="module")
def auto_mounts(neg_volume: Volume, gluster_state_dir: Path) -> Iterator[tuple[FuseMount, Path]]:
    """(cached mount with no options, plain mount point) of the volume without cache-invalidation."""
    made = mount_pair(neg_volume, gluster_state_dir / "negative-auto-clients", gluster_state_dir / "mnt",
                      "negative-auto")
    try:
        yield made[0], made[1].mountpoint
    finally:
        unmount_checked(made)


@pytest.fixture(scope="module")
def auto_ci_mounts(neg_node: GlusterNode, gluster_state_dir: Path) -> Iterator[tuple[FuseMount, Path]]:
    """The same on a volume with cache-invalidation as GlusterFS's group nl-cache sets it (timeout 600)."""
    vol = Volume.create(neg_node, "negative-auto-ci", [neg_node.brick("negative-auto-ci", 0)])
    made: list[FuseMount] = []
    try:
        vol.set_options({"features.cache-invalidation": "on", "features.cache-invalidation-timeout": "600"})
        vol.start()
        made = mount_pair(vol, gluster_state_dir / "negative-auto-ci-clients", gluster_state_dir / "mnt",
                          "negative-auto-ci")
        yield made[0], made[1].mountpoint
    finally:
        try:
            unmount_checked(made)
        finally:
            vol.delete()


def test_no_options_without_cache_invalidation_keeps_the_short_ttl(auto_mounts: tuple[FuseMount, Path]) -> None:
    cached, plain = auto_mounts
    d = f"auto-{time.monotonic_ns()}"
    (plain / d).mkdir()  # another client's changes: this volume sends no upcall about them
    before = counters(cached)
    for _ in range(3):
        assert missing(cached.mountpoint / d / "late.h")
    after = counters(cached)
    assert after["hits"] - before["hits"] >= 2, (before, after)
    assert choice(cached) == NO_UPCALL
    # correctness first: another client's create is seen within the 5 s chosen
    (plain / d / "late.h").write_bytes(b"made elsewhere")
    created = time.monotonic()
    took = wait_visible(cached.mountpoint / d / "late.h", created + 5.0 + 1.0)
    assert took is not None, "another client's create was still hidden 6 s later (ttl auto: 5 s without upcalls)"
    assert (cached.mountpoint / d / "late.h").read_bytes() == b"made elsewhere"
    assert choice(cached) == NO_UPCALL  # still: nothing came to prove upcalls
    assert counters(cached)["upcalls"] == 0


def test_no_options_with_cache_invalidation_learns_it_from_an_upcall(
        auto_ci_mounts: tuple[FuseMount, Path]) -> None:
    cached, plain = auto_ci_mounts
    assert choice(cached) == NO_UPCALL  # nothing has changed on the volume yet
    assert counters(cached)["upcalls"] == 0
    # another client changes the root, which this client looked up when it mounted: the
    # brick tells it (an upcall), and from then on it keeps misses 60 s
    d = f"auto-{time.monotonic_ns()}"
    (plain / d).mkdir()
    deadline = time.monotonic() + 20.0
    while choice(cached) != UPCALLS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert choice(cached) == UPCALLS
    # correctness first: a name missing here, then created by another client, shows up
    # long before those 60 s, through the upcall about it
    for _ in range(3):
        assert missing(cached.mountpoint / d / "late.h")
    before = counters(cached)
    assert before["entries"] >= 1 and before["hits"] >= 1, before
    (plain / d / "late.h").write_bytes(b"made elsewhere")
    created = time.monotonic()
    took = wait_visible(cached.mountpoint / d / "late.h", created + 20.0)
    assert took is not None, "another client's create was still hidden after 20 s (ttl auto: 60 s with upcalls)"
    assert (cached.mountpoint / d / "late.h").read_bytes() == b"made elsewhere"
    assert counters(cached)["upcalls"] > before["upcalls"]
