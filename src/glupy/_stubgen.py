"""Type stubs (``.pyi``) for what glupy makes at import time, generated from the FOP table.

:class:`glupy.Child`'s FOP methods and the reply classes of :mod:`glupy.replies`
are created by ``exec`` when the package is imported, so neither an IDE nor a
type checker can see them in the source. This module writes stubs that say what
they are, from the same table the C glue and docs/fops.md come from:

* ``replies.pyi``: one class per FOP, its reply fields with their types, ``op_ret``
  and ``op_errno``;
* ``translator.pyi``: ``Child`` with one method per FOP (the wind's signature,
  returning an awaitable of the FOP's reply class), and the rest of
  :mod:`glupy.translator` as written;
* ``types.pyi``: the classes handlers receive (``Loc``, ``Iatt``, ...), which
  :mod:`glupy.types` picks at run time (native inside GlusterFS, stand-ins elsewhere);
* ``constants.pyi``: :mod:`glupy.constants` as written, but ``Event`` and ``Fop``
  (enums made from the table's numbers) as classes with their members;
* ``__init__.pyi``: the package's names, including those it resolves lazily.

``python -m glupy.fop_table --stubs [DIR]`` (``make stubs``) rewrites them in
``src/glupy``; ``tests/unit/test_stubs.py`` checks that they are fresh and that
mypy's stubtest finds them in agreement with the modules.

A reply field that a successful reply must carry (docs/fops.md, "required on
success") is typed without ``None``: a child's reply that ``await`` returns is a
success (a failure raises :class:`glupy.FopError`), so ``reply.buf.gfid`` needs no
check. Its constructor still accepts ``None``, as at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from glupy.fop_table import EVENTS, FOP_ID, FOPS, KINDS, REQUIRED_ON_SUCCESS, Arg, Fop

HEADER = ("# Generated from src/glupy/fop_table.py by `python -m glupy.fop_table --stubs`"
          " (glupy/_stubgen.py); do not edit.\n")

#: the names of glupy.types a stub may need, in the order they are imported
_TYPE_NAMES = ("Buffer", "Caller", "Dirent", "Fd", "Flock", "Iatt", "Inode", "Lease", "LockInfo", "Loc",
               "Statvfs", "Xdata")

_LIST_KINDS = frozenset({"dirents", "locklist"})


def _strip_none(pytype: str) -> str:
    return pytype.removesuffix(" | None")


def _wind_type(fop: Fop, arg: Arg) -> str:
    """The type a wind takes for `arg`: not None where the translators below need it."""
    pytype = KINDS[arg.kind].pytype
    return _strip_none(pytype) if arg.name in fop.not_none else pytype


def _field_type(fop: Fop, arg: Arg) -> str:
    """The type of a reply field as read: without None where a success must carry it."""
    pytype = KINDS[arg.kind].pytype
    if arg.kind in REQUIRED_ON_SUCCESS or arg.kind in _LIST_KINDS or (fop.name == "readv" and arg.name == "data"):
        return _strip_none(pytype)
    return pytype


def _param_type(arg: Arg) -> str:
    """The type a reply's constructor takes for a field (None always allowed: the default)."""
    pytype = KINDS[arg.kind].pytype
    return pytype if pytype.endswith(" | None") else f"{pytype} | None"


def replies_stub() -> str:
    out = [HEADER, "from typing import Any, ClassVar, TypeVar", "",
           f"from glupy.types import {', '.join(_TYPE_NAMES)}", "",
           '_R = TypeVar("_R")', ""]
    for fop in FOPS:
        out += ["", f"class {fop.reply_class}:",
                f'    """The reply of ``{fop.name}``: {fop.doc} op_ret: {fop.op_ret}."""', "",
                "    fields: ClassVar[tuple[str, ...]]",
                "    fop: ClassVar[str]"]
        out += [f"    {a.name}: {_field_type(fop, a)}" for a in fop.py_reply]
        out += ["    op_ret: int", "    op_errno: int"]
        params = "".join(f", {a.name}: {_param_type(a)} = None" for a in fop.py_reply)
        out.append(f"    def __init__(self{params}, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...")
    out += ["", "",
            "def copy_reply(reply: _R) -> _R: ...", "",
            "REPLIES: dict[str, type[Any]]",
            "REPLY_BY_ID: dict[int, type[Any]]",
            "__all__ = [",
            *(f'    "{f.reply_class}",' for f in FOPS),
            "]"]
    return "\n".join(out) + "\n"


