"""A translator instance's life, the same wherever it runs: inside GlusterFS (the
bridge's runtime) and in the test harness. Nothing here knows its host: the host
passes the object that stands for the xlator (the native Xlator, or the harness's
XlatorNode) and keeps what :func:`start` returns.

    start        cls.__new__, _glupy_setup(xlator, options), __init__(), init()
    announce     the line that says which code runs (glupy list reads it)
    reconfigure  parse the new option set, call reconfigure(changed)
    statedump    the entries `gluster volume statedump` shows
    notify       an event delivered to notify(), and the event that goes on
    replace      a new instance of a (re)loaded class: start, then migrate(old)
    reimport     a module's source run again as a new module
    reload       both: the new code of a running translator (live reload)

fini, forget and release are the instance's own methods; hosts call them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from glupy._driver import observe
from glupy.constants import Event
from glupy.errors import FopError, OptionError, TranslatorLoadError
from glupy.fop_table import FOP_ID
from glupy.loader import bind_handlers, identity, overridden_fops, resolve
from glupy.translator import Translator
from glupy.types import Upcall

_FOP_NAME = {number: name for name, number in FOP_ID.items()}


@dataclass
class Started:
    """A running instance: its FOP handlers (bound, by GF_FOP number), observers and hooks.

    ``handlers`` covers the observed FOPs too, each by a handler that winds to the first
    child and shows the reply to the observer (:func:`observing`): a host without an
    observer path of its own (the harness) runs them as it runs any handler. The bridge
    takes ``observers`` itself and keeps those FOPs in C."""

    instance: Translator
    handlers: dict[int, Any]
    hooks: dict[str, Any] = field(default_factory=dict)
    observers: dict[int, Any] = field(default_factory=dict)


def start(xlator: Any, cls: type[Translator], options: Mapping[str, Any], *, announced: bool = True) -> Started:
    """A new instance of *cls* for *xlator* with the volfile options *options*:
    ``__new__``, ``_glupy_setup`` (options parsed and checked), ``__init__()``, ``init()``,
    then :func:`announce` unless *announced* is False (the caller does it later).
    Raises whatever those raise; the caller reports it as an init failure."""
    inst = cls.__new__(cls)
    inst._glupy_setup(xlator, {k: v for k, v in options.items()})
    inst.__init__()
    inst.init()
    handlers, observers = bind_handlers(inst)
    for fop, method in observers.items():
        handlers[fop] = observing(inst, _FOP_NAME[fop], method)
    hooks: dict[str, Any] = {
        # as init() left them: the bridge's lookup fast paths read these once
        "named_lookups_only": bool(inst.named_lookups_only),
        "fresh_lookups_only": bool(inst.fresh_lookups_only),
        "missing_names": inst.missing_names,
        "fini": inst.fini,
        "reconfigure": lambda opts: reconfigure(inst, opts),
        "statedump": lambda: statedump(inst, handlers),
    }
    for name in ("notify", "forget", "release", "releasedir"):
        method = getattr(inst, name, None)
        if method is not None:
            hooks[name] = method
    started = Started(inst, handlers, hooks, observers)
    if announced:
        announce(started)
    return started


def announce(started: Started) -> None:
    """Log which code the instance runs and what it handles: ``glupy list`` reads the
    identity each brick or client runs from the last such line, so it is written
    only once the instance is taking over (after ``migrate`` on a reload)."""
    cls = type(started.instance)
    started.instance.log.info("%s.%s (%s) handles %s", cls.__module__, cls.__qualname__, identity(cls),
                              ", ".join(sorted(getattr(h, "__name__", "?") for h in started.handlers.values()))
                              or "no FOPs")


def observing(inst: Translator, name: str, observer: Callable[..., Any]) -> Callable[..., Any]:
    """A handler for FOP `name` that winds it to the first child unchanged and shows the
    reply (a failed one too) to `observer` before answering with it: an observer where
    FOPs are driven in Python. The observer cannot change the answer."""

    async def handler(*args: Any) -> Any:
        try:
            reply = await getattr(inst.child, name)(*args)
        except FopError as error:
            if error.reply is not None:
                observe(observer, (*args, error.reply))
            raise
        observe(observer, (*args, reply))
        return reply

    handler.__name__ = name
    handler.__qualname__ = f"observing.{name}"
    return handler


def reconfigure(inst: Translator, options: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Apply a whole new option set (as `gluster volume set` delivers it): parsed with
    the class's Options, then ``reconfigure(changed)``. A bad value or a change of an
    option that is not reconfigurable raises OptionError and keeps the old values.
    Returns {key: (old, new)}."""
    cls = type(inst)
    new = cls._glupy_parse(dict(options.items()), initial=False)
    old = inst._glupy_values
    changed = {}
    for key, opt in cls.options.items():
        if old.get(opt.attr) != new[opt.attr]:
            if not opt.reconfigurable:
                raise OptionError(f"option {key} cannot change while running; restart the volume")
            changed[key] = (old.get(opt.attr), new[opt.attr])
    inst._glupy_values = new
    if changed:
        inst.log.info("reconfigured: %s", ", ".join(f"{k}={v[1]!r}" for k, v in changed.items()))
        inst.reconfigure(changed)
    return changed


