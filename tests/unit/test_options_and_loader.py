"""Options, class resolution and the FOP table."""

from __future__ import annotations

import sys
import textwrap

import pytest

import glupy
from glupy import fop_table
from glupy.errors import OptionError, TranslatorLoadError
from glupy.loader import overridden_fops, resolve, validate
from glupy.translator import parse_bool, parse_size


class Cache(glupy.Translator):
    ttl = glupy.Option(float, default=5.0, min=0, doc="seconds")
    max_entries = glupy.Option(int, default=1000, min=1)
    mode = glupy.Option(str, default="fast", choices=["fast", "safe"])
    enabled = glupy.Option(bool, default=True)
    block = glupy.Option(glupy.Size, default=glupy.Size(4096))

    async def lookup(self, loc, xdata):
        return await self.child.lookup(loc, xdata)


def test_option_keys_use_dashes_and_values_parse():
    assert set(Cache.options) == {"ttl", "max-entries", "mode", "enabled", "block"}
    values = Cache._glupy_parse({"ttl": "2.5", "max-entries": "10", "enabled": "off", "block": "64KB"},
                                initial=True)
    assert values == {"ttl": 2.5, "max_entries": 10, "mode": "fast", "enabled": False, "block": 65536}


@pytest.mark.parametrize("options, message", [
    ({"ttl": "-1"}, "less than the minimum"),
    ({"max-entries": "many"}, "invalid literal"),
    ({"mode": "slow"}, "not one of fast, safe"),
    ({"enabled": "perhaps"}, "is not a boolean"),
    ({"block": "12XB"}, "is not a size"),
    ({"tll": "1"}, "unknown option tll"),
])
def test_bad_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(OptionError, match=message):
        Cache._glupy_parse(options, initial=True)


def test_bridge_options_are_not_the_classes():
    assert Cache._glupy_parse({"module": "x", "class": "Cache"}, initial=True)["ttl"] == 5.0


def test_required_option():
    class Needs(glupy.Translator):
        key_file = glupy.Option(str)

    with pytest.raises(OptionError, match="option key-file is required"):
        Needs._glupy_parse({}, initial=True)


def test_parsers():
    assert parse_bool("Enable") is True and parse_bool("0") is False
    assert parse_size("1MB") == 1 << 20 and parse_size("512") == 512


def test_overridden_fops_are_exactly_the_defined_handlers():
    assert overridden_fops(Cache) == {"lookup": 27}

    class Sub(Cache):
        async def readv(self, fd, size, offset, flags, xdata):
            return await self.child.readv(fd, size, offset, flags, xdata)

    assert overridden_fops(Sub) == {"lookup": 27, "readv": 12}


def test_passthrough_overrides_every_fop():
    from glupy.translators.passthrough import Passthrough

    assert set(overridden_fops(Passthrough)) == {f.name for f in fop_table.FOPS}


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("gp_test_")]:
        del sys.modules[name]


def test_resolve_names_the_problem(module_dir):
    (module_dir / "gp_test_two.py").write_text(textwrap.dedent("""
        import glupy
        class A(glupy.Translator): pass
        class B(glupy.Translator): pass
        class NotOne: pass
    """))
    (module_dir / "gp_test_broken.py").write_text("def oops(:\n")
    assert resolve("gp_test_two:A").__name__ == "A"
    assert resolve("gp_test_two", "B").__name__ == "B"
    with pytest.raises(TranslatorLoadError, match="defines 2 Translator classes"):
        resolve("gp_test_two")
    with pytest.raises(TranslatorLoadError, match="has no class 'C'"):
        resolve("gp_test_two:C")
    with pytest.raises(TranslatorLoadError, match="not a subclass of glupy.Translator"):
        resolve("gp_test_two:NotOne")
    with pytest.raises(TranslatorLoadError, match="no Python module named 'gp_test_missing'"):
        resolve("gp_test_missing")
    with pytest.raises(SyntaxError):
        resolve("gp_test_broken")


