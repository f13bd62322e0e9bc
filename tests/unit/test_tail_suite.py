"""The shared translator suite through TailPassthrough: every FOP passed on by a tail call
(a handler returning ``self.child.<fop>(...)`` unawaited), in the in-process harness."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.translators import TailPassthrough

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from translator_suite import *  # noqa: E402,F401,F403 - the shared suite's tests
from translator_suite import HarnessVolume  # noqa: E402


@pytest.fixture
def volume(glupy_harness):
    return HarnessVolume(glupy_harness(TailPassthrough))
