"""chaos: a translator that misbehaves, on purpose, in every way a careless translator author could.

It exists to test the bridge's promise that **no handler behaviour can crash or
stall a GlusterFS process**. The contract it checks, for every FOP Chaos spoils:

* the process survives (same PID, no "signal received" in its log, no abort);
* every other FOP is still served (the spoiled FOP does not wedge a thread,
  corrupt shared state, or leave a frame unanswered);
* the spoiled FOP itself is answered, either with a result GlusterFS can carry
  (fields of the right types, op_ret consistent with the data or entries, in
  int32 range) or with an errno: the errno of a valid :class:`glupy.FopError`
  (0 < errno < 4096) the handler raised, else EIO; never errno 0, a negative
  errno, or one no kernel knows;
* the failure is reported in the process's log (rate-limited).

Chaos overrides every FOP of :data:`glupy.fop_table.FOPS`. Each FOP draws from a
``random.Random(seed)``: with probability ``rate`` it misbehaves (one of the
misbehaviours below, chosen uniformly among those enabled by ``modes``),
otherwise it goes to the first child unchanged. The sequence of decisions
depends only on the seed and the order of FOPs, so a single-threaded run (the
in-process harness) is reproducible from its seed; each spoiled FOP also gets a
random generator of its own, so what it does does not depend on other threads.

Misbehaviours, by family (``modes`` takes family names, misbehaviour names, or
both, comma-separated; the default is every family but ``blocking``):

``returns``
    ``return_none`` (None: an "empty success", which most FOPs cannot carry),
    ``return_junk`` (an int, a str, a dict, object(), a list, an un-awaited
    coroutine, an object whose every attribute access raises),
    ``return_unawaited_wind`` (``return self.child.stat(...)``: the forgotten ``await``, a tail call),
    ``return_other_reply`` (another FOP's reply class, or a subclass of the right one),
    ``return_partial`` (the right class built with ``cls.__new__``, only some slots set),
    ``return_wrong_types`` (a field of the wrong type: a str for an Iatt, an int for
    an Inode, a Dirent list with junk in it, data that is not bytes-like, ...),
    ``return_bad_dirents`` (entries of the right type with names no kernel accepts),
    ``return_inconsistent`` (op_ret that disagrees with the data or entries: readv
    op_ret 10**6 with 3 bytes, readdir op_ret 50 with 1 entry, writev op_ret
    beyond the data),
    ``return_bad_numbers`` (op_ret -5 with op_errno 0, op_errno -1, 10**12 or 4096,
    op_ret 2**40, op_ret that is not an int),
    ``return_mutated_later`` (the child's reply returned, kept, and changed in place
    and rebound by a later FOP, touching its nested native objects after their FOP ended),
    ``return_same_twice`` (one reply object returned for two FOPs).

``raises``
    ZeroDivisionError, a custom Exception, an exception whose ``str()`` raises,
    :class:`glupy.FopError` with errno 0, negative, huge (10**12), not an int, or
    valid (ENOENT: the only one that must reach the caller as itself), an
    exception after the child already did the work, ``StopIteration`` in a
    coroutine, real unbounded recursion (RecursionError), and BaseException
    subclasses: KeyboardInterrupt, SystemExit, GeneratorExit and a custom one.
    Every exception Chaos raises carries ``glupy_chaos = True`` so a test can
    tell it from a real Ctrl-C.

``winds``
    Calls ``self.child.<fop>(...)`` with a wrong number of arguments or an
    argument of a wrong type (a bytes for a Loc, an int overflowing its C type,
    data that is not bytes-like, ...), builds a raw Wind with a wrong argument
    count, an unknown FOP number, another FOP's number or something that is not a
    child, passes a lock owner that is not bytes or is too long, winds with a Loc
    or Fd kept from an earlier FOP, winds twice, awaits something that is not a
    glupy operation (``asyncio.sleep(0)``), and gathers junk.

    Where glupy has them, awaits ``glupy.to_thread`` of a function that raises
    and ``glupy.on_loop`` of a coroutine that raises.

``blocking`` (only when listed in ``modes``: never by default)
    ``block_sleep`` alias ``sleep`` (``time.sleep(block_seconds)``, then passes on),
    ``block_spin`` alias ``spin`` (a busy CPU loop holding the GIL for
    ``block_seconds``, then passes on), ``block_hang`` alias ``hang`` (``await
    glupy.sleep(10**9)``: never finishes), ``hang_on_loop`` (``glupy.on_loop`` of a
    future nobody resolves). Where glupy lacks what one needs it passes the FOP
    on and counts ``NAME.unavailable``.

Options: ``seed`` (int), ``rate`` (0..1), ``modes``, ``block-seconds``,
``armed`` (off: every FOP passes on until armed), ``log-decisions`` (one log
line per spoiled FOP, to find the culprit of a crash in a GlusterFS log).
All change live (reconfigure); a new seed restarts the sequence.

Two extended attributes are answered by Chaos itself, never spoiled, so that a
test can drive a FUSE mount without glusterd: setting ``glupy.chaos.armed``
to ``1``/``0`` arms or disarms it; getting ``glupy.chaos.counts`` answers a JSON
object of the counts. :meth:`Chaos.statedump` shows the same counts
(``gluster volume statedump`` / :meth:`glupy.gluster.FuseMount.statedump`).

Use it in the in-process harness::

    from glupy.testing.chaos import Chaos
    h = Harness(tmp_path, (Chaos, {"seed": "7", "rate": "0.3"}))

or in a volfile::

    volume chaos
        type user/glupy
        option module glupy.testing.chaos
        option seed 7
        option rate 0.3
        subvolumes posix
    end-volume
"""

