"""The API translator authors write against: Translator, Child, Option."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, ClassVar, Generic, Iterable, Mapping, TypeVar, overload

from glupy import types as _types
from glupy._driver import Wind, current_frame
from glupy.errors import OptionError
from glupy.fop_table import FOP_ID, FOPS, KINDS

T = TypeVar("T")

_TRUE = {"on", "yes", "true", "enable", "1"}
_FALSE = {"off", "no", "false", "disable", "0"}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "K": 1 << 10, "MB": 1 << 20, "M": 1 << 20,
               "GB": 1 << 30, "G": 1 << 30, "TB": 1 << 40, "T": 1 << 40}


class Size(int):
    """An option type: a byte count written as 4096, 64KB, 1MB, 2GB (GlusterFS's units, powers of 1024)."""


def parse_bool(text: str) -> bool:
    v = text.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use on/off, yes/no, true/false, enable/disable, 1/0)")


def parse_size(text: str) -> Size:
    v = text.strip().upper().replace(" ", "")
    number = v.rstrip("BKMGT")
    unit = v[len(number):]
    if unit not in _SIZE_UNITS or not number:
        raise ValueError(f"{text!r} is not a size (e.g. 4096, 64KB, 1MB)")
    try:
        return Size(int(float(number) * _SIZE_UNITS[unit]))
    except ValueError:
        raise ValueError(f"{text!r} is not a size (e.g. 4096, 64KB, 1MB)") from None


_PARSERS: dict[type, Callable[[str], Any]] = {bool: parse_bool, Size: parse_size, int: int, float: float, str: str}

_REQUIRED: Any = object()


