"""mirror: a cluster translator in Python. Writes go to every child, reads come from one.

A small RAID-1 over two or more children (subvolumes), to show that a Python
translator can sit anywhere in a graph, including where GlusterFS puts its own
cluster translators. On a client, over the protocol/client translators of the
two bricks of a plain volume (in place of its distribute translator)::

    volume mvol-client-0
        type protocol/client
        ...                              # from the volume's client volfile
    end-volume
    volume mvol-client-1
        type protocol/client
        ...
    end-volume
    volume mirror
        type user/glupy
        option module glupy.translators.mirror
        subvolumes mvol-client-0 mvol-client-1
    end-volume

``glupy.gluster.volfile.join_under`` builds it; examples/mirror/ shows the
whole procedure. The bricks must belong to one volume: a GlusterFS 10.3 client
process accepts bricks of a single volume-id ("volume-id changed, can't
connect to server. Needs remount"), so a mirror over bricks of two different
volumes never sees its second child come up.

Where each FOP goes
-------------------
* **Writes** go to every healthy child at once (``glupy.gather``), with the
  same arguments, so the same xdata: a create/mkdir/mknod/symlink's
  ``gfid-req`` makes the new file's gfid the same on every child. These are
  create, mkdir, mknod, symlink, link, unlink, rmdir, rename, truncate,
  ftruncate, writev, setattr, fsetattr, setxattr, fsetxattr, removexattr,
  fremovexattr, fallocate, discard, zerofill, xattrop, fxattrop,
  copy_file_range, put, icreate, namelink, setactivelk; also open, opendir,
  flush, fsync and fsyncdir, which change nothing but must reach every child
  (each child's protocol/client keeps its own remote fd in the fd's context, as
  under AFR). FOPs on an fd go to the children the fd was opened on (and that
  are healthy). When the fd goes away GlusterFS calls the release of every
  translator holding a context in it, so each child's protocol/client closes
  its remote fd by itself; the mirror's own context (which children the fd is
  open on) is dropped by the bridge.
* **Reads** (lookup, stat, fstat, access, readlink, readv, getxattr,
  fgetxattr, statfs, seek, rchecksum, getactivelk, readdir, readdirp) come from
  the first healthy child that is not stale, else the first healthy stale one.
  If it fails with a transport error (ENOTCONN, EBADFD, ECONNREFUSED,
  ECONNRESET, ETIMEDOUT, EHOSTDOWN, EHOSTUNREACH, ENETUNREACH, EPIPE) the next
  child is tried. A directory listing stays on the child that answered its
  first readdir (offsets are that child's); a failure in the middle of a
  listing is returned.
* **Locks** (lk, inodelk, finodelk, entrylk, fentrylk, lease) and ipc,
  getspec go to one child, chosen as for reads: they protect against other
  users of this mirror, not against clients writing to one child directly.

The result of a write
---------------------
* Every healthy child succeeded: success, with the reply of the first.
* Some children failed with a transport error (down, not yet known as down):
  those children *missed* the write (counted, and marked stale); if another
  child answered, its answer is the result.
* Fresh (not stale) children decide the result. When they disagree (one
  succeeded, another failed with, say, EEXIST; or they failed with different
  errors) it is a **divergence**: the FOP fails with the error of the first
  fresh child that failed, the children whose outcome differs from the first
  fresh child's (the one reads come from) are marked stale and their
  ``divergent_writes`` counted, and a warning is logged.
* A stale child that answers differently from the fresh ones (it lacks what it
  missed: an open of a file created while it was down fails there with
  ESTALE) does not fail the FOP: the write counts as one more missed write for
  it. Only when no fresh child answered do the stale ones decide.
* All failed alike (ENOENT everywhere): that error, nothing diverged.

Children going down and up
--------------------------
protocol/client tells its parent CHILD_UP when it has connected to its brick
and CHILD_DOWN (or CHILD_CONNECTING) when it lost it. A child that is down is
skipped by writes and reads, each write it misses is counted, and it is
reported stale. **There is no self-heal**: a child that comes back up gets new
writes but keeps the old contents of everything it missed, stays ``stale`` and
is read from only when no fresh child is up. After an administrator has made
its contents identical again (for example: stop both volumes, copy the fresh
brick over the stale one preserving xattrs and hard links, ``rsync -aHAX``),
``setfattr -n glupy.mirror.resynced -v CHILD-NAME MOUNT`` clears the mark and
the counters.

The parent (FUSE) is told the mirror is up (CHILD_UP) once every child has
reported and at least one is up, and down only when all are down (with a
CHILD_DOWN, or a CHILD_CONNECTING when every child is connecting); other
transitions are kept from it (notify returns
False). A CHILD_UP that arrives while other children have not reported yet is
held until they have, so that the first FOPs reach every child that is going to
come up. Whichever child's event completes the set, the parent is told the
mirror's own state (notify returns that Event): CHILD_UP when one child is up
even if the last report was another child's CHILD_DOWN or CHILD_CONNECTING.

Reporting
---------
* ``getfattr -n glupy.mirror.status --only-values MOUNT``: JSON,
  ``{"mirror": NAME, "up": 1, "children": [{"name": ..., "state": "up"|"down"|
  "connecting"|"unknown", "stale": bool, "missed_writes": n,
  "divergent_writes": n, "downs": n}, ...], "writes": n, "reads": n,
  "read_failovers": n}``. ``glupy.mirror.status.NAME`` asks the mirror named
  NAME.
* ``gluster volume statedump`` / the client's statedump (``kill -USR1 PID``):
  the same, as ``child.N.*`` lines.

Options: ``read-child`` (default -1: the first healthy one) prefers that child
index for reads when it is healthy and fresh. ``wait-for-all-children``
(default on) holds the first CHILD_UP until every child has reported; off, the
parent is told as soon as one child is up (a child still connecting then
misses the first writes and is stale from the start), for children that may
take long to report (an unreachable host: until TCP gives up).

Limits: no self-heal, no quorum (a write to one surviving child succeeds), no
locking across children (two mirror clients writing the same file concurrently
can order writes differently on each child), and no arbitration when children
disagree beyond marking them: it is a demonstration of a Python cluster
translator, not a replacement for AFR.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from typing import Any

import glupy
from glupy.constants import Event
from glupy.fop_table import FOP_BY_NAME, FOPS

STATUS_XATTR = "glupy.mirror.status"
RESYNCED_XATTR = "glupy.mirror.resynced"

#: errors that say "this child cannot answer now", not "the operation failed"
TRANSPORT_ERRORS = frozenset({errno.ENOTCONN, errno.EBADFD, errno.ECONNREFUSED, errno.ECONNRESET,
                              errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTDOWN, errno.EHOSTUNREACH,
                              errno.ENETUNREACH, errno.EPIPE})

#: FOPs by location that change the volume: to every healthy child
ENTRY_WRITES = ("create", "mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "truncate", "setattr",
                "setxattr", "removexattr", "xattrop", "setactivelk", "put", "icreate", "namelink")
#: FOPs on fds that change the volume: to every healthy child the fd is open on
FD_WRITES = ("writev", "ftruncate", "fsetattr", "fsetxattr", "fremovexattr", "fallocate", "discard", "zerofill",
             "fxattrop", "copy_file_range")
#: FOPs on fds that change nothing but must reach every child that has the fd open
FD_EVERYWHERE = ("flush", "fsync", "fsyncdir")
#: FOPs that open an fd (create is also an entry write)
OPENS = ("open", "opendir")
#: FOPs answered by one child, with failover on transport errors
READS = ("lookup", "stat", "access", "readlink", "getxattr", "statfs", "getactivelk", "fstat", "readv",
         "fgetxattr", "seek", "rchecksum", "readdir", "readdirp", "lk", "inodelk", "finodelk", "entrylk",
         "fentrylk", "lease", "ipc", "getspec")

_CLASSIFIED = set(ENTRY_WRITES) | set(FD_WRITES) | set(FD_EVERYWHERE) | set(OPENS) | set(READS)
assert _CLASSIFIED == {f.name for f in FOPS}, sorted({f.name for f in FOPS} ^ _CLASSIFIED)

_O_TRUNC = 0o1000
_STATE_OF_EVENT = {Event.CHILD_UP: "up", Event.CHILD_DOWN: "down", Event.CHILD_CONNECTING: "connecting"}
_EVENT_OF_STATE = {state: event for event, state in _STATE_OF_EVENT.items()}


def _fd_positions(name: str) -> tuple[int, ...]:
    """Indexes of a FOP's fd arguments, from the FOP table."""
    return tuple(i for i, a in enumerate(FOP_BY_NAME[name].py_args) if a.kind == "fd")


