"""Pure parts of the glupy command: option parsing, the client volfile filter, list rendering, CLI wiring."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from glupy import admin, cli_render, volfile_filter as gfilter
from glupy.cli import main
from glupy.gluster.volfile import Volfile, VolfileError

CLIENT_VOLFILE = """\
volume v0-client-0
    type protocol/client
    option remote-host 127.1.1.8
    option remote-subvolume /b0
end-volume

volume v0-dht
    type cluster/distribute
    subvolumes v0-client-0
end-volume

volume v0-md-cache
    type performance/md-cache
    subvolumes v0-dht
end-volume

volume v0
    type debug/io-stats
    option count-fop-hits off
    subvolumes v0-md-cache
end-volume
"""


# ------------------------------------------------------------------ -o KEY=VALUE

def test_parse_options() -> None:
    assert admin.parse_options(["a=1", "pass-through=off", "b=x=y", "c="]) == {
        "a": "1", "pass-through": "off", "b": "x=y", "c": ""}
    for bad in (["novalue"], ["=1"], ["a b=1"], ["a=1", "a=2"], ["a=has space"]):
        with pytest.raises(admin.AdminError):
            admin.parse_options(bad)


def test_group_with_options() -> None:
    words = ["vol", "/mnt", "--with", "a.b", "-o", "x=1", "-oy=2", "--with=c:D", "--option", "z=3",
             "--server", "h", "--with", "e"]
    assert admin.group_with_options(words) == [("a.b", {"x": "1", "y": "2"}), ("c:D", {"z": "3"}), ("e", {})]
    with pytest.raises(admin.AdminError, match="after the --with"):
        admin.group_with_options(["-o", "x=1", "--with", "a"])
    with pytest.raises(admin.AdminError):
        admin.group_with_options(["--with"])


def test_default_name() -> None:
    assert admin.default_name("glupy.translators.helloworld") == "helloworld"
    assert admin.default_name("pkg.mod:MyCache") == "mycache"
    assert admin.default_name("glupy") == "py"


# ------------------------------------------------------------------ the filter

def _info(tmp_path: Path, options: dict[str, str], volume: str = "v0") -> Path:
    d = tmp_path / "vols" / volume
    d.mkdir(parents=True)
    (d / "info").write_text("type=0\ncount=1\n" + "".join(f"{k}={v}\n" for k, v in options.items())
                            + "brick-0=h:-b0\n")
    return d


def test_client_config_roundtrip() -> None:
    cx = gfilter.ClientXlator("c1", "pkg.mod:Cls", {"ttl": "2", "pass-through": "off"}, "md-cache")
    opts = {cx.key: cx.value(), "user.glupy.client.gone": "-", "user.xlator.s": "posix", "other": "x"}
    assert cx.value() == "pkg.mod:Cls,ttl=2,pass-through=off,@after=md-cache"
    assert gfilter.client_config(opts) == [cx]
    with pytest.raises(ValueError):
        gfilter.ClientXlator("c", "m", {"a": "x,y"}).value()


def test_is_client_volfile() -> None:
    assert gfilter.is_client_volfile("/w/vols/v0/v0.tcp-fuse.vol")
    assert gfilter.is_client_volfile("/w/vols/v0/trusted-v0.tcp-fuse.vol")
    for other in ("v0.127.1.1.8.b0.vol", "trusted-v0.tcp-gfproxy-fuse.vol", "v0.gfproxyd.vol", "w.tcp-fuse.vol"):
        assert not gfilter.is_client_volfile(f"/w/vols/v0/{other}")


def test_filter_inserts_once(tmp_path: Path) -> None:
    a = gfilter.ClientXlator("alpha", "glupy.translators.passthrough", {"pass-through": "off"})
    b = gfilter.ClientXlator("beta", "glupy.translators.helloworld")
    c = gfilter.ClientXlator("gamma", "glupy.translators.helloworld", after="dht")
    d = _info(tmp_path, {x.key: x.value() for x in (a, b, c)})
    vf = d / "v0.tcp-fuse.vol"
    vf.write_text(CLIENT_VOLFILE)
    brick = d / "v0.h.b0.vol"
    brick.write_text(CLIENT_VOLFILE)
    assert gfilter.filter_volfile(vf) is True
    first = vf.read_text()
    assert gfilter.filter_volfile(vf) is False  # idempotent
    assert gfilter.main([str(vf)]) == 0
    assert vf.read_text() == first
    assert gfilter.filter_volfile(brick) is False and brick.read_text() == CLIENT_VOLFILE
    g = Volfile.parse(first)
    assert g.top.subvolumes == ["alpha"]
    assert g["alpha"].subvolumes == ["beta"] and g["beta"].subvolumes == ["v0-md-cache"]
    assert g["v0-md-cache"].subvolumes == ["gamma"] and g["gamma"].subvolumes == ["v0-dht"]
    assert g["alpha"].type == "user/glupy"
    assert g["alpha"].options == {"module": "glupy.translators.passthrough", "pass-through": "off"}


def test_filter_ignores_volumes_without_client_translators(tmp_path: Path) -> None:
    d = _info(tmp_path, {"user.xlator.s": "posix", "user.glupy.client.old": "-"})
    vf = d / "v0.tcp-fuse.vol"
    vf.write_text(CLIENT_VOLFILE)
    assert gfilter.filter_volfile(vf) is False and vf.read_text() == CLIENT_VOLFILE


def test_filter_bad_after(tmp_path: Path) -> None:
    x = gfilter.ClientXlator("x", "m", after="no-such")
    d = _info(tmp_path, {x.key: x.value()})
    vf = d / "v0.tcp-fuse.vol"
    vf.write_text(CLIENT_VOLFILE)
    assert gfilter.main([str(vf)]) == 1
    assert vf.read_text() == CLIENT_VOLFILE


def test_filter_script_runs_standalone(tmp_path: Path) -> None:
    a = gfilter.ClientXlator("alpha", "glupy.translators.passthrough")
    d = _info(tmp_path, {a.key: a.value()})
    vf = d / "trusted-v0.tcp-fuse.vol"
    vf.write_text(CLIENT_VOLFILE)
    script = tmp_path / "glupy-client"
    script.write_text(gfilter.filter_script(sys.executable))
    script.chmod(0o755)
    for _ in range(2):
        subprocess.run([str(script), str(vf)], check=True, env={"PATH": "/usr/bin:/bin"})
    assert Volfile.read(vf).top.subvolumes == ["alpha"]
    assert vf.read_text().count("volume alpha") == 1
    other = d / "v0.gfproxyd.vol"
    other.write_text(CLIENT_VOLFILE)
    subprocess.run([str(script), str(other)], check=True)
    assert other.read_text() == CLIENT_VOLFILE


# ------------------------------------------------------------------ list rendering

def _entries() -> list[admin.Entry]:
    server = admin.server_entries("v0", {"user.xlator.pt": "posix", "user.xlator.pt.module": "glupy.translators.passthrough",
                                          "user.xlator.pt.pass-through": "off", "user.xlator.notours": "posix"})
    client = admin.client_entries("v0", {"user.glupy.client.hello": "glupy.translators.helloworld,@after=md-cache"})
    for e in server + client:
        e.state = "active"
    return server + client


def test_entries_and_rendering() -> None:
    entries = _entries()
    assert [(e.name, e.cls, e.side, e.position, e.options) for e in entries] == [
        ("pt", "Passthrough", "server", "above posix", {"pass-through": "off"}),
        ("hello", "HelloWorld", "client", "above md-cache", {}),
    ]
    data = json.loads(cli_render.entries_json(entries))
    assert data[0]["class"] == "Passthrough" and data[1]["side"] == "client"
    console = Console(width=200, record=True)
    console.print(cli_render.entries_table(entries))
    text = console.export_text()
    for word in ("pt", "Passthrough", "server", "above posix", "pass-through=off", "hello", "client", "active"):
        assert word in text


def test_graph_text_and_dot() -> None:
    g = Volfile.parse(CLIENT_VOLFILE)
    g.insert_below_top(gfilter.ClientXlator("alpha", "glupy.translators.passthrough").xlator())
    console = Console(width=200, record=True)
    console.print(cli_render.graph_tree(g, "v0"))
    text = console.export_text()
    assert "alpha  user/glupy  [python glupy.translators.passthrough]" in text
    assert text.index("v0  debug/io-stats") < text.index("alpha") < text.index("v0-client-0")
    src = cli_render.graph_dot(g, "v0").source
    assert 'alpha [label=' in src and "fillcolor=\"#ffd54f\"" in src


# ------------------------------------------------------------------ the CLI itself

def test_help_texts() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("attach", "detach", "list", "mount", "umount", "graph", "new", "doctor", "demo", "install"):
        assert command in result.output
        sub = runner.invoke(main, [command, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output, (command, sub.output)


def test_attach_refuses_before_touching_glusterd(monkeypatch) -> None:
    # the module is checked first: no glusterd needed to refuse
    from glupy.admin import operations

    monkeypatch.setattr(operations, "volume_info", lambda *a: pytest.fail("glusterd was asked"))
    result = CliRunner().invoke(main, ["attach", "v0", "no_such_module_xyz"])
    assert result.exit_code == 1
    result = CliRunner().invoke(main, ["attach", "v0", "glupy.translators.passthrough", "-o", "bogus=1"])
    assert result.exit_code == 1


def test_new_scaffold(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new", "my-cache", "--dir", str(tmp_path / "my-cache")])
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-cache"
    assert (root / "src" / "my_cache" / "__init__.py").exists()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                          env=dict(os.environ, PYTHONPATH=str(root / "src")), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert CliRunner().invoke(main, ["new", "my-cache", "--dir", str(root)]).exit_code == 1
    assert CliRunner().invoke(main, ["new", "9bad"]).exit_code == 1


def test_install_dry_run() -> None:
    result = CliRunner().invoke(main, ["install", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "make -C" in result.output and "GlusterFS" in result.output


def test_doctor_on_a_machine_without_glusterfs_names_what_is_missing(monkeypatch, tmp_path):
    """No GlusterFS programs, no headers: doctor says so, with the command that fixes it, and fails."""
    from click.testing import CliRunner

    from glupy import admin, cli
    from glupy.admin import checks as doctor_checks
    from glupy.gluster import _proc, xlators
    from glupy.gluster.errors import GlusterNotInstalledError

    def missing(*args, **kwargs):
        raise GlusterNotInstalledError("GlusterFS is not installed")

    monkeypatch.setattr(xlators, "gluster_version", missing)
    monkeypatch.setattr(_proc, "find_program", missing)
    real_path = doctor_checks.Path
    monkeypatch.setattr(doctor_checks, "Path", lambda p, *a: real_path(tmp_path / "absent") if str(p).startswith(
        "/usr/include/glusterfs") else real_path(p, *a))
    found = admin.doctor()
    checks = {c.name: c for c in found}
    assert not checks["GlusterFS"].ok and "glusterfs-server" in checks["GlusterFS"].fix
    assert any(c.name == "glusterd" and not c.ok and "glusterfs-server" in c.fix for c in found)
    assert not checks["GlusterFS headers"].ok and checks["GlusterFS headers"].fix == "apt-get install libglusterfs-dev"
    result = CliRunner().invoke(cli.main, ["doctor"])
    assert result.exit_code == 1
    assert "glusterfs-server" in result.output and "libglusterfs-dev" in result.output


def test_placement_puts_translators_where_their_class_says() -> None:
    from glupy.translators.crypt import Crypt

    assert admin.placement_after(Crypt, None) == "cluster"
    assert admin.placement_after(Crypt, "md-cache") == "md-cache"
    assert admin.placement_after(object, None) == ""
    graph = Volfile.parse(CLIENT_VOLFILE)
    assert gfilter.find_xlator(graph, "cluster") == "v0-dht"
    names = admin.build_client_graph(graph, [("glupy.translators.crypt", {"key-file": "k"}),
                                             ("glupy.translators.helloworld", {})], ["cluster", ""], "v0")
    assert names == ["crypt", "helloworld"]
    assert graph["crypt"].subvolumes == ["v0-dht"] and graph["v0-md-cache"].subvolumes == ["crypt"]
    assert graph["v0"].subvolumes == ["helloworld"] and graph["helloworld"].subvolumes == ["v0-md-cache"]
    bare = Volfile.parse("volume p\n    type storage/posix\nend-volume\n")
    with pytest.raises(VolfileError, match="no cluster translator"):
        gfilter.find_xlator(bare, "cluster")


def test_translator_names_are_bounded() -> None:
    from glupy.gluster import xlators

    xlators.check_name("a" * 64)
    with pytest.raises(ValueError, match="at most 64"):
        xlators.check_name("a" * 65)


BRICK_VOLFILE = """
volume v0-posix
    type storage/posix
    option directory /b/0
end-volume
volume v0-crypt-guard
    type user/crypt-guard
    option module glupy.translators.guard
    subvolumes v0-posix
end-volume
volume v0-plainuser
    type user/other
    subvolumes v0-crypt-guard
end-volume
volume v0-glupy
    type user/glupy
    option module glupy.translators.passthrough
    subvolumes v0-plainuser
end-volume
"""


def test_the_filter_makes_this_hosts_aliases_for_a_brick_volfile(tmp_path, monkeypatch) -> None:
    """glusterd runs the filter on brick volfiles too: it makes user/NAME.so for each glupy
    translator there (type user/NAME with a module option), not for other user xlators nor
    for user/glupy itself, and leaves the file as it is."""
    from glupy.gluster import xlators

    made = []
    monkeypatch.setattr(xlators, "ensure_alias", lambda name: made.append(name))
    brick_dir = tmp_path / "vols" / "v0"
    brick_dir.mkdir(parents=True)
    path = brick_dir / "v0.127.1.1.1.b-0.vol"
    path.write_text(BRICK_VOLFILE)
    assert not gfilter.is_client_volfile(path)
    assert gfilter.filter_volfile(path) is False
    assert made == ["crypt-guard"]
    assert path.read_text() == BRICK_VOLFILE
