"""glupy.translators.events (the brick side) in the in-process harness, and glupy.events
(merging, filtering, the watcher) against it. Real volumes: tests/integration/test_events_volume.py."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

import sys
from pathlib import Path

import pytest

from glupy import events as ev
from glupy.testing.harness import Harness
from glupy.testing.harness import Client
from glupy.translators.events import BrickPaths, Events, parse_rename_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from redis_server import running_redis  # noqa: E402

# ------------------------------------------------------------------ pure parts


def test_merger_emits_each_operation_once_and_repeats_as_often_as_they_happened() -> None:
    m = ev.Merger()
    ops = [{"event": "rename", "key": k} for k in ("r|g|a|b", "r|g|b|a", "r|g|a|b")]
    out = [m.accept(brick, op) for brick in ("b1", "b2") for op in ops]
    assert out == [True, True, True, False, False, False]
    # interleaved: the second brick is ahead for a while
    m = ev.Merger()
    seq = [("b2", ops[0]), ("b1", ops[0]), ("b2", ops[1]), ("b2", ops[2]), ("b1", ops[1]), ("b1", ops[2])]
    assert [m.accept(b, op) for b, op in seq] == [True, False, True, True, False, False]


def test_merger_emits_a_modify_only_when_newer() -> None:
    m = ev.Merger()
    mod = lambda v: {"event": "modify", "gfid": "g", "version": v}  # noqa: E731
    assert [m.accept("b1", mod(5)), m.accept("b2", mod(3)), m.accept("b2", mod(5)), m.accept("b2", mod(7)),
            m.accept("b1", mod(7))] == [True, False, False, True, False]


def test_listen_addresses_one_parser_for_events_and_metrics() -> None:
    from glupy.listen import parse_listen
    from glupy.translators import metrics

    assert parse_listen("0.0.0.0:24100+", scan=True) == ("0.0.0.0", 24100, True)
    assert parse_listen("[::1]:0", scan=True) == ("::1", 0, False)
    assert metrics.parse_listen("127.0.0.1:9280") == ("127.0.0.1", 9280)
    for bad, message in (("h:1+", "not a number"), ("9280", "not host:port"), ("h:70000", "0..65535")):
        with pytest.raises(ValueError, match=message):
            parse_listen(bad)
    with pytest.raises(ValueError, match="not host:port or host:port\\+"):
        parse_listen("24100+", scan=True)


def test_client_identifier_and_rename_op_parsing() -> None:
    uid = "CTX_ID:ab-cd-GRAPH_ID:0-PID:4242-HOST:web-1.example-PC_NAME:vol-client-0-RECON_NO:-0"
    assert ev.client_of(uid) == ("web-1.example", 4242)
    assert ev.client_of(None) == (None, None)
    a, b = uuid.uuid4(), uuid.uuid4()
    raw = a.bytes + b.bytes + (4).to_bytes(4, "little") + (6).to_bytes(4, "little") + b"old\0new.x\0"
    assert parse_rename_op(raw) == (str(a), "old", str(b), "new.x")
    assert parse_rename_op(b"short") is None


VOLFILE = """
volume v-client-0
    type protocol/client
    option remote-host h1
    option remote-subvolume /b/0
end-volume
volume v-client-1
    type protocol/client
    option remote-host h2
    option remote-subvolume /b/1
end-volume
volume v-client-2
    type protocol/client
    option remote-host h1
    option remote-subvolume /b/2
end-volume
volume v-client-3
    type protocol/client
    option remote-host h2
    option remote-subvolume /b/3
end-volume
volume v-replicate-0
    type cluster/replicate
    subvolumes v-client-0 v-client-1
end-volume
volume v-replicate-1
    type cluster/replicate
    subvolumes v-client-2 v-client-3
end-volume
volume v-dht
    type cluster/distribute
    subvolumes v-replicate-0 v-replicate-1