def _child_method(fop: Fop) -> list[str]:
    params = []
    for a in fop.py_args:
        default = " = None" if a.name == "xdata" else ""
        params.append(f"{a.name}: {_wind_type(fop, a)}{default}")
    signature = ", ".join(["self", *params, "*", "lk_owner: bytes | None = None"])
    return [f"    def {fop.name}({signature}) -> Awaitable[{fop.reply_class}]:",
            f'        """Wind {fop.name} to this child: {fop.doc}"""']


_TRANSLATOR_HEAD = '''\
import builtins
import logging
from typing import Any, Awaitable, Callable, ClassVar, Generic, Iterable, Mapping, TypeVar, overload

from typing_extensions import disjoint_base

from glupy.replies import {replies}
from glupy.types import {types}

T = TypeVar("T")
_F = TypeVar("_F", bound=Callable[..., Any])

@disjoint_base
class Size(int): ...

def parse_bool(text: str) -> bool: ...
def parse_size(text: str) -> Size: ...

class Option(Generic[T]):
    type: Callable[[str], T]
    default: Any
    doc: str
    key: str | None
    min: float | None
    max: float | None
    choices: tuple[Any, ...] | None
    validate: Callable[[T], Any] | None
    reconfigurable: bool
    attr: str
    def __init__(self, type: Callable[[str], T] = ..., default: Any = ..., *, doc: str = "",
                 key: str | None = None, min: float | None = None, max: float | None = None,
                 choices: Iterable[Any] | None = None, validate: Callable[[T], Any] | None = None,
                 reconfigurable: bool = True) -> None: ...
    def __set_name__(self, owner: builtins.type, name: str) -> None: ...
    @property
    def required(self) -> bool: ...
    def parse(self, text: Any) -> T: ...
    def check(self, value: Any) -> None: ...
    @overload
    def __get__(self, obj: None, owner: builtins.type) -> Option[T]: ...
    @overload
    def __get__(self, obj: Any, owner: builtins.type) -> T: ...
    def describe(self) -> str: ...

class Child:
    """A child (subvolume) of a translator. Each FOP is a method returning an awaitable
    of the FOP's reply (``reply = await self.child.lookup(loc, xdata)``), which raises
    :class:`glupy.FopError` when the child answers an error."""

    xlator: Any
    index: int
    def __init__(self, xlator: Any, index: int) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
'''

_TRANSLATOR_TAIL = '''
HOOKS: tuple[str, ...]

class Translator:
    """Base class of Python translators: override ``async def <fop>(self, ...)``
    with the signatures of docs/fops.md."""

    options: ClassVar[dict[str, Option[Any]]]
    named_lookups_only: bool
    fresh_lookups_only: bool
    missing_names: Any
    placement: ClassVar[str | None]
    bypass_guard: ClassVar[str | None]
    name: str
    children: list[Child]
    child: Child
    log: logging.Logger
    def __init_subclass__(cls, **kwargs: Any) -> None: ...
    def init(self) -> None: ...
    def fini(self) -> None: ...
    def reconfigure(self, changed: Mapping[str, tuple[Any, Any]]) -> None: ...
    def statedump(self) -> Mapping[str, Any]: ...
    def inode_ctx(self, inode: Inode) -> Any: ...
    def set_inode_ctx(self, inode: Inode, value: Any) -> None: ...
    def fd_ctx(self, fd: Fd) -> Any: ...
    def set_fd_ctx(self, fd: Fd, value: Any) -> None: ...
    @property
    def caller(self) -> Caller: ...

BRIDGE_OPTIONS: frozenset[str]

def is_fop_handler(cls: type, name: str) -> bool: ...
def observer(method: _F) -> _F: ...
def is_observer(cls: type, name: str) -> bool: ...
'''


def translator_stub() -> str:
    used = {"Caller", "Fd", "Inode"}
    for fop in FOPS:
        used.update(re.findall(r"\w+", " ".join(_wind_type(fop, a) for a in fop.py_args)))
    head = _TRANSLATOR_HEAD.format(replies=", ".join(f.reply_class for f in FOPS),
                                   types=", ".join(n for n in _TYPE_NAMES if n in used))
    out = [HEADER, head]
    for fop in FOPS:
        out += _child_method(fop)
    return "\n".join(out) + "\n" + _TRANSLATOR_TAIL


def _struct_class(name: str, doc: str, fields: tuple[str, ...], typed: dict[str, str]) -> list[str]:
    out = [f"class {name}:", f'    """{doc}"""', ""]
    out += [f"    {f}: {typed.get(f, 'int')}" for f in fields if not f.startswith("_")]
    out += ["    def __init__(self, **fields: Any) -> None: ...", "    def copy(self) -> Self: ...",
            "    def __copy__(self) -> Self: ...", ""]
    return out