class Option(Generic[T]):
    """A translator option, declared as a class attribute.

    ``ttl = Option(float, default=5.0, min=0, doc="seconds a miss is cached")``
    becomes the volfile option ``ttl`` (underscores become dashes in the key) and
    reads as ``self.ttl``. Values from GlusterFS are text; they are parsed with the
    type (int, float, bool, str, Size, or any callable taking a str) and checked
    against min, max, choices and validate. A bad value fails the translator's
    init, or a reconfigure (which then keeps the old values), with a clear error.
    """

    def __init__(self, type: Callable[[str], T] = str, default: Any = _REQUIRED, *, doc: str = "",
                 key: str | None = None, min: float | None = None, max: float | None = None,
                 choices: Iterable[Any] | None = None, validate: Callable[[T], Any] | None = None,
                 reconfigurable: bool = True) -> None:
        self.type = type
        self.default = default
        self.doc = doc
        self.key = key
        self.min = min
        self.max = max
        self.choices = tuple(choices) if choices is not None else None
        self.validate = validate
        self.reconfigurable = reconfigurable
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name
        if self.key is None:
            self.key = name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def parse(self, text: Any) -> T:
        """Turn a volfile value into a checked Python value; OptionError if it is bad."""
        if isinstance(text, (bytes, bytearray)):
            # GlusterFS keeps volfile values as untyped data, NUL-terminated
            text = bytes(text).rstrip(b"\0").decode("utf-8", "surrogateescape")
        try:
            if isinstance(text, str):
                value = _PARSERS.get(self.type, self.type)(text)  # type: ignore[arg-type]
            else:
                value = text
            self.check(value)
        except OptionError:
            raise
        except (ValueError, TypeError) as error:
            raise OptionError(f"option {self.key}: {error}") from None
        return value

    def check(self, value: Any) -> None:
        if self.min is not None and value < self.min:
            raise OptionError(f"option {self.key}: {value!r} is less than the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise OptionError(f"option {self.key}: {value!r} is more than the maximum {self.max}")
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"option {self.key}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.validate is not None:
            try:
                ok = self.validate(value)
            except (ValueError, TypeError) as error:
                raise OptionError(f"option {self.key}: {error}") from None
            if ok is False:
                raise OptionError(f"option {self.key}: {value!r} is not valid")

    @overload
    def __get__(self, obj: None, owner: type) -> Option[T]: ...
    @overload
    def __get__(self, obj: Any, owner: type) -> T: ...

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        try:
            return obj._glupy_values[self.attr]
        except (AttributeError, KeyError):
            if self.required:
                raise AttributeError(f"option {self.key} has no value yet") from None
            return self.default

    def describe(self) -> str:
        type_name = getattr(self.type, "__name__", str(self.type))
        default = "required" if self.required else f"default {self.default!r}"
        return f"{self.key} ({type_name}, {default}){': ' + self.doc if self.doc else ''}"


def _make_child_method(fop: Any) -> Callable[..., Wind]:
    names = [a.name for a in fop.py_args]
    params = ", ".join(f"{n}=None" if n == "xdata" else n for n in names)
    fop_id = FOP_ID[fop.name]
    args = f"({', '.join(names)}{',' if len(names) == 1 else ''})"
    src = (f"def {fop.name}(self, {params}, *, lk_owner=None):\n"
           f"    if lk_owner is None:\n"
           f"        return Wind(self.xlator, {fop_id}, {args})\n"
           f"    return Wind(self.xlator, {fop_id}, {args}, bytes(lk_owner))\n")
    ns: dict[str, Any] = {"Wind": Wind}
    exec(src, ns)
    fn = ns[fop.name]
    fn.__doc__ = (f"Wind {fop.name} to this child: ``await child.{fop.name}({', '.join(names)})`` "
                  f"returns its {fop.reply_class} or raises FopError. {fop.doc} "
                  f"With ``lk_owner=b'...'`` it goes on a frame of the translator's own carrying that "
                  f"lock owner (locks a translator takes for itself).")
    fn.__annotations__ = {a.name: KINDS[a.kind].pytype for a in fop.py_args}
    return fn


class Child:
    """A child (subvolume) of a translator. Each FOP is a method returning an awaitable.

    ``reply = await self.child.lookup(loc, xdata)``
    """

    __slots__ = ("xlator", "index")

    def __init__(self, xlator: Any, index: int) -> None:
        self.xlator = xlator
        self.index = index

    @property
    def name(self) -> str:
        """The child's name in the volfile."""
        return self.xlator.name

    @property
    def type(self) -> str:
        """The child's translator type, e.g. ``protocol/client``."""
        return self.xlator.type

    def __repr__(self) -> str:
        return f"<Child {self.index} {self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Child) and other.xlator == self.xlator

    def __hash__(self) -> int:
        return hash(self.xlator)


def _fast_child_method(fop: Any, method: Callable[..., Wind]) -> Any:
    """Inside GlusterFS, the bridge's C version of a Child method: the common call (the
    FOP's arguments by position, xdata may be left out) makes its Wind without a Python
    frame; any other call runs `method` (its ``__wrapped__``)."""
    native = sys.modules.get("glupy._glupy")
    if native is None or not hasattr(native, "child_method"):
        return method
    names = [a.name for a in fop.py_args]
    return native.child_method(method, Child, FOP_ID[fop.name], len(names), bool(names) and names[-1] == "xdata")


for _fop in FOPS:
    setattr(Child, _fop.name, _fast_child_method(_fop, _make_child_method(_fop)))

#: names a Translator subclass may define that are not FOP handlers
HOOKS = ("init", "fini", "reconfigure", "notify", "statedump", "forget", "release", "releasedir")



#: how far refers_back looks into a context: levels of containers and attributes, and objects in all
_CTX_LOOK_DEPTH = 4
_CTX_LOOK_OBJECTS = 10_000


def _refers_back(value: Any, inode: Any = None, fd: Any = None) -> str | None:
    """Where `value` (a context about to be stored) holds the object it is stored for, or None.

    The inode or fd holds its contexts, so a context holding it back (the fd itself, the
    inode's Inode, a Loc naming it, an Fd open on it) is a cycle through GlusterFS's
    reference counts that Python's garbage collector cannot see: the fd is never
    released and the inode never forgotten (a brick kept every file a translator had
    stored ``Holder(fd)`` for open, unlinked ones too, until it ran out of fds). Looks
    through tuples, lists, sets, dicts and objects' attributes, _CTX_LOOK_DEPTH levels
    deep and _CTX_LOOK_OBJECTS objects at most; GlusterFS objects held deeper, and other
    inodes (a directory's context holding its children's, whose entries hold their
    parent), are not found."""
    try:
        return _look_for(value, inode, fd)
    except Exception:  # noqa: BLE001 - an object that cannot be looked into (its attributes raise) is stored as it is
        return None


def _look_for(value: Any, target_inode: Any, fd: Any) -> str | None:
    inode_t, fd_t, loc_t = _types.Inode, _types.Fd, _types.Loc
    todo: list[tuple[Any, str, int]] = [(value, "the context", 0)]
    seen: set[int] = set()
    while todo and len(seen) < _CTX_LOOK_OBJECTS:
        obj, where, depth = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        kind = type(obj)
        if kind is fd_t:
            if (fd is not None and obj == fd) or (target_inode is not None and obj.inode == target_inode):
                return where
            continue
        if kind is inode_t:
            if target_inode is not None and obj == target_inode:
                return where
            continue
        if kind is loc_t:
            if target_inode is not None and target_inode in (obj.inode, obj.parent):
                return where
            continue
        if depth >= _CTX_LOOK_DEPTH or kind in (str, bytes, int, float, bool, type(None)):
            continue
        if kind in (tuple, list, set, frozenset):
            todo.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(obj))
        elif kind is dict:
            for key, item in obj.items():
                todo.append((key, f"{where} key {key!r:.40}", depth + 1))
                todo.append((item, f"{where}[{key!r:.40}]", depth + 1))
        else:
            attrs = getattr(obj, "__dict__", None)
            if type(attrs) is dict:
                todo.extend((item, f"{where}.{name}", depth + 1) for name, item in attrs.items())
            for name in getattr(kind, "__slots__", ()):
                if isinstance(name, str) and hasattr(obj, name):
                    todo.append((getattr(obj, name, None), f"{where}.{name}", depth + 1))
    return None


