"""The ``glupy`` command: install the bridge, attach Python translators to volumes, mount, inspect, demo.

Every failure prints one line (``error: ...``) on stderr and exits with status 1
(2 for usage errors, 130 when interrupted). The logic lives in :mod:`glupy.admin`;
tables and graphs are drawn by :mod:`glupy.cli_render`.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from glupy import __version__, admin, cli_render
from glupy import events as events_module
from glupy.gluster.errors import GlusterError

# soft_wrap: lines are not cut at the terminal width (80 columns when piped): a brick
# path or an identity stays on one line, as scripts and copy-paste need it; tables
# still fit the width
console = Console(soft_wrap=True)
err_console = Console(stderr=True)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, status: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(status)


def handle_errors(func):
    """Turn AdminError/GlusterError/OSError into one line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except admin.AdminError as error:
            fail(str(error))
        except GlusterError as error:
            fail(str(error).strip().splitlines()[0])
        except OSError as error:
            fail(f"{error.filename + ': ' if error.filename else ''}{error.strerror or error}")
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def confirm(question: str, yes: bool) -> bool:
    """--yes answers yes; without a terminal the answer is no."""
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    return click.confirm(question, default=False)


def node_of(ctx: click.Context):
    return admin.resolve_node(ctx.obj.get("node_dir") if ctx.obj else None)


@click.group(context_settings=CONTEXT)
@click.option("--node", "node_dir", metavar="DIR", envvar="GLUPY_NODE",
              help="Talk to the isolated glusterd living in DIR (a glupy.gluster.GlusterNode directory, e.g. "
                   "/var/lib/glupy-demo/node9) instead of the system glusterd. Also $GLUPY_NODE.")
@click.version_option(__version__, prog_name="glupy")
@click.pass_context
def main(ctx: click.Context, node_dir: str | None) -> None:
    """glupy: GlusterFS translators written in Python.

    \b
    glupy doctor                      what is missing, and how to fix it
    glupy install                     build and install the bridge for the installed GlusterFS
    glupy demo                        a volume with Python translators on both sides, end to end
    glupy attach VOL MODULE[:CLASS]   add a Python translator to a volume's bricks or clients
    glupy list / detach / graph       see and undo it
    glupy mount VOL DIR --with MOD    a FUSE mount with Python translators on this client only
    glupy new NAME                    scaffold a translator package
    glupy watch VOL [PATH]            changes made by any client, as they happen
    """
    ctx.ensure_object(dict)
    ctx.obj["node_dir"] = node_dir


# ------------------------------------------------------------------ install

@main.command(context_settings=CONTEXT)
@click.option("--dry-run", is_flag=True, help="Print the build command instead of running it.")
@click.option("--filter", "with_filter", is_flag=True,
              help="Also install the client volfile filter (needed on every server of a pool for "
                   "client-side translators; `glupy attach --side client` installs it on this one).")
@handle_errors
def install(dry_run: bool, with_filter: bool) -> None:
    """Build and install the bridge (user/glupy.so) for the installed GlusterFS. Idempotent.

    From a source checkout this runs `make -C REPO install`, which builds against
    the installed GlusterFS and records this Python environment in the bridge.
    """
    from glupy.gluster import xlators

    try:
        version = xlators.gluster_version()
    except GlusterError:
        raise admin.AdminError(f"GlusterFS is not installed: run {admin.INSTALL_HINT}") from None
    cmd = admin.install_command()
    if sys.prefix != sys.base_prefix:
        cmd.append(f"VENV={sys.prefix}")
    python = Path(sys.prefix) / "bin" / "python"
    console.print(f"GlusterFS {version}; translators run in Python {python} ({sys.version.split()[0]})")
    if dry_run:
        console.print(" ".join(cmd))
        return
    with console.status(f"building the bridge: {' '.join(cmd)}"):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise admin.AdminError(f"`{' '.join(cmd)}` failed: {lines[-1] if lines else 'no output'}")
    path = xlators.bridge_path()
    console.print(f"[green]installed[/] {path} (GlusterFS {version}, Python {python})")
    if with_filter:
        from glupy import volfile_filter as gfilter

        console.print(f"[green]installed[/] {gfilter.install_filter()}")


