#!/usr/bin/env python3
"""Write a client volfile with glupy's mirror over the protocol/client translators of a volume.

    python make_volfile.py /var/lib/glusterd/vols/VOL/VOL.tcp-fuse.vol > mirror.vol
    glusterfs --volfile=mirror.vol /mnt/mirror

The volume should be a plain (distribute) volume of two or more bricks: the
mirror takes the place of its distribute translator, so every brick gets a full
copy. (A GlusterFS 10 client process talks to bricks of one volume only, see
README.md.) Options: --name (default mirror), --trace FILE (put
glupy.translators.trace above the mirror, logging to FILE), --read-child N.
"""

from __future__ import annotations

import argparse
import sys

from glupy.gluster.volfile import Volfile, glupy_xlator, join_under


def build(client_volfile: str, name: str = "mirror", trace: str | None = None,
          read_child: int | None = None) -> Volfile:
    graph = Volfile.read(client_volfile)
    clients = graph.find_type("protocol/client")
    if len(clients) < 2:
        raise SystemExit(f"{client_volfile} has {len(clients)} protocol/client translator(s); "
                         "the mirror needs two or more (a volume with two or more bricks)")
    options = {} if read_child is None else {"read-child": str(read_child)}
    mirror = join_under(glupy_xlator(name, "glupy.translators.mirror", options),
                        [graph.subgraph(c.name) for c in clients])
    if trace:
        mirror.insert_above(name, glupy_xlator(f"{name}-trace", "glupy.translators.trace", {"path": trace}))
    return mirror


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client_volfile", help="the volume's FUSE client volfile (VOL.tcp-fuse.vol)")
    parser.add_argument("--name", default="mirror", help="the mirror's name in the graph")
    parser.add_argument("--trace", metavar="FILE", help="also trace every FOP above the mirror into FILE")
    parser.add_argument("--read-child", type=int, help="child index preferred for reads")
    args = parser.parse_args(argv)
    sys.stdout.write(build(args.client_volfile, args.name, args.trace, args.read_child).render())


if __name__ == "__main__":
    main()
