"""glupy.errors.failure_text: a handler's failure as log text, in bounded space (issue 11: a
traceback per failure must not flood the GlusterFS log; found by tests/integration/test_hostile.py)."""

from __future__ import annotations

import traceback

from glupy.errors import failure_text


def _raised(fn):
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        return e
    raise AssertionError("did not raise")


def test_an_ordinary_chain_reads_as_python_prints_it() -> None:
    def inner() -> None:
        try:
            1 / 0
        except ZeroDivisionError as e:
            raise KeyError("k") from e

    def outer() -> None:
        try:
            inner()
        except KeyError:
            raise ValueError("v")

    e = _raised(outer)
    assert failure_text(e) == "".join(traceback.format_exception(e)).rstrip()


def test_a_huge_message_is_cut() -> None:
    def huge() -> None:
        raise ValueError("y" * 20_000_000)

    text = failure_text(_raised(huge))
    assert len(text) < 20_000
    assert "ValueError: yyyy" in text and "more characters]" in text
    assert "in huge" in text


def test_a_long_chain_is_cut_quickly() -> None:
    def chained() -> None:
        error = None
        for i in range(20_000):
            try:
                raise KeyError(i) from error
            except KeyError as e:
                error = e
        raise RuntimeError("last") from error

    # only the last 8 are formatted (formatting is what took seconds for 20,000): said by the
    # count of those left out, not by a wall-clock limit that a loaded machine can miss
    text = failure_text(_raised(chained))
    assert len(text) <= 16384 + 200
    assert text.rstrip().endswith("RuntimeError: last")
    assert "19993 earlier exceptions of this chain left out" in text
    assert "KeyError: 19999" in text


def test_a_cycle_and_an_unprintable_exception_do_not_break_it() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    a = Unprintable()
    b = ValueError("b")
    a.__cause__ = b
    b.__cause__ = a  # a cycle
    text = failure_text(a)
    assert "Unprintable" in text and "ValueError: b" in text


def test_many_long_lines_stay_within_the_bound() -> None:
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise OSError("x" * 5000)

    def many(i: int = 0) -> None:
        try:
            raise OSError(f"{i} " + "x" * 5000)
        except OSError:
            if i < 199:
                many(i + 1)  # raised while handling: each is the __context__ of the next
            else:
                raise

    text = failure_text(_raised(lambda: deep(400)))
    assert len(text) <= 16384 + 200 and text.rstrip().endswith("more characters]")
    text = failure_text(_raised(many), max_chain=1000)  # 200 contexts of 5 KB lines: cut in the middle
    assert len(text) <= 16384 + 200
    assert "characters left out" in text and "OSError: 199 xxx" in text