#: at most this many entries of a translator's statedump() are shown, each at most
#: STATEDUMP_VALUE characters: a mapping whose items() never ended (a generator mistake)
#: grew a client by 250 MB a second after one `kill -USR1`, until the OOM killer came
STATEDUMP_ENTRIES = 1000
STATEDUMP_VALUE = 4096


def statedump(inst: Translator, handlers: Mapping[int, Any]) -> list[tuple[str, str]]:
    """The (key, value) entries of the instance in a statedump (the first
    STATEDUMP_ENTRIES of its own, then a line saying how many were left out)."""
    items = [("handled-fops", ",".join(sorted(h.__name__ for h in handlers.values())))]
    for key, opt in type(inst).options.items():
        items.append((f"option.{key}", str(getattr(inst, opt.attr))))
    shown = 0
    for key, value in inst.statedump().items():
        if shown == STATEDUMP_ENTRIES:
            items.append(("statedump-cut", f"the translator's statedump() gave more than {STATEDUMP_ENTRIES} entries"))
            break
        items.append((str(key)[:STATEDUMP_VALUE], str(value)[:STATEDUMP_VALUE]))
        shown += 1
    return items


def notify(inst: Translator, event: int, source: Any) -> Any:
    """Call the instance's ``notify(event, source)`` as GlusterFS delivers an event:
    `event` as a :class:`glupy.Event` where it names one; `source` the instance's
    :class:`~glupy.Child` where it is a child's xlator, an :class:`~glupy.Upcall` where
    it is the bridge's upcall data (a dict), else as it is. Returns what notify
    returned (see :func:`passed_on`); raises what it raises."""
    try:
        event = Event(event)
    except ValueError:
        pass  # an event glupy has no name for: the number
    if type(source) is dict:
        source = Upcall(**source)
    else:
        # == : the bridge makes a new object for the same xlator each time
        source = next((c for c in inst.children if c.xlator == source), source)
    return getattr(inst, "notify")(event, source)


#: Events another may replace (a notify hook's answer): one of the same family, going
#: the same way with the same kind of data (up from a child with its xlator, down from a
#: parent with its xlator), and an upcall turned into a flush of the caches above
#: (crypt). The xlator of a CHILD_UP read as an upcall's data hung a mount; a PARENT_UP
#: sent back down for a CHILD_UP cycled through the graph (bridge.c gp_event_may_replace).
_EVENT_FAMILIES = (
    frozenset({Event.CHILD_UP, Event.CHILD_DOWN, Event.CHILD_CONNECTING, Event.SOME_DESCENDENT_UP,
               Event.SOME_DESCENDENT_DOWN}),
    frozenset({Event.PARENT_UP, Event.PARENT_DOWN}),
)
_UPCALL_MAY_BECOME = frozenset({Event.SOME_DESCENDENT_UP, Event.SOME_DESCENDENT_DOWN})