# ------------------------------------------------------------------ attach / detach / list

@main.command(context_settings=CONTEXT)
@click.argument("volume")
@click.argument("spec", metavar="MODULE[:CLASS]")
@click.option("--name", help="Translator name in the graph (default: from the class or module).")
@click.option("--side", type=click.Choice(["server", "client"]), default="server", show_default=True,
              help="server: on every brick (user.xlator); client: in the FUSE client graph (volfile filter).")
@click.option("--after", "after", metavar="XLATOR",
              help="Server: the brick translator to sit above (posix, locks, io-threads, ...; default posix). "
                   "Client: the translator to sit above (default: right below the top io-stats).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Translator option (repeatable).")
@click.option("-y", "--yes", is_flag=True, help="Restart what needs restarting without asking.")
@click.option("--force", is_flag=True, help="Attach even if some node of the pool cannot run the translator.")
@click.pass_context
@handle_errors
def attach(ctx, volume, spec, name, side, after, options, yes, force) -> None:
    """Attach a Python translator to VOLUME.

    The class is imported and its options checked first, and every node of the pool
    is asked whether it can run it (glupy installed, the module there with the same
    version and source, the client filter for client-side translators); if any
    check fails nothing is changed. Server side needs a volume restart (asked, or
    --yes); client side is pushed by glusterd to connected clients, and new mounts
    load it.

    Attaching a new version of a translator the volume has (the same name, module
    and options) switches it live instead, as glupy reload does.
    """
    from glupy import pool

    node = node_of(ctx)
    opts = admin.parse_options(options)
    new_version = admin.plan_new_version(node, volume, spec, name=name, side=side, after=after, options=opts)
    if new_version is not None:  # attached already: a new version of its code, switched to live
        console.print(f"{new_version.name} is attached to {volume}: switching it to the version installed here")
        _reload(node, new_version, force)
        return
    plan = admin.plan_attach(node, volume, spec, name=name, side=side, after=after, options=opts)
    named = _pool_check(node, pool.Translator(plan.name, plan.spec, side, plan.options["identity"]), force,
                        "attached", "attaches anyway")
    # only these nodes' bricks may fail to start it (they stay down: fail closed); any other failure rolls back
    plan.forced = {host: "; ".join(reasons) for host, reasons in named.items()}
    with console.status(f"attaching {plan.name} to {volume}"):
        notes = admin.apply_attach(node, plan)
    where = f"above {plan.after}" if plan.after else "below the top io-stats"
    console.print(f"[green]attached[/] {plan.name} ({plan.spec.partition(':')[0]}:{plan.cls_name}) to the "
                  f"{admin.side_named(side).runs_on} of {volume}, {where}")
    for note in notes:
        console.print(f"  {note}")
    TAKE_EFFECT[side](node, plan, yes)


def _pool_check(node, translator, force: bool, done: str, anyway: str) -> dict[str, list[str]]:
    """Ask every node of the pool whether it can run *translator*: AdminError naming
    each problem ("not DONE: ..."), unless --force (then each is printed). Returns
    {host: its problems}."""
    from glupy import pool

    with console.status("asking every node of the pool"):
        named = pool.attach_check(node, translator)
    problems = [f"{host}: {why}" for host, reasons in named.items() for why in reasons]
    if problems and not force:
        raise admin.AdminError(f"not {done}: {len(problems)} problem(s) on the pool's nodes: "
                               + "; ".join(problems) + f" (--force {anyway})")
    for problem in problems:
        console.print(f"  [yellow]--force[/]: {problem}")
    return named