end-volume
"""


def test_bricks_from_volfile_groups_replica_sets() -> None:
    bricks = ev.bricks_from_volfile(VOLFILE)
    assert [(str(b), b.replica_set) for b in bricks] == [("h1:/b/0", 0), ("h2:/b/1", 0), ("h1:/b/2", 1),
                                                          ("h2:/b/3", 1)]


def test_path_filter() -> None:
    e = {"event": "create", "path": "/a/b/c"}
    assert ev._matches(e, "/", True, None) and ev._matches(e, "/a", True, None)
    assert not ev._matches(e, "/a", False, None) and ev._matches(e, "/a/b", False, None)
    assert not ev._matches(e, "/a/bb", True, None)
    assert ev._matches({"event": "rename", "path": "/x/f", "newpath": "/a/f"}, "/a", False, None)
    assert not ev._matches(e, "/", True, frozenset({"unlink"}))
    with pytest.raises(ValueError, match="unknown events nope"):
        ev.watch("v", "localhost", "/", events=["nope"])


# ------------------------------------------------------------------ the brick side, in the harness


def subscribe(port: int, **request) -> tuple[socket.socket, object, dict]:
    return ev.subscribe("127.0.0.1", port, **request)


def read_events(f, until, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = f.readline()
        if not line:
            break
        data = json.loads(line)
        if "ping" in data:
            continue
        got.append(data)
        if until(got):
            return got
    raise AssertionError(f"did not get what was expected; got {got}")


@pytest.fixture
def brick(tmp_path):
    root = tmp_path / "brick"
    root.mkdir()
    h = Harness(root, (Events, {"listen": "127.0.0.1:0", "coalesce": "0.05"}))
    yield h
    h.close()


def test_every_change_is_served_once_in_order_with_who_did_it(brick) -> None:
    t = brick.translator()
    s, f, hello = subscribe(t.address[1])
    assert hello["hello"] == 1 and hello["epoch"] == t.epoch
    c = Client(brick, uid=0, gid=0, pid=777, client="CTX_ID:x-GRAPH_ID:0-PID:99-HOST:hosta-PC_NAME:v-RECON_NO:-0")
    c.mkdir("/d")
    c.create("/d/f", b"one")
    c.write("/d/f", b"two", 3)
    c.write("/d/f", b"three", 6)
    c.rename("/d/f", "/d/g")
    c.chmod("/d/g", 0o600)
    c.setxattr("/d/g", "user.k", b"v")
    c.setxattr("/d/g", "trusted.glusterfs.internal", b"x")  # GlusterFS's own: not reported
    c.removexattr("/d/g", "user.k")
    c.symlink("g", "/d/s")
    c.link("/d/g", "/d/h")
    c.unlink("/d/h")
    c.truncate("/d/g", 1)
    Client(brick, pid=-6).create("/d/heal", b"")  # self-heal's pid: not reported
    c.unlink("/d/g")
    c.unlink("/d/s")
    c.unlink("/d/heal")
    c.rmdir("/d")
    got = read_events(f, lambda g: any(e["event"] == "rmdir" for e in g))
    s.close()
    seen = [(e["event"], e["path"], e.get("newpath")) for e in got]
    assert seen == [
        ("mkdir", "/d", None), ("create", "/d/f", None), ("modify", "/d/f", None), ("close_write", "/d/f", None),
        # the harness's write() is open, write, close: each is a close after write
        ("modify", "/d/f", None), ("close_write", "/d/f", None), ("modify", "/d/f", None), ("close_write", "/d/f", None),
        ("rename", "/d/f", "/d/g"), ("attrib", "/d/g", None), ("setxattr", "/d/g", None),
        ("removexattr", "/d/g", None), ("symlink", "/d/s", None), ("link", "/d/h", None),
        ("unlink", "/d/h", None), ("modify", "/d/g", None), ("unlink", "/d/g", None), ("unlink", "/d/s", None),
        ("unlink", "/d/heal", None), ("rmdir", "/d", None)], seen
    by = got[0]["by"]
    assert by == {"host": "hosta", "client_pid": 99, "pid": 777, "uid": 0, "gid": 0}
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
    assert got[1]["type"] == "file" and got[0]["type"] == "dir" and got[12]["type"] == "symlink"
    assert got[2]["writes"] == 1 and got[9]["changed"] == ["mode"] and got[10]["names"] == ["user.k"]


def test_reads_and_creates_without_writes_leave_no_fd_context_and_o_trunc_is_a_change(brick) -> None:
    t = brick.translator()
    brick.create("/f", b"data")
    brick.create("/empty", b"")  # no write: no context, no close after write
    with brick.open("/f") as f:  # read only
        assert f.read() == b"data"
        assert t.fd_ctx(f.fd) is None
    with brick.open("/f", os.O_WRONLY | os.O_TRUNC) as f:  # truncates: a change, and a close after write
        assert t.fd_ctx(f.fd) is not None
    with brick.open("/f", os.O_WRONLY) as f:
        assert t.fd_ctx(f.fd) is None
        f.write(b"x")
        assert t.fd_ctx(f.fd) is not None
    s, f, _ = subscribe(t.address[1], epoch=t.epoch, since=0)
    got = read_events(f, lambda g: len([e for e in g if e["event"] == "close_write"]) == 3)
    s.close()
    assert [(e["event"], e["path"]) for e in got] == [
        ("create", "/f"), ("modify", "/f"), ("close_write", "/f"), ("create", "/empty"),
        ("modify", "/f"), ("close_write", "/f"), ("modify", "/f"), ("close_write", "/f")]


def test_no_json_is_made_while_nobody_watches_and_a_watcher_gets_it_when_it_reads(brick) -> None:
    t = brick.translator()
    brick.mkdir("/d")
    brick.create("/d/f", b"x")
    brick.rename("/d/f", "/d/g")
    published(t, 5)
    entries = t.ring.since(0, 100)
    assert [e[1] for e in entries] == ["mkdir", "create", "modify", "close_write", "rename"]
    assert all(e[8] is None for e in entries)  # nothing encoded
    s, f, _ = subscribe(t.address[1], epoch=t.epoch, since=0)
    got = read_events(f, lambda g: len(g) == 5)
    s.close()
    assert all(e[8] is not None for e in t.ring.since(0, len(got)))
    rename = next(e for e in got if e["event"] == "rename")
    assert (rename["path"], rename["newpath"], rename["type"]) == ("/d/f", "/d/g", "file")
    assert rename["key"].startswith(f"rename|{rename['gfid']}|") and rename["key"].endswith("/g")
    assert [e["seq"] for e in got] == list(range(1, len(got) + 1))


def test_the_close_after_write_of_a_file_renamed_while_open_has_its_new_path(brick) -> None:
    t = brick.translator()
    s, f, _ = subscribe(t.address[1])
    brick.create("/a", b"")
    with brick.open("/a", os.O_WRONLY) as fd:
        fd.write(b"1")
        brick.rename("/a", "/b")
        fd.write(b"2")
    got = read_events(f, lambda g: any(e["event"] == "close_write" for e in g))
    s.close()
    assert [(e["event"], e["path"]) for e in got if e["event"] != "modify"] == [
        ("create", "/a"), ("rename", "/a"), ("close_write", "/b")]


def test_event_lines_are_the_json_of_the_event(brick) -> None:
    """_encoded writes the line field by field: the same text as json.dumps of the event."""
    from glupy.translators.events import SET_ATTR_BITS

    t = brick.translator()
    client = "CTX_ID:x-GRAPH_ID:0-PID:99-HOST:h\u00f6st-1-PC_NAME:v-RECON_NO:-0"
    who = (1000, 100, 4242, client)
    g, p = str(uuid.uuid4()), str(uuid.uuid4())
    odd = 'a "quoted"\\ name\u00e9\n\u2603'
    entries = [
        ("create", who, f"/d/{odd}", g, 1, (p, odd)), ("mkdir", None, None, None, 2, (None, None)),
        ("unlink", who, "/x", g, 0, (p, "x")), ("link", who, "/h", g, 1, (p, "h", None)),
        ("link", who, "/h", g, 1, (p, "h", "/t")), ("rename", who, "/a", g, 3, (p, "a", None, p, "b")),
        ("rename", who, "/a", g, 1, (p, "a", f"/{odd}", p, odd)), ("modify", who, "/m", g, 1, (None, 3)),
        ("modify", who, "/m", g, 1, (1765000000123456789, 1)), ("close_write", who, "/m", g, 1, None),
        ("attrib", who, "/m", g, 1, (0x31, 0o644, 1, 2, 3, 4)), ("setxattr", who, "/m", g, 6, (("user.k", b"v"),)),
        ("removexattr", who, None, g, 7, (("user.\u00e9", None),)), ("overflow", None, None, None, 0, 12),
    ]
    for seq, (kind, by, path, gfid, ftype, detail) in enumerate(entries, 1):
        entry = [seq, kind, 1765000000.1 + seq / 7, by, path, gfid, ftype, detail, None]
        event = {"event": kind, "path": path, "gfid": gfid, "type": ev.type_name(ftype),
                 "time": round(entry[2], 6)}
        if kind == "overflow":
            event.update({"lost": detail, "key": t._key(entry)})
        else:
            if by is not None:
                host, client_pid = ev.client_of(by[3])
                event["by"] = {"host": host, "client_pid": client_pid, "pid": by[2], "uid": by[0], "gid": by[1]}
            if kind == "rename":
                event["newpath"] = detail[2]
            event["key"] = t._key(entry)
            if kind == "link":
                event["target"] = detail[2]
            elif kind == "modify":
                event["version"], event["writes"] = detail
            elif kind == "attrib":
                event["changed"] = [n for n, bit in SET_ATTR_BITS.items() if detail[0] & bit]
            elif kind in ("setxattr", "removexattr"):
                event["names"] = [n for n, _ in detail]
        event["seq"] = seq
        assert t._encoded(entry) == json.dumps(event, separators=(",", ":")).encode() + b"\n", kind


def test_a_watcher_that_goes_away_is_no_longer_served(brick) -> None:
    t = brick.translator()
    s, f, _ = subscribe(t.address[1])
    brick.mkdir("/a")
    assert read_events(f, lambda g: len(g) == 1)[0]["path"] == "/a"
    assert t.subscribers == 1
    f.close()
    s.close()
    deadline = time.monotonic() + 10
    while t.subscribers:  # the connection's wait ends with it: nothing more is published to it
        assert time.monotonic() < deadline
        time.sleep(0.01)
    brick.mkdir("/b")
    published(t, 2)
    assert t._waiting == []


def published(t: Events, n: int) -> None:
    deadline = time.monotonic() + 10
    while t.published < n:
        assert time.monotonic() < deadline, f"{t.published} of {n} events published"
        time.sleep(0.01)


def test_a_watcher_that_comes_back_gets_what_it_missed_and_is_told_what_the_ring_lost(tmp_path) -> None:
    root = tmp_path / "brick"
    root.mkdir()
    h = Harness(root, (Events, {"listen": "127.0.0.1:0", "buffer": "16"}))
    try:
        t = h.translator()
        s, f, hello = subscribe(t.address[1])
        h.mkdir("/first")
        first = read_events(f, lambda g: len(g) == 1)[0]
        s.close()
        for i in range(5):
            h.mkdir(f"/m{i}")
        s, f, _ = subscribe(t.address[1], epoch=t.epoch, since=first["seq"])
        got = read_events(f, lambda g: len(g) == 5)
        assert [e["path"] for e in got] == [f"/m{i}" for i in range(5)]
        s.close()
        last = got[-1]["seq"]
        for i in range(40):
            h.mkdir(f"/n{i}")
        published(t, 46)
        s, f, _ = subscribe(t.address[1], epoch=t.epoch, since=last)
        got = read_events(f, lambda g: len(g) == 17)
        assert got[0] == {"lost": 24, "reason": "buffer"}
        assert [e["path"] for e in got[1:]] == [f"/n{i}" for i in range(24, 40)]
        s.close()
        # another epoch (the brick restarted): everything the ring has is new to that watcher
        s, f, _ = subscribe(t.address[1], epoch="0000", since=3)
        assert read_events(f, lambda g: len(g) == 17)[0]["lost"] > 0
        s.close()
    finally:
        h.close()


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path) -> None:
    root = tmp_path / "brick"
    root.mkdir()
    h = Harness(root, (Events, {"listen": "127.0.0.1:0", "queue-size": "16"}))
    try:
        t = h.translator()
        s, f, _ = subscribe(t.address[1])
        real = t._publish

        def held() -> None:  # hold the publisher for 1 s while FOPs go on
            t._publish = real
            time.sleep(1.0)
            real()

        t._publish = held
        t._kick.set()
        time.sleep(0.1)
        for i in range(40):
            h.mkdir(f"/d{i}")
        assert t.dropped == 24
        got = read_events(f, lambda g: any(e.get("event") == "overflow" for e in g))
        assert [e for e in got if e.get("event") == "overflow"][0]["lost"] == 24
        assert len([e for e in got if e.get("event") == "mkdir"]) == 16
        assert t.statedump()["dropped"] == 24
        s.close()
    finally:
        h.close()


def test_brick_paths_resolve_gfid_paths_from_the_handles(tmp_path) -> None:
    root = tmp_path / "b"
    d, p = "11111111-2222-3333-4444-555555555555", "99999999-2222-3333-4444-555555555555"
    for g, target in ((d, f"../../00/00/{ev_root()}/top"), (p, f"../../11/11/{d}/sub")):
        hdir = root / ".glusterfs" / g[:2] / g[2:4]
        hdir.mkdir(parents=True, exist_ok=True)
        os.symlink(target, hdir / g)
    paths = BrickPaths(str(root))
    assert paths.resolve(f"<gfid:{p}>/file.txt") == "/top/sub/file.txt"
    assert paths.resolve("/already/absolute") == "/already/absolute"
    assert paths.resolve(f"<gfid:{d}>") == "/top"
    assert paths.resolve("<gfid:aaaaaaaa-2222-3333-4444-555555555555>/x") is None


def ev_root() -> str:
    return "00000000-0000-0000-0000-000000000001"


# ------------------------------------------------------------------ the watcher, against two "replicas"


def test_watch_merges_two_replicas_into_one_stream(tmp_path, monkeypatch) -> None:
    harnesses = []
    for i in range(2):
        root = tmp_path / f"brick{i}"
        root.mkdir()
        harnesses.append(Harness(root, (Events, {"listen": "127.0.0.1:0", "coalesce": "0.05",
                                                  "brick": str(root)})))
    try:
        ports = [h.translator().address[1] for h in harnesses]
        bricks = [ev.BrickRef("127.0.0.1", str(tmp_path / f"brick{i}"), 0) for i in range(2)]
        monkeypatch.setattr(ev, "fetch_bricks", lambda volume, server: bricks)
        with ev.watch("v", "127.0.0.1", "/", port=min(ports)) as w:
            assert w.wait_ready(20)
            for h in harnesses:  # AFR winds every FOP to both, with the same gfids
                numbers = iter(range(1000, 2000))
                monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers)))
                h.mkdir("/x")
                h.create("/x/f", b"data")
                h.rename("/x/f", "/x/g")
                h.rename("/x/g", "/x/f")
                h.rename("/x/f", "/x/g")
            got = []
            while len(got) < 7:
                e = w.get(timeout=10)
                assert e is not None, got
                got.append(e)
            extra = w.get(timeout=0.5)
            assert extra is None, [str(e) + " " + e.brick[-6:] + " " + str(e.fields) for e in got + [extra]]  # nothing twice
        assert [str(e) for e in got] == ["/x MKDIR", "/x/f CREATE", "/x/f MODIFY", "/x/f CLOSE_WRITE",
                                         "/x/f RENAME /x/g", "/x/g RENAME /x/f", "/x/f RENAME /x/g"]
        assert json.loads(got[0].to_json())["event"] == "mkdir"
    finally:
        for h in harnesses:
            h.close()


# ------------------------------------------------------------------ the durable sink: a real Redis


@pytest.fixture
def redis_url(tmp_path):
    with running_redis(tmp_path) as url:
        yield url


def test_the_redis_stream_gets_each_operation_once_and_a_consumer_group_resumes(tmp_path, monkeypatch,
                                                                                 redis_url) -> None:
    harnesses = []
    for i in range(2):
        root = tmp_path / f"brick{i}"
        root.mkdir()
        harnesses.append(Harness(root, (Events, {"listen": "127.0.0.1:0", "coalesce": "0.05", "redis": redis_url,
                                                  "redis-stream": "s:{volume}"})))
    try:
        def on_both(fn):
            for h in harnesses:  # the same FOPs with the same gfids, as AFR sends them
                numbers = iter(range(5000, 6000))
                monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers)))
                fn(h)

        on_both(lambda h: (h.mkdir("/r"), h.create("/r/a", b""), h.rename("/r/a", "/r/b")))
        stream = ev.from_redis(redis_url, "", group="g", consumer="c1", stream="s:volume", block=0.5,
                               idle_timeout=3)
        first = [next(stream) for _ in range(2)]  # the third was delivered too, but not taken: pending
        stream.close()  # the consumer goes away; the volume goes on
        on_both(lambda h: (h.unlink("/r/b"), h.rmdir("/r")))
        rest = list(ev.from_redis(redis_url, "", group="g", consumer="c1", stream="s:volume", block=0.5,
                                  idle_timeout=3))
        assert [str(e) for e in first] == ["/r MKDIR", "/r/a CREATE"]
        # at least once: the last event taken was not acknowledged (the loop did not ask for the next)
        assert [str(e) for e in rest] == ["/r/a CREATE", "/r/a RENAME /r/b", "/r/b UNLINK", "/r RMDIR"]
        assert sum(h.translator().sunk for h in harnesses) == 5  # once for the volume, whichever brick was first
    finally:
        for h in harnesses:
            h.close()


def test_glupy_watch_says_why_it_cannot_start(monkeypatch) -> None:
    from click.testing import CliRunner

    from glupy import cli

    def no_glusterd(volume, server):
        raise OSError(f"cannot fetch the volfile of {volume} from glusterd on {server}: Connection failed")

    monkeypatch.setattr(ev, "fetch_bricks", no_glusterd)
    result = CliRunner().invoke(cli.main, ["watch", "vol", "--server", "h1"])
    assert result.exit_code == 1
    assert "cannot fetch the volfile of vol from glusterd on h1: Connection failed" in result.output
    result = CliRunner().invoke(cli.main, ["watch", "vol", "-e", "create,nope"])
    assert result.exit_code == 1 and "unknown events nope (known: create,mkdir," in result.output
    result = CliRunner().invoke(cli.main, ["watch", "vol", "--group", "g"])
    assert result.exit_code == 1 and "--group reads a Redis stream" in result.output


def test_a_replica_set_out_of_reach_is_reported_as_a_gap_and_a_brick_coming_back_is_followed(tmp_path,
                                                                                            monkeypatch) -> None:
    with socket.socket() as s:  # a base port with room after it: the bricks take the first free ones
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
    roots = [tmp_path / f"brick{i}" for i in range(2)]
    for r in roots:
        r.mkdir()

    def start(i: int) -> Harness:
        return Harness(roots[i], (Events, {"listen": f"127.0.0.1:{base}+", "brick": str(roots[i])}))

    bricks = [ev.BrickRef("127.0.0.1", str(r), 0) for r in roots]
    monkeypatch.setattr(ev, "fetch_bricks", lambda volume, server: bricks)
    harnesses = [start(0), start(1)]
    try:
        with ev.watch("v", "127.0.0.1", "/", port=base) as w:
            assert w.wait_ready(20)
            harnesses[0].mkdir("/before")
            assert str(w.get(timeout=10)) == "/before MKDIR"
            for h in harnesses:  # the whole replica set goes away
                h.close()
            time.sleep(1.0)
            harnesses = [start(0)]  # one brick comes back (a new process: a new epoch)
            harnesses[0].mkdir("/after")
            got = [w.get(timeout=10), w.get(timeout=10)]
        kinds = sorted(e.event for e in got)
        assert kinds == ["gap", "mkdir"], [str(e) for e in got]
        gap = next(e for e in got if e.event == "gap")
        assert gap.fields["replica_set"] == 0 and gap.fields["since"] <= time.time()
        assert next(e for e in got if e.event == "mkdir").path == "/after"
    finally:
        for h in harnesses:
            h.close()
