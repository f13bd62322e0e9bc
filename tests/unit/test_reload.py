"""Live reload in the harness (Harness.reload, on glupy.lifecycle as the bridge uses it):
new code for new FOPs, state through migrate(old), contexts kept, bad versions refused."""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path

import pytest

import glupy
from glupy.errors import TranslatorLoadError
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture

MODULE = "glupy_unit_reload_probe"

SOURCE = '''
import glupy

VERSION = {version!r}


class Probe(glupy.Translator):
    """getxattr glupy.probe -> VERSION:COUNT; remembers per inode how often it was asked."""

    def init(self):
        if {fail_init!r}:
            raise RuntimeError("version {version} cannot start")
        self.count = 0

{migrate}

    async def getxattr(self, loc, name, xdata):
        if name != "glupy.probe":
            return await self.child.getxattr(loc, name, xdata)
        self.count += 1
        self.set_inode_ctx(loc.inode, (self.inode_ctx(loc.inode) or 0) + 1)
        value = f"{{VERSION}}:{{self.count}}:{{self.inode_ctx(loc.inode)}}"
        return glupy.GetxattrReply(dict=glupy.Xdata({{name: value.encode()}}))
{extra}
'''

MIGRATE = '''    def migrate(self, old):
        if {fail_migrate!r}:
            raise ValueError("cannot take over from " + type(old).VERSION_NAME)
        self.count = old.count
'''