def _take_effect_on_clients(node, plan, yes: bool) -> None:
    """After a client-side attach: connected clients switch, a trial mount must start it
    (else the attach is rolled back), and its guard goes on the bricks if it has one."""
    volume = plan.volume
    _client_report(node, volume, plan.name, present=True)
    if plan.started:
        with console.status(f"trial mount of {volume} with {plan.name}"):
            cause = admin.trial_mount(node, volume, plan.name)
        if cause:
            admin.roll_back_attach(node, plan)
            raise admin.AdminError(f"attach rolled back: a new client of {volume} could not start {plan.name}: "
                                   f"{cause}")
        console.print(f"  a trial mount started {plan.name}")
    if plan.guard:
        # a translator that must not be bypassed: the bricks refuse data FOPs without its mark
        guard = admin.plan_guard(node, plan)
        notes = admin.apply_attach(node, guard)
        console.print(f"[green]attached[/] {guard.name} to the bricks of {volume}: data FOPs from clients "
                      f"whose graph lacks {plan.name} are refused (EACCES)")
        for note in notes:
            console.print(f"  {note}")
        _restart_or_roll_back(node, guard, yes)


def _restart_or_roll_back(node, plan, yes: bool) -> None:
    """Restart the bricks with a new server-side translator; if they cannot start it, the
    previous configuration and running state come back and the error says why."""
    volume = plan.volume
    down: dict[str, list[str]] = {}
    try:
        if plan.forced and plan.started:
            down = _forced_restart(node, plan, yes)
        else:
            _server_restart(node, volume, plan.started, yes, f"load {plan.name}")
    except admin.AdminError as error:
        cause = admin.server_start_error(node, volume, plan.name)
        with console.status(f"the bricks did not start with {plan.name}: rolling back"):
            warnings = admin.roll_back_attach(node, plan)
        after = "; ".join(warnings) or f"volume {volume} is configured and running as before"
        raise admin.AdminError(f"attach rolled back ({error}): the bricks could not start {plan.name}: {cause}; "
                               f"{after}") from None
    for host, paths in down.items():
        until = ("glupy is installed there" if "glupy is not installed" in plan.forced[host]
                 else f"it can run {plan.name} ({plan.forced[host]})")
        console.print(f"  [yellow]--force[/]: bricks of {host} stay down until {until}: {' '.join(paths)}; "
                      f"then see glupy doctor {volume}")
    if not plan.started and plan.forced:
        console.print(f"  [yellow]--force[/]: when {volume} starts, the bricks of {', '.join(plan.forced)} may not "
                      f"(gluster volume start {volume} force starts the others)")
    if plan.started:
        info = admin.volume_info(node, volume)
        console.print(f"  state: {admin.server_state(node, info, plan.name)}")


#: what makes an attached translator take effect, by side: restarting the bricks, or clients switching
TAKE_EFFECT = {"server": _restart_or_roll_back, "client": _take_effect_on_clients}


def _forced_restart(node, plan, yes: bool) -> dict[str, list[str]]:
    """:func:`_server_restart` after a --force attach: the bricks of the nodes the pool
    check named may stay down (they cannot load the translator); returns them."""
    volume = plan.volume
    if not confirm(f"Restart volume {volume} now so that the bricks load {plan.name}? (clients see a short "
                   f"interruption; the bricks of {', '.join(plan.forced)} may not start)", yes):
        console.print(f"  [yellow]not restarted[/]: the bricks load {plan.name} at the next restart: "
                      f"gluster volume stop {volume} && gluster volume start {volume} force")
        return {}
    with console.status(f"restarting volume {volume} (stop, start force, wait for the bricks)"):
        down = admin.restart_forced(node, plan)
    console.print(f"  restarted volume {volume}")
    return down


def _server_restart(node, volume: str, started: bool, yes: bool, why: str) -> bool:
    if not started:
        console.print(f"  volume {volume} is not started: its bricks will {why} when it starts")
        return False
    if confirm(f"Restart volume {volume} now so that the bricks {why}? (clients see a short interruption)", yes):
        with console.status(f"restarting volume {volume} (stop, start, wait for the bricks)"):
            admin.restart_volume(node, volume)
        console.print(f"  restarted volume {volume}")
        return True
    console.print(f"  [yellow]not restarted[/]: the bricks {why} at the next restart: "
                  f"gluster volume stop {volume} && gluster volume start {volume}")
    return False


