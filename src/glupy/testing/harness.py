"""An in-process harness: Python translators over a local directory, no GlusterFS daemons.

The harness builds a translator graph the way the native bridge does
(``cls.__new__``, ``_glupy_setup(xlator, options)``, ``__init__()``, ``init()``:
:mod:`glupy.lifecycle`, shared with the bridge), runs every FOP through the real
task driver (:mod:`glupy._driver`), and answers at the bottom with
:class:`PosixBackend`, a Python stand-in for ``storage/posix`` (plus the
in-memory locks of ``features/locks``) on a local directory.

The harness has a small synchronous client that behaves like a FUSE mount
(``h.client``, a :class:`Client` as uid 0; :meth:`Client.as_user` makes others;
its calls are offered on the harness too: ``h.create`` is ``h.client.create``).
Each call gets a fresh :class:`~glupy.Caller` (the client's credentials),
resolves its path with one lookup per component (keeping an inode table, so one
file is one :class:`~glupy.Inode` object while it is referenced), opens, reads or
writes, flushes and releases fds, and forgets inodes that are gone::

    from glupy.testing.harness import Harness
    from glupy.translators.passthrough import Passthrough

    with Harness(tmp_path, Passthrough) as h:
        h.create("/hello", b"hi")
        assert h.read("/hello") == b"hi"
        h.reconfigure("passthrough", pass_through="on")

A FOP a translator does not override falls through to its first child, like the
C default. Cluster translators get several children with :meth:`Harness.graph`.

Differences from GlusterFS are listed in :data:`DIFFERENCES`.

Where the parts live (every public name is importable from this module too):

* this module: :class:`Harness` (the graph, winds, deadlines, events, options,
  reload, teardown), :class:`XlatorNode` and :class:`Node`;
* :mod:`glupy.testing.client`: :class:`Client`, :class:`File`, ``InodeTable``
  (the FUSE-like mount; the harness has a root client, ``h.client``);
* :mod:`glupy.testing.posix_backend`: :class:`PosixBackend`;
* :mod:`glupy.testing.kinds`: the type checks of wind arguments and replies;
* :mod:`glupy.testing.common`: what those share (``HarnessError``, ``ROOT_GFID``...).
"""

from __future__ import annotations

import copy
import errno
import itertools
import logging
import queue
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Concatenate, Generic, Mapping, ParamSpec, Sequence, TypeVar, Union, overload

from glupy import _driver, lifecycle
from glupy._validate import check_against_request
from glupy import _pytypes as T
from glupy.constants import Event, FileType
from glupy.errors import FopError
from glupy.fop_table import FOP_ID
from glupy.loader import resolve
from glupy.replies import REPLY_BY_ID, LookupReply, copy_reply
from glupy.testing.client import Client, File, InodeTable
from glupy.testing.common import FOP_NAME, ROOT_GFID, HarnessError, error_reply, gfid_to_ino
from glupy.testing.kinds import check_arg_types, check_reply_types
from glupy.testing.posix_backend import PosixBackend
from glupy.translator import Translator, parse_bool
from glupy.types import Dirent, LockInfo, entry_key

__all__ = ["Harness", "Client", "File", "Node", "PosixBackend", "XlatorNode", "HarnessError", "ROOT_GFID",
           "DIFFERENCES", "gfid_to_ino"]

#: Where the harness knowingly differs from a GlusterFS volume.
DIFFERENCES = """\
* One thread: a child answers inside the wind (never PENDING). Blocking locks
  (SETLKW, ENTRYLK_LOCK) that conflict fail with EAGAIN instead of waiting.
* No kernel caches: every client call looks each path component up again, so a
  translator sees more lookups (and stat for every stat()) than under FUSE with
  entry/attribute timeouts; reads and writes are never served from a page cache.
* PosixBackend resolves a Loc by gfid (inode FOPs) or parent gfid + name (entry
  FOPs) like the server does, but falls back to Loc.path where GlusterFS would
  fail with ESTALE/EINVAL; gfids live in memory (keyed by st_dev/st_ino), not in
  trusted.gfid xattrs and .glusterfs handles.
* Permission checks (as features/access-control does on bricks) are the basic
  owner/group/other bits for callers other than root; no ACLs, no sticky bit.
* put, icreate, namelink, ipc, getspec, lease, getactivelk and setactivelk answer
  ENOSYS. Inode/entry locks are in memory and per PosixBackend; lk is advisory
  and in memory too.
* Inode objects are the harness's own: GlusterFS's inode table is per process
  (client and each brick), the harness has one, shared by all translators.
"""

