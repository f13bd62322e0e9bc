"""The library translators in the in-process harness: audit, metrics, worm."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import glupy
from glupy import FopError, Xdata
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.harness import Harness
from glupy.translators.audit import Audit, parse_fops
from glupy.translators.metrics import LISTEN_XATTR, Metrics, parse_listen
from glupy.translators.worm import Worm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from fake_clock import FakeClock  # noqa: E402

ROOT = os.geteuid() == 0
WORM_KEY = "trusted.glupy.worm.retention" if ROOT else "user.glupy.worm.retention"


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(FopError) as info:
        fn(*args, **kw)
    return info.value.errno


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


# ------------------------------------------------------------------ audit


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_lines_are_json_and_match_the_operations(glupy_harness, tmp_path) -> None:
    log = tmp_path / "logs" / "audit.jsonl"
    h = glupy_harness(Audit, path=str(log))
    audit = h.translator()
    h.mkdir("/d")
    gfid_d = str(h.stat("/d").gfid)
    h.create("/d/f", b"hello")
    h.read("/d/f")  # open is audited, readv is not by default
    h.rename("/d/f", "/d/g")
    h.chmod("/d/g", 0o600)
    h.setxattr("/d/g", "user.k", b"v")
    assert errno_of(h.as_user(4242, 4343).create, "/d/x") == errno.EACCES
    h.unlink("/d/g")
    assert errno_of(h.fop, "unlink", glupy.Loc(path="/nothing", parent=h.itable.root, inode=glupy.Inode()),
                    0) == errno.ENOENT
    h.rmdir("/d")
    h.close()  # fini flushes
    lines = audit_lines(log)
    fops = [r["fop"] for r in lines]
    assert fops == ["mkdir", "create", "writev", "open", "rename", "setattr", "setxattr", "create", "unlink",
                    "unlink", "rmdir"], fops
    by = {(r["fop"], r.get("path")): r for r in lines}
    mkdir = by["mkdir", "/d"]
    assert mkdir["gfid"] == gfid_d  # from the reply: the new directory's
    assert mkdir["result"] == "OK" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", mkdir["time"])
    assert mkdir["caller"] == {"uid": 0, "gid": 0, "pid": os.getpid(), "client": "glupy-harness"}
    assert isinstance(mkdir["latency_ms"], float) and mkdir["latency_ms"] >= 0
    create = by["create", "/d/f"]
    assert create["gfid"] and create["flags"] & os.O_CREAT
    writev = [r for r in lines if r["fop"] == "writev"][0]
    assert writev["path"] == "/d/f" and writev["gfid"] == create["gfid"] and writev["size"] == 5
    assert by["rename", "/d/f"]["newpath"] == "/d/g" and by["rename", "/d/f"]["gfid"] == create["gfid"]
    assert by["setattr", "/d/g"]["valid"] == int(glupy.SetAttr.MODE)
    assert by["setxattr", "/d/g"]["names"] == ["user.k"]
    denied = by["create", "/d/x"]
    assert denied["result"] == "EACCES" and denied["caller"]["uid"] == 4242 and denied["caller"]["gid"] == 4343
    assert by["unlink", "/nothing"]["result"] == "ENOENT"
    assert audit.written == len(lines) and audit.dropped == 0


def test_audit_all_fops_and_reconfigure(glupy_harness, tmp_path) -> None:
    log = tmp_path / "audit.jsonl"
    h = glupy_harness(Audit, path=str(log), fops="all")
    h.create("/f", b"abc")
    assert h.read("/f") == b"abc"
    h.stat("/f")
    h.reconfigure(fops="readv")
    h.read("/f")
    h.stat("/f")
    h.close()
    lines = audit_lines(log)
    fops = [r["fop"] for r in lines]
    assert {"lookup", "create", "writev", "flush", "open", "readv", "stat"} <= set(fops)
    after = fops[fops.index("stat"):]
    last_reads = [r for r in lines[len(lines) - 1:]]
    assert last_reads[0]["fop"] == "readv" and last_reads[0]["size"] == 3 and last_reads[0]["path"] == "/f"
    assert after.count("stat") == 1  # the second stat came after the reconfigure
    with pytest.raises(glupy.OptionError, match="unknown FOP nosuch"):
        glupy_harness(Audit, path=str(log), fops="create,nosuch")
    with pytest.raises(glupy.OptionError, match="option path is required"):
        glupy_harness(Audit)
    assert parse_fops(" Create , MKDIR") == {"create", "mkdir"}


def test_audit_queue_full_drops_and_counts(glupy_harness, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="glupy")
    log = tmp_path / "audit.jsonl"
    h = glupy_harness(Audit, path=str(log), fops="mkdir", queue_size=3, warn_interval=3600)
    audit = h.translator()
    gate = threading.Event()
    entered = threading.Event()
    real = audit._write_lines

    def slow(records):
        entered.set()
        gate.wait(10)
        real(records)

    audit._write_lines = slow
    h.mkdir("/first")
    entered.wait(5)  # the writer holds /first and waits; the queue takes 3 more
    for i in range(10):
        h.mkdir(f"/d{i}")
    assert audit.dropped == 7
    assert dict(h.statedump())["dropped"] == "7" and dict(h.statedump())["queued"] == "3"
    warnings = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1 and "dropped 1 record" in warnings[0]  # at most one per warn-interval
    gate.set()
    wait_for(lambda: audit.written == 4)
    h.close()
    assert [r["path"] for r in audit_lines(log)] == ["/first", "/d0", "/d1", "/d2"]
    assert audit.written + audit.dropped == 11


def test_audit_block_waits_instead_of_dropping(glupy_harness, tmp_path) -> None:
    log = tmp_path / "audit.jsonl"
    h = glupy_harness(Audit, path=str(log), fops="mkdir", queue_size=1, when_full="block")
    audit = h.translator()
    gate = threading.Event()
    real = audit._write_lines

    def slow(records):
        gate.wait(10)
        real(records)

    audit._write_lines = slow
    threading.Timer(0.4, gate.set).start()
    t0 = time.monotonic()
    for i in range(4):
        h.mkdir(f"/d{i}")
    assert time.monotonic() - t0 >= 0.3  # a FOP waited for room
    h.close()
    assert audit.dropped == 0 and [r["path"] for r in audit_lines(log)] == ["/d0", "/d1", "/d2", "/d3"]


def test_audit_rotates(glupy_harness, tmp_path) -> None:
    log = tmp_path / "audit.jsonl"
    h = glupy_harness(Audit, path=str(log), fops="mkdir", max_size="1KB", keep=2)
    for i in range(60):
        h.mkdir(f"/directory-{i:03}")
    h.close()
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("audit"))
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size < 1024 + 400 for p in tmp_path.glob("audit.jsonl*"))
    names = [r["path"] for p in ("audit.jsonl.2", "audit.jsonl.1", "audit.jsonl") for r in audit_lines(tmp_path / p)]
    assert names == sorted(names) and names[-1] == "/directory-059" and len(names) < 60  # oldest rotated away


def test_audit_fini_writes_what_is_queued(tmp_path) -> None:
    log = tmp_path / "a.jsonl"
    brick = tmp_path / "b"
    brick.mkdir()
    h = Harness(brick, (Audit, {"path": str(log), "fops": "mkdir"}))
    audit = h.translator()
    for i in range(200):
        h.mkdir(f"/d{i}")
    h.close()
    assert len(audit_lines(log)) == 200 and not audit._file and audit._thread is None


# ------------------------------------------------------------------ metrics


NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(address: str) -> dict[tuple[str, tuple], float]:
    text = NO_PROXY.open(f"http://{address}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        assert m, line
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        out[m.group(1), labels] = float(m.group(3))
    return out


def test_metrics_counters_move_after_fops(glupy_harness) -> None:
    h = glupy_harness(Metrics, listen="127.0.0.1:0")
    metrics = h.translator()
    address = metrics.listen_address
    assert address and not address.endswith(":0")
    before = scrape(address)
    h.create("/f", b"x" * 5000)
    assert h.read("/f") == b"x" * 5000
    assert errno_of(h.stat, "/missing") == errno.ENOENT
    after = scrape(address)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("glupy_fops_total", fop="create") == 1 and delta("glupy_fops_total", fop="writev") == 1
    assert delta("glupy_fops_total", fop="readv") >= 1 and delta("glupy_fops_total", fop="lookup") >= 2
    # the lookup of /f before its create, and of /missing
    assert delta("glupy_fop_errors_total", fop="lookup", errno="ENOENT") == 2
    assert delta("glupy_written_bytes_total") == 5000 and delta("glupy_read_bytes_total") == 5000
    assert delta("glupy_fop_latency_seconds_count", fop="create") == 1
    assert delta("glupy_fop_latency_seconds_bucket", fop="create", le="+Inf") == 1
    assert delta("glupy_fop_latency_seconds_bucket", fop="create", le="10.0") == 1
    assert h.getxattr("/", LISTEN_XATTR) == address.encode()
    assert dict(h.statedump())["listening"] == address


def test_two_metrics_instances_do_not_collide_and_fini_frees_the_port(glupy_harness) -> None:
    h = glupy_harness((Metrics, {"listen": "127.0.0.1:0"}, "m-top"), (Metrics, {"listen": "127.0.0.1:0"}, "m-low"))
    top, low = h["m-top"], h["m-low"]
    assert top.registry is not low.registry and top.listen_address != low.listen_address
    h.getxattr("/", LISTEN_XATTR + ".m-low")  # answered by m-low, counted by m-top only
    h.mkdir("/d")
    a, b = scrape(top.listen_address), scrape(low.listen_address)
    assert a["glupy_fops_total", (("fop", "getxattr"),)] == 1
    assert b.get(("glupy_fops_total", (("fop", "getxattr"),)), 0) == 0
    assert a["glupy_fops_total", (("fop", "mkdir"),)] == b["glupy_fops_total", (("fop", "mkdir"),)] == 1
    port = top.address[1]
    h.close()
    with pytest.raises(urllib.error.URLError):
        NO_PROXY.open(f"http://{top.listen_address}/metrics", timeout=2)
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_metrics_busy_port_is_retried_not_fatal(glupy_harness) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        h = glupy_harness(Metrics, listen=f"127.0.0.1:{port}")
        m = h.translator()
        assert m.listen_address is None and dict(h.statedump())["listening"] == "not yet"
        h.mkdir("/d")  # FOPs are served meanwhile
    wait_for(lambda: m.listen_address is not None, timeout=6)
    assert scrape(m.listen_address)["glupy_fops_total", (("fop", "mkdir"),)] == 1
    with pytest.raises(glupy.OptionError, match="not host:port"):
        glupy_harness(Metrics, listen="9280")
    assert parse_listen("[::1]:0") == ("::1", 0)


# ------------------------------------------------------------------ worm


@pytest.fixture
def worm(glupy_harness):
    def make(**options):
        h = glupy_harness(Worm, xattr=WORM_KEY, **options)
        clock = FakeClock(time.time())
        h.translator().clock = clock
        return h, clock

    return make


def test_worm_denies_every_change_after_close_and_allows_reads(worm, glupy_harness) -> None:
    h, clock = worm(retention=100)
    h.mkdir("/d")
    h.create("/other")  # created, never written: not retained
    with h.open("/other", os.O_RDWR) as f:  # opened for writing, not written: not committed
        f.read()
    h.create("/d/f", b"data")  # create, writev, flush: committed
    h.setxattr("/other", "user.x", b"1")
    stored = json.loads(h.getxattr("/d/f", WORM_KEY))
    assert stored["expiry"] - stored["start"] == 100 and abs(stored["start"] - clock.now) < 1
    fd = lambda: glupy.Fd.anonymous_for(h.lookup("/d/f").inode)  # noqa: E731
    EROFS = errno.EROFS
    denied = {
        "open O_WRONLY": lambda: h.open("/d/f", os.O_WRONLY),
        "open O_RDWR": lambda: h.open("/d/f", os.O_RDWR),
        "open O_TRUNC": lambda: h.open("/d/f", os.O_RDONLY | os.O_TRUNC),
        "create over it": lambda: h.create("/d/f", b"new"),
        "writev": lambda: h.fop("writev", fd(), b"x", 0, 0),
        "truncate": lambda: h.truncate("/d/f", 0),
        "ftruncate": lambda: h.fop("ftruncate", fd(), 0),
        "unlink": lambda: h.unlink("/d/f"),
        "rename source": lambda: h.rename("/d/f", "/d/g"),
        "rename target": lambda: h.rename("/other", "/d/f"),
        "chmod": lambda: h.chmod("/d/f", 0o777),
        "chown": lambda: h.chown("/d/f", 1, 1),
        "utime": lambda: h.utime("/d/f", 0, 0),
        "fsetattr": lambda: h.fop("fsetattr", fd(), glupy.Iatt(size=0), int(glupy.SetAttr.SIZE)),
        "fallocate": lambda: h.fop("fallocate", fd(), 0, 0, 4096),
        "discard": lambda: h.fop("discard", fd(), 0, 2),
        "zerofill": lambda: h.fop("zerofill", fd(), 0, 2),
        "setxattr": lambda: h.setxattr("/d/f", "user.k", b"v"),
        "fsetxattr": lambda: h.fop("fsetxattr", fd(), Xdata({"user.k": b"v"}), 0),
        "removexattr": lambda: h.removexattr("/d/f", WORM_KEY),
        "fremovexattr": lambda: h.fop("fremovexattr", fd(), WORM_KEY),
        "shorten": lambda: h.setxattr("/d/f", WORM_KEY, json.dumps({"start": clock.now, "expiry": clock.now + 1})),
    }
    for what, action in denied.items():
        assert errno_of(action) == EROFS, what
    # reads keep working
    assert h.read("/d/f") == b"data" and h.stat("/d/f").size == 4
    assert WORM_KEY in h.listxattr("/d/f")
    with h.open("/d/f") as f:
        assert f.read() == b"data" and f.fstat().size == 4
    h.link("/d/f", "/d/hardlink")  # a second name for the same immutable content
    assert h.read("/d/hardlink") == b"data" and errno_of(h.unlink, "/d/hardlink") == EROFS
    assert glupy_harness.bricks[0].joinpath("d", "f").read_bytes() == b"data"
    # extending is allowed
    h.setxattr("/d/f", WORM_KEY, json.dumps({"start": stored["start"], "expiry": clock.now + 500}))
    dump = dict(h.statedump())
    assert dump["errno"] == "EROFS" and dump["committed"] == "1" and int(dump["denied.open"]) == 4
    # directories are never retained
    h.mkdir("/d/sub")
    h.rmdir("/d/sub")


def test_worm_expires_after_retention(worm) -> None:
    h, clock = worm(retention=60)
    h.create("/f", b"v1")
    assert errno_of(h.write, "/f", b"v2") == errno.EROFS
    clock.now += 59
    assert errno_of(h.unlink, "/f") == errno.EROFS
    clock.now += 1.5
    h.write("/f", b"v2")  # expired: an ordinary file again; this write commits it anew
    assert h.read("/f") == b"v2"
    assert errno_of(h.unlink, "/f") == errno.EROFS
    clock.now += 61
    h.unlink("/f")
    assert not h.exists("/f")


def test_worm_writes_go_on_until_the_close_and_grace(worm) -> None:
    h, clock = worm(retention=60, grace=10)
    h.create("/f")
    with h.open("/f", os.O_RDWR) as f:
        f.write(b"one", 0)
        f.write(b"two", 3)  # same fd, not yet closed
    assert h.read("/f") == b"onetwo"
    clock.now += 5  # in the grace period
    h.write("/f", b"ONE")
    clock.now += 9  # 9 s after the last close: still in grace
    h.chmod("/f", 0o600)
    clock.now += 1.5
    assert errno_of(h.chmod, "/f", 0o644) == errno.EROFS
    assert h.read("/f") == b"ONEtwo"


def test_worm_retention_survives_a_new_graph(worm, glupy_harness) -> None:
    h, clock = worm(retention=3600)
    h.create("/f", b"kept")
    h.close()
    h2 = glupy_harness(Worm, root=glupy_harness.bricks[0], xattr=WORM_KEY)  # a fresh translator: no cache
    assert errno_of(h2.unlink, "/f") == errno.EROFS
    assert errno_of(h2.write, "/f", b"x") == errno.EROFS
    assert h2.read("/f") == b"kept"
    h2.translator().clock = lambda: time.time() + 3601
    h2.unlink("/f")


def test_worm_internal_clients_and_hand_commits(worm) -> None:
    h, clock = worm(retention=100)
    h.create("/f", b"x")
    internal = h.as_user(0, 0)
    internal.pid = -6  # GlusterFS's self-heal daemon
    internal.write("/f", b"healed")
    assert h.read("/f") == b"healed"
    # a file never written is not retained; the worm key commits it by hand
    h.create("/n")
    h.setxattr("/n", "user.k", b"1")
    h.setxattr("/n", WORM_KEY, json.dumps({"start": clock.now, "expiry": clock.now + 10}))
    assert errno_of(h.removexattr, "/n", "user.k") == errno.EROFS
    assert errno_of(h.setxattr, "/n", WORM_KEY, b"not json") == errno.EINVAL
    clock.now += 11
    h.removexattr("/n", WORM_KEY)
    assert WORM_KEY not in h.listxattr("/n")