def _client_report(node, volume: str, name: str, present: bool) -> None:
    if not admin.verify_client_volfile(node, volume, name, present):
        console.print(f"  [yellow]warning[/]: the client volfile of {volume} was not updated; "
                      f"see {node.logfile} (\"failed to run filter\")")
        return
    verb = "load" if present else "no longer load"
    console.print(f"  new mounts of {volume} {verb} {name}; glusterd pushed the new volfile to connected clients")
    switched = admin.graph_switch(volume, name, present)
    for mp, ok in switched.items():
        if ok:
            console.print(f"  {mp}: switched to the new graph (.meta/graphs/active {'has' if present else 'lost'} {name})")
        else:
            console.print(f"  {mp}: [yellow]still on the old graph[/]: remount it")
    if not switched:
        console.print("  FUSE clients switch to the new graph by themselves; remount any that do not "
                      f"(check MOUNT/.meta/graphs/active/{name})")


def translator_command(func):
    """A command about one attached translator: VOLUME NAME [--yes]."""
    decorators = [main.command(context_settings=CONTEXT), click.argument("volume"), click.argument("name"),
                  click.option("-y", "--yes", is_flag=True, help="Restart what needs restarting without asking."),
                  click.pass_context, handle_errors]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


@translator_command
def refresh(ctx, volume, name, yes) -> None:
    """Record the version of translator NAME's module installed here, after upgrading it on every host.

    glupy attach records the module's version and a hash of its source; a process whose
    module differs refuses to load the translator (fail closed). Upgrade: install the
    new version on every server and client host, then run this (bricks restart, or
    start if a start that failed for the old identity left the volume stopped).
    """
    node = node_of(ctx)
    result = admin.refresh_identity(node, volume, name)
    console.print(f"[green]recorded[/] {name}: {result.old or '(none)'} -> {result.new}")
    if result.side == "server" and not result.started:
        # typically stopped by a start that failed for the identity: start it again
        if confirm(f"Start volume {volume} now so that the bricks load {name} {result.new}?", yes):
            with console.status(f"starting volume {volume} (and waiting for the bricks)"):
                admin.stop_after_failed_start(node, volume)
                admin.restart_volume(node, volume, start_only=True)
            console.print(f"  volume {volume} started")
    elif result.side == "server":
        _server_restart(node, volume, result.started, yes, f"load {name} {result.new}")
    else:
        console.print(f"  new mounts of {volume} check for {result.new}")


@translator_command
@click.option("--force", is_flag=True, help="Reload even if some node of the pool does not have the new "
              "version (its processes keep the old code).")
def reload(ctx, volume, name, yes, force) -> None:
    """Switch every brick and client running NAME to its module's code as installed now, without a restart.

    Each process imports the code again and makes a new instance (init(), then
    migrate(old) if the class has it); new FOPs use it, FOPs in flight finish on the
    old one. A new version that fails to import or start is refused where it runs and
    the old one keeps serving. Install the new code on every host first.

    Waits (up to 30 s) for each process running NAME to say whether it switched: the
    bricks of every node (each node reads its bricks' logs, asked through glusterd),
    and this machine's FUSE clients whose graph has NAME. Exits 1 naming each that
    refused or did not answer, and why. Every node of the pool is asked first whether it has
    the new version; if one has not, nothing changes (--force: reload anyway).
    """
    node = node_of(ctx)
    _reload(node, admin.plan_reload(node, volume, name), force)


def _reload(node, plan, force: bool) -> None:
    """Ask the pool whether every node has the new version, reload, report each process."""
    from glupy import pool

    volume, name = plan.volume, plan.name
    _pool_check(node, pool.Translator(name, plan.module, plan.side, plan.identity), force, "reloaded",
                "reloads anyway; their processes keep the old code")
    result = admin.apply_reload(node, plan)
    side = admin.side_named(result.side)
    console.print(f"[green]reloading[/] {name} ({result.identity}, generation {result.generation})")
    for process, why in result.processes.items():
        console.print(f"  {process}: {'[green]reloaded[/]' if why == 'reloaded' else '[red]refused[/]: ' + why}")
    if result.side == "client":
        console.print(f"  {'other ' if result.processes else ''}clients of {volume} reload when glusterd pushes "
                      "them the new volfile; new mounts start with the new code")
    if result.refused:
        raise admin.AdminError(f"{len(result.refused)} of {len(result.processes)} {side.runs_on} kept the old "
                               "code: " + "; ".join(f"{p}: {why}" for p, why in result.refused.items()))