from __future__ import annotations

import asyncio
import errno as _errno
import itertools
import json
import os
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import glupy
from glupy import _driver
from glupy.fop_table import FOP_ID, FOPS, Fop
from glupy.replies import REPLIES, copy_reply
from glupy.types import Dirent, LockInfo

__all__ = ["Chaos", "Case", "Misbehaviour", "MISBEHAVIOURS", "FAMILIES", "DEFAULT_FAMILIES",
           "ARMED_XATTR", "COUNTS_XATTR", "ALIASES", "parse_modes", "misbehaviours_of", "junk_for", "CarelessError",
           "ChaosBaseException"]

#: setxattr of this name to "1"/"0" arms/disarms Chaos (answered by Chaos, never spoiled)
ARMED_XATTR = "glupy.chaos.armed"
#: getxattr of this name answers the counts as JSON (answered by Chaos, never spoiled)
COUNTS_XATTR = "glupy.chaos.counts"

#: families in the order they are documented; blocking only when asked for
FAMILIES = ("returns", "raises", "winds", "blocking")
DEFAULT_FAMILIES = ("returns", "raises", "winds")


@dataclass
class Case:
    """One spoiled FOP: what a misbehaviour gets to work with."""

    number: int  # the FOP's sequence number in this Chaos instance (0-based, counting every FOP)
    fop: Fop
    args: tuple
    rng: random.Random  # private to this case: derived from the seed, so replays do the same
    behaviour: "Misbehaviour"

    def __repr__(self) -> str:
        return f"<Case #{self.number} {self.fop.name}: {self.behaviour.name}>"


Behaviour = Callable[["Chaos", Case], Awaitable[Any]]


@dataclass(frozen=True)
class Misbehaviour:
    """A named way to spoil a FOP (a failure message names it)."""

    name: str
    family: str
    run: Behaviour
    doc: str


#: every misbehaviour by name, in definition order
MISBEHAVIOURS: dict[str, Misbehaviour] = {}


def _misbehaviour(family: str) -> Callable[[Behaviour], Behaviour]:
    def register(fn: Behaviour) -> Behaviour:
        MISBEHAVIOURS[fn.__name__] = Misbehaviour(fn.__name__, family, fn, (fn.__doc__ or "").strip())
        return fn
    return register


#: short names of the blocking misbehaviours
ALIASES = {"sleep": "block_sleep", "spin": "block_spin", "hang": "block_hang"}