class Translator:
    """Base class of Python translators.

    Override ``async def <fop>(self, ...)`` for the FOPs the translator handles (see
    docs/fops.md for each signature); every other FOP passes to the first child in
    C without entering Python. A handler returns a reply (a child's, or one it builds
    from :mod:`glupy.replies`), returns None for an empty success reply, or raises
    :class:`glupy.FopError`. Any other exception answers EIO and logs a traceback.

    Set up before :meth:`init` runs: ``self.name`` (the volfile name),
    ``self.children``, ``self.child`` (the first child, or None), ``self.log``
    (a logger writing to the GlusterFS log) and the option values.
    """

    options: ClassVar[dict[str, Option[Any]]] = {}

    #: True (on the class, or set in init()): lookups without a name (a
    #: revalidation of a known inode by gfid, e.g. FUSE's getattr of the root,
    #: which it turns into a lookup) go to the first child in C and never reach
    #: ``lookup``; only lookups of a name in a parent directory do. For translators
    #: that only care about names; it saves entering Python for the rest.
    named_lookups_only: bool = False

    #: True (on the class, or set in init()): as named_lookups_only, and also
    #: lookups of a name the client already holds an inode for (revalidations:
    #: the name is known to exist) go to the first child in C; ``lookup`` sees
    #: only fresh lookups, of names this client has not resolved yet.
    fresh_lookups_only: bool = False

    #: A :class:`glupy.MissingNames` (set in init()): the bridge answers a fresh
    #: lookup of a name in it ENOENT without entering Python, and drops a name
    #: from it when a revalidation of that name comes by. The translator fills it
    #: (from its ``lookup``, which it must define) and empties it. For
    #: negative-lookup caching at the speed of C (glupy.translators.negative).
    missing_names: Any = None

    #: Where the translator belongs in a client graph when ``glupy attach`` (client
    #: side) or ``glupy mount --with`` gets no ``--after``: None, right under the top
    #: (io-stats); ``"cluster"``, directly above the volume's topmost cluster
    #: translator (dht), below every performance translator: for translators that
    #: must see every FOP the volume gets, unchanged by caches (crypt). Any other
    #: value names a translator of the graph, as ``--after`` does.
    placement: ClassVar[str | None] = None

    #: For a client-side translator that must never be bypassed (crypt): the xdata
    #: key it marks its data FOPs with (its child a ``glupy.translators.guard.
    #: MarkedChild``). ``glupy attach --side client`` then also attaches
    #: ``glupy.translators.guard`` to the bricks, which refuses data FOPs without
    #: the key: a client whose graph lacks the translator gets EACCES.
    bypass_guard: ClassVar[str | None] = None

    name: str
    children: list[Child]
    child: Child
    log: logging.Logger

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Option[Any]] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Option):
                    found[value.key] = value  # type: ignore[index]
        cls.options = found

    # ---- lifecycle hooks

    def init(self) -> None:
        """Called once the translator is set up, before any FOP. Raise to fail init."""

    def fini(self) -> None:
        """Called when the graph is torn down."""

    def reconfigure(self, changed: Mapping[str, tuple[Any, Any]]) -> None:
        """Called after `gluster volume set` changed options: {key: (old, new)}; new values are already set."""

    # notify(self, event: Event, source: Child | None) -> bool | Event | None
    #   Define it to see GlusterFS events (CHILD_UP, CHILD_DOWN, ...). Return False
    #   to stop the event from going on to the parents, or another Event to pass
    #   that on instead (a cluster translator turning its children's states into
    #   its own: e.g. CHILD_UP once one child is up) if it goes the same way with
    #   the same kind of data (see docs/threading.md); anything else passes it on.

    def statedump(self) -> Mapping[str, Any]:
        """Entries for `gluster volume statedump`; the default shows the option values."""
        return {}

    # forget(self, ctx), release(self, ctx), releasedir(self, ctx)
    #   Define them to be told when an inode or fd with a context set by this
    #   translator goes away; the context's reference is dropped right after.

    # ---- per-inode and per-fd context

    def inode_ctx(self, inode: Any) -> Any:
        """The Python object this translator stored for an inode, or None."""
        return self._glupy_xlator.inode_ctx_get(inode)

    def set_inode_ctx(self, inode: Any, value: Any) -> None:
        """Store a Python object for an inode (None clears it); dropped when GlusterFS forgets the inode.
        A context that holds the inode itself (its Inode, a Loc or Fd of it) is refused with
        ValueError: the inode could never be forgotten (see :func:`_refers_back`)."""
        if value is not None and (where := _refers_back(value, inode=inode)):
            raise ValueError(f"set_inode_ctx: the context holds the inode it is set on ({where}): the inode would "
                             "never be forgotten; keep its gfid instead")
        self._glupy_xlator.inode_ctx_set(inode, value)

    def fd_ctx(self, fd: Any) -> Any:
        """The Python object this translator stored for an fd, or None."""
        return self._glupy_xlator.fd_ctx_get(fd)

    def set_fd_ctx(self, fd: Any, value: Any) -> None:
        """Store a Python object for an open fd (None clears it); dropped when the fd is released.
        A context that holds the fd itself is refused with ValueError: the fd could never be
        released (see :func:`_refers_back`)."""
        if value is not None and (where := _refers_back(value, fd=fd)):
            raise ValueError(f"set_fd_ctx: the context holds the fd it is set on ({where}): the fd would never be "
                             "released (on a brick: its file stays open, an unlinked file's space is never freed)")
        self._glupy_xlator.fd_ctx_set(fd, value)

    # ---- the caller

    @property
    def caller(self) -> Any:
        """Who made the FOP being handled (uid, gid, groups, pid, lk_owner, client)."""
        frame = current_frame()
        if frame is None:
            raise RuntimeError("caller is only known inside a FOP handler")
        return frame

    # ---- set-up, used by the runtime

    def _glupy_setup(self, xlator: Any, options: Mapping[str, Any]) -> None:
        from glupy.loader import check_identity

        # the module the volume was attached with, or none at all: never other code
        check_identity(type(self), options.get("identity"))
        self._glupy_xlator = xlator
        self.name = xlator.name
        self.children = [Child(x, i) for i, x in enumerate(xlator.children)]
        self.child = self.children[0] if self.children else None  # type: ignore[assignment]
        self.log = logging.getLogger(f"glupy.{self.name}")
        self._glupy_values = self._glupy_parse(options, initial=True)

    @classmethod
    def _glupy_parse(cls, options: Mapping[str, Any], *, initial: bool) -> dict[str, Any]:
        """Parse and check volfile options into {attribute: value}."""
        unknown = sorted(k for k in options if k not in cls.options and k not in BRIDGE_OPTIONS)
        if unknown:
            known = ", ".join(sorted(cls.options)) or "none"
            raise OptionError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                              f"(options of {cls.__module__}.{cls.__qualname__}: {known})")
        values = {}
        for key, opt in cls.options.items():
            if key in options:
                values[opt.attr] = opt.parse(options[key])
            elif opt.required:
                raise OptionError(f"option {key} is required: {opt.describe()}")
            else:
                values[opt.attr] = opt.default
        return values


