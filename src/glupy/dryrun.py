"""Start a translator once, off any volume, before it is attached or mounted.

``python -m glupy.dryrun SPEC OPTIONS_JSON NAME`` imports the class, checks its
options, creates it and runs ``init()`` over a scratch directory (the in-process
harness: the lifecycle the bridge runs), then ``fini()``. It prints one JSON
line: ``{"ok": true}`` or ``{"ok": false, "error": "<the translator's own error>"}``.

The CLI runs it in a child process of the Python the bridge embeds, so that an
``init()`` that crashes, exits or hangs costs a clear error, not the command, and
what is checked is the environment the translator will run in: its module, its
dependencies, its options and the files they name (a missing ``key-file``).
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Mapping


def dry_run(spec: str, options: Mapping[str, str], name: str) -> str | None:
    """None if the translator starts with these options, else why not (one line)."""
    from glupy.errors import init_error_line
    from glupy.testing.harness import Harness

    with tempfile.TemporaryDirectory(prefix="glupy-dryrun-") as scratch:
        try:
            harness = Harness(scratch, (spec, dict(options), name))
        except BaseException as error:  # noqa: BLE001 - whatever init raises is the answer
            return init_error_line(error)
        try:
            harness.close()
        except BaseException as error:  # noqa: BLE001
            return f"fini() failed: {init_error_line(error)}"
    return None


def main(argv: list[str]) -> int:
    spec, options, name = argv[0], json.loads(argv[1]), argv[2]
    error = dry_run(spec, options, name)
    sys.stdout.flush()
    print(json.dumps({"ok": error is None, "error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