def _may_replace(event: int, other: int) -> bool:
    if event == Event.UPCALL:
        return other in _UPCALL_MAY_BECOME
    return any(event in family and other in family for family in _EVENT_FAMILIES)


def passed_on(event: int, result: Any) -> int | None:
    """The event that goes on after notify returned `result` (what bridge.c's
    gp_notify_hook does with it): None when it returned False (stop), the Event it
    returned if that may replace `event` (a cluster translator turning its children's
    states into its own: see :data:`_EVENT_FAMILIES`), `event` for anything else (the
    bridge logs an event that cannot replace it)."""
    if result is False:
        return None
    if isinstance(result, int) and not isinstance(result, bool):
        if _may_replace(event, result):
            return Event(result)
    return event


def replace(xlator: Any, cls: type[Translator], old: Translator, options: Mapping[str, Any]) -> Started:
    """A new instance of *cls* (the reloaded class) to take over from *old*: started with
    *options*, then ``migrate(old)`` if the class has one. Without it the new instance
    starts fresh; per-inode and per-fd contexts belong to the xlator and stay either way.
    The old instance is not finished (``fini`` is not called): FOPs still in flight
    run on it to their end. A FOP the old class handled and the new one does not is
    forwarded to the first child, so that a host routing it to Python still answers it.
    Raises, leaving *old* untouched, if anything fails."""
    new = start(xlator, cls, options, announced=False)
    migrate: Callable[[Translator], Any] | None = getattr(new.instance, "migrate", None)
    if migrate is not None:
        migrate(old)
    for fop in overridden_fops(type(old)).values():
        new.handlers.setdefault(fop, _forwarder(new.instance, _FOP_NAME[fop]))
    announce(new)
    return new


def _forwarder(inst: Translator, name: str) -> Any:
    async def forward(*args: Any) -> Any:
        return await getattr(inst.child, name)(*args)

    forward.__name__ = name
    return forward


def reimport(name: str) -> Callable[[], None]:
    """Run module *name*'s source again as a new module object in ``sys.modules``.

    From the source, not the cached bytecode (a file rewritten within the same second
    as its .pyc would read stale). The old module object is left alone: instances
    of its classes keep their code. Returns a function that puts the old module back
    (for a reload refused later, at init or migrate). Raises what the import raises,
    with the old module back in place."""
    module = importlib.import_module(name)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.has_location:
        raise TranslatorLoadError(f"module {name} has no source file to reload")
    code = compile(Path(spec.origin).read_bytes(), spec.origin, "exec", dont_inherit=True)
    fresh = types.ModuleType(name)
    fresh.__spec__, fresh.__file__, fresh.__loader__ = spec, spec.origin, spec.loader
    if spec.submodule_search_locations is not None:
        fresh.__path__ = list(spec.submodule_search_locations)
    fresh.__package__ = spec.parent

    def restore() -> None:
        sys.modules[name] = module

    sys.modules[name] = fresh  # while it runs: imports of itself (dataclasses, pickling) find it
    try:
        exec(code, fresh.__dict__)
    except BaseException:
        restore()
        raise
    return restore


def reload(xlator: Any, module_spec: str, class_name: str, old: Translator,
           options: Mapping[str, Any]) -> Started:
    """The class named by *module_spec* (and/or *class_name*, as loader.resolve takes
    them) from its module imported again (:func:`reimport`), as a new instance taking
    over from *old* (:func:`replace`). Raises, with sys.modules and *old* as they
    were, if the import or any step fails."""
    restore = reimport(module_spec.partition(":")[0])
    try:
        return replace(xlator, resolve(module_spec, class_name), old, options)
    except BaseException:
        restore()  # a refused version leaves no trace
        raise