#: options of the bridge itself, not of the Python class
BRIDGE_OPTIONS = frozenset({"module", "class", "pass-through", "fop-timeout", "init-timeout", "memory-limit",
                            "identity", "generation"})


def is_fop_handler(cls: type, name: str) -> bool:
    """True if the class (not Translator itself) defines a handler for FOP `name`."""
    return name in FOP_ID and any(name in vars(k) for k in cls.__mro__ if k is not Translator and k is not object)


_F = TypeVar("_F", bound=Callable[..., Any])


def observer(method: _F) -> _F:
    """Make a FOP method an observer: it sees the FOP, it does not handle it.

    ``@glupy.observer def writev(self, fd, data, offset, flags, xdata, reply): ...`` is
    called with the FOP's arguments and, last, the reply its first child gave (a failure
    too: ``reply.op_ret < 0``). The FOP goes to the child and the reply to the caller
    unchanged, in C, without waiting for Python: inside GlusterFS the observer runs
    later, on one glupy thread that runs every observer of the process in the order
    the replies came (a few milliseconds behind, several at a time), with
    ``self.caller`` telling who asked. What it returns is ignored; what it
    raises is logged (rate-limited). It is a plain ``def``: it cannot await, and one
    that blocks delays the observers after it, never a FOP. In the in-process harness
    it runs before the caller gets the reply.
    """
    method._glupy_observer = True  # type: ignore[attr-defined]
    return method


def is_observer(cls: type, name: str) -> bool:
    """True if the class's method for FOP `name` is an observer (see :func:`observer`)."""
    return is_fop_handler(cls, name) and getattr(getattr(cls, name, None), "_glupy_observer", False)