# ============================================================ the graph


# XlatorNode stays in this module: a translator tells the harness from GlusterFS by
# ``type(self._glupy_xlator).__module__ == "glupy.testing.harness"`` (a dry run).
class XlatorNode:
    """The handle a Python translator gets as its xlator (what the bridge's native Xlator provides).

    ``name``, ``type``, ``children``, ``options`` (volfile text), ``inode_ctx_get/set``
    and ``fd_ctx_get/set`` (kept in dicts). ``instance`` is the translator object,
    ``handlers`` its FOP handlers by GF_FOP number, ``seen`` a Counter of the FOPs
    that reached this node (handled or falling through).
    """

    def __init__(self, cls: type[Translator], name: str, options: Mapping[str, str],
                 children: Sequence[Any]) -> None:
        self.cls = cls
        self.name = name
        self.type = "user/glupy"
        self.options = dict(options)
        self.children = list(children)
        self.parents: list[Any] = []
        self.instance: Translator | None = None
        self.handlers: dict[int, Any] = {}
        self.inode_ctx: dict[int, tuple[Any, Any]] = {}
        self.fd_ctx: dict[int, tuple[Any, Any]] = {}
        self.seen: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<XlatorNode {self.name} ({self.cls.__module__}.{self.cls.__qualname__})>"

    # the native Xlator's context API
    def inode_ctx_get(self, inode: Any) -> Any:
        entry = self.inode_ctx.get(id(inode))
        return entry[1] if entry is not None and entry[0] is inode else None

    def inode_ctx_set(self, inode: Any, value: Any) -> None:
        if not isinstance(inode, T.Inode):
            raise TypeError("inode_ctx_set(inode, value)")
        if value is None:
            self.inode_ctx.pop(id(inode), None)
        else:
            self.inode_ctx[id(inode)] = (inode, value)

    def fd_ctx_get(self, fd: Any) -> Any:
        entry = self.fd_ctx.get(id(fd))
        return entry[1] if entry is not None and entry[0] is fd else None

    def fd_ctx_set(self, fd: Any, value: Any) -> None:
        if not isinstance(fd, T.Fd):
            raise TypeError("fd_ctx_set(fd, value)")
        if value is None:
            self.fd_ctx.pop(id(fd), None)
        else:
            self.fd_ctx[id(fd)] = (fd, value)

    @property
    def pass_through(self) -> bool:
        value = self.options.get("pass-through")
        return bool(value) and parse_bool(str(value))


TranslatorSpec = Union[type, str, tuple]
ChildSpec = Union["Node", PosixBackend, Path, str]


@dataclass
class Node:
    """One translator of a graph spec: ``Node(cls, {"opt": "value"}, children=[...], name=None)``.

    ``cls`` is a Translator subclass or a ``"module:Class"`` string (as in a volfile's
    ``option module``). Children are Nodes, :class:`PosixBackend` objects, or paths
    (each becomes a PosixBackend).
    """

    cls: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    children: Sequence[Any] = ()
    name: str | None = None


def _spec_to_node(spec: Any, children: Sequence[Any]) -> Node:
    if isinstance(spec, Node):
        return spec if not children else Node(spec.cls, spec.options, list(children), spec.name)
    if isinstance(spec, tuple):
        if not 1 <= len(spec) <= 3:
            raise HarnessError(f"a translator is cls, (cls, options) or (cls, options, name), not {spec!r}")
        cls = spec[0]
        options = spec[1] if len(spec) > 1 else {}
        name = spec[2] if len(spec) > 2 else None
        return Node(cls, options or {}, list(children), name)
    return Node(spec, {}, list(children))


