"""glupy.lifecycle's notify delivery, the part the bridge and the harness share:
what notify() receives, and which event goes on after it returns."""

from __future__ import annotations

import uuid
from typing import Any

import glupy
from glupy import lifecycle
from glupy.constants import Event
from glupy.translator import Child
from glupy.types import Upcall


class SameXlator:
    """A stand-in for the bridge's Xlator objects: a new one per event, equal by what it points at."""

    def __init__(self, address: int) -> None:
        self.address, self.name = address, f"x{address}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SameXlator) and other.address == self.address

    def __hash__(self) -> int:
        return self.address


class Recorder(glupy.Translator):
    def notify(self, event: Any, source: Any) -> Any:
        self.received = (event, source)
        return self.answer


def recorder(answer: Any = None) -> Recorder:
    inst = Recorder.__new__(Recorder)
    inst.children = [Child(SameXlator(1), 0), Child(SameXlator(2), 1)]
    inst.answer = answer
    return inst


def test_notify_gets_an_event_and_the_child_that_sent_it() -> None:
    inst = recorder()
    lifecycle.notify(inst, int(Event.CHILD_UP), SameXlator(2))  # another object for the same xlator
    event, source = inst.received
    assert event is Event.CHILD_UP and source is inst.children[1]


def test_notify_gets_an_upcall_and_unknown_things_as_they_are() -> None:
    inst = recorder()
    gfid = uuid.uuid4()
    lifecycle.notify(inst, int(Event.UPCALL), {"gfid": gfid, "kind": 1})
    assert inst.received == (Event.UPCALL, Upcall(gfid=gfid, kind=1))
    stranger = SameXlator(9)
    lifecycle.notify(inst, 9999, stranger)
    assert inst.received == (9999, stranger)


def test_the_event_that_goes_on() -> None:
    assert lifecycle.passed_on(Event.CHILD_UP, False) is None
    assert lifecycle.passed_on(Event.CHILD_UP, int(Event.CHILD_DOWN)) is Event.CHILD_DOWN
    assert lifecycle.passed_on(Event.CHILD_UP, 9999) == Event.CHILD_UP  # not an event: the original
    # only an event going the same way with the same data replaces one: a PARENT_UP for a
    # CHILD_UP went back down and cycled through posix; an UPCALL would carry an xlator
    assert lifecycle.passed_on(Event.CHILD_UP, int(Event.PARENT_UP)) == Event.CHILD_UP
    assert lifecycle.passed_on(Event.CHILD_UP, int(Event.UPCALL)) == Event.CHILD_UP
    assert lifecycle.passed_on(Event.UPCALL, int(Event.CHILD_DOWN)) == Event.UPCALL
    assert lifecycle.passed_on(Event.UPCALL, int(Event.SOME_DESCENDENT_DOWN)) is Event.SOME_DESCENDENT_DOWN  # crypt
    assert lifecycle.passed_on(Event.PARENT_UP, int(Event.PARENT_DOWN)) is Event.PARENT_DOWN
    for anything in (None, True, "down", 0.5):
        assert lifecycle.passed_on(Event.CHILD_UP, anything) == Event.CHILD_UP
