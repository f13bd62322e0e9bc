"""The ``glupy`` command on real GlusterFS, run as a subprocess like a user would.

Uses its own glusterd (node 8, 127.1.1.8, brick ports 29400-29499); ``glupy demo``
runs its own on 127.1.1.9 (ports 49500-49599), once next to a stand-in for the
system glusterd (0.0.0.0:24007, its own directory ``sysgd``). The client volfile filter that
client-side attach installs is removed at the end of the module in any case.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy import volfile_filter as gfilter
from glupy.gluster import Brick, GlusterNode, Volume, _proc, xlators
from glupy.gluster.mount import is_glusterfs_mount
from glupy.gluster.node import GLUSTERD_PORT, glusterd_port_in_use, port_listeners
from glupy.gluster.volfile import Volfile

GLUPY = str(Path(sys.executable).parent / "glupy")
COUNTS = "glupy.passthrough.counts"


def glupy(*args: str | Path, node: GlusterNode | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [GLUPY] + (["--node", str(node.root)] if node else []) + [str(a) for a in args]
    env = dict(os.environ, COLUMNS="200")
    env.pop("GLUPY_NODE", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def last_graph(log: Path) -> str:
    text = log.read_text(errors="replace")
    at = text.rfind("Final graph:")
    assert at >= 0, f"no graph in {log}"
    return text[at:]


@pytest.fixture(scope="module")
def cli_node(module_node: GlusterNode) -> Iterator[GlusterNode]:
    node = module_node
    try:
        yield node
    finally:
        try:
            for name in node.volume_names():
                node.volume(name).delete()
        finally:
            gfilter.remove_filter()
            for name in ("cli-pt", "cli-probe"):
                xlators.remove_alias(name)


def test_doctor_and_help() -> None:
    out = ok(glupy("--help"))
    for command in ("attach", "detach", "list", "mount", "umount", "graph", "new", "doctor", "demo", "install"):
        assert command in out
    out = ok(glupy("doctor"))
    assert "glupy bridge" in out and "GlusterFS" in out
    assert "make -C" in ok(glupy("install", "--dry-run"))


# The demo tests come before the first test that uses cli_node: a glusterd on
# 0.0.0.0:24007 cannot start while this module's own node holds 127.1.1.8:24007.

def test_demo_end_to_end(gluster_state_dir: Path) -> None:
    state = gluster_state_dir / "demo"
    proc = glupy("demo", "--state-dir", state, timeout=240)
    out = ok(proc)
    assert "helloworld logged" in out and "cleaned up" in out, out
    assert re.search(r"create\s+│\s+3\s+│\s+[1-9]", out), out  # client and bricks counted the creates
    assert not state.exists()
    assert not _proc.pids_with_cmdline_containing([str(state) + "/"])
    assert not xlators.alias_path("demo-pt").exists()


@pytest.fixture
def system_glusterd(gluster_state_dir: Path) -> Iterator[GlusterNode]:
    """A stand-in for the distribution's glusterd: listening on 0.0.0.0:24007 (every
    address), with a volume, but its own working directory and socket, so that
    /var/lib/glusterd is not touched. Started only if nothing listens on port 24007;
    stopped by its PID (and what it spawned) afterwards."""
    if glusterd_port_in_use("0.0.0.0"):
        reason = (f"port {GLUSTERD_PORT} is in use ({port_listeners()}): the test cannot start its own "
                  f"system glusterd on 0.0.0.0:{GLUSTERD_PORT} next to that glusterd")
        if os.environ.get("GLUPY_REQUIRE_GLUSTER") == "1":
            pytest.fail(f"{reason} (GLUPY_REQUIRE_GLUSTER=1 forbids skipping)", pytrace=False)
        pytest.skip(reason)
    node = GlusterNode(gluster_state_dir / "sysgd", 1, address="0.0.0.0", name="system", port_range=(29500, 29599))
    try:
        node.start()
        Volume.create(node, "sysvol", [Brick("127.1.9.250", node.brick_root / "sysvol" / "b0")], force=True)
        yield node
    finally:
        node.stop()


def test_demo_next_to_a_system_glusterd(gluster_state_dir: Path, system_glusterd: GlusterNode) -> None:
    """With a glusterd on 0.0.0.0:24007, the demo runs in a network namespace of its own,
    says so, and leaves that glusterd as it was: same process, same volumes."""
    system = system_glusterd
    pid, volumes, info = system.pid, system.volume_names(), system.volume("sysvol").info()
    assert pid is not None and volumes == ["sysvol"]
    assert glusterd_port_in_use("127.1.1.9")
    state = gluster_state_dir / "demo-next-to-system"
    out = ok(glupy("demo", "--state-dir", state, timeout=240))
    assert "127.1.1.9:24007 is taken" in out and "network namespace of its own" in out, out
    assert "helloworld logged" in out and "cleaned up" in out, out
    assert re.search(r"create\s+│\s+3\s+│\s+[1-9]", out), out
    assert system.pid == pid
    assert system.volume_names() == volumes
    assert system.volume("sysvol").info() == info
    assert not state.exists()
    assert not _proc.pids_with_cmdline_containing([str(state) + "/"])  # glusterd, bricks, client, namespace holder
    assert not xlators.alias_path("demo-pt").exists()


def test_server_attach_list_detach(cli_node: GlusterNode, volume_factory, fuse_mount) -> None:
    vol = volume_factory(cli_node, bricks=2, replica=2)
    out = ok(glupy("attach", vol.name, "glupy.translators.passthrough", "--name", "cli-pt", "--yes", node=cli_node))
    assert "restarted volume" in out and "state: active" in out, out
    assert xlators.alias_path("cli-pt").is_symlink()
    for log in vol.brick_logs().values():  # the translator runs on every brick
        graph = last_graph(log)
        assert "type user/cli-pt" in graph and "option module glupy.translators.passthrough" in graph, log
    listed = json.loads(ok(glupy("list", vol.name, "--json", node=cli_node)))
    assert [(e["name"], e["class"], e["side"], e["position"], e["state"]) for e in listed] == [
        ("cli-pt", "Passthrough", "server", "above posix", "active")]
    table = ok(glupy("list", node=cli_node))
    assert "cli-pt" in table and "Passthrough" in table
    # FOPs through a plain mount reach the brick passthrough (it answers the counts xattr)
    m = fuse_mount(vol, server=cli_node)
    (m.mountpoint / "f").write_text("x")
    counts = json.loads(os.getxattr(m.mountpoint, COUNTS))
    assert counts.get("create", 0) >= 1 and counts.get("writev", 0) >= 1, counts
    m.unmount()

    ok(glupy("detach", vol.name, "cli-pt", "--yes", node=cli_node))
    assert json.loads(ok(glupy("list", vol.name, "--json", node=cli_node))) == []
    assert not any(k.startswith("user.xlator.cli-pt") for k in vol.info().options)
    for log in vol.brick_logs().values():
        assert "user/cli-pt" not in last_graph(log)
    assert not xlators.alias_path("cli-pt").exists()


def test_refusals_change_nothing(cli_node: GlusterNode, volume_factory) -> None:
    vol = volume_factory(cli_node, start=False)
    before = dict(vol.info().options)
    refused(glupy("attach", vol.name, "no_such_pkg.mod", node=cli_node), "no Python module named 'no_such_pkg'")
    refused(glupy("attach", vol.name, "glupy.testing.translators:Probe", "--name", "cli-probe", "-o", "limit=5000",
                  node=cli_node), "limit", "maximum")
    refused(glupy("attach", vol.name, "glupy.testing.translators:Probe", "--name", "cli-probe", "-o", "bogus=1",
                  node=cli_node), "unknown option bogus")
    refused(glupy("attach", vol.name, "glupy.testing.translators", node=cli_node), "Translator classes")
    refused(glupy("attach", vol.name, "glupy.translators.passthrough", "-o", "novalue", node=cli_node), "KEY=VALUE")
    refused(glupy("attach", "no-such-volume", "glupy.translators.passthrough", node=cli_node), "no-such-volume")
    refused(glupy("detach", vol.name, "nothing", node=cli_node), "no glupy translator nothing")
    assert dict(vol.info().options) == before
    assert not xlators.alias_path("cli-probe").exists()
    assert not gfilter.filter_path().exists() or gfilter.client_config(before) == []


def test_client_attach_filter_graph_detach(cli_node: GlusterNode, volume_factory, fuse_mount,
                                           tmp_path: Path) -> None:
    vol = volume_factory(cli_node)
    existing = fuse_mount(vol, server=cli_node)
    try:
        out = ok(glupy("attach", vol.name, "glupy.translators.passthrough", "--side", "client", "--name", "cli-cpt",
                       "--yes", node=cli_node))
        assert gfilter.filter_installed()
        volfile = vol.client_volfile()
        graph = Volfile.read(volfile)
        assert graph["cli-cpt"].type == "user/glupy" and graph.parents("cli-cpt") == [graph.top]
        trusted = Volfile.read(vol.client_volfile(trusted=True))
        assert "cli-cpt" in trusted
        assert not any("cli-cpt" in p.read_text() for p in vol.brick_volfiles().values())
        # the filter is idempotent on the real file
        text = volfile.read_text()
        subprocess.run([str(gfilter.filter_path()), str(volfile)], check=True)
        assert volfile.read_text() == text
        # the existing mount: glusterd pushed the new volfile; the report says what happened
        switched = "cli-cpt" in existing.graph_xlators()
        assert ("switched to the new graph" in out) == switched, out
        # a new mount loads it
        m = fuse_mount(vol, server=cli_node)
        assert "cli-cpt" in m.graph_xlators()
        (m.mountpoint / "c").write_text("y")
        assert json.loads(os.getxattr(m.mountpoint, COUNTS)).get("create") == 1
        listed = json.loads(ok(glupy("list", vol.name, "--json", node=cli_node)))
        assert [(e["name"], e["side"], e["position"], e["state"]) for e in listed] == [
            ("cli-cpt", "client", "below top", "new mounts")]
        # graph picture with the Python translator highlighted
        svg = tmp_path / "g.svg"
        ok(glupy("graph", vol.name, "--side", "client", "-o", svg, node=cli_node))
        text = html.unescape(svg.read_text())
        assert "<svg" in text and "cli-cpt" in text
        node_svg = re.search(r'<g id="node\d+" class="node glupy-python">\s*<title>cli-cpt</title>.*?</g>', text, re.S)
        assert node_svg and 'fill="#ffd54f"' in node_svg.group(0), text[:2000]
        tree = ok(glupy("graph", vol.name, node=cli_node))
        assert "cli-cpt" in tree and "python glupy.translators.passthrough" in tree

        out = ok(glupy("detach", vol.name, "cli-cpt", "--yes", node=cli_node))
        assert "removed the client volfile filter" in out, out
        assert not gfilter.filter_path().exists()
        assert "cli-cpt" not in Volfile.read(vol.client_volfile())
        assert vol.info().options["user.glupy.client.cli-cpt"] == "-"
    finally:
        gfilter.remove_filter()


def test_mount_with_and_umount(cli_node: GlusterNode, volume_factory, gluster_state_dir: Path) -> None:
    vol = volume_factory(cli_node)
    mp = gluster_state_dir / "mnt" / "cli-with"
    log = gluster_state_dir / "clients" / "cli-with.log"
    try:
        out = ok(glupy("mount", vol.name, mp, "--with", "glupy.translators.helloworld",
                       "--with", "glupy.testing.translators:Probe", "-o", "limit=7", "-o", "label=x",
                       "--log-file", log, node=cli_node))
        assert "helloworld" in out and "probe" in out, out
        active = (mp / ".meta" / "graphs" / "active" / "volfile").read_text()
        graph = Volfile.parse(active)
        top = graph.find_type("debug/io-stats")[-1]
        assert top.subvolumes == ["helloworld"] and graph["helloworld"].subvolumes == ["probe"]
        assert graph["probe"].options == {"module": "glupy.testing.translators:Probe", "limit": "7", "label": "x"}
        os.listdir(mp)
        assert (mp / "nope").exists() is False
        assert "hello: lookup /nope" in log.read_text()
        refused(glupy("mount", vol.name, mp, node=cli_node), "already mounted")
        refused(glupy("mount", vol.name, gluster_state_dir / "mnt" / "cli-bad", "-o", "a=b",
                      "--with", "glupy.translators.helloworld", node=cli_node), "after the --with")
        ok(glupy("umount", mp))
        assert not is_glusterfs_mount(mp)
        refused(glupy("umount", mp), "no GlusterFS mount")
    finally:
        if is_glusterfs_mount(mp):
            glupy("umount", mp)


def brick_state(vol) -> tuple[bool, list]:
    status = vol.status()
    return status.all_bricks_online, sorted(b.pid for b in status.bricks)


@pytest.mark.parametrize("side", ["server", "client"])
def test_attach_refuses_what_cannot_start_and_changes_nothing(cli_node: GlusterNode, volume_factory, side: str,
                                                              tmp_path: Path) -> None:
    """Constructor or init() raising, a missing key file, a name too long: refused with
    the cause before anything changes (a trial start of the translator), on either side."""
    vol = volume_factory(cli_node, bricks=2, replica=2)
    options, bricks = dict(vol.info().options), brick_state(vol)
    aliases = set((xlators.xlator_dir() / "user").iterdir())
    assert bricks[0]
    cases = [
        (["glupy.testing.translators:FailingInit"], "RuntimeError: FailingInit fails by design"),
        (["glupy.testing.translators:FailingConstructor"], "ValueError: FailingConstructor fails by design"),
        (["glupy.translators.crypt", "-o", f"key-file={tmp_path / 'missing.key'}"], "missing.key does not exist"),
        (["glupy.translators.passthrough", "--name", "n" * 300], "at most 64"),
    ]
    for args, cause in cases:
        refused(glupy("attach", vol.name, *args, "--side", side, "--yes", node=cli_node), cause)
        assert dict(vol.info().options) == options
        assert brick_state(vol) == bricks
    assert set((xlators.xlator_dir() / "user").iterdir()) == aliases


def test_server_attach_that_fails_in_the_bricks_is_rolled_back(cli_node: GlusterNode, volume_factory) -> None:
    """A translator that passes the trial start but cannot start inside the bricks: attach
    says why (the translator's own error line) and the volume runs as before, without it."""
    vol = volume_factory(cli_node, bricks=2, replica=2)
    # a rollback drops the new keys with `volume reset all` (GlusterFS 10.3 resets no
    # user.* key alone) and sets the others again; granular-entry-heal only comes back
    # through `gluster volume heal`, which cannot fetch a volfile from an isolated
    # glusterd like this one: start from a volume without it (a volume that has been
    # started loses it to `reset all`)
    vol.stop(force=True)
    cli_node.gluster("volume", "reset", vol.name, "all")
    vol.start()
    assert "cluster.granular-entry-heal" not in vol.info().options
    options = dict(vol.info().options)
    err = refused(glupy("attach", vol.name, "glupy.testing.translators:FailsOnlyInGlusterFS", "--name", "cli-late",
                        "--yes", node=cli_node),
                  "rolled back", "FailsOnlyInGlusterFS fails inside GlusterFS by design")
    assert "glupy: cannot start translator" in err
    assert dict(vol.info().options) == options
    assert vol.info().started and brick_state(vol)[0]
    for log in vol.brick_logs().values():
        assert "cli-late" not in last_graph(log)
    assert not xlators.alias_path("cli-late").exists()


def test_crypt_goes_where_it_belongs_and_fails_closed(cli_node: GlusterNode, volume_factory, fuse_mount,
                                                     gluster_state_dir: Path, tmp_path: Path) -> None:
    """`glupy mount --with glupy.translators.crypt -o key-file=KEY` on a fresh volume: crypt
    sits right above dht (its class's placement), data round-trips, the bricks hold
    ciphertext; a bad key file is refused with crypt's own error. Attach places it too
    and guards the bricks: a client whose graph lacks crypt cannot write (EACCES) and
    leaves no plaintext; a client through crypt still can."""
    from glupy.translators.crypt import write_key_file

    key = tmp_path / "vol.key"
    write_key_file(key)
    vol = volume_factory(cli_node, bricks=2, replica=2)
    mp = gluster_state_dir / "mnt" / "cli-crypt"
    try:
        refused(glupy("mount", vol.name, mp, "--with", "glupy.translators.crypt", "-o",
                      f"key-file={tmp_path / 'nope.key'}", node=cli_node), "nope.key does not exist")
        assert not is_glusterfs_mount(mp)
        ok(glupy("mount", vol.name, mp, "--with", "glupy.translators.crypt", "-o", f"key-file={key}", node=cli_node))
        graph = Volfile.parse((mp / ".meta" / "graphs" / "active" / "volfile").read_text())
        assert graph["crypt"].subvolumes == [f"{vol.name}-dht"], graph.names()
        (mp / "secret").write_bytes(b"attack at dawn" * 100)
        assert (mp / "secret").read_bytes() == b"attack at dawn" * 100
        for brick in vol.info().bricks:
            assert b"attack at dawn" not in (brick.path / "secret").read_bytes()
    finally:
        if is_glusterfs_mount(mp):
            glupy("umount", mp)
    try:
        out = ok(glupy("attach", vol.name, "glupy.translators.crypt", "--side", "client", "--name", "cli-crypt",
                       "-o", f"key-file={key}", "--yes", node=cli_node))
        assert "a trial mount started cli-crypt" in out and "attached cli-crypt-guard" in out, out
        graph = Volfile.read(vol.client_volfile())
        assert graph["cli-crypt"].subvolumes == [f"{vol.name}-dht"]
        # a client whose volfile lacks crypt (as one served by a host without glupy)
        graph.remove("cli-crypt")
        bypass = tmp_path / "bypass.vol"
        graph.write(bypass)
        plain = fuse_mount(volfile=bypass)
        assert "cli-crypt" not in plain.graph_xlators()
        with pytest.raises(PermissionError):
            (plain.mountpoint / "leak").write_bytes(b"plaintext that must not land")
        with pytest.raises(PermissionError):
            (plain.mountpoint / "secret").read_bytes()
        for brick in vol.info().bricks:
            leak = brick.path / "leak"
            assert not leak.exists() or b"plaintext" not in leak.read_bytes()
        through = fuse_mount(vol, server=cli_node)
        assert "cli-crypt" in through.graph_xlators()
        (through.mountpoint / "ok").write_bytes(b"through crypt")
        assert (through.mountpoint / "ok").read_bytes() == b"through crypt"
        assert (through.mountpoint / "secret").read_bytes() == b"attack at dawn" * 100
        for brick in vol.info().bricks:
            assert b"through crypt" not in (brick.path / "ok").read_bytes()
        plain.unmount()
        through.unmount()
    finally:
        glupy("detach", vol.name, "cli-crypt", "--yes", node=cli_node)
        glupy("detach", vol.name, "cli-crypt-guard", "--yes", node=cli_node)
        gfilter.remove_filter()


def test_a_host_with_another_module_version_refuses_to_load_it(cli_node: GlusterNode, volume_factory) -> None:
    """attach records the module's identity; a brick whose module differs from the recorded
    one refuses to start it with one line saying expected vs found; `glupy refresh`
    records the installed one again (the upgrade procedure)."""
    from glupy import loader
    from glupy.translators.passthrough import Passthrough

    vol = volume_factory(cli_node, bricks=2, replica=2)
    ok(glupy("attach", vol.name, "glupy.translators.passthrough", "--name", "cli-id", "--yes", node=cli_node))
    here = loader.identity(Passthrough)
    assert vol.info().options["user.xlator.cli-id.identity"] == here
    try:
        other = "0.0.1+sha256.0123456789abcdef"
        cli_node.gluster("volume", "set", vol.name, "user.xlator.cli-id.identity", other)
        vol.stop(force=True)
        with pytest.raises(Exception):
            vol.start(timeout=30)
        line = (f"module glupy.translators.passthrough on this host is {here}, but the volume was attached "
                f"with {other}")
        # glusterd starts the bricks one after the other and stops at the first that fails
        logs = "".join(log.read_text(errors="replace") for log in vol.brick_logs().values())
        assert logs.count(line) >= 1, logs[-3000:]
        out = ok(glupy("refresh", vol.name, "cli-id", "--yes", node=cli_node))
        assert f"{other} -> {here}" in out, out
        assert f"volume {vol.name} started" in " ".join(out.split()), out
        assert brick_state(vol)[0]
        for log in vol.brick_logs().values():
            assert "type user/cli-id" in last_graph(log)
    finally:
        ok(glupy("detach", vol.name, "cli-id", "--yes", node=cli_node))


RELOAD_PROBE = '''import glupy

VERSION = {version!r}


class ReloadProbe(glupy.Translator):
    """Answers the xattr glupy.reload.version with VERSION:N (N: how many it answered)."""

    def init(self):
        # a version whose trouble only shows inside GlusterFS (the trial start runs in the harness)
        if {broken!r} and type(self._glupy_xlator).__module__ != "glupy.testing.harness":
            raise RuntimeError("version {version} cannot start here")
        self.seen = 0

    def migrate(self, old):
        self.seen = old.seen

    async def getxattr(self, loc, name, xdata):
        if name == "glupy.reload.version":
            self.seen += 1
            return glupy.GetxattrReply(dict=glupy.Xdata({{name: f"{{VERSION}}:{{self.seen}}".encode()}}))
        return await self.child.getxattr(loc, name, xdata)
'''


def test_reload_switches_code_live_and_refuses_a_broken_version(cli_node: GlusterNode, volume_factory,
                                                                fuse_mount) -> None:
    """glupy reload on a started replica-2 volume: the bricks switch to the new code
    without a restart (same PIDs), its state carried by migrate(), while a client keeps
    writing and reading without one error; a version that cannot start on the bricks is
    refused there, reported per brick, and the running version keeps serving."""
    import sysconfig
    import threading

    module = Path(sysconfig.get_paths()["purelib"]) / "glupy_reload_probe.py"

    def install(version: str, broken: bool = False) -> None:
        module.write_text(RELOAD_PROBE.format(version=version, broken=broken))

    def version(m) -> str:
        return os.getxattr(m.mountpoint, "glupy.reload.version").decode()

    install("1")
    vol = volume_factory(cli_node, bricks=2, replica=2)
    stop, errors = threading.Event(), []
    try:
        ok(glupy("attach", vol.name, "glupy_reload_probe", "--name", "cli-reload", "--yes", node=cli_node))
        m = fuse_mount(vol, server=cli_node)
        assert [version(m) for _ in range(3)] == ["1:1", "1:2", "1:3"]
        pids = brick_state(vol)[1]

        def busy() -> None:
            n = 0
            while not stop.is_set():
                path = m.mountpoint / f"busy-{n % 20}"
                data = os.urandom(4096 + n % 5000)
                try:
                    path.write_bytes(data)
                    if path.read_bytes() != data:
                        errors.append(f"{path}: read back other data")
                except OSError as error:
                    errors.append(f"{path}: {error}")
                n += 1

        writer = threading.Thread(target=busy)
        writer.start()
        install("2")
        out = ok(glupy("reload", vol.name, "cli-reload", node=cli_node))
        assert out.count("reloaded") == 2, out
        assert version(m) == "2:4"  # the new code, with the old instance's count
        [entry] = json.loads(ok(glupy("list", vol.name, "--json", node=cli_node)))
        v2 = entry["options"]["identity"]
        assert v2.startswith("unversioned+sha256.") and entry["running"] == {b: v2 for b in entry["running"]}
        assert len(entry["running"]) == 2, entry
        install("3", broken=True)
        err = refused(glupy("reload", vol.name, "cli-reload", node=cli_node), "2 of 2 bricks kept the old code",
                      "version 3 cannot start here")
        assert version(m) == "2:5", err
        [entry] = json.loads(ok(glupy("list", vol.name, "--json", node=cli_node)))
        assert entry["options"]["identity"] != v2 and set(entry["running"].values()) == {v2}  # what runs, per brick
        stop.set()
        writer.join(60)
        assert errors == []
        assert brick_state(vol)[1] == pids  # no brick restarted
    finally:
        stop.set()
        install("1")
        glupy("detach", vol.name, "cli-reload", "--yes", node=cli_node)
        module.unlink(missing_ok=True)
