"""How the ``glupy`` command shows what :mod:`glupy.admin` returns: rich tables, rich
trees and graphviz pictures. Nothing here asks glusterd."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from glupy.admin.checks import Check
from glupy.admin.side import Entry
from glupy.admin.translators import is_python_xlator
from glupy.errors import AdminError
from glupy.gluster.volfile import Volfile, Xlator

# ------------------------------------------------------------------ glupy list


def entries_json(entries: Sequence[Entry]) -> str:
    """The entries as a JSON list (``glupy list --json``)."""
    return json.dumps([e.as_dict() for e in entries], indent=2, sort_keys=True)


def entries_table(entries: Sequence[Entry], title: str = "glupy translators") -> Table:
    """A rich Table of the entries."""
    table = Table(title=title)
    for column in ("volume", "name", "class", "side", "position", "options", "state", "code"):
        table.add_column(column, overflow="fold")
    for e in entries:
        opts = " ".join(f"{k}={v}" for k, v in sorted(e.options.items()) if k not in ("identity", "generation"))
        state_style = "green" if e.state in ("active", "new mounts") else "yellow"
        table.add_row(e.volume, e.name, f"{e.module.partition(':')[0]}:{e.cls}" if e.cls != "?" else e.module,
                      e.side, e.position, opts or "-", f"[{state_style}]{e.state}[/]", _code_text(e))
    return table


def _code_text(entry: Entry) -> str:
    """The recorded identity, then, in red, any other that bricks of this node run."""
    recorded = entry.options.get("identity", "")
    lines = [recorded or "-"]
    processes = "clients" if entry.side == "client" else "bricks"
    for ident, n in sorted(Counter(entry.running.values()).items()):
        if ident != recorded:
            lines.append(f"[red]{n} of {len(entry.running)} {processes} here run {ident}[/]")
    return "\n".join(lines)


# ------------------------------------------------------------------ glupy graph

def graph_lines(graph: Volfile) -> list[Text]:
    """The graph as text lines, top first: a chain stays in one column, branches are drawn.

    Python translators are highlighted (rich Text styles).
    """
    lines: list[Text] = []

    def label(x: Xlator, prefix: str) -> Text:
        t = Text(prefix, style="dim")
        python = is_python_xlator(x)
        t.append(x.name, style="bold magenta" if python else "")
        t.append(f"  {x.type}", style="dim")
        if python:
            t.append(f"  [python {x.options.get('module', '')}]", style="magenta")
        return t

    def walk(name: str, first: str, rest: str, seen: frozenset) -> None:
        while True:
            x = graph[name]
            lines.append(label(x, first))
            if name in seen or len(lines) > 10000:
                return
            seen = seen | {name}
            first = rest
            if len(x.subvolumes) != 1:
                break
            name = x.subvolumes[0]
        for i, child in enumerate(x.subvolumes):
            last = i == len(x.subvolumes) - 1
            walk(child, rest + ("└─ " if last else "├─ "), rest + ("   " if last else "│  "), seen)

    walk(graph.top.name, "", "", frozenset())
    return lines


def graph_tree(graph: Volfile, title: str = "") -> Group:
    """A printable rich renderable of the graph (see :func:`graph_lines`)."""
    return Group(Text(title or "graph", style="bold"), *(Text("  ") + line for line in graph_lines(graph)))


def graph_dot(graph: Volfile, title: str = ""):
    """A graphviz Digraph of the graph; Python translators filled."""
    import graphviz

    dot = graphviz.Digraph(title or "graph", graph_attr={"rankdir": "TB", "label": title, "labelloc": "t"},
                           node_attr={"shape": "box", "fontname": "Helvetica", "style": "rounded"})
    for x in graph.xlators:
        if is_python_xlator(x):
            dot.node(x.name, f"{x.name}\n{x.type}\npython: {x.options.get('module', '')}",
                     style="rounded,filled", fillcolor="#ffd54f", color="#e65100", penwidth="2",
                     **{"class": "glupy-python"})
        else:
            dot.node(x.name, f"{x.name}\n{x.type}")
        for child in x.subvolumes:
            dot.edge(x.name, child)
    return dot


def render_graph(graph: Volfile, output: Path | str, title: str = "") -> Path:
    """Write the graph as a picture (.svg, .png, .pdf) or graphviz source (.dot)."""
    out = Path(output)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise AdminError(f"-o {out}: use a .svg, .png, .pdf or .dot file")
    dot = graph_dot(graph, title)
    if fmt == "dot":
        out.write_text(dot.source)
        return out
    if shutil.which("dot") is None:
        raise AdminError("graphviz's `dot` is not installed: apt-get install graphviz")
    try:
        data = dot.pipe(format=fmt)
    except Exception as error:  # noqa: BLE001 - graphviz.ExecutableNotFound, CalledProcessError
        raise AdminError(f"graphviz failed: {error}") from None
    out.write_bytes(data)
    return out


# ------------------------------------------------------------------ glupy doctor

def checks_table(checks: Sequence[Check]) -> Table:
    """``glupy doctor``'s table: each check, what was found, the fix of what is missing."""
    table = Table(show_header=True)
    for col in ("", "check", "found", "fix"):
        table.add_column(col)
    for c in checks:
        mark = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]note[/]")
        table.add_row(mark, c.name, c.detail, "" if c.ok else c.fix)
    return table


def pool_table(volume: str, translators: Sequence, states: Sequence) -> Table:
    """``glupy doctor VOLUME``'s table: a row a node of the pool (glupy.pool.NodeState),
    a column each attached translator (glupy.pool.Translator)."""
    table = Table(title=f"the pool of {volume}", show_header=True)
    for col in ("node", "glupy", "bridge", "filter", *(f"{t.name} ({t.side})" for t in translators)):
        table.add_column(col, overflow="fold")
    for st in states:
        if not st.asked:
            table.add_row(st.host, "[yellow]not asked[/]", *[""] * (2 + len(translators)))
            continue
        facts = st.facts
        cells = [facts.get("version", "[red]missing[/]"), facts.get("bridge", "-"), facts.get("filter", "-")]
        for t in translators:
            found = facts.get(f"module.{t.name}", "-")
            good = found == t.identity or (not t.identity and not found.startswith("missing"))
            cell = f"[{'green' if good else 'red'}]{found}[/]"
            if t.side == "client":
                served = "?" if st.served is None else ("served" if t.name in st.served else "[red]not served[/]")
                cell += f"\nvolfile: {served}"
            cells.append(cell)
        table.add_row(st.host, *cells)
    return table
