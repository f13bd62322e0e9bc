"""Change events of a whole volume, from every client: ``glupy.watch`` and ``glupy watch``.

inotify on a FUSE mount sees only what that mount did. The bricks see every
change from every client: :mod:`glupy.translators.events`, attached on the
bricks, serves what its brick saw; this module finds the bricks of a volume
(from glusterd), subscribes to all of them, and merges their streams so that
each operation comes out once::

    for event in glupy.watch("vol", server="gluster1", path="/incoming", recursive=True):
        print(event.path, event.event)

    async for event in glupy.awatch("vol", server="gluster1"):
        ...

Each :class:`ChangeEvent` has ``event`` (create, mkdir, mknod, symlink, link, unlink,
rmdir, rename, modify, close_write, attrib, setxattr, removexattr), ``path``
(from the volume's root, as a client sees it), ``newpath`` (rename; link: the
path linked to is ``target``), ``gfid``, ``type`` (file, dir, symlink, ...),
``time`` (when the brick answered; seconds since the epoch), ``by`` (``host``
and ``client_pid`` of the client process, ``pid``, ``uid``, ``gid`` of the
caller) and ``brick`` (the brick whose report came first).

Notices are events too: ``lost`` (a brick could not keep or deliver some
events: ``count``, ``reason``) and ``gap`` (every brick of a replica set was
out of reach between ``since`` and ``time``: changes on it in that time were
not seen). See docs/events.md for the guarantees and their limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# imported here, not where they are used: they are used on the watcher's threads, and
# CPython 3.11 can fail compiling modules imported from two threads at once
# ("AST constructor recursion depth mismatch")
from glupy.gluster import _proc
from glupy.gluster.volfile import Volfile

#: default listen address of the brick side: the first free port from 24100 on
DEFAULT_LISTEN = "0.0.0.0:24100+"
PORT_SCAN = 100
HELLO_VERSION = 1

EVENT_NAMES = ("create", "mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "modify",
               "close_write", "attrib", "setxattr", "removexattr")
NOTICE_NAMES = ("lost", "gap")

_TYPE_NAMES = {0: None, 1: "file", 2: "dir", 3: "symlink", 4: "blockdev", 5: "chardev", 6: "fifo", 7: "socket"}

#: xattrs GlusterFS keeps for itself: their changes are not the user's
_INTERNAL_XATTR_PREFIXES = ("trusted.glusterfs.", "trusted.afr.", "trusted.ec.", "trusted.bit-rot.",
                            "trusted.gfid", "trusted.pgfid", "trusted.tier.", "trusted.distribute.",
                            "trusted.glupy.", "glusterfs.", "trusted.SGI_ACL", "system.posix_acl_")


def event_kinds(events: Iterable[str] | None) -> frozenset[str] | None:
    """The set of event names to keep (None: all); ValueError naming any unknown one."""
    if not events:
        return None
    kinds = frozenset(events)
    unknown = sorted(kinds - set(EVENT_NAMES))
    if unknown:
        raise ValueError(f"unknown events {','.join(unknown)} (known: {','.join(EVENT_NAMES)})")
    return kinds


def type_name(ftype: int) -> str | None:
    return _TYPE_NAMES.get(int(ftype))


def is_internal_xattr(name: str) -> bool:
    return name.startswith(_INTERNAL_XATTR_PREFIXES)


def stable_digest(value: Any) -> str:
    """A digest of a value that is the same in every process (hash() is not)."""
    return hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()


def client_of(client_uid: str | None) -> tuple[str | None, int | None]:
    """(host, pid) of a brick's client identifier
    (``CTX_ID:...-GRAPH_ID:0-PID:1234-HOST:web1-PC_NAME:vol-client-0-RECON_NO:-0``)."""
    if not client_uid:
        return None, None
    host = pid = None
    for part in client_uid.split("-"):
        if part.startswith("HOST:"):
            host = part[5:]
        elif part.startswith("PID:"):
            try:
                pid = int(part[4:])
            except ValueError:
                pid = None
    if host is not None and "-HOST:" in client_uid:  # a host name may contain dashes
        host = client_uid.split("-HOST:", 1)[1].split("-PC_NAME:", 1)[0]
    return host, pid


@dataclass
class ChangeEvent:
    """One change (or a notice: ``lost``, ``gap``) of a watched volume."""

    event: str
    path: str | None = None
    newpath: str | None = None
    gfid: str | None = None
    type: str | None = None
    time: float = 0.0
    by: dict[str, Any] | None = None
    brick: str | None = None
    fields: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any], brick: str) -> ChangeEvent:
        known = {"event", "path", "newpath", "gfid", "type", "time", "by"}
        return cls(data["event"], data.get("path"), data.get("newpath"), data.get("gfid"), data.get("type"),
                   data.get("time", 0.0), data.get("by"), brick,
                   {k: v for k, v in data.items() if k not in known})

    def to_json(self) -> str:
        out: dict[str, Any] = {"event": self.event, "path": self.path}
        if self.newpath is not None:
            out["newpath"] = self.newpath
        out.update({"gfid": self.gfid, "type": self.type, "time": self.time, "by": self.by, "brick": self.brick})
        out.update({k: v for k, v in self.fields.items() if k not in ("key", "seq", "version")})
        return json.dumps(out, sort_keys=False)

    def __str__(self) -> str:
        """inotifywait-like: ``PATH EVENT [NEWPATH]``."""
        if self.event in NOTICE_NAMES:
            detail = " ".join(f"{k}={v}" for k, v in self.fields.items())
            return f"{self.brick or '-'} {self.event.upper()} {detail}".rstrip()
        parts = [self.path or f"<gfid:{self.gfid}>", self.event.upper()]
        if self.newpath is not None:
            parts.append(self.newpath)
        return " ".join(parts)


class Merger:
    """Each operation once, from the reports of many bricks.

    Every brick of a replica set reports the same operation (and DHT makes some on
    several subvolumes: mkdir on all, a rename's link files). Reports carry a key
    naming the operation (``rename|GFID|PARENT/old|PARENT/new``). The n-th report of a
    key from one brick is emitted only if no brick reported that key n times yet:
    two bricks that saw the same three renames a->b, b->a, a->b give three events,
    not six and not one. Writes carry a version (the file's ctime after the write,
    the same on every replica): a ``modify`` is emitted only if newer than the last
    one emitted for that file. Keys are forgotten after `window` seconds."""

    def __init__(self, window: float = 120.0) -> None:
        self.window = window
        self._counts: dict[str, tuple[dict[str, int], list[int], list[float]]] = {}
        self._versions: dict[str, tuple[int, float]] = {}
        self._last_prune = time.monotonic()

    def accept(self, brick: str, data: dict[str, Any]) -> bool:
        now = time.monotonic()
        if now - self._last_prune > self.window / 4:
            self._prune(now)
        if data.get("event") == "modify" and data.get("version") is not None:
            gfid, version = data.get("gfid"), int(data["version"])
            last = self._versions.get(gfid)
            if last is not None and version <= last[0]:
                return False
            self._versions[gfid] = (version, now)
            return True
        key = data.get("key")
        if key is None:
            return True
        entry = self._counts.get(key)
        if entry is None:
            entry = self._counts[key] = ({}, [0], [now])
        per_brick, emitted, touched = entry
        n = per_brick.get(brick, 0) + 1
        per_brick[brick] = n
        touched[0] = now
        if n > emitted[0]:
            emitted[0] = n
            return True
        return False

    def _prune(self, now: float) -> None:
        self._last_prune = now
        old = now - self.window
        for key in [k for k, (_, _, t) in self._counts.items() if t[0] < old]:
            del self._counts[key]
        for gfid in [g for g, (_, t) in self._versions.items() if t < old]:
            del self._versions[gfid]


# ------------------------------------------------------------------ the bricks of a volume


@dataclass(frozen=True)
class BrickRef:
    host: str
    path: str
    replica_set: int

    def __str__(self) -> str:
        return f"{self.host}:{self.path}"


def bricks_from_volfile(text: str) -> list[BrickRef]:
    """The bricks of a client volfile, each with the index of its replica set (the
    cluster/replicate or cluster/disperse above it; a brick of its own otherwise)."""
    graph = Volfile.parse(text)
    out: list[BrickRef] = []
    sets: dict[str, int] = {}
    for xl in graph.xlators:
        if xl.type != "protocol/client":
            continue
        host, path = xl.options.get("remote-host"), xl.options.get("remote-subvolume")
        if not host or not path:
            continue
        parents = [p for p in graph.parents(xl.name) if p.type in ("cluster/replicate", "cluster/disperse")]
        group = parents[0].name if parents else xl.name
        index = sets.setdefault(group, len(sets))
        out.append(BrickRef(host, path, index))
    return out


def fetch_bricks(volume: str, server: str) -> list[BrickRef]:
    """The volume's bricks, from glusterd on `server` (``gluster system:: getspec``)."""
    cmd = [_proc.find_program("gluster"), f"--remote-host={server}", "--mode=script", "system::", "getspec", volume]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0 or "volume " not in proc.stdout:
        why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no answer"]
        raise OSError(f"cannot fetch the volfile of {volume} from glusterd on {server}: {why[0]}")
    return bricks_from_volfile(proc.stdout)


# ------------------------------------------------------------------ one brick, raw


def subscribe(host: str, port: int, *, volume: str | None = None, brick: str | None = None,
              epoch: str | None = None, since: int | None = None,
              timeout: float = 10.0) -> tuple[socket.socket, Any, dict[str, Any]]:
    """A raw connection to one brick's events server: (socket, a binary file on it, the
    hello). Then each line is a JSON event (with ``seq``), ``{"lost": N, ...}`` or a
    ``{"ping": 1}``. `epoch` and `since` (the hello's epoch and the last seq seen)
    resume a subscription. For tools and tests; programs use :func:`watch`."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        request = {"volume": volume, "brick": brick, "epoch": epoch, "since": since}
        s.sendall(json.dumps({k: v for k, v in request.items() if v is not None}).encode() + b"\n")
        f = s.makefile("rb")
        return s, f, json.loads(f.readline() or b"{}")
    except BaseException:
        s.close()
        raise


def subscribe_volume(host: str, volume: str, port: int = 24100,
                     timeout: float = 10.0) -> list[tuple[socket.socket, Any, dict[str, Any]]]:
    """:func:`subscribe` to every events server of `volume` on `host` (ports port..port+99)."""
    found = []
    for candidate in range(port, port + PORT_SCAN):
        try:
            s, f, hello = subscribe(host, candidate, volume=volume, timeout=timeout)
        except OSError:
            continue
        if hello.get("volume") == volume:
            found.append((s, f, hello))
        else:
            s.close()
    return found


# ------------------------------------------------------------------ watching


def _matches(data: dict[str, Any], path: str, recursive: bool, kinds: frozenset[str] | None) -> bool:
    kind = data.get("event")
    if kind in NOTICE_NAMES:
        return True
    if kinds is not None and kind not in kinds:
        return False
    if path in ("", "/") and recursive:
        return True
    base = path.rstrip("/") or ""
    for p in (data.get("path"), data.get("newpath")):
        if not p:
            continue
        if p == (base or "/"):
            return True
        parent = p.rsplit("/", 1)[0]
        if recursive and p.startswith(base + "/"):
            return True
        if not recursive and parent == base:
            return True
    return False


class _Watch:
    """The asyncio side: one connection per brick, reconnecting; one merged stream."""

    def __init__(self, volume: str, server: str, path: str, recursive: bool, events: Iterable[str] | None,
                 port: int, refresh: float, connect_timeout: float) -> None:
        self.volume, self.server = volume, server
        self.path, self.recursive = path or "/", recursive
        self.kinds = event_kinds(events)
        self.port, self.refresh, self.connect_timeout = port, refresh, connect_timeout
        self.merger = Merger()
        self.out: asyncio.Queue[ChangeEvent] = asyncio.Queue(maxsize=100000)
        self.cursors: dict[str, list[Any]] = {}  # brick path@host -> [epoch, last seq]
        self.connected: dict[str, bool] = {}
        self.down_since: dict[int, float | None] = {}  # replica set -> when its last brick went away
        self.ever_up: set[int] = set()  # replica sets seen up once (before that nothing was missed)
        self.bricks: list[BrickRef] = []
        self.ready = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def _emit(self, event: ChangeEvent) -> None:
        try:
            self.out.put_nowait(event)
        except asyncio.QueueFull:  # the consumer does not keep up: say so instead of growing forever
            pass

    def _set_state(self, brick: BrickRef, up: bool) -> None:
        name = str(brick)
        self.connected[name] = up
        members = [str(b) for b in self.bricks if b.replica_set == brick.replica_set]
        any_up = any(self.connected.get(m) for m in members)
        since = self.down_since.get(brick.replica_set)
        if up:
            self.ever_up.add(brick.replica_set)
        if not any_up and since is None and brick.replica_set in self.ever_up:
            self.down_since[brick.replica_set] = time.time()
        elif any_up and since is not None:
            self.down_since[brick.replica_set] = None
            self._emit(ChangeEvent("gap", brick=name, time=time.time(),
                             fields={"since": round(since, 3), "replica_set": brick.replica_set,
                                     "reason": "no brick of the replica set was reachable"}))

    async def run(self) -> None:
        while True:
            try:
                bricks = await asyncio.to_thread(fetch_bricks, self.volume, self.server)
            except OSError:
                if not self.bricks:
                    raise  # no such volume, no glusterd: the watcher cannot start
                bricks = self.bricks  # glusterd away for a while: keep following the known bricks
            for b in bricks:
                if b.replica_set not in self.down_since:
                    self.down_since[b.replica_set] = None
            self.bricks = bricks
            for b in bricks:
                name = str(b)
                task = self._tasks.get(name)
                if task is None or task.done():
                    self._tasks[name] = asyncio.ensure_future(self._follow(b))
            await asyncio.sleep(self.refresh)

    async def _find(self, brick: BrickRef) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict] | None:
        """Connect to the events server of `brick` on its host (ports port..port+99)."""
        ports = range(self.port, self.port + PORT_SCAN)

        async def probe(port: int):
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(brick.host, port),
                                                        self.connect_timeout)
            except (OSError, asyncio.TimeoutError):
                return None
            try:
                cursor = self.cursors.get(str(brick))
                request = {"volume": self.volume, "brick": brick.path,
                           "epoch": cursor[0] if cursor else None, "since": cursor[1] if cursor else None}
                writer.write(json.dumps(request).encode() + b"\n")
                hello = json.loads(await asyncio.wait_for(reader.readline(), self.connect_timeout) or b"{}")
                if hello.get("hello") and hello.get("brick") == brick.path and \
                        hello.get("volume") in (self.volume, ""):
                    return reader, writer, hello
            except (OSError, ValueError, asyncio.TimeoutError):
                pass
            writer.close()
            return None

        results = await asyncio.gather(*(probe(p) for p in ports))
        found = [r for r in results if r is not None]
        for extra in found[1:]:
            extra[1].close()
        return found[0] if found else None

    async def _follow(self, brick: BrickRef) -> None:
        name = str(brick)
        if name not in self.connected:
            self._set_state(brick, False)
        delay = 0.2
        while True:
            got = await self._find(brick)
            if got is None:
                if not self.ready.is_set() and all(n in self.connected for n in map(str, self.bricks)):
                    self.ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                if brick not in self.bricks:
                    return
                continue
            reader, writer, hello = got
            delay = 0.2
            cursor = self.cursors.get(name)
            # a brick that restarted (another epoch) replays everything it has since: the
            # merger drops what its replicas reported already; what nobody reported while
            # the whole replica set was away is the `gap` notice of _set_state
            self.cursors[name] = [hello["epoch"], cursor[1] if cursor and cursor[0] == hello["epoch"] else 0]
            self._set_state(brick, True)
            if all(n in self.connected for n in map(str, self.bricks)):
                self.ready.set()
            try:
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    data = json.loads(line)
                    if "seq" in data:
                        self.cursors[name][1] = data["seq"]
                        if data["event"] == "overflow":
                            self._emit(ChangeEvent("lost", brick=name, time=data.get("time", 0.0),
                                             fields={"count": data.get("lost"), "reason": "brick queue full"}))
                        elif self.merger.accept(name, data) and _matches(data, self.path, self.recursive,
                                                                         self.kinds):
                            self._emit(ChangeEvent.from_wire(data, name))
                    elif "lost" in data:
                        self._emit(ChangeEvent("lost", brick=name, time=time.time(),
                                         fields={"count": data["lost"], "reason": data.get("reason")}))
            except (OSError, ValueError):
                pass
            finally:
                writer.close()
            self._set_state(brick, False)


async def awatch(volume: str, server: str = "localhost", path: str = "/", *, recursive: bool = True,
                 events: Iterable[str] | None = None, port: int = 24100, refresh: float = 5.0,
                 connect_timeout: float = 1.0, ready: asyncio.Event | None = None) -> AsyncIterator[ChangeEvent]:
    """Events of `volume` (glusterd on `server` names its bricks) under `path`, as they happen.

    `recursive` (default): the whole tree under `path`; else `path` and its direct
    entries. `events`: only these (names of :data:`EVENT_NAMES`); notices always
    come. `ready` is set once every brick was tried once."""
    w = _Watch(volume, server, path, recursive, events, port, refresh, connect_timeout)
    runner = asyncio.ensure_future(w.run())
    helpers: list[asyncio.Future[Any]] = []
    try:
        if ready is not None:
            async def signal():
                await w.ready.wait()
                ready.set()
            helpers.append(asyncio.ensure_future(signal()))
        while True:
            getter = asyncio.ensure_future(w.out.get())
            helpers.append(getter)
            done, _ = await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
            helpers.remove(getter)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            runner.result()  # raises what stopped it (no volume, no glusterd)
            return
    finally:
        tasks = [runner, *w._tasks.values(), *helpers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Watcher:
    """``for event in glupy.watch(...)``: the events of a volume, on a thread of its own.

    ``wait_ready(timeout)`` returns once every brick was tried; ``close()`` stops."""

    def __init__(self, volume: str, server: str = "localhost", path: str = "/", **options: Any) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._args = (volume, server, path, options)
        event_kinds(options.get("events"))  # refuse unknown names here, not on the watcher's thread
        self._thread = threading.Thread(target=self._run, name="glupy-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        volume, server, path, options = self._args

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            ready = asyncio.Event()
            when_ready = asyncio.ensure_future(self._when_ready(ready))
            gen = awatch(volume, server, path, ready=ready, **options)
            stopper = asyncio.ensure_future(self._stop.wait())
            try:
                while True:
                    nxt = asyncio.ensure_future(gen.__anext__())
                    done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    if nxt not in done:
                        nxt.cancel()
                        await asyncio.gather(nxt, return_exceptions=True)
                        break
                    self._queue.put(nxt.result())
            finally:
                for task in (when_ready, stopper):
                    task.cancel()
                await asyncio.gather(when_ready, stopper, return_exceptions=True)
                await gen.aclose()

        try:
            asyncio.run(main())
        except StopAsyncIteration:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the iterating thread
            self._queue.put(error)
        self._ready.set()
        self._queue.put(StopIteration())

    async def _when_ready(self, ready: asyncio.Event) -> None:
        await ready.wait()
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def get(self, timeout: float | None = None) -> ChangeEvent | None:
        """The next event, or None after `timeout` seconds."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, StopIteration):
            self._queue.put(item)
            raise item
        if isinstance(item, BaseException):
            raise item
        return item

    def events(self, idle_timeout: float | None = None) -> Iterator[ChangeEvent]:
        """The events as they come; ends when the watcher stops or after `idle_timeout`
        seconds without one (None: never)."""
        while True:
            try:
                event = self.get(idle_timeout)
            except StopIteration:
                return
            if event is None:
                return
            yield event

    def __iter__(self) -> Iterator[ChangeEvent]:
        return self.events()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop ended meanwhile (the watcher failed or finished)
                pass
        self._thread.join(10)

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def watch(volume: str, server: str = "localhost", path: str = "/", **options: Any) -> Watcher:
    """``for event in glupy.watch("vol", "gluster1", "/dir", recursive=True, events=["create"])``.

    Options as :func:`awatch`. The iterator runs until ``close()`` (or the with block ends)."""
    return Watcher(volume, server, path, **options)


# ------------------------------------------------------------------ the durable sink


def stream_name(volume: str, pattern: str = "glupy:events:{volume}") -> str:
    """The Redis stream the events translator's ``redis`` option appends to."""
    return pattern.replace("{volume}", volume)


def from_redis(url: str, volume: str, path: str = "/", *, recursive: bool = True,
               events: Iterable[str] | None = None, group: str | None = None, consumer: str = "glupy-watch",
               start: str = "$", stream: str | None = None, block: float = 5.0,
               idle_timeout: float | None = None) -> Iterator[ChangeEvent]:
    """Events of `volume` from the Redis stream the bricks append to (option ``redis``).

    With `group`, a consumer group (created if missing, from the stream's start):
    a consumer that comes back (same `consumer` name) first gets what it was given
    and did not take, then what the group has not been given yet; an event is
    acknowledged once the loop asks for the next one (at least once). Without a group,
    reading starts at `start` (``$``: new events; ``0``: all the stream holds).
    Ends after `idle_timeout` seconds without an entry (None: never)."""
    import redis
    from redis.exceptions import ResponseError

    kinds = frozenset(events) if events else None
    r = redis.Redis.from_url(url, socket_timeout=block + 10)  # a blocking read lasts `block`
    name = stream or stream_name(volume)
    if group:
        try:
            r.xgroup_create(name, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
    last = start
    if start == "$" and not group:
        info = r.xinfo_stream(name) if r.exists(name) else None
        last = info["last-generated-id"] if info else "0"
    idle_since = time.monotonic()
    pending = bool(group)  # first what this consumer was given before and did not acknowledge
    try:
        while True:
            if pending:
                reply = r.xreadgroup(group, consumer, {name: "0"}, count=200)
                if not reply or not reply[0][1]:
                    pending = False
                    continue
            elif group:
                reply = r.xreadgroup(group, consumer, {name: ">"}, count=200, block=int(block * 1000))
            else:
                reply = r.xread({name: last}, count=200, block=int(block * 1000))
            if not reply:
                if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    return
                continue
            idle_since = time.monotonic()
            for _, entries in reply:
                for entry_id, fields in entries:
                    data = json.loads(fields[b"event"])
                    last = entry_id
                    if data.get("event") == "lost":
                        yield ChangeEvent("lost", brick=data.get("brick"), time=time.time(),
                                          fields={"count": data.get("count"), "reason": data.get("reason")})
                    elif _matches(data, path or "/", recursive, kinds):
                        yield ChangeEvent.from_wire(data, "redis")
                    if group:
                        r.xack(name, group, entry_id)
    finally:
        r.close()
