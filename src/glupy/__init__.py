"""glupy: GlusterFS translators written in Python.

A translator is a subclass of :class:`Translator` that overrides ``async def``
FOP handlers::

    import glupy

    class Hello(glupy.Translator):
        async def lookup(self, loc, xdata):
            self.log.info("lookup %s", loc.path)
            return await self.child.lookup(loc, xdata)
"""

from __future__ import annotations

from typing import Any

from glupy import replies
from glupy._driver import Future, event_loop, gather, on_loop, sleep, to_thread
from glupy.constants import (EntrylkCmd, EntrylkType, Event, FileType, Fop, LockCmd, LockType, SetAttr,
                             UpcallKind, XattropFlag)
from glupy.errors import FopError, OptionError, TranslatorLoadError
from glupy.replies import *  # noqa: F401,F403 - LookupReply, ReadvReply, ...
from glupy.translator import Child, Option, Size, Translator, observer
from glupy.types import NATIVE_TYPES, Dirent, LockInfo, Upcall

__version__ = "0.1.0"

__all__ = [
    "Translator", "Child", "Option", "Size", "observer", "FopError", "OptionError", "TranslatorLoadError", "Future", "gather",
    "sleep", "to_thread", "on_loop", "event_loop",
    "Dirent", "LockInfo", "Event", "Fop", "FileType", "LockCmd", "LockType", "EntrylkCmd", "EntrylkType",
    "XattropFlag", "SetAttr", "UpcallKind", "Upcall", "replies", *NATIVE_TYPES, *replies.__all__,
]


def __getattr__(name: str) -> Any:
    # Loc, Iatt, Xdata, ...: the native types inside GlusterFS, stand-ins elsewhere
    if name in ("watch", "awatch"):  # glupy.events: not loaded into bricks that do not use it
        from glupy import events

        return getattr(events, name)
    if name in NATIVE_TYPES:
        from glupy import types

        return getattr(types, name)
    raise AttributeError(f"module 'glupy' has no attribute {name!r}")
