"""A volume's translator graphs as glusterd makes them, and a client graph with
``--with`` translators inserted. (Drawing them is the CLI's: glupy.cli_render.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from glupy import volfile_filter as gfilter
from glupy.admin.glusterd import fetch_client_volfile, volume_info
from glupy.admin.translators import default_name
from glupy.errors import AdminError
from glupy.gluster import GlusterNode
from glupy.gluster.node import brick_file_name
from glupy.gluster.volfile import Volfile, glupy_xlator


def volume_graph(node: GlusterNode, volume: str, side: str = "client") -> Volfile:
    """The client graph (as served, filter applied) or the server graph of the first brick."""
    if side == "client":
        return fetch_client_volfile(node, volume)
    if side != "server":
        raise AdminError(f"--side must be server or client, not {side!r}")
    info = volume_info(node, volume)
    directory = node.volume_dir(volume)
    for brick in info.bricks:
        path = directory / f"{volume}.{brick.host}.{brick_file_name(brick.path)}.vol"
        if path.exists():
            return Volfile.read(path)
    raise AdminError(f"no brick volfile of {volume} in {directory}")


def build_client_graph(graph: Volfile, withs: Sequence[tuple[str, Mapping[str, str]]],
                       places: Sequence[str] = (), volume: str = "") -> list[str]:
    """Insert ``--with`` translators: each above the translator its place names
    (see :func:`glupy.admin.translators.placement_after`), or under the top when its
    place is '' (the first one nearest the top); returns their names."""
    names: list[str] = []
    for spec, opts in withs:
        base = default_name(spec)
        name, n = base, 2
        while name in names or name in graph:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    places = list(places) or [""] * len(withs)
    for (spec, opts), name, place in reversed(list(zip(withs, names, places))):
        xl = glupy_xlator(name, spec, dict(opts))
        if place:
            graph.insert_above(gfilter.find_xlator(graph, place, volume), xl)
        else:
            graph.insert_below_top(xl)
    return names