class ChildState:
    """What the mirror knows about one child."""

    __slots__ = ("name", "state", "stale", "missed_writes", "divergent_writes", "downs", "since")

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "unknown"  # until the child's first event
        self.stale = False
        self.missed_writes = 0
        self.divergent_writes = 0
        self.downs = 0
        self.since = time.time()

    @property
    def healthy(self) -> bool:
        # "unknown" children get FOPs: before their first event a FOP either works or fails with
        # ENOTCONN, which counts as a missed write
        return self.state in ("up", "unknown")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "stale": self.stale, "missed_writes": self.missed_writes,
                "divergent_writes": self.divergent_writes, "downs": self.downs}


class _FdState:
    """Per fd: the children it is open on, and the child a directory listing reads from."""

    __slots__ = ("opened", "reader")

    def __init__(self, opened: frozenset[int]) -> None:
        self.opened = opened
        self.reader: int | None = None


class Mirror(glupy.Translator):
    """Writes to every healthy child, reads from the first healthy fresh one; reports children down and stale."""

    read_child = glupy.Option(int, default=-1, min=-1, doc="child index preferred for reads (-1: the first healthy)")
    wait_for_all_children = glupy.Option(bool, default=True,
                                         doc="tell the parent CHILD_UP only once every child has reported")

    def init(self) -> None:
        if len(self.children) < 2:
            raise glupy.OptionError(f"mirror needs at least two children (subvolumes), it has {len(self.children)}")
        self._lock = threading.Lock()
        self.states = [ChildState(c.name) for c in self.children]
        self._announced: str | None = None  # what the parent was last told: "up", "down", "connecting"
        self.writes = 0
        self.reads = 0
        self.read_failovers = 0
        self.divergences = 0

    # ---------------------------------------------------------------- events

    def notify(self, event: Any, source: Any) -> Any:
        """Track each child's state; pass an event on only when the mirror's own state changes."""
        if event not in _STATE_OF_EVENT or not isinstance(source, glupy.Child):
            return None  # PARENT_UP/DOWN go down to every child as usual, other events go on
        with self._lock:
            st = self.states[source.index]
            old, new = st.state, _STATE_OF_EVENT[event]
            if old != new:
                st.state, st.since = new, time.time()
                if old == "up":
                    st.downs += 1
            up = [s for s in self.states if s.state == "up"]
            reported = all(s.state != "unknown" for s in self.states)
            if up:
                # hold the first CHILD_UP until every child has reported (unless told not to wait)
                aggregate = "up" if reported or not self.wait_for_all_children else None
            elif reported:
                aggregate = "down" if any(s.state == "down" for s in self.states) else "connecting"
            else:
                aggregate = None
            propagate = aggregate is not None and aggregate != self._announced
            if propagate:
                self._announced = aggregate
        if old != new:
            if new == "up":
                self.log.info("mirror: child %s is up%s", st.name,
                              " (stale: it missed writes; not read from while a fresh child is up)"
                              if st.stale else "")
            elif old in ("up", "unknown"):
                self.log.warning("mirror: child %s is %s%s: writes skip it and make it stale", st.name, new,
                                 " (since the start)" if old == "unknown" else "")
        if not propagate:
            return False
        # the mirror's own state, whichever child's event completed it
        own = _EVENT_OF_STATE[aggregate]
        self.log.info("mirror: %d of %d children up: telling the parent %s", len(up), len(self.states), own.name)
        return own

    # ---------------------------------------------------------------- choosing children

    def _healthy(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if s.healthy]

    def _read_order(self, opened: frozenset[int] | None = None) -> list[int]:
        """Children to try for a read: healthy and fresh, healthy and stale, then the others (last resort)."""
        states = self.states
        indexes = list(range(len(states)))
        preferred = self.read_child
        if 0 <= preferred < len(states):
            indexes.remove(preferred)
            indexes.insert(0, preferred)

        def rank(i: int) -> tuple[int, int]:
            s = states[i]
            health = 0 if s.healthy and not s.stale else 1 if s.healthy else 2
            return (health, 0 if opened is None or i in opened else 1)

        return sorted(indexes, key=rank)  # stable: keeps the index order within a rank

    def _missed(self, indexes: list[int], fop: str) -> None:
        if not indexes:
            return
        newly_stale = []
        with self._lock:
            for i in indexes:
                s = self.states[i]
                s.missed_writes += 1
                if not s.stale:
                    s.stale = True
                    newly_stale.append(s.name)
        for name in newly_stale:
            self.log.warning("mirror: child %s missed a write (%s) and is stale from now on (no self-heal)",
                             name, fop)

    # ---------------------------------------------------------------- the two paths

    async def _read(self, fop: str, args: tuple, opened: frozenset[int] | None = None,
                    fd_state: _FdState | None = None) -> Any:
        wind = getattr(glupy.Child, fop)
        last: glupy.FopError | None = None
        with self._lock:
            self.reads += 1
        for tried, i in enumerate(self._read_order(opened)):
            try:
                reply = await wind(self.children[i], *args)
            except glupy.FopError as error:
                if error.errno not in TRANSPORT_ERRORS:
                    raise
                last = error
                continue
            if tried:
                with self._lock:
                    self.read_failovers += 1
                self.log.debug("mirror: %s answered by %s after %d failed", fop, self.states[i].name, tried)
            if fd_state is not None:
                fd_state.reader = i
            return reply
        raise last if last is not None else glupy.FopError(errno.ENOTCONN)

    async def _write(self, fop: str, args: tuple, targets: list[int], counted: bool) -> tuple[Any, list[int]]:
        """Wind to `targets` at once; (reply of the first success, children that succeeded) or raise."""
        skipped = [i for i in range(len(self.children)) if i not in targets]
        if counted:
            self._missed(skipped, fop)
        if not targets:
            raise glupy.FopError(errno.ENOTCONN)
        wind = getattr(glupy.Child, fop)
        outcomes = await glupy.gather(*(wind(self.children[i], *args) for i in targets), return_exceptions=True)
        with self._lock:
            self.writes += 1
        ok: list[int] = []
        lost: list[int] = []
        answers: dict[int, Any] = {}  # child -> its reply or FopError (transport errors left out)
        for i, outcome in zip(targets, outcomes):
            if isinstance(outcome, glupy.FopError):
                if outcome.errno in TRANSPORT_ERRORS:
                    lost.append(i)
                    continue
            elif isinstance(outcome, BaseException):
                raise outcome  # a bug, not a child's answer: the bridge logs it and answers EIO
            else:
                ok.append(i)
            answers[i] = outcome
        if not answers:  # every target failed with a transport error
            if counted:
                self._missed(lost, fop)
            raise next(o for o in outcomes if isinstance(o, glupy.FopError))
        # Fresh children decide the result; a stale child that answers differently (it lacks
        # what it missed) only misses this write too. Without a fresh answer, the stale ones decide.
        deciding = [i for i in answers if not self.states[i].stale] or list(answers)
        outcome_of = {i: (a.errno if isinstance(a, glupy.FopError) else None) for i, a in answers.items()}
        reference = outcome_of[deciding[0]]
        differing = [i for i in deciding if outcome_of[i] != reference]
        lagging = [i for i in answers if i not in deciding and outcome_of[i] != reference]
        if counted:
            self._missed(lost + lagging, fop)
        if differing:
            self._diverged(fop, args, [(i, outcome_of[i]) for i in deciding], differing)
        for i in deciding:
            if isinstance(answers[i], glupy.FopError):
                raise answers[i]
        return answers[deciding[0]], ok

    def _diverged(self, fop: str, args: tuple, answered: list[tuple[int, Any]], differing: list[int]) -> None:
        with self._lock:
            self.divergences += 1
            for i in differing:
                s = self.states[i]
                s.divergent_writes += 1
                s.stale = True
        what = ", ".join(f"{self.states[i].name}: {errno.errorcode.get(e, e) if e else 'OK'}" for i, e in answered)
        target = args[0] if args else None
        path = getattr(target, "path", None) or getattr(getattr(target, "inode", None), "gfid", None)
        self.log.warning("mirror: children disagree on %s %s (%s): failing it; %s marked stale", fop, path, what,
                         ", ".join(self.states[i].name for i in differing))

    def _fd_targets(self, fd: Any) -> tuple[list[int], _FdState | None]:
        state = self.fd_ctx(fd) if fd is not None else None
        healthy = self._healthy()
        if isinstance(state, _FdState):
            return [i for i in healthy if i in state.opened], state
        return healthy, None  # an fd the mirror did not open (anonymous): every healthy child

    # ---------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """The state reported by the status xattr and the statedump."""
        with self._lock:
            return {"mirror": self.name, "up": sum(s.state == "up" for s in self.states),
                    "children": [s.as_dict() for s in self.states], "writes": self.writes, "reads": self.reads,
                    "read_failovers": self.read_failovers, "divergences": self.divergences}

    def statedump(self):
        st = self.status()
        out: dict[str, Any] = {"children-up": f"{st['up']}/{len(self.states)}", "writes": st["writes"],
                               "reads": st["reads"], "read-failovers": st["read_failovers"],
                               "divergences": st["divergences"], "told-parent": self._announced or "-"}
        for i, c in enumerate(st["children"]):
            for key, value in c.items():
                out[f"child.{i}.{key.replace('_', '-')}"] = value
        return out

    async def getxattr(self, loc, name, xdata):
        """Answers glupy.mirror.status[.NAME] itself; other names are reads."""
        if name == STATUS_XATTR or name == f"{STATUS_XATTR}.{self.name}":
            value = json.dumps(self.status(), sort_keys=True).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self._read("getxattr", (loc, name, xdata))

    async def setxattr(self, loc, dict, flags, xdata):
        """glupy.mirror.resynced=CHILD clears a child's stale mark; other xattrs are writes."""
        if dict is not None and RESYNCED_XATTR in dict:
            raw = dict.raw(RESYNCED_XATTR) or b""
            child = raw.rstrip(b"\0").decode(errors="replace").strip()
            with self._lock:
                found = [s for s in self.states if s.name == child]
                for s in found:
                    s.stale = False
                    s.missed_writes = s.divergent_writes = 0
            if not found:
                raise glupy.FopError(errno.EINVAL, f"no child named {child!r}")
            self.log.info("mirror: child %s marked resynced (fresh) by an administrator", child)
            return glupy.SetxattrReply()
        reply, _ = await self._write("setxattr", (loc, dict, flags, xdata), self._healthy(), True)
        return reply

    # ---------------------------------------------------------------- FOPs with their own rules

    async def create(self, loc, flags, mode, umask, fd, xdata):
        reply, ok = await self._write("create", (loc, flags, mode, umask, fd, xdata), self._healthy(), True)
        self.set_fd_ctx(fd, _FdState(frozenset(ok)))
        return reply

    async def open(self, loc, flags, fd, xdata):
        reply, ok = await self._write("open", (loc, flags, fd, xdata), self._healthy(), bool(flags & _O_TRUNC))
        self.set_fd_ctx(fd, _FdState(frozenset(ok)))
        return reply

    async def opendir(self, loc, fd, xdata):
        reply, ok = await self._write("opendir", (loc, fd, xdata), self._healthy(), False)
        self.set_fd_ctx(fd, _FdState(frozenset(ok)))
        return reply

    async def _listing(self, fop: str, fd: Any, size: int, offset: int, xdata: Any) -> Any:
        state = self.fd_ctx(fd)
        state = state if isinstance(state, _FdState) else None
        if offset != 0 and state is not None and state.reader is not None:
            # a listing in progress: its offsets belong to the child that gave them
            return await getattr(glupy.Child, fop)(self.children[state.reader], fd, size, offset, xdata)
        return await self._read(fop, (fd, size, offset, xdata), state.opened if state else None, state)

    async def readdir(self, fd, size, offset, xdata):
        return await self._listing("readdir", fd, size, offset, xdata)

    async def readdirp(self, fd, size, offset, xdata):
        return await self._listing("readdirp", fd, size, offset, xdata)


