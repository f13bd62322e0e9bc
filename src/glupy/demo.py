"""``glupy demo``: a local volume with Python translators on the bricks and on a client, end to end.

Layout under the state directory::

    node9/           the demo's glusterd (127.1.1.9), its bricks and logs
    node9/host/      with a system glusterd on port 24007: host.pid, the process
                     that holds the demo's network namespace

Next to a glusterd that already listens on port 24007 (the system one, on
0.0.0.0), the demo's glusterd cannot bind 127.1.1.9:24007, and the port cannot
be moved (bricks reach their glusterd on HOST:24007). The demo then runs its
glusterd, bricks, self-heal daemon and FUSE client in a network namespace of
their own (``GlusterNode(private_network=True)``), says so in one line, and
never talks to that glusterd; the mount is visible as usual.
    mnt/             the FUSE mount
    client.log       the client's log (helloworld writes there)
    dumps/           brick statedumps
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from glupy import admin
from glupy.gluster import GlusterNode, Volume, check_gluster_installed, xlators
from glupy.gluster.errors import GlusterError, GlusterNotInstalledError
from glupy.gluster.mount import is_glusterfs_mount, network_namespace
from glupy.gluster.node import GLUSTERD_PORT, glusterd_port_in_use

VOLUME = "glupy-demo"
SERVER_NAME = "demo-pt"
COUNTS = "glupy.passthrough.counts"
PORTS = {9: (49500, 49599)}


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/glupy-demo")
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "glupy-demo"


class Demo:
    """The demo in *state_dir* with glusterd on ``127.1.1.INDEX``.

    *private_network*: run it in a network namespace of its own (True), on the
    host's network (False), or the former only when ``127.1.1.INDEX:24007`` is
    taken, e.g. by the system glusterd (None, the default).
    """

    def __init__(self, state_dir: Path | None = None, *, index: int = 9, console: Console | None = None,
                 private_network: bool | None = None) -> None:
        self.state = (state_dir or default_state_dir()).absolute()
        self.console = console or Console()
        self.index = index
        self.private_network = private_network
        base = 49500 if index == 9 else 49152 + (index * 37) % 1000
        self.node = GlusterNode(self.state, index, port_range=PORTS.get(index, (base, base + 99)))
        self.mountpoint = self.state / "mnt"
        self.client_log = self.state / "client.log"
        self.dumps = self.state / "dumps"

    # ---------------------------------------------------------------- checks

    def preflight(self) -> None:
        try:
            check_gluster_installed()
        except GlusterNotInstalledError:
            raise admin.AdminError(f"GlusterFS is not installed: run apt-get install {admin.INSTALL_HINT.split(' ', 2)[2]}") from None
        if os.geteuid() != 0:
            raise admin.AdminError("the demo runs glusterd, bricks and a FUSE mount: run it as root")
        if not os.path.exists("/dev/fuse"):
            raise admin.AdminError("/dev/fuse is missing: load the fuse module (modprobe fuse)")
        try:
            xlators.check_bridge_installed()
        except GlusterNotInstalledError:
            raise admin.AdminError(f"the glupy bridge is not installed at {xlators.bridge_path()}: run glupy install") from None

    # ---------------------------------------------------------------- the run

    def step(self, text: str):
        return self.console.status(text)

    def run(self, keep: bool = False) -> None:
        self.preflight()
        ok = False
        try:
            self._run()
            ok = True
        except GlusterError as error:
            raise admin.AdminError(str(error).strip().splitlines()[0]) from None
        finally:
            if not keep:
                try:
                    self.cleanup(verbose=ok)
                except Exception as error:  # noqa: BLE001 - report, but keep the first error
                    self.console.print(f"[red]cleanup failed:[/] {error}")
                    if ok:
                        raise admin.AdminError(f"cleanup failed: {error}") from None
            elif ok:
                netns = self.node.netns
                self.console.print(
                    f"\n[bold]kept[/]: volume {VOLUME} on glusterd {self.node.address} (state {self.state}), "
                    f"mounted at {self.mountpoint}.\n"
                    f"  glupy --node {self.node.root} list\n"
                    f"  glupy --node {self.node.root} graph {VOLUME} --side server\n"
                    + (f"  (its network is private: run other clients in it, e.g. nsenter --net={netns} "
                       f"glupy --node {self.node.root} mount {VOLUME} DIR)\n" if netns else "")
                    + f"  glupy demo --cleanup --state-dir {self.state}", highlight=False)

    def _run(self) -> None:
        c = self.console
        c.rule("[bold]glupy demo")
        if self.node.is_running() or is_glusterfs_mount(self.mountpoint):
            raise admin.AdminError(f"a demo is already running in {self.state}: "
                                   f"glupy demo --cleanup --state-dir {self.state}")
        self.node.private_network = self.choose_private_network()
        if self.node.private_network:
            c.print(f"[yellow]![/] {self.node.address}:{GLUSTERD_PORT} is taken (a system glusterd?): the demo runs "
                    "in a network namespace of its own and leaves that glusterd alone", highlight=False)
        with self.step(f"starting glusterd on {self.node.address}"):
            self.node.start()
        where = f", private network {self.node.netns}" if self.node.private_network else ""
        c.print(f"[green]✓[/] glusterd on {self.node.address} (state in {self.node.root}{where})")
        with self.step("creating a replica-2 volume"):
            if VOLUME in self.node.volume_names():
                Volume(self.node, VOLUME).delete()
            vol = Volume.create(self.node, VOLUME, [self.node.brick(VOLUME, 0), self.node.brick(VOLUME, 1)],
                                replica=2)
            self.dumps.mkdir(parents=True, exist_ok=True)
            vol.set("server.statedump-path", str(self.dumps))
        c.print(f"[green]✓[/] volume {VOLUME}: 2 bricks under {self.node.brick_root / VOLUME}")
        with self.step("attaching passthrough to the bricks"):
            plan = admin.plan_attach(self.node, VOLUME, "glupy.translators.passthrough", name=SERVER_NAME)
            admin.apply_attach(self.node, plan)
        c.print(f"[green]✓[/] server side: {SERVER_NAME} (glupy.translators.passthrough) above posix on both bricks "
                f"(`glupy attach {VOLUME} glupy.translators.passthrough --name {SERVER_NAME}`)")
        with self.step("starting the volume"):
            vol.start(timeout=90)
        c.print("[green]✓[/] volume started")
        withs: list[tuple[str, dict[str, str]]] = [("glupy.translators.helloworld", {}), ("glupy.translators.passthrough", {})]
        with self.step("mounting with helloworld and passthrough on the client"), network_namespace(self.node.netns):
            fm, names = admin.mount(self.node, VOLUME, self.mountpoint, withs, log_file=self.client_log)
        active = fm.graph_xlators()
        c.print(f"[green]✓[/] mounted at {self.mountpoint} with {', '.join(names)} "
                f"(`glupy mount {VOLUME} {self.mountpoint} --with glupy.translators.helloworld "
                f"--with glupy.translators.passthrough`); active client graph has "
                f"{', '.join(n for n in names if n in active)}")
        self.scenario(self.mountpoint)
        self.report(vol, names)

    def choose_private_network(self) -> bool:
        """Whether to run in a network namespace of its own: as asked, else when
        the demo's glusterd could not bind its address's port 24007 here."""
        if self.private_network is not None:
            return self.private_network
        try:
            return glusterd_port_in_use(self.node.address)
        except OSError:
            return False  # e.g. the address is not on this host: GlusterNode.start says so

    def scenario(self, mp: Path) -> None:
        c = self.console
        c.rule("scenario")
        d = mp / "docs"
        d.mkdir()
        c.print(f"mkdir   {d.relative_to(mp)}")
        for i in range(3):
            p = d / f"note-{i}.txt"
            p.write_text(f"note {i} written through Python translators\n" * (i + 1))
            c.print(f"write   {p.relative_to(mp)} ({p.stat().st_size} bytes)")
        for i in range(3):
            p = d / f"note-{i}.txt"
            text = p.read_text()
            assert text.startswith(f"note {i}"), text
            c.print(f"read    {p.relative_to(mp)} -> {text.splitlines()[0]!r}")
        os.rename(d / "note-0.txt", d / "renamed.txt")
        c.print("rename  docs/note-0.txt -> docs/renamed.txt")
        os.unlink(d / "note-1.txt")
        c.print("delete  docs/note-1.txt")
        listing = sorted(os.listdir(d))
        c.print(f"list    docs/ -> {listing}")
        if listing != ["note-2.txt", "renamed.txt"]:
            raise admin.AdminError(f"unexpected directory content {listing}")

    def report(self, vol: Volume, names: list[str]) -> None:
        c = self.console
        c.rule("what the translators did")
        client = json.loads(os.getxattr(self.mountpoint, COUNTS))
        with self.step("collecting brick statedumps"):
            bricks = statedump_counts(vol, self.dumps, f"{VOLUME}-{SERVER_NAME}")
        fops = sorted(set(client) | {k for b in bricks for k in b}, key=lambda f: -(client.get(f, 0)))
        table = Table(title="FOPs counted by passthrough (client: getfattr -n glupy.passthrough.counts; "
                            "bricks: gluster volume statedump)")
        table.add_column("fop")
        table.add_column("client", justify="right")
        for i in range(len(bricks)):
            table.add_column(f"brick {i}", justify="right")
        for fop in fops:
            table.add_row(fop, str(client.get(fop, 0)), *(str(b.get(fop, 0)) for b in bricks))
        table.add_row("[bold]total", f"[bold]{sum(client.values())}",
                      *(f"[bold]{sum(b.values())}" for b in bricks))
        c.print(table)
        hello = [line for line in self.client_log.read_text(errors="replace").splitlines() if "hello: lookup" in line]
        c.print(f"helloworld logged {len(hello)} lookups in {self.client_log}, e.g.:")
        for line in hello[:5]:
            c.print("  " + re.sub(r"^\[[^\]]*\]\s*", "", line)[:150], highlight=False)
        if not hello or not client or not all(bricks):
            raise admin.AdminError("a translator saw nothing: "
                                   f"helloworld {len(hello)} lines, client {sum(client.values())} FOPs, "
                                   f"bricks {[sum(b.values()) for b in bricks]} FOPs")

    # ---------------------------------------------------------------- cleanup

    def cleanup(self, verbose: bool = False) -> None:
        with self.step("cleaning up"):
            if is_glusterfs_mount(self.mountpoint):
                admin.umount(self.mountpoint)
            if self.node.is_running():
                try:
                    if VOLUME in self.node.volume_names():
                        Volume(self.node, VOLUME).delete(remove_bricks=True)
                except GlusterError:
                    pass
                self.node.stop()
            xlators.remove_alias(SERVER_NAME)
            # only what the demo created; the state directory itself if it is then empty
            shutil.rmtree(self.node.root, ignore_errors=True)
            shutil.rmtree(self.dumps, ignore_errors=True)
            self.client_log.unlink(missing_ok=True)
            if self.mountpoint.is_dir() and not is_glusterfs_mount(self.mountpoint):
                try:
                    self.mountpoint.rmdir()
                except OSError:
                    pass
            try:
                self.state.rmdir()
            except OSError:
                pass
        if verbose:
            self.console.print(f"[green]✓[/] cleaned up (unmounted, volume deleted, glusterd stopped, {self.state} removed)")


def statedump_counts(volume: Volume, dump_dir: Path, name: str, timeout: float = 30) -> list[dict[str, int]]:
    """{fop: count} of glupy translator *name* in each brick's statedump."""
    for old in dump_dir.glob("*.dump.*"):
        old.unlink()
    volume.node.gluster("volume", "statedump", volume.name)
    bricks = len(volume.info().bricks)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dumps = sorted(dump_dir.glob("*.dump.*"))
        if len(dumps) >= bricks and all("DUMP-END-TIME" in d.read_text(errors="replace") for d in dumps):
            break
        time.sleep(0.2)
    result = []
    for dump in sorted(dump_dir.glob("*.dump.*")):
        text = dump.read_text(errors="replace")
        section = re.search(rf"\[xlator\.glupy\.{re.escape(name)}\.priv\]\n(.*?)(?:\n\[|\Z)", text, re.S)
        counts = dict(re.findall(r"^count\.(\w+)=(\d+)$", section.group(1), re.M)) if section else {}
        result.append({k: int(v) for k, v in counts.items()})
    return result