def types_stub() -> str:
    from glupy import _pytypes

    out = [HEADER, "import uuid", "from dataclasses import dataclass",
           "from typing import Any, Iterable, Iterator, Self", "",
           "from typing_extensions import disjoint_base", "",
           "NATIVE_TYPES: tuple[str, ...]", ""]
    out += _struct_class("Iatt", "File attributes (struct iatt).", _pytypes.Iatt._fields,
                         {"gfid": "uuid.UUID | None"})
    out += ["    mode: int", ""]
    out += _struct_class("Statvfs", "File system statistics (struct statvfs).", _pytypes.Statvfs._fields, {})
    out += _struct_class("Flock", "A POSIX-style lock (struct gf_flock).", _pytypes.Flock._fields,
                         {"owner": "bytes"})
    out += _struct_class("Lease", "A lease (struct gf_lease).", _pytypes.Lease._fields, {"lease_id": "bytes"})
    out.append(_TYPES_REST.rstrip("\n"))
    out.append("")
    from glupy import types

    for cls in (types.Dirent, types.LockInfo, types.Upcall):
        out += _dataclass(cls)
    out += ["def entry_key(loc: Loc | None) -> tuple[Any, str] | None: ...",
            "def native_module() -> Any: ..."]
    return "\n".join(out) + "\n"


#: types of the dataclasses' fields that are annotated Any in glupy.types (it cannot
#: import the native types it names)
_DATACLASS_TYPES = {
    ("Dirent", "stat"): "Iatt | None", ("Dirent", "inode"): "Inode | None", ("Dirent", "xdata"): "Xdata | None",
    ("LockInfo", "flock"): "Flock", ("Upcall", "gfid"): "uuid.UUID",
    ("Upcall", "stat"): "Iatt | None", ("Upcall", "parent_stat"): "Iatt | None",
}


def _dataclass(cls: type) -> list[str]:
    """The stub of a dataclass of glupy.types, from its fields as they are at run time."""
    import dataclasses

    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    out = ["@dataclass" + ("" if params.eq else "(eq=False)"), f"class {cls.__name__}:",
           f'    """{" ".join((cls.__doc__ or "").split(chr(10) * 2)[0].split())}"""', ""]
    for f in dataclasses.fields(cls):
        annotation = _DATACLASS_TYPES.get((cls.__name__, f.name), str(f.type))
        default = "" if f.default is dataclasses.MISSING else f" = {f.default!r}"
        out.append(f"    {f.name}: {annotation}{default}")
    return out + [""]


_TYPES_REST = '''\
class Inode:
    """An inode: identity is the object."""

    gfid: uuid.UUID | None
    type: int
    def __init__(self, gfid: uuid.UUID | None = None, type: int = ...) -> None: ...
    @property
    def is_root(self) -> bool: ...

class Fd:
    """An open file or directory."""

    inode: Inode
    flags: int
    pid: int
    anonymous: bool
    def __init__(self, inode: Inode, flags: int = 0, pid: int = 0, anonymous: bool = False) -> None: ...
    @classmethod
    def anonymous_for(cls, inode: Inode) -> Fd: ...

class Loc:
    """A location: path, name, inode, parent, gfids."""

    def __init__(self, path: str | None = None, inode: Inode | None = None, parent: Inode | None = None,
                 gfid: uuid.UUID | None = None, pargfid: uuid.UUID | None = None, name: str | None = None) -> None: ...
    path: str | None
    name: str | None
    inode: Inode | None
    parent: Inode | None
    gfid: uuid.UUID | None
    pargfid: uuid.UUID | None

class Xdata:
    """Extra data: a mapping of str to bytes, str, int, float, UUID or Iatt."""

    def __init__(self, items: Any = ..., /, **kwargs: Any) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any, /) -> None: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> Any: ...
    def items(self) -> Any: ...
    def values(self) -> Any: ...
    def get(self, key: str, default: Any = None, /) -> Any: ...
    def update(self, *args: Any, **kwargs: Any) -> None: ...
    def copy(self) -> Xdata: ...
    def raw(self, key: str) -> bytes | None: ...

@disjoint_base
class Buffer(bytes):
    """Data of a read or write."""

    def tobytes(self) -> bytes: ...

class Caller:
    """Who made the FOP being handled."""

    uid: int
    gid: int
    pid: int
    groups: tuple[int, ...]
    lk_owner: bytes
    client: str | None
    unique: int
    valid: bool
    def __init__(self, uid: int = 0, gid: int = 0, pid: int = 0, groups: tuple[int, ...] = (),
                 lk_owner: bytes = b"", client: str | None = None, unique: int = 0) -> None: ...

class MissingNames:
    """Names known to be missing (see glupy.translators.negative)."""

    def __init__(self, max_entries: int = 100000, xdata_keys: Iterable[str] = (),
                 xdata_prefixes: Iterable[str] = ()) -> None: ...
    max_entries: int
    def __len__(self) -> int: ...
    def __contains__(self, key: object) -> bool: ...
    def add(self, pargfid: Any, name: Any, postparent: Any, expires: float) -> None: ...
    def get(self, pargfid: Any, name: Any) -> tuple[float, Any] | None: ...
    def discard(self, pargfid: Any, name: Any) -> bool: ...
    def discard_dir(self, pargfid: Any) -> int: ...
    def clear(self) -> int: ...
    def answer(self, pargfid: Any, name: str, xdata_keys: Iterable[str]) -> tuple[bool, Any]: ...

'''


