"""glupy.translators.negative in the in-process harness."""

from __future__ import annotations

import errno
import os
import sys
import uuid
from pathlib import Path

import pytest

import glupy
from glupy import FopError, Xdata
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.harness import ROOT_GFID
from glupy.translators.negative import NegativeLookupCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from fake_clock import FakeClock  # noqa: E402


def make(glupy_harness, *below, **options):
    """A harness with the cache on top (and `below` under it), a fake clock, and the backing directory."""
    h = glupy_harness(NegativeLookupCache, *below, **options)
    clock = FakeClock()
    neg = h.translator()
    neg.clock = clock  # deadlines are set with it
    neg.missing_names.clock = clock  # and compared with it (the harness's stand-in of the C table)
    return h, neg, clock, glupy_harness.bricks[-1]


def lookups_reaching_posix(h) -> int:
    return h.seen("posix")["lookup"]


def enoent(h, path: str) -> FopError:
    with pytest.raises(FopError) as info:
        h.lookup(path)
    assert info.value.errno == errno.ENOENT
    return info.value


def test_a_miss_is_cached_with_its_postparent(glupy_harness) -> None:
    h, neg, clock, _ = make(glupy_harness)
    before = lookups_reaching_posix(h)
    first = enoent(h, "/missing")
    assert lookups_reaching_posix(h) == before + 1
    second = enoent(h, "/missing")
    assert lookups_reaching_posix(h) == before + 1  # answered without winding
    assert isinstance(second.reply, glupy.LookupReply)
    assert second.reply.op_ret == -1 and second.reply.op_errno == errno.ENOENT
    assert second.reply.postparent is not None and second.reply.postparent.gfid == ROOT_GFID
    assert second.reply.postparent == first.reply.postparent
    assert second.reply.inode is None and second.reply.buf is None
    stats = neg.stats()
    assert (stats["entries"], stats["hits"], stats["misses"]) == (1, 1, 1)