def _option_text(value: Any) -> str:
    """A volfile value: GlusterFS hands translators text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


# ============================================================ around a handler
# What the bridge does before a handler runs (the lookup filter) and after it
# answers or misses its deadline; the harness's wind and _run use these.

_LOOKUP = FOP_ID["lookup"]


#: before_lookup's answer for a lookup the bridge winds to the first child in C
PASS_IN_C = "pass in C"


def before_lookup(instance: Any, loc: Any, xdata: Any) -> Any:
    """What the bridge does with a lookup before `instance`'s handler sees it (the
    specification of bridge.c's gp_lookup_before_python): a LookupReply when it
    answers ENOENT from ``missing_names``; PASS_IN_C when the translator declared
    it does not want the lookup (``named_lookups_only``, ``fresh_lookups_only``);
    None when the handler runs."""
    missing = getattr(instance, "missing_names", None)
    named_only = getattr(instance, "named_lookups_only", False)
    fresh_only = getattr(instance, "fresh_lookups_only", False)
    if missing is None and not named_only and not fresh_only:
        return None
    key = entry_key(loc)
    known = loc is not None and loc.inode is not None and loc.inode.gfid is not None
    if missing is not None and key is not None:
        if known:
            missing.discard(*key)
        else:
            answered, postparent = missing.answer(*key, list(xdata.keys()) if xdata else ())
            if answered:
                return LookupReply(postparent=postparent, op_ret=-1, op_errno=errno.ENOENT)
    if (key is None and (named_only or fresh_only)) or (known and fresh_only):
        return PASS_IN_C
    return None


def _fop_timeout(node: "XlatorNode") -> float:
    """The translator's option fop-timeout in seconds (0: none), as the bridge reads it."""
    try:
        value = float(node.options.get("fop-timeout", FOP_TIMEOUT_DEFAULT))
    except ValueError:
        value = FOP_TIMEOUT_DEFAULT
    return value if value > 0 else 0.0


#: the bridge's default fop-timeout (native/glupy.h GP_FOP_TIMEOUT_DEFAULT)
FOP_TIMEOUT_DEFAULT = 60.0


def snapshot_reply(reply: Any) -> Any:
    """A copy of a reply as the bridge's unwind would give it to the caller: its
    attribute structures and data copied, inodes and fds the same objects."""
    new = copy_reply(reply)
    for name in type(reply).fields:
        value = getattr(new, name)
        if isinstance(value, (T.Iatt, T.Statvfs, T.Flock, T.Lease)):
            setattr(new, name, copy.copy(value))
        elif isinstance(value, (bytearray, memoryview)):
            setattr(new, name, bytes(value))
        elif isinstance(value, list):
            setattr(new, name, [copy.copy(e) if isinstance(e, (Dirent, LockInfo)) else e for e in value])
        elif isinstance(value, T.Xdata):
            setattr(new, name, value.copy())
    return new


_Logged = tuple[str, str, BaseException]


class _Answer:
    """The driver-facing receiver of one handler's answer (a Backend's unwind half)."""

    __slots__ = ("harness", "args", "callback", "reply", "done", "expired")

    def __init__(self, harness: "Harness", args: tuple) -> None:
        self.harness = harness
        self.args = args
        self.callback: Callable[[Any], None] | None = None
        self.reply: Any = None
        self.done = False
        self.expired = False

    def expire(self, fop: int) -> None:
        """The FOP's deadline (option fop-timeout) passed: answer ETIMEDOUT; the
        handler's late answer is then dropped, as the bridge drops it."""
        self.unwind(None, fop, -1, errno.ETIMEDOUT, None)
        self.expired = True

    def unwind(self, frame: Any, fop: int, op_ret: int, op_errno: int, reply: Any) -> None:
        if self.expired:
            return
        if self.done:
            raise HarnessError(f"{FOP_NAME[fop]} answered twice")
        if reply is None:
            reply = REPLY_BY_ID[fop](op_ret=op_ret, op_errno=op_errno)
        else:
            check_reply_types(fop, reply)
            # what the caller receives is what the reply was now: the bridge converts it
            # to C here, so a handler changing it later changes nothing for the caller
            reply = snapshot_reply(reply)
            reply.op_ret, reply.op_errno = op_ret, op_errno
            check_against_request(fop, self.args, reply)
        self.done = True
        self.reply = reply
        if self.callback is not None:
            self.callback(reply)

    def log_exception(self, domain: str, context: str, exc: BaseException) -> None:
        self.harness.log_exception(domain, context, exc)

    def wind(self, frame: Any, child: Any, fop: int, args: tuple, callback: Callable[[Any], None],
             lk_owner: bytes | None = None) -> Any:
        """A tail call's wind (the handler returned a wind unawaited): the harness's."""
        return self.harness.wind(frame, child, fop, args, callback, lk_owner)

    @property
    def log_limiter(self) -> _driver.LogLimiter:
        return self.harness.log_limiter