def init_stub() -> str:
    import glupy
    from glupy.types import NATIVE_TYPES

    names = [n for n in glupy.__all__ if n not in ("replies",)]
    return HEADER + f'''\
from glupy import replies as replies
from glupy._driver import Future as Future, event_loop as event_loop, gather as gather, on_loop as on_loop, \\
    sleep as sleep, to_thread as to_thread
from glupy.constants import EntrylkCmd as EntrylkCmd, EntrylkType as EntrylkType, Event as Event, \\
    FileType as FileType, Fop as Fop, LockCmd as LockCmd, LockType as LockType, SetAttr as SetAttr, \\
    UpcallKind as UpcallKind, XattropFlag as XattropFlag
from glupy.errors import FopError as FopError, OptionError as OptionError, TranslatorLoadError as TranslatorLoadError
from glupy.events import awatch as awatch, watch as watch
from glupy.replies import *
from glupy.translator import Child as Child, Option as Option, Size as Size, Translator as Translator, \\
    observer as observer
from glupy.types import NATIVE_TYPES as NATIVE_TYPES, Dirent as Dirent, LockInfo as LockInfo, Upcall as Upcall
from glupy.types import {", ".join(f"{n} as {n}" for n in NATIVE_TYPES)}

__version__: str
__all__ = [
{"".join(f'    "{n}",{chr(10)}' for n in ["replies", *names])}]
'''


def _enum_class(name: str, doc: str, members: dict[str, int]) -> str:
    lines = [f"class {name}(enum.IntEnum):", f'    """{doc}"""', ""]
    return "\n".join(lines + [f"    {member} = {number}" for member, number in members.items()])


def constants_stub() -> str:
    """glupy/constants.py with its two enums made from the table written out as classes
    (a type checker cannot see the members of ``enum.IntEnum("Event", EVENTS)``)."""
    source = (Path(__file__).parent / "constants.py").read_text()
    made = {"Event": _enum_class("Event", "GlusterFS notify events (GF_EVENT_*).", EVENTS),
            "Fop": _enum_class("Fop", "GlusterFS FOP numbers (GF_FOP_*).",
                               {name.upper(): number for name, number in FOP_ID.items()})}
    out = [HEADER.rstrip("\n")]
    for node in ast.parse(source).body:
        text = ast.get_source_segment(source, node) or ""
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        if isinstance(node, ast.ImportFrom) and node.module == "glupy.fop_table":
            continue  # the stub has the numbers written out
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id in made:
            text = made[target.id]
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in made:
            continue  # Event.__doc__ = ...: in the class written out
        out += ["", text] if isinstance(node, ast.ClassDef) or text.startswith("class ") else [text]
    return "\n".join(out) + "\n"


def stubs() -> dict[str, str]:
    """{file name in src/glupy: its text}."""
    return {"replies.pyi": replies_stub(), "translator.pyi": translator_stub(), "types.pyi": types_stub(),
            "__init__.pyi": init_stub(), "constants.pyi": constants_stub()}


def write(directory: Path | str | None = None) -> list[Path]:
    """Write the stubs into `directory` (by default, next to this module); returns their paths."""
    where = Path(directory) if directory is not None else Path(__file__).parent
    written = []
    for name, text in stubs().items():
        path = where / name
        path.write_text(text)
        written.append(path)
    return written