@translator_command
def detach(ctx, volume, name, yes) -> None:
    """Remove the glupy translator NAME from VOLUME (either side)."""
    node = node_of(ctx)
    info = admin.volume_info(node, volume)
    side = admin.attached_side(info.options, name)  # None: detach says what the volume has
    restart = False
    if side is not None and side.detach_restarts and info.started:
        restart = confirm(f"Detaching {name} from the bricks restarts volume {volume} (clients see a short "
                          "interruption). Go on?", yes)
        if not restart:
            raise admin.AdminError(f"not detached: the bricks of {volume} must restart to drop {name}; "
                                   "rerun with --yes")
    with console.status(f"detaching {name} from {volume}" + (" (stop, reset, start)" if restart else "")):
        result = admin.detach(node, volume, name, restart=restart)
    console.print(f"[green]detached[/] {name} from the {result.side} side of {volume}")
    if result.restarted:
        console.print(f"  restarted volume {volume}: the bricks no longer load {name}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning[/]: {warning}")
    if result.alias_removed:
        console.print(f"  removed user/{name}.so")
    if result.side == "client":
        _client_report(node, volume, name, present=False)
    if result.filter_removed:
        console.print("  removed the client volfile filter (no client-side translators left)")
    if result.guard_left:
        console.print(f"  the bricks' guard still refuses data FOPs without {name}: detach it too with "
                      f"glupy detach {volume} {result.guard_left}")


@main.command(context_settings=CONTEXT)
@click.argument("volume")
@click.argument("path", default="/")
@click.option("-r", "--recursive", is_flag=True, help="The whole tree under PATH (default: PATH and its entries).")
@click.option("-e", "--events", "kinds", metavar="LIST",
              help="Only these events, comma-separated: " + ",".join(events_module.EVENT_NAMES) + ".")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, with every field.")
@click.option("--server", metavar="HOST", help="glusterd that serves the volume (default: --node's, else localhost).")
@click.option("--port", type=int, default=24100, show_default=True,
              help="First port of the bricks' event servers (the events translator's listen option).")
@click.option("--redis", "redis_url", metavar="URL", help="Read the durable Redis stream the bricks append to "
              "(the events translator's redis option) instead of the bricks.")
@click.option("--group", metavar="NAME", help="With --redis: a consumer group; coming back with the same "
              "--group and --consumer resumes where this consumer stopped.")
@click.option("--consumer", default="glupy-watch", show_default=True, help="With --group: this consumer's name.")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Exit after this many events.")
@click.option("-t", "--timeout", type=click.FloatRange(min=0), help="Exit with status 2 after this many seconds "
              "without an event.")
@click.pass_context
@handle_errors
def watch(ctx, volume, path, recursive, kinds, as_json, server, port, redis_url, group, consumer, count,
          timeout) -> None:
    """Print the changes any client makes under PATH of VOLUME, as they happen.

    Needs glupy.translators.events on the bricks (glupy attach VOLUME
    glupy.translators.events). Lines are "PATH EVENT [NEWPATH]" like inotifywait's;
    notices ("BRICK LOST ...", "BRICK GAP ...") say what may have been missed."""
    if server is None:
        server = node_of(ctx).address if ctx.obj and ctx.obj.get("node_dir") else "localhost"
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    try:
        events_module.event_kinds(chosen)
    except ValueError as error:
        fail(str(error))
    path = path if path.startswith("/") else "/" + path
    if redis_url:
        stream = events_module.from_redis(redis_url, volume, path, recursive=recursive, events=chosen,
                                          group=group, consumer=consumer, idle_timeout=timeout)
        if not _print_events(stream, as_json, count):
            sys.exit(2)  # the stream ended: idle for --timeout seconds
        return
    if group:
        fail("--group reads a Redis stream: give --redis URL too")
    with events_module.watch(volume, server, path, recursive=recursive, events=chosen, port=port) as watcher:
        if not _print_events(watcher.events(timeout), as_json, count):
            sys.exit(2)  # --timeout seconds without an event


