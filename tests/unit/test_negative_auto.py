"""glupy.translators.negative with no options: what it chooses by itself (in-process harness).

Upcalls are delivered to the translator's notify as the bridge delivers them (a
glupy.Upcall as `source`); the clock is a fake one, so ttls are checked exactly.
"""

from __future__ import annotations

import errno
import os
import sys
import uuid
from pathlib import Path

import pytest

import glupy
from glupy import FopError
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.translators.negative import NegativeLookupCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from fake_clock import FakeClock  # noqa: E402

#: the ttls ttl auto chooses (the module's AUTO_TTL_WITHOUT_UPCALLS / AUTO_TTL_WITH_UPCALLS)
AUTO_TTL_WITHOUT_UPCALLS = 5.0
AUTO_TTL_WITH_UPCALLS = 60.0

UP_TIMES, UP_PARENT_TIMES = 0x10, 0x200  # upcall-utils.h: what a create sends about the parent directory


def make(glupy_harness, **options):
    h = glupy_harness(NegativeLookupCache, **options)
    clock = FakeClock()
    neg = h.translator()
    neg.clock = clock
    neg.missing_names.clock = clock
    return h, neg, clock, glupy_harness.bricks[-1]


def enoent(h, path: str) -> None:
    with pytest.raises(FopError) as info:
        h.lookup(path)
    assert info.value.errno == errno.ENOENT


def upcall(kind: glupy.UpcallKind = glupy.UpcallKind.CACHE_INVALIDATION) -> glupy.Upcall:
    """What the bridge hands notify with Event.UPCALL."""
    return glupy.Upcall(gfid=uuid.uuid4(), kind=int(kind), client="other-client",
                        flags=UP_TIMES | UP_PARENT_TIMES if kind == glupy.UpcallKind.CACHE_INVALIDATION else 0)


def posix_lookups(h) -> int:
    return h.seen("posix")["lookup"]


def lives_for(h, clock, path: str, seconds: float) -> bool:
    """Store `path`'s ENOENT now; True if it is still answered from the cache `seconds` - 0.1 later
    and no longer at `seconds` + 0.1."""
    enoent(h, path)
    start = clock.now
    before = posix_lookups(h)
    clock.now = start + seconds - 0.1
    enoent(h, path)
    cached = posix_lookups(h) == before
    clock.now = start + seconds + 0.1
    enoent(h, path)
    expired = posix_lookups(h) == before + 1
    return cached and expired


def test_without_upcalls_the_short_ttl(glupy_harness) -> None:
    h, neg, clock, _ = make(glupy_harness)
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS
    assert lives_for(h, clock, "/a", AUTO_TTL_WITHOUT_UPCALLS)
    dump = dict(h.statedump())
    assert dump["option.ttl"] == "auto" and dump["ttl"] == "5"
    assert dump["ttl-chosen-by"] == "auto: no cache-invalidation upcall seen"


def test_a_cache_invalidation_upcall_proves_the_bricks_send_them_and_lengthens_the_ttl(glupy_harness) -> None:
    h, neg, clock, brick = make(glupy_harness)
    enoent(h, "/before")
    (brick / "before").write_bytes(b"x")  # another client's create, and the upcall about it
    neg.notify(glupy.Event.UPCALL, upcall())
    assert h.lookup("/before").buf.size == 1  # the upcall still clears the cache
    assert neg.current_ttl() == AUTO_TTL_WITH_UPCALLS
    assert lives_for(h, clock, "/after", AUTO_TTL_WITH_UPCALLS)
    dump = dict(h.statedump())
    assert dump["ttl"] == "60" and dump["ttl-chosen-by"] == "auto: cache-invalidation upcalls seen"


@pytest.mark.parametrize("kind", [glupy.UpcallKind.RECALL_LEASE, glupy.UpcallKind.INODELK_CONTENTION,
                                  glupy.UpcallKind.ENTRYLK_CONTENTION])
def test_other_upcalls_prove_nothing(glupy_harness, kind) -> None:
    # leases and lock contention send upcalls without features.cache-invalidation
    h, neg, clock, _ = make(glupy_harness)
    neg.notify(glupy.Event.UPCALL, upcall(kind))
    assert neg.stats()["upcalls"] == 1
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS
    assert lives_for(h, clock, "/a", AUTO_TTL_WITHOUT_UPCALLS)