# ============================================================ the harness

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _OnRootClient(Generic[_P, _R]):
    """A :class:`Client` method offered on the harness: ``h.create(...)`` is
    ``h.client.create(...)``. A descriptor typed as the method it stands for, so a
    type checker and help() see the Client's signature and docstring."""

    def __init__(self, method: Callable[Concatenate[Client, _P], _R]) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, harness: None, owner: type) -> "_OnRootClient[_P, _R]": ...

    @overload
    def __get__(self, harness: "Harness", owner: type) -> Callable[_P, _R]: ...

    def __get__(self, harness: "Harness | None", owner: type) -> Any:
        if harness is None:
            return self
        return self.method.__get__(harness.client, Client)  # the root client's bound method


class Harness:
    """A graph of Python translators over :class:`PosixBackend`, driven in-process.

    ``Harness(root, A, (B, {"opt": "1"}), C)`` stacks A over B over C over
    ``PosixBackend(root)`` (translators top-down; each a class, a ``"module:Class"``
    string, ``(cls, options)`` or ``(cls, options, name)``). ``root`` may also be a
    PosixBackend. For several children use :meth:`graph`.

    The harness has a root client, ``client`` (a :class:`Client` as uid 0), and
    offers every public Client method itself: ``h.create``, ``h.read``, ``h.stat``...
    are ``h.client.create``...; ``h.as_user(uid, gid)`` gives a client with other
    credentials on the same graph and inode table.

    Attributes: ``client``, ``nodes`` (name -> :class:`XlatorNode` or PosixBackend),
    ``top``, ``itable`` (the mount's inode table, shared by its clients), ``logged``
    (tracebacks the bridge would have written to the GlusterFS log: (domain,
    context, exception)).
    """

    def __init__(self, root: Path | str | PosixBackend, *translators: TranslatorSpec,
                 name_prefix: str = "", start: bool = True) -> None:
        backend = root if isinstance(root, PosixBackend) else PosixBackend(root)
        node: Any = backend
        for spec in reversed(translators):
            node = _spec_to_node(spec, [node])
        self._build(node, name_prefix, start)

    @classmethod
    def graph(cls, top: TranslatorSpec | Node, children: Sequence[ChildSpec] = (), *,
              start: bool = True) -> "Harness":
        """A harness over any graph: ``Harness.graph(top=(Mirror, opts), children=[PosixBackend(d1), d2])``.

        Children may be Nodes (to nest further), PosixBackend objects or paths.
        """
        self = cls.__new__(cls)
        self._build(_spec_to_node(top, list(children)), "", start)
        return self

    # ---- building

    def _build(self, spec: Any, prefix: str, start: bool) -> None:
        self.client = Client(self)
        self._unique = itertools.count(1)
        self.nodes: dict[str, Any] = {}
        self.logged: list[_Logged] = []
        self.log_limiter = _driver.LogLimiter()  # the rate of logged tracebacks, as in the bridge
        self._posted: queue.SimpleQueue = queue.SimpleQueue()  # handlers to resume (Backend.post)
        self.fop_timeout = 30.0  # seconds the harness waits for any FOP (past its translators' fop-timeout)
        self._deadlines: list[tuple[float, float, _Answer, int, str]] = []  # FOPs pending in a handler
        self.itable = InodeTable(self)
        self._open: dict[int, T.Fd] = {}
        self.closed = False
        self.started = False
        self._backend_seen: dict[str, Counter[str]] = {}
        self.top = self._make(spec, prefix)
        self.backends = [n for n in self.nodes.values() if isinstance(n, PosixBackend)]
        self._init(self.top, set())
        if start:
            self.start()

    def _unique_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.nodes:
            n += 1
            name = f"{base}-{n}"
        return name

    def _make(self, spec: Any, prefix: str) -> Any:
        if isinstance(spec, (str, Path)) and not (isinstance(spec, str) and ":" in spec):
            spec = PosixBackend(spec)
        if isinstance(spec, PosixBackend):
            if spec.name in self.nodes and self.nodes[spec.name] is not spec:
                spec.name = self._unique_name(spec.name)
            self.nodes[spec.name] = spec
            return spec
        if not isinstance(spec, Node):
            spec = _spec_to_node(spec, [])
        cls = spec.cls
        if isinstance(cls, str):
            cls = resolve(cls)
        if not (isinstance(cls, type) and issubclass(cls, Translator)):
            raise HarnessError(f"{cls!r} is not a glupy.Translator subclass")
        if not spec.children:
            raise HarnessError(f"{cls.__qualname__} has no children: give it a PosixBackend or a directory")
        children = [self._make(c, prefix) for c in spec.children]
        name = spec.name or self._unique_name(prefix + cls.__name__.lower())
        if name in self.nodes:
            raise HarnessError(f"two translators are named {name}")
        node = XlatorNode(cls, name, {k: _option_text(v) for k, v in dict(spec.options).items()}, children)
        for c in children:
            c.parents.append(node)
        self.nodes[name] = node
        return node

    def _init(self, node: Any, done: set[int]) -> None:
        """Children first, as GlusterFS's xlator_init_rec does; then what the bridge's create() does."""
        if id(node) in done or isinstance(node, PosixBackend):
            return
        done.add(id(node))
        for c in node.children:
            self._init(c, done)
        started = lifecycle.start(node, node.cls, node.options)
        node.instance = started.instance
        node.handlers = started.handlers

    def start(self) -> None:
        """PARENT_UP top-down, then CHILD_UP from every PosixBackend upwards; then the root lookup."""
        if self.started:
            return
        self.started = True
        self._parent_event(Event.PARENT_UP)
        for b in self.backends:
            self.notify(Event.CHILD_UP, b)
        self.client.lookup("/")

    # ---- the root client's calls, on the harness (Client's public methods, all of them)

    as_user = _OnRootClient(Client.as_user)
    frame = _OnRootClient(Client.frame)
    loc = _OnRootClient(Client.loc)
    fop = _OnRootClient(Client.fop)
    # namespace
    lookup = _OnRootClient(Client.lookup)
    exists = _OnRootClient(Client.exists)
    stat = _OnRootClient(Client.stat)
    access = _OnRootClient(Client.access)
    statfs = _OnRootClient(Client.statfs)
    mkdir = _OnRootClient(Client.mkdir)
    mknod = _OnRootClient(Client.mknod)
    symlink = _OnRootClient(Client.symlink)
    readlink = _OnRootClient(Client.readlink)
    link = _OnRootClient(Client.link)
    unlink = _OnRootClient(Client.unlink)
    rmdir = _OnRootClient(Client.rmdir)
    rename = _OnRootClient(Client.rename)
    truncate = _OnRootClient(Client.truncate)
    chmod = _OnRootClient(Client.chmod)
    chown = _OnRootClient(Client.chown)
    utime = _OnRootClient(Client.utime)
    # data
    open = _OnRootClient(Client.open)
    opendir = _OnRootClient(Client.opendir)
    create = _OnRootClient(Client.create)
    write = _OnRootClient(Client.write)
    read = _OnRootClient(Client.read)
    # directories and xattrs
    readdir = _OnRootClient(Client.readdir)
    listdir = _OnRootClient(Client.listdir)
    setxattr = _OnRootClient(Client.setxattr)
    getxattr = _OnRootClient(Client.getxattr)
    listxattr = _OnRootClient(Client.listxattr)
    removexattr = _OnRootClient(Client.removexattr)

    # ---- access

    def __getitem__(self, name: str) -> Any:
        """The translator instance named `name` (or the PosixBackend)."""
        node = self.nodes[name]
        return node.instance if isinstance(node, XlatorNode) else node

    def translator(self, name: str | None = None) -> Any:
        """The top translator instance, or the one named `name`."""
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name or 'the top'} is not a Python translator")
        return node.instance

    def seen(self, name: str | None = None) -> Counter[str]:
        """FOPs that reached the node `name` (default: the top), handled or falling through."""
        node = self.top if name is None else self.nodes[name]
        return node.seen if isinstance(node, XlatorNode) else self._backend_seen.setdefault(node.name, Counter())

    # ---- the driver's backend

    def wind(self, frame: Any, child: Any, fop: int, args: tuple, callback: Callable[[Any], None],
             lk_owner: bytes | None = None) -> Any:
        """Backend.wind: deliver FOP `fop` to `child` (an XlatorNode or a PosixBackend); with
        `lk_owner`, on a copy of the frame carrying that lock owner (copy_frame in GlusterFS)."""
        if self.closed:
            raise HarnessError("the harness is closed")
        if lk_owner is not None:
            if not isinstance(lk_owner, bytes) or not 1 <= len(lk_owner) <= 1024:
                raise ValueError("lk_owner must be 1 to 1024 bytes")
            frame = copy.copy(frame)
            frame.lk_owner = lk_owner
        check_arg_types(fop, args)
        name = FOP_NAME[fop]
        node = child
        while isinstance(node, XlatorNode):
            node.seen[name] += 1
            handler = node.handlers.get(fop)
            if handler is not None and not node.pass_through:
                early = before_lookup(node.instance, *args) if fop == _LOOKUP else None
                if early is None:
                    return self._run(frame, node, fop, handler, args, callback)
                if early is not PASS_IN_C:
                    return early
            if not node.children:
                return error_reply(fop, errno.ENOSYS)
            node = node.children[0]  # the C default: wind to FIRST_CHILD
        if not isinstance(node, PosixBackend):
            raise HarnessError(f"cannot wind {name} to {node!r}")
        self._backend_seen.setdefault(node.name, Counter())[name] += 1
        return node.dispatch(frame, fop, args)

    def _run(self, frame: Any, node: XlatorNode, fop: int, handler: Any, args: tuple,
             callback: Callable[[Any], None]) -> Any:
        ans = _Answer(self, args)
        domain = node.name
        try:
            coro = handler(*args)
        except BaseException as error:  # noqa: BLE001
            _driver.answer(ans, frame, fop, None, error, domain)
        else:
            if not hasattr(coro, "send"):
                _driver.answer(ans, frame, fop, coro, None, domain)
            else:
                _driver.Task(self, frame, fop, coro, domain,
                             done=lambda result, error: _driver.answer(ans, frame, fop, result, error, domain)
                             ).step(None, None)
        if ans.done:
            return ans.reply
        ans.callback = callback
        timeout = _fop_timeout(node)
        if timeout > 0:
            self._deadlines.append((time.monotonic() + timeout, timeout, ans, fop, node.name))
        return _driver.PENDING

    def _expire(self) -> None:
        """Answer ETIMEDOUT the pending FOPs whose translator's fop-timeout has passed."""
        now = time.monotonic()
        due, pending = [], []
        for d in self._deadlines:
            (due if d[0] <= now or d[2].done else pending).append(d)
        self._deadlines = pending
        for _, timeout, ans, fop, name in due:
            if not ans.done:
                self.log_exception(name, f"{FOP_NAME[fop]}: the handler did not answer within {timeout:g} s "
                                   f"(option fop-timeout): answered ETIMEDOUT",
                                   TimeoutError(f"{FOP_NAME[fop]} missed its deadline"))
                ans.expire(fop)

    def unwind(self, frame: Any, fop: int, op_ret: int, op_errno: int, reply: Any) -> None:
        """Backend.unwind: unused (every task the harness starts has its own receiver)."""
        raise HarnessError("unwind without a receiver")

    def log_exception(self, domain: str, context: str, exc: BaseException) -> None:
        """Backend.log_exception: keep it in ``logged`` and log it (logger ``glupy.<domain>``)."""
        self.logged.append((domain, context, exc))
        name = domain if domain.startswith("glupy") else f"glupy.{domain}"
        logging.getLogger(name).error("%s", context, exc_info=(type(exc), exc, exc.__traceback__))

    def post(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Backend.post: handlers resume on the thread that called the harness (from
        glupy.sleep, to_thread, on_loop), as they resume on the bridge's workers."""
        self._posted.put((fn, arg))

    def _top_call(self, frame: Any, fop: str, args: tuple) -> Any:
        fop_id = FOP_ID[fop]
        for arg in args:  # as the bridge marks the Locs GlusterFS gives (see kinds.check_loc)
            if isinstance(arg, T.Loc):
                arg.given_with = fop_id
        result: list[Any] = []
        reply = self.wind(frame, self.top, fop_id, tuple(args), result.append)
        if reply is _driver.PENDING:
            deadline = time.monotonic() + self.fop_timeout
            while not result:
                self._expire()
                if result:
                    break
                now = time.monotonic()
                if now >= deadline:
                    raise HarnessError(f"{fop} was not answered within {self.fop_timeout} s (a handler waits "
                                       f"for something that never comes)")
                wake = min([deadline] + [d[0] for d in self._deadlines])
                try:
                    fn, arg = self._posted.get(timeout=max(0.0, wake - now))
                except queue.Empty:
                    continue
                fn(arg)
            reply = result[0]
        if isinstance(reply, BaseException):
            raise reply
        if reply.op_ret < 0:
            raise FopError(reply.op_errno, reply=reply)
        return reply

    # ---- fds and inodes

    def _opened(self, fd: T.Fd) -> None:
        self._open[id(fd)] = fd
        self.itable.open_fds[id(fd.inode)] += 1

    def _release(self, fd: T.Fd, directory: bool) -> None:
        """fd_destroy: release/releasedir on every translator with an fd ctx, then the backends close."""
        hook_name = "releasedir" if directory else "release"
        for node in self.nodes.values():
            if isinstance(node, XlatorNode):
                entry = node.fd_ctx.pop(id(fd), None)
                if entry is not None and entry[0] is fd:
                    hook = getattr(node.instance, hook_name, None)
                    if hook is not None:
                        self._call_hook(node, hook_name, hook, entry[1])
            else:
                node.release(fd)
        if self._open.pop(id(fd), None) is not None:
            inode = fd.inode
            self.itable.open_fds[id(inode)] -= 1
            if self.itable.open_fds[id(inode)] <= 0:
                del self.itable.open_fds[id(inode)]
                self.itable._maybe_forget(inode)

    def _forget_ctx(self, inode: T.Inode) -> None:
        for node in self.nodes.values():
            if isinstance(node, XlatorNode):
                entry = node.inode_ctx.pop(id(inode), None)
                if entry is not None and entry[0] is inode:
                    hook = getattr(node.instance, "forget", None)
                    if hook is not None:
                        self._call_hook(node, "forget", hook, entry[1])

    def _call_hook(self, node: XlatorNode, what: str, hook: Callable[..., Any], *args: Any) -> Any:
        try:
            return hook(*args)
        except Exception as exc:  # noqa: BLE001 - the bridge logs hook failures and goes on
            self.log_exception(node.name, f"{what} failed", exc)
            return None

    def forget(self, path: str) -> None:
        """Forget the inode of `path` (as when the kernel drops it from its cache)."""
        self.itable.forget(self.client.lookup(path).inode)

    def forget_all(self) -> int:
        """Forget every inode but the root and those with open fds; how many were forgotten."""
        return self.itable.forget_all()

    # ---- events and options

    def _deliver(self, node: XlatorNode, event: Event, source: Any) -> Event | None:
        """Call the node's notify; the event that goes on (None: stopped), as in the bridge:
        False stops it, another Event replaces it, anything else passes it on."""
        if getattr(node.instance, "notify", None) is None:
            return event
        result = self._call_hook(node, "notify", lifecycle.notify, node.instance, event, source)
        passed = lifecycle.passed_on(event, result)
        return None if passed is None else Event(passed)

    def _parent_event(self, event: Event) -> None:
        seen: set[int] = set()

        def down(node: Any, source: Any) -> None:
            if not isinstance(node, XlatorNode):
                return
            first = id(node) not in seen
            seen.add(id(node))
            if self._deliver(node, event, source) is not None and first:
                for c in node.children:
                    down(c, node)

        down(self.top, None)

    def notify(self, event: Event | int | str, source: Any = None) -> None:
        """Inject an event. CHILD_UP, CHILD_DOWN, ... travel up from `source` (a PosixBackend, its
        name, or a translator name; default: the first PosixBackend) through every parent that
        does not stop them (notify returning False; one returning another Event passes that on).
        PARENT_UP/PARENT_DOWN travel down from the top."""
        if isinstance(event, str):
            event = Event[event.upper()]
        event = Event(event)
        if event in (Event.PARENT_UP, Event.PARENT_DOWN):
            self._parent_event(event)
            return
        if source is None:
            source = self.backends[0]
        elif isinstance(source, str):
            source = self.nodes[source]

        def up(node: Any, event: Event) -> None:
            for parent in node.parents:
                passed = self._deliver(parent, event, node)
                if passed is not None:
                    up(parent, passed)

        up(source, event)

    def reconfigure(self, name: str | None = None, options: Mapping[str, Any] | None = None, **kw: Any) -> dict:
        """Change options of translator `name` (default: the top) like `gluster volume set`.

        Keywords use underscores for dashes (``pass_through="on"``). The new set is the
        current options updated with these; it is parsed with the class's Options and
        the translator's reconfigure hook runs, as in GlusterFS. A bad value raises
        OptionError and keeps the old values. Returns {key: (old, new)}.
        """
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name} is not a Python translator")
        new_options = dict(node.options)
        for k, v in {**dict(options or {}), **kw}.items():
            new_options[k.replace("_", "-") if k not in (options or {}) else k] = _option_text(v)
        changed = lifecycle.reconfigure(node.instance, new_options)
        node.options = new_options
        return changed

    def reload(self, name: str | None = None, cls: type[Translator] | None = None,
               options: Mapping[str, Any] | None = None) -> Translator:
        """Switch translator `name` (default: the top) to new code, as `glupy reload` does
        in a volume: `cls`, or by default its class's module imported again from its
        source. The new instance starts with the node's options (updated with
        `options`), then ``migrate(old)`` runs if the class has one; contexts stay.
        A class that fails to import, start or migrate raises and the old instance
        keeps serving. Returns the new instance."""
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name} is not a Python translator")
        old = node.instance
        new_options = {**node.options, **{k: _option_text(v) for k, v in dict(options or {}).items()}}
        if cls is None:
            started = lifecycle.reload(node, type(old).__module__, type(old).__qualname__, old, new_options)
        else:
            started = lifecycle.replace(node, cls, old, new_options)
        node.cls, node.options = type(started.instance), new_options
        node.instance, node.handlers = started.instance, started.handlers
        return started.instance

    def statedump(self, name: str | None = None) -> list[tuple[str, str]]:
        """The entries `gluster volume statedump` shows for translator `name` (default: the top)."""
        node = self.top if name is None else self.nodes[name]
        return lifecycle.statedump(node.instance, node.handlers)

    # ---- teardown

    def close(self) -> None:
        """Release open fds, forget every inode, fini every translator (top-down), close the backends."""
        if self.closed:
            return
        for fd in list(self._open.values()):
            self._release(fd, fd.inode.type == FileType.DIR)
        self.itable.forget_all()
        order: list[XlatorNode] = []

        def walk(node: Any) -> None:
            if isinstance(node, XlatorNode) and node not in order:
                order.append(node)
                for c in node.children:
                    walk(c)

        walk(self.top)
        for node in order:
            if node.instance is not None:
                self._call_hook(node, "fini", node.instance.fini)
        for b in self.backends:
            b.close()
        self.closed = True

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Harness top={getattr(self.top, 'name', self.top)} nodes={list(self.nodes)}>"
