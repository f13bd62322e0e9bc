"""``glupy new NAME``: a translator package ready to test and attach."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from glupy.errors import AdminError

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A GlusterFS translator written in Python (glupy)"
requires-python = ">=3.11"
dependencies = ["glupy"]

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.setuptools.packages.find]
where = ["src"]
"""

MODULE = '''\
"""{cls}: a GlusterFS translator written in Python.

Attach it to a volume's bricks, or to its clients::

    glupy attach VOLUME {pkg} --name {name}
    glupy attach VOLUME {pkg} --name {name} --side client
    glupy mount VOLUME /mnt/x --with {pkg} -o greeting=hi
"""

from __future__ import annotations

import glupy


class {cls}(glupy.Translator):
    """Logs each file created, then passes the create on."""

    greeting = glupy.Option(str, default="hello", doc="word written in front of each log line")

    def init(self) -> None:
        self.created = 0

    async def create(self, loc, flags, mode, umask, fd, xdata):
        reply = await self.child.create(loc, flags, mode, umask, fd, xdata)
        self.created += 1
        self.log.info("%s: created %s", self.greeting, loc.path)
        return reply

    def statedump(self):
        return {{"created": self.created}}
'''

TEST_HARNESS = '''\
"""Tests of {cls} in glupy's in-process harness (no GlusterFS needed)."""

from glupy import loader
from glupy.testing.harness import Harness

from {pkg} import {cls}


def test_options_validate():
    assert loader.validate("{pkg}", "", {{"greeting": "hi"}}) is {cls}


def test_create_is_counted(tmp_path):
    with Harness(tmp_path, ({cls}, {{"greeting": "hi"}})) as h:
        h.create("/hello", b"data")
        assert h.read("/hello") == b"data"
        assert (tmp_path / "hello").read_bytes() == b"data"
'''

TEST_PLAIN = '''\
"""Tests of {cls} (import and options; glupy.testing.harness was not available)."""

from glupy import loader

from {pkg} import {cls}


def test_options_validate():
    assert loader.validate("{pkg}", "", {{"greeting": "hi"}}) is {cls}
    assert "greeting" in {cls}.options
'''

README = """\
# {dist}

A GlusterFS translator written in Python with glupy.

```sh
pip install -e '.[test]'      # into the environment glupy's bridge was built for
pytest
glupy attach VOLUME {pkg} --name {name}
```
"""


def names(name: str) -> tuple[str, str, str]:
    """(distribution, package, class) names for NAME."""
    dist = name.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", dist):
        raise ValueError(f"invalid name {name!r}: start with a letter; use letters, digits, '-' and '_'")
    pkg = dist.replace("-", "_")
    if keyword.iskeyword(pkg) or pkg in ("glupy", "test", "tests"):
        raise ValueError(f"invalid name {name!r}: it clashes with a Python name")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", dist) if part)
    return dist, pkg, cls


def harness_available() -> bool:
    try:
        from glupy.testing.harness import Harness  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


def create(name: str, directory: Path) -> list[Path]:
    """Write the package; refuses a non-empty directory. Returns the files written."""
    try:
        dist, pkg, cls = names(name)
    except ValueError as error:
        raise AdminError(str(error)) from None
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise AdminError(f"{directory} exists and is not empty")
    fmt = {"dist": dist, "pkg": pkg, "cls": cls, "name": dist}
    files = {
        directory / "pyproject.toml": PYPROJECT.format(**fmt),
        directory / "README.md": README.format(**fmt),
        directory / "src" / pkg / "__init__.py": MODULE.format(**fmt),
        directory / "tests" / f"test_{pkg}.py": (TEST_HARNESS if harness_available() else TEST_PLAIN).format(**fmt),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