def test_a_create_through_the_cache_is_visible_at_once(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    enoent(h, "/f")
    h.create("/f", b"data")  # the client's lookup before create is a hit; the create invalidates
    assert neg.stats()["hits"] >= 1
    assert h.lookup("/f").buf.size == 4
    assert h.read("/f") == b"data"
    assert neg.stats()["entries"] == 0


@pytest.mark.parametrize("how", ["mkdir", "mknod", "symlink", "link", "rename", "rename-dir"])
def test_namespace_changes_invalidate_the_new_name(glupy_harness, how: str) -> None:
    h, neg, _, _ = make(glupy_harness)
    h.mkdir("/d")
    h.create("/src", b"x")
    h.mkdir("/srcdir")
    enoent(h, "/d/new")
    enoent(h, "/d/other")
    assert neg.stats()["entries"] == 2
    d = h.lookup("/d").buf.gfid
    if how == "mkdir":
        h.mkdir("/d/new")
    elif how == "mknod":
        h.mknod("/d/new")
    elif how == "symlink":
        h.symlink("../src", "/d/new")
    elif how == "link":
        h.link("/src", "/d/new")
    elif how == "rename":
        h.rename("/src", "/d/new")
    else:
        h.rename("/srcdir", "/d/new")
    assert (d, "new") not in neg.missing_names and (d, "other") in neg.missing_names  # only the new name went
    assert h.lookup("/d/new").buf is not None


def test_other_names_in_the_same_directory_stay_cached(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    enoent(h, "/a")
    enoent(h, "/b")
    h.create("/a", b"1")  # root: never looked up again by the client, so only /a's entry goes
    assert h.exists("/a")
    before = lookups_reaching_posix(h)
    enoent(h, "/b")
    assert lookups_reaching_posix(h) == before
    assert neg.stats()["entries"] == 1


def test_rename_drops_the_old_parents_entries(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    h.mkdir("/from")
    h.mkdir("/to")
    h.create("/from/f")
    enoent(h, "/from/x")
    enoent(h, "/to/f")
    enoent(h, "/elsewhere")
    h.rename("/from/f", "/to/f")
    # /to/f (the new name) and everything in /from are gone
    assert len(neg.missing_names) == 1 and (ROOT_GFID, "elsewhere") in neg.missing_names
    assert h.exists("/to/f") and not h.exists("/from/f")


def test_ttl_bounds_how_long_another_clients_create_stays_invisible(glupy_harness) -> None:
    h, neg, clock, brick = make(glupy_harness, ttl=2)
    enoent(h, "/late")
    (brick / "late").write_bytes(b"from another client")  # behind the cache's back
    clock.advance(1.5)
    enoent(h, "/late")  # stale, within the ttl
    clock.advance(0.6)
    assert h.lookup("/late").buf.size == len(b"from another client")
    stats = neg.stats()
    assert stats["expired"] == 1 and stats["entries"] == 0


def test_a_directory_whose_mtime_changed_loses_its_entries(glupy_harness) -> None:
    h, neg, clock, brick = make(glupy_harness, ttl=1000, watch_directories="on")
    h.mkdir("/d")
    enoent(h, "/d/x")
    enoent(h, "/d/y")
    (brick / "d" / "x").write_bytes(b"new")  # another client: /d's mtime changes
    os.utime(brick / "d", ns=(0, 123456789))  # make sure it differs at any timestamp granularity
    assert h.lookup("/d/x").buf.size == 3  # the lookup of /d saw the change
    assert neg.stats()["invalidations"] >= 2


def test_setxattr_on_a_directory_drops_its_entries(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    h.mkdir("/d")
    enoent(h, "/d/x")
    enoent(h, "/y")
    h.setxattr("/d", "user.layout", b"1")
    assert neg.stats()["entries"] == 1 and (ROOT_GFID, "y") in neg.missing_names


def test_eviction_at_max_entries_is_lru(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness, max_entries=3)
    for name in "abc":
        enoent(h, f"/{name}")
    enoent(h, "/a")  # a is now the most recently used
    enoent(h, "/d")  # evicts b
    assert neg.stats()["entries"] == 3 and neg.stats()["evictions"] == 1
    before = lookups_reaching_posix(h)
    for name in "acd":
        enoent(h, f"/{name}")
    assert lookups_reaching_posix(h) == before
    enoent(h, "/b")
    assert lookups_reaching_posix(h) == before + 1
    h.reconfigure(max_entries=1)
    assert neg.stats()["entries"] == 1


def test_ttl_zero_caches_nothing(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness, ttl=0)
    enoent(h, "/m")
    before = lookups_reaching_posix(h)
    enoent(h, "/m")
    assert lookups_reaching_posix(h) == before + 1
    assert neg.stats()["entries"] == 0


def test_lookups_with_other_xdata_requests_bypass_the_cache(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    enoent(h, "/m")
    loc = glupy.Loc(path="/m", parent=h.itable.root, inode=glupy.Inode())
    before = lookups_reaching_posix(h)
    with pytest.raises(FopError):
        h.fop("lookup", loc, Xdata({"trusted.glusterfs.dht.linkto": 0}))
    assert lookups_reaching_posix(h) == before + 1
    with pytest.raises(FopError):
        h.fop("lookup", loc, Xdata({"gfid-req": uuid.uuid4()}))  # what FUSE sends: cached
    assert lookups_reaching_posix(h) == before + 1


def test_nameless_lookups_are_not_cached(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    gone = uuid.uuid4()
    for _ in range(2):
        with pytest.raises(FopError):
            h.fop("lookup", glupy.Loc(gfid=gone, inode=glupy.Inode(gone)), None)
    assert neg.stats()["entries"] == 0 and neg.stats()["misses"] == 0


class RacingCreate(glupy.Translator):
    """Below the cache: while a lookup of `name` is in flight, the name is created through the top."""

    def init(self) -> None:
        self.race = None

    async def lookup(self, loc, xdata):
        try:
            return await self.child.lookup(loc, xdata)
        except FopError:
            if self.race is not None and loc.name == self.race[0]:
                race, self.race = self.race, None
                race[1]()
            raise


def test_a_create_during_a_failing_lookup_is_not_hidden(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness, RacingCreate)
    racer = h.translator("racingcreate")

    def create_now():
        parent = h.itable.root
        loc = glupy.Loc(path="/r", parent=parent, inode=glupy.Inode())
        fd = glupy.Fd(loc.inode, flags=os.O_CREAT | os.O_WRONLY)
        h.fop("create", loc, os.O_CREAT | os.O_WRONLY, 0o100644, 0o022, fd, Xdata({"gfid-req": uuid.uuid4()}))

    racer.race = ("r", create_now)
    enoent(h, "/r")  # the lookup lost the race: ENOENT, but it must not be remembered
    assert neg.stats()["entries"] == 0
    assert h.exists("/r")


def test_child_events_clear_the_cache(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    enoent(h, "/m")
    h.notify(glupy.Event.CHILD_DOWN)
    assert neg.stats()["entries"] == 0


def test_statedump(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness, ttl=7, max_entries=10)
    enoent(h, "/m")
    enoent(h, "/m")
    dump = dict(h.statedump())
    assert dump["option.ttl"] == "7.0" and dump["option.max-entries"] == "10"
    assert (dump["entries"], dump["hits"], dump["misses"], dump["evictions"]) == ("1", "1", "1", "0")


def test_bad_options_are_refused(glupy_harness) -> None:
    with pytest.raises(glupy.OptionError):
        glupy_harness(NegativeLookupCache, ttl=-1)
    with pytest.raises(glupy.OptionError):
        glupy_harness(NegativeLookupCache, max_entries=0)


#: what a FUSE lookup carries right below md-cache (where nl-cache sits): md-cache's xattr requests
MD_CACHE_XDATA = {"security.capability": 0, "security.ima": 0}


def test_lookups_with_md_cache_xattr_requests_are_cached(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    loc = glupy.Loc(path="/m", parent=h.itable.root, inode=glupy.Inode())
    before = lookups_reaching_posix(h)
    for _ in range(3):
        with pytest.raises(FopError) as info:
            h.fop("lookup", loc, Xdata({"gfid-req": uuid.uuid4(), **MD_CACHE_XDATA}))
        assert info.value.errno == errno.ENOENT
    with pytest.raises(FopError):  # and without gfid-req (a revalidation's xdata below md-cache)
        h.fop("lookup", loc, Xdata(MD_CACHE_XDATA))
    assert lookups_reaching_posix(h) == before + 1
    assert (neg.stats()["hits"], neg.stats()["misses"]) == (3, 1)


@pytest.mark.parametrize("keys, cacheable", [
    (["gfid-req"], True),
    (["gfid-req", "security.capability", "security.ima", "security.selinux"], True),
    (["system.posix_acl_access", "system.posix_acl_default", "glusterfs.posix.acl"], True),
    (["user.swift.metadata", "user.DOSATTRIB", "glusterfs.content", "trusted.glusterfs.mdata"], True),
    (["get-link-count", "glusterfs.inodelk-count", "glusterfs.entrylk-count", "glusterfs.open-fd-count"], True),
    (["gfid-req", "trusted.glusterfs.dht.linkto"], False),   # dht's own linkto handling
    (["gfid-req", "glusterfs.parent-entrylk"], False),       # about the parent's entry locks on the name
    (["gfid-req", "some-new-key"], False),                  # unknown: never assumed harmless
])
def test_which_xdata_keys_a_cached_answer_may_ignore(keys, cacheable) -> None:
    from glupy.translators.negative import xdata_is_cacheable

    assert xdata_is_cacheable(keys) is cacheable


def test_a_lookup_with_a_known_inode_is_wound_and_drops_the_entry(glupy_harness) -> None:
    h, neg, clock, brick = make(glupy_harness, ttl=600)
    enoent(h, "/late")
    (brick / "late").write_bytes(b"created elsewhere")  # another client creates it
    # this client learns of it (e.g. readdirp linked an inode): a lookup with a known gfid
    # must not be answered ENOENT from the cache
    known = glupy.Loc(path="/late", parent=h.itable.root, inode=glupy.Inode(uuid.uuid4()))
    before = lookups_reaching_posix(h)
    assert h.fop("lookup", known, None).buf.size == len(b"created elsewhere")
    assert lookups_reaching_posix(h) == before + 1
    assert neg.stats()["entries"] == 0
    assert h.lookup("/late").buf.size == len(b"created elsewhere")


def test_an_upcall_clears_the_cache(glupy_harness) -> None:
    h, neg, _, brick = make(glupy_harness, ttl=600)
    enoent(h, "/m")
    (brick / "m").write_bytes(b"x")  # another client creates it; the bricks' upcall tells this client
    h.notify(glupy.Event.UPCALL)
    assert h.lookup("/m").buf.size == 1
    stats = neg.stats()
    assert stats["entries"] == 0 and stats["upcalls"] == 1


@pytest.mark.parametrize("watch", ["on", "off"])
def test_watch_directories_off_keeps_known_names_out_of_python(glupy_harness, watch: str) -> None:
    h = glupy_harness(NegativeLookupCache, watch_directories=watch)
    neg = h.translator()
    h.mkdir("/d")
    enoent(h, "/d/x")
    entered = []
    real = type(neg).lookup

    async def spy(loc, xdata):
        entered.append(loc.name or "(nameless)")
        return await real(neg, loc, xdata)

    neg.lookup = spy
    h.nodes[neg.name].handlers[glupy.Fop.LOOKUP] = spy
    h.lookup("/")        # the root by gfid: nameless
    h.lookup("/d")       # a name the client knows: a revalidation
    enoent(h, "/d/x")    # a hit: answered in C either way
    enoent(h, "/d/y")    # a miss: always Python's
    if watch == "on":  # the revalidations of /d (each path walk's too) and of the root come by
        assert set(entered) == {"(nameless)", "d", "y"} and entered[-1] == "y"
    else:
        assert entered == ["y"]
    assert neg.stats()["hits"] == 1 and neg.stats()["misses"] == 3  # /d (before mkdir), /d/x, /d/y


def test_a_directory_change_is_seen_only_while_watching(glupy_harness) -> None:
    for watch, seen in (("on", True), ("off", False)):
        h = glupy_harness(NegativeLookupCache, ttl=1000, watch_directories=watch)
        brick = glupy_harness.bricks[-1]
        h.mkdir("/d")
        h.lookup("/d")
        enoent(h, "/d/x")
        h.lookup("/d")  # the stamp of /d
        (brick / "d" / "x").write_bytes(b"new")  # another client, no upcall
        os.utime(brick / "d", ns=(0, 123456789))
        if seen:
            assert h.lookup("/d/x").buf.size == 3
        else:
            enoent(h, "/d/x")  # until the ttl or an upcall


def test_missing_names_stand_in_passes_the_shared_scenario() -> None:
    # the same scenario runs against the bridge's C type in tests/integration/test_driver_paths.py
    from glupy import _pytypes
    from glupy.testing.translators import exercise_missing_names

    assert exercise_missing_names(_pytypes.MissingNames) == []


def test_missing_names_without_a_lookup_handler_is_refused(glupy_harness) -> None:
    class NoLookup(glupy.Translator):
        def init(self) -> None:
            self.missing_names = glupy.MissingNames()

    with pytest.raises(glupy.TranslatorLoadError, match="no lookup handler"):
        glupy_harness(NoLookup)
