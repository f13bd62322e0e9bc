"""A translator before it goes on a volume: its name, its options as given on the
command line, its class imported and checked, a trial start off any volume, its
identity, and the line the bridge logs when it cannot start.

Nothing here asks glusterd.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from glupy.errors import AdminError, OptionError, TranslatorLoadError
from glupy.gluster import xlators
from glupy.gluster.errors import GlusterNotInstalledError
from glupy.gluster.volfile import Xlator

#: seconds a translator's init() may take in a dry run
#: the bridge's default init-timeout (GP_INIT_WAIT in native/bridge.c): seconds init() may take
INIT_TIMEOUT = 30.0
#: what a trial start may take on top of it (a Python process, the module's import)
DRY_RUN_STARTUP = 15.0

#: what the bridge logs when a translator cannot start (native/bridge.c)
_START_FAILED = re.compile(r"(glupy: (?:cannot start translator|module=).*)$")


# ------------------------------------------------------------------ the command line's words

def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` -> {KEY: VALUE}; AdminError on a malformed pair."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AdminError(f"bad option {pair!r}: use -o KEY=VALUE")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", key):
            raise AdminError(f"bad option name {key!r}: use letters, digits, '-', '_' and '.'")
        if any(c.isspace() for c in value):
            raise AdminError(f"option {key}: values with spaces cannot be stored in a volfile")
        if key in result:
            raise AdminError(f"option {key} given twice")
        result[key] = value
    return result


def group_with_options(args: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """``--with A -o k=v --with B`` (raw command-line words) -> [(A, {k: v}), (B, {})].

    Each ``-o``/``--option`` applies to the ``--with`` before it; an ``-o`` before
    any ``--with`` is an error. Other words are ignored.
    """
    groups: list[tuple[str, list[str]]] = []
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        value: str | None = None
        name = word
        if word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
        elif word.startswith("-o") and len(word) > 2 and not word.startswith("--"):
            name, value = "-o", word[2:]
        if name in ("--with", "-o", "--option"):
            if value is None:
                if i + 1 >= len(words):
                    raise AdminError(f"{name} needs a value")
                value = words[i + 1]
                i += 1
            if name == "--with":
                groups.append((value, []))
            elif not groups:
                raise AdminError(f"-o {value}: put it after the --with MODULE it applies to")
            else:
                groups[-1][1].append(value)
        elif word == "--":
            break
        i += 1
    return [(spec, parse_options(opts)) for spec, opts in groups]


def default_name(spec: str) -> str:
    """A translator name from ``module[:Class]``: the class or last module component, lowercased."""
    module, _, cls = spec.partition(":")
    base = (cls or module.rsplit(".", 1)[-1]).lower()
    base = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-_") or "xlator"
    return "py" if base == "glupy" else base


def check_name(name: str) -> None:
    """AdminError if *name* cannot name a translator (see :func:`glupy.gluster.xlators.check_name`)."""
    try:
        xlators.check_name(name)
    except ValueError as error:
        raise AdminError(str(error)) from None


def guard_name(name: str) -> str:
    """The bricks' guard of client-side translator *name* (see glupy.translators.guard)."""
    return f"{name}-guard"


# ------------------------------------------------------------------ the class, checked and tried

def validate_translator(spec: str, options: Mapping[str, str]) -> type:
    """Import the class and check the option values; AdminError saying why not."""
    module = spec.partition(":")[0]
    if not module or not re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?", spec):
        raise AdminError(f"{spec!r} is not MODULE or MODULE:CLASS")
    from glupy import loader

    try:
        return loader.validate(spec, options.get("class", ""), options)
    except (TranslatorLoadError, OptionError) as error:
        raise AdminError(f"{spec}: {error}") from None
    except Exception as error:  # noqa: BLE001 - the module failed while importing
        raise AdminError(f"{spec}: importing it failed: {type(error).__name__}: {error}") from None


def dry_run(spec: str, options: Mapping[str, str], name: str) -> None:
    """Create the translator and run its init() (and fini()) with these options, off
    any volume, in a child process of this Python (the one the bridge embeds; see
    :mod:`glupy.dryrun`). AdminError with the translator's own error if it cannot start."""
    cmd = [sys.executable, "-m", "glupy.dryrun", spec, json.dumps(dict(options)), name]
    try:
        init_timeout = float(options.get("init-timeout", INIT_TIMEOUT))
    except ValueError:
        init_timeout = INIT_TIMEOUT
    try:  # the bridge's own bound on init() (option init-timeout), and the time to start Python
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=init_timeout + DRY_RUN_STARTUP,
                              check=False)
    except subprocess.TimeoutExpired:
        raise AdminError(f"{spec}: its init() did not finish within {init_timeout:g} s in a trial start (option "
                         "init-timeout); nothing was changed") from None
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise AdminError(f"{spec}: a trial start failed: {tail}; nothing was changed") from None
    if not result.get("ok"):
        raise AdminError(f"{spec} cannot start with these options: {result.get('error')}; nothing was changed")


def installed_identity(module: str, options: Mapping[str, str]) -> str:
    """The identity of *module* as installed here, its class's options checked."""
    from glupy import loader

    return loader.identity(validate_translator(module, {k: v for k, v in options.items()
                                                        if k not in ("identity", "generation")}))


def class_name(module: str, options: Mapping[str, str]) -> str:
    """The class an attached translator runs: its ``class`` option, ``module:Class``,
    or the module's translator class; "?" if the module does not import here."""
    cls = options.get("class") or module.partition(":")[2]
    if cls:
        return cls
    try:
        from glupy import loader

        return loader.resolve(module).__name__
    except Exception:  # noqa: BLE001 - listing must not fail on a broken module
        return "?"


def placement_after(cls: type, after: str | None) -> str:
    """Where a client-side translator goes: --after if given, else where its class
    says it belongs (``placement``), else '' (right under the top)."""
    return after or getattr(cls, "placement", None) or ""


def require_bridge() -> None:
    """AdminError if the bridge (``xlator/user/glupy.so``) is not installed here."""
    try:
        xlators.check_bridge_installed()
    except GlusterNotInstalledError as error:
        raise AdminError(str(error).splitlines()[0]) from None


# ------------------------------------------------------------------ in volfiles and logs

def is_python_xlator(x: Xlator) -> bool:
    """True for a glupy translator in a volfile (client ``user/glupy`` or a server ``user/NAME`` alias)."""
    return x.type == "user/glupy" or (x.type.startswith("user/") and "module" in x.options)


def translator_error(logs: Iterable[Path]) -> str | None:
    """The last 'cannot start' line the bridge wrote in these logs, if any."""
    found = None
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = _START_FAILED.search(line)
            if m:
                found = m.group(1)
    return found


def new_project(name: str, directory: Path | str) -> list[Path]:
    """Scaffold a translator package NAME in *directory* (which must not exist or be empty)."""
    from glupy import scaffold

    return scaffold.create(name, Path(directory))