@pytest.fixture
def probe(tmp_path: Path, monkeypatch):
    """Writes versions of the probe module into a directory on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(version: str, *, migrate: bool = True, fail_init: bool = False, fail_migrate: bool = False,
              extra: str = "", raw: str | None = None) -> None:
        text = raw if raw is not None else SOURCE.format(
            version=version, fail_init=fail_init,
            migrate=MIGRATE.format(fail_migrate=fail_migrate) if migrate else "", extra=extra)
        (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(text))

    yield write
    sys.modules.pop(MODULE, None)


def ask(h, path: str = "/f") -> str:
    return h.getxattr(path, "glupy.probe").decode()


def test_reload_runs_the_new_code_with_the_old_state_and_contexts(glupy_harness, probe) -> None:
    probe("1")
    h = glupy_harness(f"{MODULE}:Probe")
    h.create("/f", b"x")
    assert [ask(h), ask(h)] == ["1:1:1", "1:2:2"]
    old = h.translator()
    probe("2")
    new = h.reload()
    assert new is h.translator() and new is not old
    assert type(new).__module__ == MODULE and sys.modules[MODULE].VERSION == "2"
    assert ask(h) == "2:3:3"  # migrate carried the count; the inode's context stayed
    assert type(old).__dict__["getxattr"] is not type(new).__dict__["getxattr"]  # the old keeps its code


def test_without_migrate_the_new_instance_starts_fresh_but_contexts_stay(glupy_harness, probe) -> None:
    probe("1")
    h = glupy_harness(f"{MODULE}:Probe")
    h.create("/f", b"x")
    assert ask(h) == "1:1:1"
    probe("2", migrate=False)
    h.reload()
    assert ask(h) == "2:1:2"


@pytest.mark.parametrize("bad, cause", [
    (dict(raw="import glupy\nclass Probe(glupy.Translator:\n"), SyntaxError),
    (dict(raw="import glupy\nraise ImportError('no such dependency')\n"), ImportError),
    (dict(raw="import glupy\nclass Other(glupy.Translator):\n    pass\n"), TranslatorLoadError),
    (dict(fail_init=True), RuntimeError),
    (dict(fail_migrate=True), AttributeError),  # type(old).VERSION_NAME: the old class has none
])
def test_a_version_that_cannot_start_is_refused_and_the_old_one_serves(glupy_harness, probe, bad, cause,
                                                                        caplog) -> None:
    probe("1")
    h = glupy_harness(f"{MODULE}:Probe")
    h.create("/f", b"x")
    assert ask(h) == "1:1:1"
    old, module = h.translator(), sys.modules[MODULE]
    probe("2", **bad)
    caplog.set_level(logging.INFO, logger="glupy")
    with pytest.raises(cause):
        h.reload()
    assert h.translator() is old and sys.modules[MODULE] is module
    # the line glupy list reads what runs from (lifecycle.announce): none for a refused version
    assert not [r for r in caplog.records if " handles " in r.getMessage()]
    assert ask(h) == "1:2:2"
    probe("3")
    h.reload()  # a good version after a refused one
    assert ask(h) == "3:3:3"
    assert [r.getMessage().partition(" (")[0] for r in caplog.records if " handles " in r.getMessage()] == [
        f"{MODULE}.Probe"]


def test_the_code_a_process_runs_is_read_from_its_log() -> None:
    """side.running_identity: the last start or accepted reload of the translator of
    that name, in a brick log (xlator VOLUME-NAME) or a client log (xlator NAME)."""
    from glupy.admin.side import running_identity

    def line(domain: str, ident: str) -> str:
        return (f"[2026-12-06 15:43:34.764555 +0000] I [bridge.c:139:gp_mod_log] 0-glupy.{domain}: "
                f"m.Probe ({ident}) handles getxattr\n")

    brick = line("vol-probe", "a") + line("vol-probe", "b") + line("vol-other-probe2", "c")
    assert running_identity(brick, "probe") == "b"
    assert running_identity(line("probe", "a") + line("probe2", "c"), "probe") == "a"
    assert running_identity(line("probe2", "c"), "probe") is None


def test_fops_the_new_class_drops_still_reach_the_child(glupy_harness, probe) -> None:
    probe("1", extra='''
    async def readv(self, fd, size, offset, flags, xdata):
        reply = await self.child.readv(fd, size, offset, flags, xdata)
        return glupy.ReadvReply(data=bytes(reply.data).upper(), buf=reply.buf, op_ret=len(reply.data))
''')
    h = glupy_harness(f"{MODULE}:Probe")
    h.create("/f", b"abc")
    assert h.read("/f") == b"ABC"
    probe("2")
    h.reload()
    assert h.read("/f") == b"abc"  # forwarded as it is, not answered ENOSYS
    assert "readv" in dict(h.statedump())["handled-fops"]


def test_reload_to_a_given_class_and_options(glupy_harness) -> None:
    class Counting(glupy.Translator):
        step = glupy.Option(int, default=1)

        def init(self):
            self.total = 0

        async def stat(self, loc, xdata):
            self.total += self.step
            return await self.child.stat(loc, xdata)

    class Doubling(Counting):
        def migrate(self, old):
            self.total = old.total * 2

    h = glupy_harness(Counting)
    h.create("/f", b"")
    h.stat("/f")
    new = h.reload(cls=Doubling, options={"step": 5})
    h.stat("/f")
    assert isinstance(new, Doubling) and new.total == 2 + 5
    assert new._glupy_xlator.options["step"] == "5"


# ------------------------------------------------------------------ glupy reload's waiting and report


def test_reload_waits_for_each_process_of_this_node_and_names_those_that_refused(tmp_path, monkeypatch) -> None:
    """Side.reload: each process's log after the option change says reloaded or why not
    (the bridge's lines); one that says nothing is reported after RELOAD_WAIT; the CLI
    prints each and exits 1 naming those that kept the old code."""
    from click.testing import CliRunner

    from glupy import admin, cli
    from glupy.admin import side as side_module
    from glupy.admin.client import ClientSide

    logs = {f"/mnt/{n}": tmp_path / f"{n}.log" for n in ("a", "b", "c")}
    for log in logs.values():
        log.write_text("[old] glupy: reloaded module=m generation=1\n")

    class Fake(ClientSide):
        def process_logs(self, node, info, name):
            return logs

        def record(self, node, info, name, changes):  # what the processes log once glusterd told them
            g = changes["generation"]
            with logs["/mnt/c"].open("a") as f:
                f.write(f"E [bridge.c:1:gp_reload] 0-{name}: glupy: reload of module=m generation={g} refused, "
                        "the running code keeps serving: RuntimeError: no\n")
            with logs["/mnt/a"].open("a") as f:
                f.write(f"I [bridge.c:2:gp_reload] 0-{name}: glupy: reloaded module=m generation={g}\n")

    monkeypatch.setattr(side_module, "RELOAD_WAIT", 0.5)
    info = type("Info", (), {"started": True, "name": "v"})()
    got = Fake().reload(None, info, "p", {"generation": "2", "identity": "x"})
    assert list(got) == list(logs)  # in the order of the processes, not of the answers
    assert got["/mnt/a"] == "reloaded" and got["/mnt/c"] == "RuntimeError: no"
    assert got["/mnt/b"].startswith("no answer within 0.5 s")

    result = admin.Reload("client", "2", "x", got)
    assert result.refused == {p: got[p] for p in ("/mnt/b", "/mnt/c")}
    from glupy import pool

    applied = []
    monkeypatch.setattr(cli, "node_of", lambda ctx: None)
    monkeypatch.setattr(cli.admin, "plan_reload", lambda node, volume, name: admin.ReloadPlan(volume, name, "client",
                                                                                               "m", "x"))
    monkeypatch.setattr(cli.admin, "apply_reload", lambda node, plan: applied.append(plan) or result)
    monkeypatch.setattr(pool, "attach_check", lambda node, t: {})
    run = CliRunner().invoke(cli.main, ["reload", "v", "p"])
    assert run.exit_code == 1 and len(applied) == 1
    assert "/mnt/a: reloaded" in run.output and "other clients of v reload when glusterd pushes" in run.output
    assert "2 of 3 clients kept the old code: /mnt/b: no answer" in run.output
    assert "/mnt/c: RuntimeError: no" in run.output

    # a node of the pool without the new version: nothing changes, unless --force
    monkeypatch.setattr(pool, "attach_check", lambda node, t: {"h2": [f"{t.name}: module is {t.identity}0 (fix)"]})
    run = CliRunner().invoke(cli.main, ["reload", "v", "p"])
    assert run.exit_code == 1 and len(applied) == 1
    assert "not reloaded: 1 problem(s) on the pool's nodes: h2: p: module is x0 (fix)" in " ".join(run.output.split())
    run = CliRunner().invoke(cli.main, ["reload", "v", "p", "--force"])
    assert len(applied) == 2 and "--force: h2: p: module is x0" in run.output