def _print_events(events, as_json: bool, count: int | None) -> bool:
    """Print events a line each; True once `count` changes (not notices) were printed."""
    seen = 0
    for event in events:
        sys.stdout.write((event.to_json() if as_json else str(event)) + "\n")
        sys.stdout.flush()
        if event.event not in events_module.NOTICE_NAMES:
            seen += 1
            if count is not None and seen >= count:
                return True
    return False


@main.command("list", context_settings=CONTEXT)
@click.argument("volume", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@handle_errors
def list_(ctx, volume, as_json) -> None:
    """List the glupy translators attached to VOLUME (default: every volume)."""
    entries = admin.list_translators(node_of(ctx), volume)
    if as_json:
        click.echo(cli_render.entries_json(entries))
    elif not entries:
        console.print(f"no glupy translators attached{' to ' + volume if volume else ''}")
    else:
        console.print(cli_render.entries_table(entries))


# ------------------------------------------------------------------ mount / umount

class RawArgsCommand(click.Command):
    """Keeps the raw argument words, so that each -o can be bound to the --with before it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["raw_args"] = list(args)
        return super().parse_args(ctx, args)


@main.command(cls=RawArgsCommand, context_settings=CONTEXT)
@click.argument("volume")
@click.argument("mountpoint", type=click.Path(file_okay=False))
@click.option("--with", "withs", multiple=True, metavar="MODULE[:CLASS]",
              help="A Python translator for this mount only (repeatable; the first is nearest the top).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Option of the --with before it (repeatable).")
@click.option("--server", metavar="HOST", help="glusterd to fetch the volume's volfile from (default: the node's).")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Client log (default /var/log/glusterfs/MOUNT.log).")
@click.option("--after", metavar="XLATOR", help="Put the --with translators above this translator of the graph "
              "(name, or type such as dht; 'cluster': the topmost cluster translator). Default: where each class "
              "says it belongs (crypt: above dht), else right under the top.")
@click.pass_context
@handle_errors
def mount(ctx, volume, mountpoint, withs, options, server, log_file, after) -> None:
    """Mount VOLUME at MOUNTPOINT with FUSE, optionally with Python translators on this client."""
    withs_grouped = admin.group_with_options(ctx.meta.get("raw_args", []))
    node = node_of(ctx)
    with console.status(f"mounting {volume} at {mountpoint}"):
        fm, names = admin.mount(node, volume, mountpoint, withs_grouped, server=server, log_file=log_file,
                                after=after)
    console.print(f"[green]mounted[/] {volume} at {fm.mountpoint} (log {fm.log_file})")
    if names:
        active = set(fm.graph_xlators())
        for name, (spec, _) in zip(names, withs_grouped):
            state = "[green]active[/]" if name in active else "[yellow]not in the active graph[/]"
            console.print(f"  {name}: {spec} {state}")
    console.print(f"  unmount with: glupy umount {fm.mountpoint}")


@main.command(context_settings=CONTEXT)
@click.argument("mountpoint", type=click.Path(file_okay=False))
@handle_errors
def umount(mountpoint) -> None:
    """Unmount a GlusterFS FUSE mount (and stop its client process)."""
    admin.umount(mountpoint)
    console.print(f"[green]unmounted[/] {Path(mountpoint).absolute()}")


# ------------------------------------------------------------------ graph

@main.command(context_settings=CONTEXT)
@click.argument("volume")
@click.option("--side", type=click.Choice(["server", "client"]), default="client", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write a picture: FILE.svg, .png, .pdf or .dot.")
@click.pass_context
@handle_errors
def graph(ctx, volume, side, output) -> None:
    """Show VOLUME's translator graph (Python translators highlighted)."""
    node = node_of(ctx)
    g = admin.volume_graph(node, volume, side)
    title = f"{volume} ({side})"
    if output:
        path = cli_render.render_graph(g, output, title)
        count = sum(admin.is_python_xlator(x) for x in g.xlators)
        console.print(f"[green]wrote[/] {path} ({len(g.xlators)} translators, {count} in Python)")
    else:
        console.print(cli_render.graph_tree(g, title))


# ------------------------------------------------------------------ new / doctor / demo

@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Where to create it (default: ./NAME).")
@handle_errors
def new(name, directory) -> None:
    """Scaffold a translator package NAME (pyproject, module with a Translator subclass, a test)."""
    files = admin.new_project(name, directory or name)
    root = Path(directory or name)
    console.print(f"[green]created[/] {root}/")
    for f in files:
        console.print(f"  {f.relative_to(root)}")
    console.print(f"next: pip install -e {root} && pytest {root}/tests")


@main.command(context_settings=CONTEXT)
@click.argument("volume", required=False)
@click.pass_context
@handle_errors
def doctor(ctx, volume) -> None:
    """Check what glupy needs; print what is missing and the command that fixes it.

    With VOLUME: the pool as it is, node by node (asked through glusterd on each):
    glupy and its bridge and filter, each attached translator's module and version,
    and whether the client volfile each node serves carries the client-side ones.
    """
    if volume:
        _pool_doctor(node_of(ctx), volume)
        return
    checks = admin.doctor(ctx.obj.get("node_dir"))
    console.print(cli_render.checks_table(checks))
    missing = [c for c in checks if c.required and not c.ok]
    if missing:
        fail(f"{len(missing)} missing: " + "; ".join(f"{c.name} ({c.fix})" for c in missing))
    console.print("[green]everything glupy needs is there[/]")


def _pool_doctor(node, volume: str) -> None:
    from glupy import pool

    translators = admin.attached_translators(node, volume)
    with console.status(f"asking every node of the pool about {volume}"):
        states = pool.survey(node, volume, translators)
    console.print(cli_render.pool_table(volume, translators, states))
    problems = [(st.host, problem, fix) for st in states for problem, fix in st.problems]
    for host, problem, fix in problems:
        console.print(f"[red]{host}[/]: {problem}\n  fix: {fix}")
    if problems:
        fail(f"{len(problems)} problem(s) on {len({h for h, _, _ in problems})} node(s) of the pool of {volume}")
    console.print(f"[green]every node of the pool can run the translators of {volume}[/]")


@main.command(context_settings=CONTEXT)
@click.option("--keep", is_flag=True, help="Leave the volume, the glusterd and the mount running.")
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="Where the demo's glusterd, bricks and logs live "
                   "(default /var/lib/glupy-demo as root, else ~/.local/state/glupy-demo).")
