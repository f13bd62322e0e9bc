"""trace and mirror in the in-process harness."""

from __future__ import annotations

import errno
import json
import logging
import os
import re

import pytest

import glupy
from glupy import Event, FopError
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.harness import Harness, Node, PosixBackend
from glupy.translators.mirror import RESYNCED_XATTR, STATUS_XATTR, Mirror
from glupy.fop_table import parse_fop_names as parse_fop_list
from glupy.translators.trace import Trace, open_flags_text

TRACE_LINE = re.compile(r"(?P<dir><-|->) (?P<fop>\w+) #(?P<id>\d+) \((?P<args>.*)\)"
                        r"(?: = (?:-1 (?P<errno>E\w+)|(?P<ret>\d+))(?: \{(?P<reply>.*)\})? (?P<us>\d+)us)?"
                        r" \[uid=(?P<uid>\d+) gid=(?P<gid>\d+) pid=(?P<pid>-?\d+) client=(?P<client>\S+)\]")


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(FopError) as info:
        fn(*args, **kw)
    return info.value.errno


# ------------------------------------------------------------------ trace


def parsed(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        m = TRACE_LINE.fullmatch(line)
        assert m, f"unparseable: {line!r}"
        out.append(m.groupdict())
    return out


def test_trace_lines_name_fops_arguments_and_results(glupy_harness, tmp_path) -> None:
    log = tmp_path / "trace.log"
    h = glupy_harness(Trace, path=str(log), data_bytes=4)
    h.mkdir("/d")
    h.create("/d/f", b"hello")
    assert h.read("/d/f") == b"hello"
    h.rename("/d/f", "/d/g")
    h.setxattr("/d/g", "user.k", b"v")
    assert errno_of(h.stat, "/d/nope") == errno.ENOENT
    h.chmod("/d/g", 0o600)
    h.unlink("/d/g")
    records = parsed(log)
    assert all(r["dir"] == "<-" for r in records)  # log-entry is off
    assert len({r["id"] for r in records}) == len(records)

    def one(fop, needle, err=None):
        hits = [r for r in records if r["fop"] == fop and needle in r["args"] and r["errno"] == err]
        assert hits, (fop, needle, [(r["fop"], r["args"], r["errno"]) for r in records])
        return hits[0]

    mkdir = one("mkdir", "loc=/d ")
    assert "mode=040755" in mkdir["args"] and "xdata={gfid-req}" in mkdir["args"] and "{DIR 0755" in mkdir["reply"]
    create = one("create", "loc=/d/f ")
    assert "flags=01101|WRONLY|CREAT|TRUNC" in create["args"] and "fd=/d/f" in create["args"]
    writev = one("writev", "fd=/d/f ")
    assert writev["ret"] == "5" and "data=<5 bytes 68656c6c...>" in writev["args"]
    assert "postbuf={REG 0644 size=5" in writev["reply"]
    assert one("readv", "fd=/d/f ")["ret"] == "5"
    assert "newloc=/d/g" in one("rename", "oldloc=/d/f@")["args"]
    assert "dict={user.k} flags=0" in one("setxattr", "loc=/d/g@")["args"]
    one("lookup", "loc=/d/nope", "ENOENT")
    setattr_ = one("setattr", "loc=/d/g@")
    assert "stbuf={mode=0600} valid=MODE" in setattr_["args"] and "statpost={REG 0600" in setattr_["reply"]
    one("unlink", "loc=/d/g@")
    assert all(r["uid"] == "0" and int(r["us"]) >= 0 for r in records)
    dump = dict(h.statedump())
    assert int(dump["lines"]) == len(records) and dump["file"] == str(log)
    assert int(dump["fops-logged"]) == max(int(r["id"]) for r in records) == len(records)
    assert dict(h.statedump())["fops-logged"] == dump["fops-logged"]  # a statedump changes nothing


def test_trace_changes_nothing(glupy_harness, tmp_path) -> None:
    """Replies and errors (with the child's reply) pass through unchanged."""

    class Answer(glupy.Translator):
        async def stat(self, loc, xdata):
            if loc.path == "/nope":
                raise FopError(errno.EACCES, reply=glupy.StatReply(op_ret=-1, op_errno=errno.EACCES))
            return glupy.StatReply(buf=(await self.child.stat(loc, xdata)).buf, xdata=glupy.Xdata({"k": b"v"}))

    h = glupy_harness(Trace, Answer, path=str(tmp_path / "t.log"), log_entry="on", format="json")
    h.create("/f", b"abc")
    reply = h.fop("stat", h.loc("/f"), None)
    assert reply.buf.size == 3 and reply.xdata["k"] == b"v"
    h.create("/nope")
    assert errno_of(h.fop, "stat", h.loc("/nope"), None) == errno.EACCES
    lines = [json.loads(line) for line in (tmp_path / "t.log").read_text().splitlines()]
    stats = [r for r in lines if r["fop"] == "stat"]
    assert [r["dir"] for r in stats] == ["->", "<-", "->", "<-"]
    assert stats[1]["op_ret"] == 0 and stats[1]["reply"]["xdata"] == "{k}" and stats[1]["id"] == stats[0]["id"]
    assert stats[3]["errno"] == "EACCES" and stats[3]["op_ret"] == -1
    assert not h.logged


def test_trace_fop_choice_exclude_and_reconfigure(glupy_harness, tmp_path, caplog) -> None:
    h = glupy_harness(Trace, fops="create,writev,lookup", exclude="lookup", max_arg_length=12)
    with caplog.at_level(logging.INFO, logger="glupy"):
        h.create("/a-rather-long-name", b"x")
    lines = [r.getMessage() for r in caplog.records if r.name == f"glupy.{h.translator().name}"]
    assert [line.split()[1] for line in lines] == ["create", "writev"]
    assert "loc=/a-rather..." in lines[0]  # cut at max-arg-length
    caplog.clear()
    h.reconfigure(fops="all", exclude="", path=str(tmp_path / "later.log"))
    h.stat("/a-rather-long-name")
    assert not [r for r in caplog.records if r.name == f"glupy.{h.translator().name}"]
    assert "<- lookup" in (tmp_path / "later.log").read_text()
    with pytest.raises(glupy.OptionError):
        h.reconfigure(fops="create,nosuchfop")
    with pytest.raises(glupy.OptionError):
        h.reconfigure(format="xml")


def test_trace_helpers() -> None:
    assert open_flags_text(os.O_RDWR | os.O_APPEND) == f"0{os.O_RDWR | os.O_APPEND:o}|RDWR|APPEND"
    assert open_flags_text(os.O_WRONLY | os.O_SYNC).endswith("|WRONLY|SYNC")
    assert parse_fop_list("all") == parse_fop_list(",".join(f.name for f in glupy.fop_table.FOPS))
    assert parse_fop_list("", empty_ok=True) == frozenset()
    with pytest.raises(ValueError):
        parse_fop_list("")


# ------------------------------------------------------------------ mirror


class Plug(glupy.Translator):
    """A child that can be unplugged: every FOP fails with ENOTCONN while `unplugged`."""

    def init(self) -> None:
        self.unplugged = False


def _plugged(name: str):
    wind = getattr(glupy.Child, name)

    async def handler(self, *args):
        if self.unplugged:
            raise FopError(errno.ENOTCONN)
        return await wind(self.child, *args)

    handler.__name__ = name
    return handler


for _fop in glupy.fop_table.FOPS:
    setattr(Plug, _fop.name, _plugged(_fop.name))


@pytest.fixture
def mirrored(glupy_harness):
    a, b = glupy_harness.brick(), glupy_harness.brick()
    h = glupy_harness.graph(Mirror, children=[Node(Plug, children=[PosixBackend(a, name="pa")], name="A"),
                                              Node(Plug, children=[PosixBackend(b, name="pb")], name="B")])
    return h, a, b


def status(h) -> dict:
    return json.loads(h.getxattr("/", STATUS_XATTR))


def test_mirror_writes_everywhere_with_one_gfid_and_reads_from_the_first(mirrored) -> None:
    h, a, b = mirrored
    h.mkdir("/d")
    h.create("/d/f", b"both")
    h.symlink("f", "/d/l")
    h.setxattr("/d/f", "user.k", b"v")
    h.chmod("/d/f", 0o600)
    h.rename("/d/f", "/d/g")
    for brick in (a, b):
        assert (brick / "d/g").read_bytes() == b"both" and os.readlink(brick / "d/l") == "f"
        assert os.stat(brick / "d/g").st_mode & 0o777 == 0o600
    assert h["pa"].gfid_of("/d/g") == h["pb"].gfid_of("/d/g") == h.stat("/d/g").gfid
    assert h["pa"].gfid_of("/d") == h["pb"].gfid_of("/d")
    assert h.getxattr("/d/g", "user.k") == b"v"
    (b / "d/g").write_bytes(b"different")
    assert h.read("/d/g") == b"both"  # from A
    assert h.seen("pb")["readv"] == 0
    assert sorted(h.listdir("/d")) == ["g", "l"]
    st = status(h)
    assert st["up"] == 2 and not any(c["stale"] or c["missed_writes"] for c in st["children"])
    # every fd FOP found the fd open on both children
    assert h.seen("pa")["writev"] == h.seen("pb")["writev"] == 1
    assert h.seen("pa")["flush"] == h.seen("pb")["flush"] >= 1


def test_mirror_child_down_is_skipped_counted_and_reported_stale_when_back(mirrored) -> None:
    h, a, b = mirrored
    m = h.translator()
    h.create("/f", b"v1")
    h.notify(Event.CHILD_DOWN, "pb")  # travels up through B to the mirror
    assert status(h)["children"][1]["state"] == "down"
    h.write("/f", b"v2")
    h.mkdir("/new")
    h.create("/g", b"g")
    assert h.read("/f") == b"v2" and h.exists("/g")
    assert (b / "f").read_bytes() == b"v1" and not (b / "new").exists()
    st = status(h)
    bst = st["children"][1]
    assert bst["stale"] and bst["downs"] == 1 and bst["missed_writes"] >= 4  # writev, mkdir, create, writev
    assert not st["children"][0]["stale"]
    dump = dict(h.statedump())
    assert dump["child.1.state"] == "down" and dump["children-up"] == "1/2"
    assert int(dump["child.1.missed-writes"]) == bst["missed_writes"]
    h.notify(Event.CHILD_UP, "pb")
    back = status(h)["children"][1]
    assert back["state"] == "up" and back["stale"] and back["missed_writes"] == bst["missed_writes"]
    # stale B is not read from while A is fresh
    assert h.read("/g") == b"g"
    h.create("/both", b"1")
    assert (b / "both").read_bytes() == b"1"
    h.setxattr("/", RESYNCED_XATTR, b"B")
    assert not status(h)["children"][1]["stale"]
    assert errno_of(h.setxattr, "/", RESYNCED_XATTR, b"nobody") == errno.EINVAL
    assert m.name == "mirror"


def test_mirror_reads_fail_over_on_transport_errors(mirrored) -> None:
    h, a, b = mirrored
    h.mkdir("/d")
    h.create("/d/f", b"data")
    h["A"].unplugged = True  # A fails before anyone told the mirror
    assert h.read("/d/f") == b"data"
    assert sorted(h.listdir("/d")) == ["f"]
    st = status(h)
    assert st["read_failovers"] >= 2
    h.create("/d/g", b"only B")  # A answers ENOTCONN: a missed write, the create succeeds
    assert not (a / "d/g").exists() and (b / "d/g").read_bytes() == b"only B"
    assert status(h)["children"][0]["stale"]
    h["B"].unplugged = True
    assert errno_of(h.stat, "/d/f") == errno.ENOTCONN
    assert errno_of(h.create, "/d/h", b"") == errno.ENOTCONN


def test_mirror_divergence_fails_and_marks(mirrored, caplog) -> None:
    h, a, b = mirrored
    (b / "only-on-b").mkdir()
    with caplog.at_level(logging.WARNING, logger="glupy"):
        assert errno_of(h.mkdir, "/only-on-b") == errno.EEXIST
    st = status(h)
    assert st["divergences"] == 1 and st["children"][1]["divergent_writes"] == 1 and st["children"][1]["stale"]
    assert not st["children"][0]["stale"]
    assert any("children disagree on mkdir" in r.getMessage() for r in caplog.records)
    # the same error everywhere is no divergence
    assert errno_of(h.unlink, "/nothing") == errno.ENOENT
    assert status(h)["divergences"] == 1


class Parent(glupy.Translator):
    """Records the child events a mirror tells its parent."""

    def init(self) -> None:
        self.events: list[str] = []

    def notify(self, event, source):
        if event in (Event.CHILD_UP, Event.CHILD_DOWN, Event.CHILD_CONNECTING):
            self.events.append(event.name)


def test_mirror_tells_the_parent_up_once_and_down_when_all_are_down(tmp_path) -> None:
    h = Harness.graph(Node(Parent, children=[Node(Mirror, children=[tmp_path / "a", tmp_path / "b",
                                                                    tmp_path / "c"])]), start=False)
    with h:
        parent = h.translator()
        h.notify(Event.CHILD_UP, "posix")  # the first child up: held until the others report
        assert parent.events == []
        h.notify(Event.CHILD_CONNECTING, "posix-2")
        assert parent.events == []
        h.notify(Event.CHILD_UP, "posix-3")
        assert parent.events == ["CHILD_UP"]
        h.notify(Event.CHILD_UP, "posix-2")
        h.notify(Event.CHILD_DOWN, "posix")
        h.notify(Event.CHILD_DOWN, "posix-2")
        assert parent.events == ["CHILD_UP"]
        h.notify(Event.CHILD_DOWN, "posix-3")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN"]
        h.notify(Event.CHILD_DOWN, "posix-3")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN"]
        h.notify(Event.CHILD_UP, "posix-2")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN", "CHILD_UP"]


def test_mirror_startup_completed_by_a_child_that_failed(tmp_path) -> None:
    """One child up, the other fails to connect: FUSE must get an event that releases it (CHILD_UP)."""

    h = Harness.graph(Node(Parent, children=[Node(Mirror, children=[tmp_path / "a", tmp_path / "b"])]),
                      start=False)
    with h:
        parent = h.translator()
        h.notify(Event.CHILD_UP, "posix-2")
        assert parent.events == []  # held until the other child reports
        h.notify(Event.CHILD_CONNECTING, "posix")  # protocol/client: handshake failed
        assert parent.events == ["CHILD_UP"]  # the mirror's own state, not the event that completed it
        h.notify(Event.CHILD_DOWN, "posix")
        h.notify(Event.CHILD_CONNECTING, "posix")
        h.notify(Event.CHILD_UP, "posix")
        assert parent.events == ["CHILD_UP"]
        assert dict(h.statedump("mirror"))["children-up"] == "2/2"


def test_mirror_without_waiting_for_all_children(tmp_path) -> None:
    h = Harness.graph(Node(Parent, children=[Node(Mirror, {"wait-for-all-children": "off"},
                                                  children=[tmp_path / "a", tmp_path / "b"])]), start=False)
    with h:
        parent = h.translator()
        h.notify(Event.CHILD_UP, "posix")
        assert parent.events == ["CHILD_UP"]
        h.notify(Event.CHILD_CONNECTING, "posix-2")
        h.notify(Event.CHILD_DOWN, "posix-2")
        h.notify(Event.CHILD_CONNECTING, "posix")  # none up now (one down, one connecting: "down")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN"]
        h.notify(Event.CHILD_DOWN, "posix")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN"]
        h.notify(Event.CHILD_CONNECTING, "posix")
        h.notify(Event.CHILD_CONNECTING, "posix-2")
        assert parent.events == ["CHILD_UP", "CHILD_DOWN", "CHILD_CONNECTING"]


def test_mirror_needs_two_children(glupy_harness) -> None:
    with pytest.raises(glupy.OptionError, match="at least two children"):
        glupy_harness(Mirror)