def test_an_upcall_without_data_proves_nothing(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    neg.notify(glupy.Event.UPCALL, None)
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS


def test_child_down_forgets_the_proof(glupy_harness) -> None:
    h, neg, clock, _ = make(glupy_harness)
    neg.notify(glupy.Event.UPCALL, upcall())
    assert neg.current_ttl() == AUTO_TTL_WITH_UPCALLS
    h.notify(glupy.Event.CHILD_DOWN)
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS
    assert lives_for(h, clock, "/a", AUTO_TTL_WITHOUT_UPCALLS)
    h.notify(glupy.Event.CHILD_UP)  # coming back proves nothing either
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS


@pytest.mark.parametrize("ttl, upcalls", [(2, False), (2, True), (600, False), (0, True)])
def test_an_explicit_ttl_wins(glupy_harness, ttl: float, upcalls: bool) -> None:
    h, neg, clock, _ = make(glupy_harness, ttl=ttl)
    if upcalls:
        neg.notify(glupy.Event.UPCALL, upcall())
    assert neg.current_ttl() == ttl
    assert dict(h.statedump())["ttl-chosen-by"] == "option"
    if ttl:
        assert lives_for(h, clock, "/a", ttl)
    else:
        enoent(h, "/a")
        assert neg.stats()["entries"] == 0


def test_ttl_auto_can_be_set_back_by_reconfigure(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness, ttl=600)
    neg.notify(glupy.Event.UPCALL, upcall())
    enoent(h, "/a")
    h.reconfigure(ttl="auto")
    assert neg.current_ttl() == AUTO_TTL_WITH_UPCALLS
    assert neg.stats()["entries"] == 0  # entries carry deadlines from the old ttl


def test_module_constants() -> None:
    from glupy.translators import negative

    assert (negative.AUTO_TTL_WITHOUT_UPCALLS, negative.AUTO_TTL_WITH_UPCALLS) == (5.0, 60.0)


@pytest.mark.parametrize("options, fresh_only", [({}, True), ({"watch_directories": "auto"}, True),
                                                 ({"watch_directories": "off"}, True),
                                                 ({"watch_directories": "on"}, False)])
def test_revalidations_stay_in_c_unless_watching_is_asked_for(glupy_harness, options, fresh_only: bool) -> None:
    h, neg, _, _ = make(glupy_harness, **options)
    assert neg.fresh_lookups_only is fresh_only
    h.mkdir("/d")
    enoent(h, "/d/x")
    entered = []
    real = type(neg).lookup

    async def spy(loc, xdata):
        entered.append(loc.name or "(nameless)")
        return await real(neg, loc, xdata)

    h.nodes[neg.name].handlers[glupy.Fop.LOOKUP] = spy
    h.lookup("/")        # nameless
    h.lookup("/d")       # a revalidation
    enoent(h, "/d/x")    # a hit
    enoent(h, "/d/y")    # a miss
    if fresh_only:
        assert entered == ["y"]
    else:
        assert "d" in entered and "(nameless)" in entered


@pytest.mark.parametrize("options", [{"ttl": "soon"}, {"ttl": "-1"}, {"ttl": -1}, {"ttl": "nan"},
                                     {"watch_directories": "sometimes"}, {"watch_directories": 2}])
def test_bad_values_are_refused(glupy_harness, options) -> None:
    with pytest.raises(glupy.OptionError):
        glupy_harness(NegativeLookupCache, **options)


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("AUTO", "auto"), (" Auto ", "auto")])
def test_ttl_option_text(glupy_harness, text: str, value) -> None:
    h, neg, _, _ = make(glupy_harness, ttl=text)
    assert neg.ttl == value


def test_a_miss_with_new_directory_times_drops_the_directorys_entries(glupy_harness) -> None:
    # no upcalls, revalidations in C: another client's create is seen at the next miss in
    # that directory, long before the ttl
    h, neg, clock, brick = make(glupy_harness)
    h.mkdir("/d")
    h.mkdir("/e")
    enoent(h, "/d/x")
    enoent(h, "/d/z")
    enoent(h, "/e/x")
    (brick / "d" / "x").write_bytes(b"new")  # another client, no upcall: /d's times change
    os.utime(brick / "d", ns=(0, 123456789))
    clock.advance(1)
    enoent(h, "/d/x")  # a hit: nothing tells the cache yet
    enoent(h, "/d/y")  # a miss in /d: its postparent has /d's new times
    assert h.lookup("/d/x").buf.size == 3
    assert (h.lookup("/d").buf.gfid, "z") not in neg.missing_names  # all of /d's entries went
    hits = neg.stats()["hits"]
    enoent(h, "/e/x")  # other directories keep theirs
    assert neg.stats()["hits"] == hits + 1


def test_misses_in_an_unchanged_directory_keep_its_entries(glupy_harness) -> None:
    h, neg, _, _ = make(glupy_harness)
    h.mkdir("/d")
    before = neg.stats()["invalidations"]  # the mkdir dropped the ENOENT of /d its lookup stored
    for name in "abcdef":
        enoent(h, f"/d/{name}")
    assert neg.stats()["entries"] == 6 and neg.stats()["invalidations"] == before


def test_the_ttl_follows_the_bricks_cache_invalidation_timeout_the_upcall_carries(glupy_harness) -> None:
    h, neg, clock, _ = make(glupy_harness)
    long = upcall()
    long.expire = 600  # group nl-cache: features.cache-invalidation-timeout 600
    neg.notify(glupy.Event.UPCALL, long)
    assert neg.current_ttl() == 600.0
    assert lives_for(h, clock, "/x", 600.0)
    neg.notify(glupy.Event.CHILD_DOWN, None)  # the bricks may come back otherwise: prove it again
    assert neg.current_ttl() == AUTO_TTL_WITHOUT_UPCALLS
    neg.notify(glupy.Event.UPCALL, upcall())  # an upcall that carries no timeout: upcall's default
    assert neg.current_ttl() == AUTO_TTL_WITH_UPCALLS