def test_validate_checks_options_of_the_resolved_class():
    validate("glupy.translators.passthrough")
    with pytest.raises(OptionError, match="unknown option"):
        validate("glupy.translators.passthrough", options={"colour": "blue"})


def test_table_covers_struct_xlator_fops():
    names = [f.name for f in fop_table.FOPS]
    assert len(names) == len(set(names)) == 54
    assert fop_table.FOP_ID["lookup"] == 27 and fop_table.FOP_ID["copy_file_range"] == 58
    assert set(fop_table.FOP_ID) - set(names) == {"forget", "release", "releasedir", "compound"}
    for f in fop_table.FOPS:
        for a in f.args + f.reply:
            assert a.kind in fop_table.KINDS, (f.name, a)


def test_reference_docs_are_up_to_date():
    import pathlib

    docs = pathlib.Path(__file__).resolve().parents[2] / "docs" / "fops.md"
    assert docs.read_text() == fop_table.markdown(), "run `make docs` to regenerate docs/fops.md"


def test_child_methods_have_the_fop_signatures():
    import inspect

    sig = inspect.signature(glupy.Child.writev)
    assert list(sig.parameters) == ["self", "fd", "data", "offset", "flags", "xdata", "lk_owner"]
    assert sig.parameters["xdata"].default is None
    assert sig.parameters["lk_owner"].kind is inspect.Parameter.KEYWORD_ONLY


def test_identity_is_checked_where_the_translator_starts(module_dir):
    """The identity attach records (version + source hash) must match the module a
    process loads; any other module refuses to start, saying expected vs found."""
    from glupy.loader import check_identity, identity
    from glupy.testing.harness import Harness

    (module_dir / "gp_test_ident.py").write_text("import glupy\n__version__ = '1.2'\nclass T(glupy.Translator): pass\n")
    cls = resolve("gp_test_ident:T")
    recorded = identity(cls)
    assert recorded.startswith("1.2+sha256.") and len(recorded.split(".")[-1]) == 16
    check_identity(cls, recorded)
    check_identity(cls, None)
    with pytest.raises(TranslatorLoadError, match=r"is 1\.2\+sha256\.\w+, but the volume was attached with 1\.1\+sha"):
        check_identity(cls, "1.1+sha256.0000000000000000")
    with Harness(module_dir, (cls, {"identity": recorded})):
        pass
    with pytest.raises(TranslatorLoadError, match="attached with"):
        Harness(module_dir, (cls, {"identity": "1.2+sha256.ffffffffffffffff"}))
    (module_dir / "gp_test_ident2.py").write_text(
        "import glupy\n__version__ = '1.2'\nclass T(glupy.Translator):\n    pass  # edited\n")
    assert identity(resolve("gp_test_ident2:T")).split(".")[-1] != recorded.split(".")[-1]


def test_dry_run_reports_the_translators_own_error(module_dir):
    from glupy.dryrun import dry_run

    (module_dir / "gp_test_dry.py").write_text(textwrap.dedent("""
        import glupy
        class Ok(glupy.Translator):
            pass
        class Raises(glupy.Translator):
            def init(self):
                raise OSError("license server unreachable")
        class BadConstructor(glupy.Translator):
            def __init__(self):
                raise ValueError("no")
    """))
    assert dry_run("gp_test_dry:Ok", {}, "ok") is None
    assert dry_run("gp_test_dry:Raises", {}, "r").startswith("OSError: license server unreachable (at ")
    assert dry_run("gp_test_dry:BadConstructor", {}, "b").startswith("ValueError: no")
    assert "unknown option colour" in dry_run("gp_test_dry:Ok", {"colour": "x"}, "ok")
    assert "does not exist" in dry_run("glupy.translators.crypt", {"key-file": str(module_dir / "none.key")}, "c")