@click.option("--index", type=click.IntRange(1, 254), default=9, show_default=True,
              help="Node number: glusterd binds 127.1.1.INDEX.")
@click.option("--cleanup", "cleanup_only", is_flag=True, help="Only tear down a demo left with --keep.")
@handle_errors
def demo(keep, state_dir, index, cleanup_only) -> None:
    """Run a volume with Python translators on the bricks and on a client, end to end.

    Creates a one-node replica-2 volume, attaches `passthrough` to the bricks,
    mounts it with `helloworld` and `passthrough` on the client, creates, writes,
    reads, renames and deletes files, then shows what each translator saw.
    Everything is removed at the end unless --keep.
    """
    from glupy import demo as demo_mod

    d = demo_mod.Demo(Path(state_dir) if state_dir else None, index=index, console=console)
    if cleanup_only:
        d.cleanup(verbose=True)
        return
    d.run(keep=keep)


# ------------------------------------------------------------------ crypt

@main.group(context_settings=CONTEXT)
def crypt() -> None:
    """Keys of the encryption translator glupy.translators.crypt (see docs/crypt.md)."""


@crypt.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists (the data written with the old key "
                                             "can no longer be read with the new one).")
@handle_errors
def keygen(file, force) -> None:
    """Write a new random key to FILE (mode 0600, written atomically)."""
    from glupy.translators.crypt import derive_keys, read_key_file, write_key_file

    path = write_key_file(file, force=force)
    fingerprint = derive_keys(read_key_file(path))[1].hex()
    console.print(f"[green]wrote[/] {Path(path).absolute()} (mode 0600, fingerprint {fingerprint}); keep a copy "
                  "in a safe place: data written with it cannot be read without it")


if __name__ == "__main__":  # pragma: no cover
    main()