def _entry_writer(name: str):
    async def handler(self, *args):
        reply, _ = await self._write(name, args, self._healthy(), True)
        return reply

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"{name}: to every healthy child at once (see the module docstring for the result)."
    return handler


def _fd_writer(name: str, counted: bool):
    positions = _fd_positions(name)

    async def handler(self, *args):
        targets, _ = self._fd_targets(args[positions[0]])
        for p in positions[1:]:  # copy_file_range: both fds must be open on the child
            more, _ = self._fd_targets(args[p])
            targets = [i for i in targets if i in more]
        reply, _ = await self._write(name, args, targets, counted)
        return reply

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"{name}: to every healthy child the fd is open on, at once."
    return handler


def _reader(name: str):
    positions = _fd_positions(name)

    async def handler(self, *args):
        opened = None
        if positions:
            state = self.fd_ctx(args[positions[0]])
            if isinstance(state, _FdState):
                opened = state.opened
        return await self._read(name, args, opened)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"{name}: from the first healthy fresh child, the next one on a transport error."
    return handler


for _name in ENTRY_WRITES:
    if _name not in vars(Mirror):
        setattr(Mirror, _name, _entry_writer(_name))
for _name in FD_WRITES:
    setattr(Mirror, _name, _fd_writer(_name, counted=True))
for _name in FD_EVERYWHERE:
    setattr(Mirror, _name, _fd_writer(_name, counted=False))
for _name in READS:
    if _name not in vars(Mirror):
        setattr(Mirror, _name, _reader(_name))