def parse_modes(text: str) -> tuple[Misbehaviour, ...]:
    """The misbehaviours a ``modes`` value enables: family and misbehaviour names, comma-separated
    (``all``: every family including blocking; empty: the default families; ``sleep``, ``spin``
    and ``hang`` stand for the block_* ones). ValueError if unknown."""
    names = [ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    if not names:
        names = list(DEFAULT_FAMILIES)
    if names == ["all"]:
        names = list(FAMILIES)
    chosen: dict[str, Misbehaviour] = {}
    for n in names:
        if n in FAMILIES:
            chosen.update((m.name, m) for m in MISBEHAVIOURS.values() if m.family == n)
        elif n in MISBEHAVIOURS:
            chosen[n] = MISBEHAVIOURS[n]
        else:
            raise ValueError(f"unknown chaos mode {n!r} (families: {', '.join(FAMILIES)}; "
                             f"or misbehaviours: {', '.join(MISBEHAVIOURS)})")
    return tuple(chosen.values())


def _tag(exc: BaseException) -> BaseException:
    """Mark an exception as Chaos's own, so that a test can tell it from a real Ctrl-C."""
    exc.glupy_chaos = True  # type: ignore[attr-defined]
    return exc


class CarelessError(Exception):
    """The custom exception a careless translator raises."""


class ChaosBaseException(BaseException):
    """A custom BaseException subclass (not an Exception): slips past ``except Exception``."""


class _UnprintableError(Exception):
    """An exception whose str() and repr() raise: logging its traceback must still work."""

    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails by design")

    def __repr__(self) -> str:
        raise RuntimeError("repr() of this exception fails by design")


class _Hostile:
    """Returned as a reply: every attribute access, comparison, repr, bool and deletion raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"_Hostile has no {name} and says so rudely")

    def __repr__(self) -> str:
        raise RuntimeError("repr() of _Hostile fails by design")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("== on _Hostile fails by design")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("bool() of _Hostile fails by design")

    def __len__(self) -> int:
        raise RuntimeError("len() of _Hostile fails by design")

    def __del__(self) -> None:
        raise RuntimeError("_Hostile.__del__ fails by design (printed as 'Exception ignored in')")


class _Foreign:
    """An awaitable that yields something glupy never asked for."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self):
        return (yield self.value)


async def _never_awaited() -> None:
    """A coroutine returned instead of a reply (its body never runs)."""


# ---------------------------------------------------------------- junk by kind


def _junk_dirents(rng: random.Random) -> Any:
    return rng.choice([
        lambda: [Dirent("ok", off=1), "junk", None, 42],
        lambda: "not a list of entries",
        lambda: [object()],
        lambda: [Dirent(name=b"bytes-name", off=1)],  # type: ignore[arg-type]
        lambda: [Dirent("s", off=1, stat="not an iatt")],
        lambda: [Dirent("i", off=1, inode=42)],
        lambda: [Dirent("o", off=-1)],
        lambda: [Dirent("t", off=1, type=2**40)],
        lambda: [Dirent("x", off=1, xdata=["not", "a", "mapping"])],
    ])()


def _junk_data(rng: random.Random) -> Any:
    return rng.choice([
        lambda: 12345,
        lambda: "a str is not bytes",
        lambda: [b"a", b"list"],
        lambda: memoryview(b"abcdef")[::2],  # bytes-like but not contiguous
        lambda: object(),
    ])()


def _junk_xdata(rng: random.Random) -> Any:
    return rng.choice([
        lambda: ["not", "a", "mapping"],
        lambda: {"key": object()},
        lambda: {1: b"an int key"},
        lambda: "xdata",
        lambda: 7,
    ])()


#: a fresh wrong-typed (or out-of-range) value for each kind of argument or reply field
_JUNK: dict[str, Callable[[random.Random], Any]] = {
    "loc": lambda r: r.choice([b"/not/a/loc", "/not/a/loc", 7, object()]),
    "fd": lambda r: r.choice(["fd", 3, b"\0", object()]),
    "xdata": _junk_xdata,
    "dict": _junk_xdata,
    "inode": lambda r: r.choice([12345, "inode", b"\0" * 16, object()]),
    "iatt": lambda r: r.choice(["not an iatt", 3.5, {"size": 1}, object()]),
    "str": lambda r: r.choice([42, ["a"], 2.5, object()]),
    "outstr": lambda r: r.choice([42, ["a"], 2.5, object()]),
    "int32": lambda r: r.choice(["7", 2**70, -2**70, 1.5, None, object()]),
    "uint32": lambda r: r.choice([-1, 2**70, "7", 1.5, None]),
    "size": lambda r: r.choice([-1, 2**70, "4096", 1.5, None]),
    "off": lambda r: r.choice([2**70, -2**70, "0", 1.5, None]),
    "off64": lambda r: r.choice([2**70, -2**70, "0", 1.5, None]),
    "mode": lambda r: r.choice([-1, 2**70, "0644", None]),
    "dev": lambda r: r.choice([-1, 2**70, "0", None]),
    "xattrop_flags": lambda r: r.choice(["1", 2**70, None]),
    "entrylk_cmd": lambda r: r.choice(["1", 2**70, None]),
    "entrylk_type": lambda r: r.choice(["1", 2**70, None]),
    "seek_what": lambda r: r.choice(["1", 2**70, None]),
    "flock": lambda r: r.choice([None, "lock", 0, object()]),
    "statvfs": lambda r: r.choice(["statvfs", 0, object()]),
    "dirents": _junk_dirents,
    "data": _junk_data,
    "checksum": lambda r: r.choice([b"short", "x" * 32, 5]),
    "lease": lambda r: r.choice(["lease", 0, object()]),
    "locklist": lambda r: r.choice([["junk"], None, "locks", [LockInfo(flock="not a flock")]]),
}


def junk_for(kind: str, rng: random.Random) -> Any:
    """A value of the wrong type (or out of range) for an argument or reply field of `kind`."""
    return _JUNK[kind](rng)


# ---------------------------------------------------------------- helpers of the misbehaviours


def _wind(t: "Chaos", case: Case, args: tuple | None = None) -> Any:
    """The awaitable of this FOP on the first child, with `args` (default: the FOP's own)."""
    return getattr(t.child, case.fop.name)(*(case.args if args is None else args))


_SUBCLASSES: dict[type, type] = {}


def _subclass_of(cls: type) -> type:
    """A subclass of a reply class: the same fields, but not exactly the class the bridge expects."""
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = _SUBCLASSES[cls] = type("Sneaky" + cls.__name__, (cls,), {"__slots__": ()})
    return sub


def _touch(obj: Any) -> None:
    """Read and write into a native object after the FOP it came with has ended (a careless
    cache does this); each access may legitimately raise, none may crash the process."""
    if obj is None or isinstance(obj, (int, str, bytes)):
        return
    if isinstance(obj, list):
        for item in obj[:4]:
            _touch(getattr(item, "stat", None))
            _touch(getattr(item, "inode", None))
            _touch(getattr(item, "xdata", None))
        return
    for attempt in (
        lambda: bytes(memoryview(obj)[:16]),        # Buffer: the data of a finished readv
        lambda: obj.size,                            # Iatt
        lambda: setattr(obj, "size", 4242),          # Iatt
        lambda: obj.gfid,                            # Inode, Iatt
        lambda: obj.inode,                           # Fd
        lambda: list(obj.keys()),                    # Xdata
        lambda: obj.__setitem__("glupy.chaos.late", b"too late"),  # Xdata
    ):
        try:
            attempt()
        except Exception:  # noqa: BLE001 - "this object is gone" is a fine answer
            pass


def _mutate(reply: Any, rng: random.Random) -> None:
    """Change a reply that was returned long ago: its nested objects, then its slots."""
    for name in getattr(type(reply), "fields", ()):
        try:
            _touch(getattr(reply, name))
        except Exception:  # noqa: BLE001
            pass
        try:
            setattr(reply, name, rng.choice(["mutated", None, 7, object()]))
        except Exception:  # noqa: BLE001
            pass
    try:
        reply.op_ret, reply.op_errno = -5, -1
    except Exception:  # noqa: BLE001
        pass


# ---------------------------------------------------------------- returns


@_misbehaviour("returns")
async def return_none(t: "Chaos", case: Case) -> Any:
    """Winds, then returns None (an empty success), which most FOPs cannot carry (no Iatt, no fd, ...)."""
    await _wind(t, case)
    return None


@_misbehaviour("returns")
async def return_junk(t: "Chaos", case: Case) -> Any:
    """Returns something that is not a reply at all."""
    return case.rng.choice([
        lambda: 0, lambda: -1, lambda: "success", lambda: {"op_ret": 0, "op_errno": 0}, lambda: object(),
        lambda: [1, 2, 3], lambda: _never_awaited(), lambda: _Hostile(), lambda: case.args,
    ])()


@_misbehaviour("returns")
async def return_unawaited_wind(t: "Chaos", case: Case) -> Any:
    """``return self.child.<fop>(...)``: the forgotten await, which is a tail call (the FOP goes
    on to the child and its reply back to the caller, never into Python)."""
    return _wind(t, case)


@_misbehaviour("returns")
async def return_other_reply(t: "Chaos", case: Case) -> Any:
    """Returns another FOP's reply class, or a subclass of the right one with the child's fields."""
    if case.rng.random() < 0.5:
        reply = await _wind(t, case)
        sneaky = _subclass_of(type(reply)).__new__(_subclass_of(type(reply)))
        for name in type(reply).fields + ("op_ret", "op_errno"):
            setattr(sneaky, name, getattr(reply, name))
        return sneaky
    other = case.rng.choice([f for f in FOPS if f.name != case.fop.name])
    return REPLIES[other.name]()


@_misbehaviour("returns")
async def return_partial(t: "Chaos", case: Case) -> Any:
    """The right class built with ``cls.__new__``, only some of its slots (op_ret too) set."""
    reply = await _wind(t, case)
    cls = type(reply)
    slots = list(cls.fields) + ["op_ret", "op_errno"]
    keep = [s for s in slots if case.rng.random() < 0.5]
    if len(keep) == len(slots):
        keep.remove(case.rng.choice(slots))
    new = cls.__new__(cls)
    for s in keep:
        setattr(new, s, getattr(reply, s))
    return new


@_misbehaviour("returns")
async def return_wrong_types(t: "Chaos", case: Case) -> Any:
    """The child's reply with one field (or op_ret/op_errno) of the wrong type."""
    reply = copy_reply(await _wind(t, case))
    fields = case.fop.py_reply
    if not fields or case.rng.random() < 0.15:
        which = case.rng.choice(["op_ret", "op_errno"])
        setattr(reply, which, case.rng.choice(["0", 0.0, None, b"\0", object()]))
        return reply
    field = case.rng.choice(fields)
    setattr(reply, field.name, junk_for(field.kind, case.rng))
    return reply


@_misbehaviour("returns")
async def return_bad_dirents(t: "Chaos", case: Case) -> Any:
    """Entries of the right type whose names no kernel accepts (empty, with '/' or NUL, too long,
    '.' twice); for FOPs without entries, the FOP's reply with junk in every field instead."""
    reply = copy_reply(await _wind(t, case))
    lists = [a for a in case.fop.py_reply if a.kind == "dirents"]
    if not lists:
        for a in case.fop.py_reply:
            setattr(reply, a.name, junk_for(a.kind, case.rng))
        return reply
    name = case.rng.choice(["", "a/b", "nul\0inside", "n" * 5000, ".", "..", "\udcff"])
    entries = list(reply.entries) + [Dirent(name, off=len(reply.entries) + 1), Dirent(".", off=10**15)]
    reply.entries = entries
    reply.op_ret = len(entries)
    return reply


@_misbehaviour("returns")
async def return_inconsistent(t: "Chaos", case: Case) -> Any:
    """op_ret that disagrees with what the reply carries: readv op_ret 10**6 with 3 bytes,
    readdir op_ret 50 with one entry, writev op_ret beyond the data, 10**6 elsewhere."""
    name = case.fop.name
    if name == "readv":
        await _wind(t, case)
        return glupy.ReadvReply(data=b"abc", buf=None, op_ret=10**6)
    reply = copy_reply(await _wind(t, case))
    if name in ("readdir", "readdirp"):
        reply.entries = list(reply.entries)[:1]
        reply.op_ret = 50
    elif name == "writev":
        reply.op_ret = len(case.args[1]) + 10**6
    else:
        reply.op_ret = 10**6
    return reply


@_misbehaviour("returns")
async def return_bad_numbers(t: "Chaos", case: Case) -> Any:
    """op_ret/op_errno no caller can make sense of: -5 with errno 0, errno -1, 10**12 or 4096,
    op_ret 2**40, op_ret -2**40, op_ret True."""
    reply = copy_reply(await _wind(t, case))
    reply.op_ret, reply.op_errno = case.rng.choice([
        (-5, 0), (-1, 0), (-1, -1), (-1, 10**12), (-1, 4096), (-1, 2**31 - 1),
        (2**40, 0), (-2**40, _errno.EIO), (True, 0),
    ])
    return reply


@_misbehaviour("returns")
async def return_mutated_later(t: "Chaos", case: Case) -> Any:
    """Returns the child's reply and keeps it; changes the replies kept earlier (fields rebound,
    nested Iatt/Xdata/Buffer/Inode/Fd objects read and written after their FOP ended)."""
    with t._lock:
        earlier = list(t._kept_replies)
        t._kept_replies.clear()
    for old in earlier:
        _mutate(old, case.rng)
    reply = await _wind(t, case)
    with t._lock:
        t._kept_replies.append(reply)
    return reply


@_misbehaviour("returns")
async def return_same_twice(t: "Chaos", case: Case) -> Any:
    """The same reply object for two FOPs of one kind: the first time it is returned and kept,
    the next time (after winding that FOP too) it is returned again."""
    reply = await _wind(t, case)
    with t._lock:
        old = t._returned.pop(case.fop.name, None)
        if old is None:
            t._returned[case.fop.name] = reply
    return reply if old is None else old


# ---------------------------------------------------------------- raises


@_misbehaviour("raises")
async def raise_zero_division(t: "Chaos", case: Case) -> Any:
    """The classic bug: ZeroDivisionError."""
    average_over = 0
    return case.number / average_over


@_misbehaviour("raises")
async def raise_custom(t: "Chaos", case: Case) -> Any:
    """A custom Exception subclass with a long message."""
    raise _tag(CarelessError(f"chaos case #{case.number} on {case.fop.name}: " + "blah " * 200))


@_misbehaviour("raises")
async def raise_unprintable(t: "Chaos", case: Case) -> Any:
    """An exception whose str() and repr() raise: logging it must not fail the answer."""
    raise _tag(_UnprintableError())


@_misbehaviour("raises")
async def raise_fop_error_zero(t: "Chaos", case: Case) -> Any:
    """FopError(0): "fail with no error"."""
    raise _tag(glupy.FopError(0))


@_misbehaviour("raises")
async def raise_fop_error_negative(t: "Chaos", case: Case) -> Any:
    """FopError with a negative errno (-EIO, as C code returns it)."""
    raise _tag(glupy.FopError(case.rng.choice([-1, -_errno.EIO, -2**31])))


@_misbehaviour("raises")
async def raise_fop_error_huge(t: "Chaos", case: Case) -> Any:
    """FopError(10**12) (and errnos beyond the kernel's 4095 that fit an int32)."""
    raise _tag(glupy.FopError(case.rng.choice([10**12, 4096, 2**31 - 1]), "an errno no kernel knows"))


@_misbehaviour("raises")
async def raise_fop_error_not_int(t: "Chaos", case: Case) -> Any:
    """A FopError whose errno was replaced by something that is not an int."""
    exc = glupy.FopError(_errno.EIO)
    exc.errno = case.rng.choice(["EIO", None, 5.0, object()])
    raise _tag(exc)


@_misbehaviour("raises")
async def raise_fop_error_valid(t: "Chaos", case: Case) -> Any:
    """A valid FopError(ENOENT): the one exception the caller must see as itself."""
    raise _tag(glupy.FopError(_errno.ENOENT))


@_misbehaviour("raises")
async def raise_after_wind(t: "Chaos", case: Case) -> Any:
    """Winds (the child does the work), then raises: the caller gets EIO for a FOP that happened."""
    await _wind(t, case)
    raise _tag(CarelessError("failed after the child had done the work"))


@_misbehaviour("raises")
async def raise_stop_iteration(t: "Chaos", case: Case) -> Any:
    """StopIteration inside a coroutine (Python turns it into RuntimeError)."""
    raise _tag(StopIteration("stop"))


@_misbehaviour("raises")
async def raise_recursion(t: "Chaos", case: Case) -> Any:
    """Real unbounded recursion: RecursionError, on whatever thread GlusterFS runs the FOP."""
    def down(n: int) -> int:
        return down(n + 1) + 1
    return down(0)


@_misbehaviour("raises")
async def raise_keyboard_interrupt(t: "Chaos", case: Case) -> Any:
    """KeyboardInterrupt (a BaseException)."""
    raise _tag(KeyboardInterrupt())


@_misbehaviour("raises")
async def raise_system_exit(t: "Chaos", case: Case) -> Any:
    """SystemExit: must not exit the GlusterFS process."""
    raise _tag(SystemExit(3))


@_misbehaviour("raises")
async def end_the_process(t: "Chaos", case: Case) -> Any:
    """"Exit on error": ``os._exit(3)``, ``os.abort()`` or a SIGKILL, SIGSEGV or SIGTERM to its own
    process or thread (in a GlusterFS daemon, refused with PermissionError; in the in-process harness,
    where nothing refuses it, SystemExit is raised instead)."""
    import signal

    from glupy import _process

    if not _process.GUARDED:
        raise _tag(SystemExit(3))
    end = case.rng.choice([lambda: os._exit(3), os.abort, lambda: os.kill(os.getpid(), signal.SIGKILL),
                           lambda: os.kill(os.getpid(), signal.SIGSEGV), lambda: os.kill(0, signal.SIGTERM),
                           lambda: os.kill(threading.get_native_id(), signal.SIGKILL)])
    end()
    raise AssertionError("the process did not end and nothing refused it")


@_misbehaviour("raises")
async def raise_generator_exit(t: "Chaos", case: Case) -> Any:
    """GeneratorExit raised from inside a running coroutine."""
    raise _tag(GeneratorExit())


@_misbehaviour("raises")
async def raise_base_exception(t: "Chaos", case: Case) -> Any:
    """A custom BaseException subclass, which ``except Exception`` does not catch."""
    raise _tag(ChaosBaseException(f"chaos case #{case.number}"))


# ---------------------------------------------------------------- winds


@_misbehaviour("winds")
async def wind_wrong_count(t: "Chaos", case: Case) -> Any:
    """``self.child.<fop>(...)`` with too many or no arguments (TypeError in the handler)."""
    method = getattr(t.child, case.fop.name)
    args = case.rng.choice([case.args + (None, None), ()])
    return await method(*args)


@_misbehaviour("winds")
async def wind_wrong_types(t: "Chaos", case: Case) -> Any:
    """``self.child.<fop>(...)`` with one argument of a wrong type or out of its C range
    (a bytes for a Loc, an int for an Fd, 2**70 for an offset, data that is not bytes-like)."""
    args = list(case.args)
    i = case.rng.randrange(len(args))
    args[i] = junk_for(case.fop.py_args[i].kind, case.rng)
    return await _wind(t, case, tuple(args))


@_misbehaviour("winds")
async def wind_raw_bad(t: "Chaos", case: Case) -> Any:
    """A Wind built by hand: a wrong argument count, an unknown FOP number, another FOP's number
    with these arguments, or a target that is not a child."""
    Wind = _driver.Wind
    fop_id = FOP_ID[case.fop.name]
    kinds = [a.kind for a in case.fop.py_args]
    same_shape = [f for f in FOPS if f.name != case.fop.name and [a.kind for a in f.py_args] == kinds]
    variant = case.rng.choice(["count", "number", "other", "target"])
    if variant == "count":
        wind = Wind(t.child.xlator, fop_id, case.args[:-1] if case.args else (None,))
    elif variant == "number" or (variant == "other" and not same_shape):
        wind = Wind(t.child.xlator, case.rng.choice([0, -1, 9999, 2**31 - 1]), case.args)
    elif variant == "other":
        wind = Wind(t.child.xlator, FOP_ID[case.rng.choice(same_shape).name], case.args)
    else:
        wind = Wind(case.rng.choice([object(), None, "posix", t]), fop_id, case.args)
    return await wind


@_misbehaviour("winds")
async def wind_bad_lk_owner(t: "Chaos", case: Case) -> Any:
    """A lock owner that is empty, longer than GlusterFS's 1024 bytes, or not bytes at all
    (``bytes(12345)`` is 12345 zero bytes)."""
    owner = case.rng.choice([b"", b"x" * 2000, 12345, "not bytes", object()])
    return await getattr(t.child, case.fop.name)(*case.args, lk_owner=owner)


@_misbehaviour("winds")
async def wind_stale_args(t: "Chaos", case: Case) -> Any:
    """Winds with the arguments (Loc, Fd, Xdata, ...) of an earlier FOP of the same kind, kept
    past its end (the first time: keeps these and passes the FOP on)."""
    with t._lock:
        old = t._kept_args.pop(case.fop.name, None)
        if old is None:
            t._kept_args[case.fop.name] = case.args
    return await _wind(t, case, old)


@_misbehaviour("winds")
async def wind_twice(t: "Chaos", case: Case) -> Any:
    """Winds the FOP twice, one after the other, and returns the second reply (a create's second
    wind fails EEXIST after the first made the file)."""
    await _wind(t, case)
    return await _wind(t, case)


@_misbehaviour("winds")
async def await_foreign(t: "Chaos", case: Case) -> Any:
    """Awaits something that is not a glupy operation: asyncio.sleep(0), or an awaitable
    yielding an arbitrary object."""
    if case.rng.random() < 0.5:
        await asyncio.sleep(0)
    else:
        await _Foreign(case.rng.choice([None, 42, "wind", object(), _wind(t, case).args]))
    return await _wind(t, case)


@_misbehaviour("winds")
async def gather_junk(t: "Chaos", case: Case) -> Any:
    """``glupy.gather`` of the FOP's wind and something that is neither a wind nor a coroutine."""
    results = await glupy.gather(_wind(t, case), case.rng.choice([42, None, "x", object()]))
    return results[0]


@_misbehaviour("winds")
async def await_thread_error(t: "Chaos", case: Case) -> Any:
    """``await glupy.to_thread(fn)`` where fn raises (or, where glupy has no to_thread, a
    to_thread of something that is not callable): the exception comes back into the handler
    and out of it."""
    if not hasattr(glupy, "to_thread"):
        t._count("await_thread_error.unavailable")
        return await _wind(t, case)
    if case.rng.random() < 0.8:
        await glupy.to_thread(lambda: {}["no such key"])
    else:
        await glupy.to_thread(case.rng.choice([42, None, "not callable"]))
    return await _wind(t, case)


@_misbehaviour("winds")
async def await_loop_error(t: "Chaos", case: Case) -> Any:
    """``await glupy.on_loop(coro)`` where coro raises, or of something that is not awaitable."""
    if not hasattr(glupy, "on_loop"):
        t._count("await_loop_error.unavailable")
        return await _wind(t, case)

    async def fails() -> None:
        await asyncio.sleep(0)
        raise _tag(CarelessError("raised on the event loop"))
    await glupy.on_loop(fails() if case.rng.random() < 0.8 else case.rng.choice([42, None, "x"]))
    return await _wind(t, case)


# ---------------------------------------------------------------- blocking


@_misbehaviour("blocking")
async def block_sleep(t: "Chaos", case: Case) -> Any:
    """``time.sleep(block_seconds)`` on the FOP's thread, then passes the FOP on."""
    time.sleep(t.block_seconds)
    return await _wind(t, case)


@_misbehaviour("blocking")
async def block_spin(t: "Chaos", case: Case) -> Any:
    """A busy CPU loop (holding the GIL, but for the interpreter's switches) for block_seconds,
    then passes the FOP on."""
    end = time.monotonic() + t.block_seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return await _wind(t, case)


@_misbehaviour("blocking")
async def block_hang(t: "Chaos", case: Case) -> Any:
    """Never finishes: awaits ``glupy.sleep(10**9)``. Without glupy.sleep (not in this glupy)
    it counts ``block_hang.unavailable`` and passes the FOP on."""
    if not hasattr(glupy, "sleep"):
        t._count("block_hang.unavailable")
        return await _wind(t, case)
    await glupy.sleep(10**9)
    return await _wind(t, case)


@_misbehaviour("blocking")
async def hang_on_loop(t: "Chaos", case: Case) -> Any:
    """Never finishes: ``await glupy.on_loop(asyncio.Future())``, a future nobody resolves
    (passes the FOP on, counting ``hang_on_loop.unavailable``, where glupy has no on_loop)."""
    if not hasattr(glupy, "on_loop"):
        t._count("hang_on_loop.unavailable")
        return await _wind(t, case)

    async def forever() -> None:
        await asyncio.get_running_loop().create_future()
    await glupy.on_loop(forever())
    return await _wind(t, case)


# ---------------------------------------------------------------- the translator


def _valid_modes(text: str) -> bool:
    parse_modes(text)  # ValueError names the unknown mode
    return True


class Chaos(glupy.Translator):
    """Misbehaves in every way a careless translator author could (see the module doc)."""

    seed = glupy.Option(int, default=0, doc="seed of the random decisions; a new one restarts the sequence")
    rate = glupy.Option(float, default=0.1, min=0.0, max=1.0, doc="probability that a FOP misbehaves")
    modes = glupy.Option(str, default=",".join(DEFAULT_FAMILIES), validate=_valid_modes,
                         doc="families (returns, raises, winds, blocking; all) and/or misbehaviour names")
    block_seconds = glupy.Option(float, default=1.0, min=0.0, doc="how long block_sleep and block_spin block")
    armed = glupy.Option(bool, default=True, doc="off: every FOP passes on (arm live with the glupy.chaos.armed xattr)")
    log_decisions = glupy.Option(bool, default=False, doc="log one line per spoiled FOP")

    #: how many decisions :attr:`history` keeps
    HISTORY = 4096

    def init(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.history: deque[tuple[int, str, str]] = deque(maxlen=self.HISTORY)
        self._kept_replies: deque[Any] = deque(maxlen=16)
        self._returned: dict[str, Any] = {}
        self._kept_args: dict[str, tuple] = {}
        self._armed_override: bool | None = None
        self._configure(reseed=True)

    def _configure(self, *, reseed: bool) -> None:
        with self._lock:
            self._enabled = parse_modes(self.modes)
            if reseed:
                self._rng = random.Random(self.seed)
                self._numbers = itertools.count()

    def reconfigure(self, changed: Any) -> None:
        self._configure(reseed="seed" in changed)
        if "armed" in changed:
            self._armed_override = None

    def fini(self) -> None:
        # drop what was kept across FOPs (native objects hold references into GlusterFS)
        with self._lock:
            self._kept_replies.clear()
            self._returned.clear()
            self._kept_args.clear()

    # ---- what tests read

    @property
    def counts(self) -> dict[str, int]:
        """{name: count}: ``fops`` (seen), ``passed``, each family and each misbehaviour chosen,
        and ``block_hang.unavailable``."""
        with self._lock:
            return dict(self._counts)

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the misbehaviours ``modes`` enables."""
        return tuple(m.name for m in self._enabled)

    @property
    def is_armed(self) -> bool:
        return self.armed if self._armed_override is None else self._armed_override

    def statedump(self) -> dict[str, Any]:
        counts = self.counts
        return {f"count.{k}": v for k, v in sorted(counts.items())}

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    # ---- deciding

    def _decide(self, fop: Fop, args: tuple) -> Case | None:
        """One draw per FOP (when armed): None to pass the FOP on, else the Case to run."""
        if not self.is_armed:
            return None
        with self._lock:
            number = next(self._numbers)
            self._counts["fops"] += 1
            if not self._enabled or self._rng.random() >= self.rate:
                self._counts["passed"] += 1
                return None
            behaviour = self._rng.choice(self._enabled)
            case_rng = random.Random(self._rng.getrandbits(64))
            self._counts[behaviour.family] += 1
            self._counts[behaviour.name] += 1
            self.history.append((number, fop.name, behaviour.name))
        if self.log_decisions:
            self.log.info("chaos #%d %s: %s", number, fop.name, behaviour.name)
        return Case(number, fop, args, case_rng, behaviour)

    async def _chaos(self, fop: Fop, args: tuple) -> Any:
        case = self._decide(fop, args)
        if case is None:
            return await getattr(self.child, fop.name)(*args)
        return await case.behaviour.run(self, case)

    # ---- the control xattrs (answered here, never spoiled)

    async def setxattr(self, loc: Any, dict: Any, flags: int, xdata: Any) -> Any:
        """Arms or disarms on ``glupy.chaos.armed`` (value 1/0); any other setxattr may be spoiled."""
        if dict is not None and ARMED_XATTR in dict:
            value = dict[ARMED_XATTR]
            text = (value.decode(errors="replace") if isinstance(value, (bytes, bytearray)) else str(value))
            text = text.rstrip("\0").strip().lower()
            if text not in ("1", "0", "on", "off", "true", "false", "yes", "no"):
                raise glupy.FopError(_errno.EINVAL)
            with self._lock:
                self._armed_override = text in ("1", "on", "true", "yes")
            self.log.info("chaos %s", "armed" if self._armed_override else "disarmed")
            return None
        return await self._chaos(_SETXATTR, (loc, dict, flags, xdata))

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        """Answers ``glupy.chaos.counts`` (JSON); any other getxattr may be spoiled."""
        if name == COUNTS_XATTR:
            value = json.dumps(self.counts, sort_keys=True).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self._chaos(_GETXATTR, (loc, name, xdata))


_SETXATTR = next(f for f in FOPS if f.name == "setxattr")
_GETXATTR = next(f for f in FOPS if f.name == "getxattr")


def _handler(fop: Fop) -> Callable[..., Any]:
    async def handler(self: Chaos, *args: Any) -> Any:
        return await self._chaos(fop, args)

    handler.__name__ = handler.__qualname__ = fop.name
    handler.__doc__ = f"{fop.name}: passed on unchanged, or spoiled (probability `rate`)."
    return handler


for _fop in FOPS:
    if _fop.name not in vars(Chaos):
        setattr(Chaos, _fop.name, _handler(_fop))


def misbehaviours_of(families: Iterable[str]) -> list[str]:
    """Names of the misbehaviours of the given families, in definition order."""
    wanted = set(families)
    return [m.name for m in MISBEHAVIOURS.values() if m.family in wanted]


def set_armed(mountpoint: str | os.PathLike, armed: bool, attempts: int = 100) -> None:
    """Arm or disarm the Chaos of a FUSE client through its control xattr on the mount's root.

    Chaos answers the setxattr itself, but the kernel first refreshes the root's
    attributes (GlusterFS mounts with default_permissions, attribute timeout 0),
    which fuse-bridge sends as a lookup of the root that Chaos may spoil: retry. A spoiled
    lookup fails with whatever errno Chaos chose (EIO for most misbehaviours, any valid
    errno for a raised FopError: ESTALE, ENOENT...), so every errno is retried."""
    for attempt in range(attempts):
        try:
            os.setxattr(mountpoint, ARMED_XATTR, b"1" if armed else b"0")
            return
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
