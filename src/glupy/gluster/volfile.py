"""Read, edit and write GlusterFS volfiles (translator graphs).

A volfile lists translators, children before parents; the last one is the top
of the graph (what FUSE mounts)::

    volume v0-client-0
        type protocol/client
        option remote-host 127.1.1.1
    end-volume
    ...
    volume v0
        type debug/io-stats
        subvolumes v0-md-cache
    end-volume
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class VolfileError(ValueError):
    """A volfile that cannot be parsed, or an edit that does not fit the graph."""


@dataclass
class Xlator:
    """One ``volume ... end-volume`` block."""

    name: str
    type: str
    options: dict[str, str] = field(default_factory=dict)
    subvolumes: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"volume {self.name}", f"    type {self.type}"]
        lines += [f"    option {k} {v}" for k, v in self.options.items()]
        if self.subvolumes:
            lines.append(f"    subvolumes {' '.join(self.subvolumes)}")
        lines.append("end-volume")
        return "\n".join(lines)


class Volfile:
    """A translator graph, in volfile order (children first, top last)."""

    def __init__(self, xlators: list[Xlator]) -> None:
        self.xlators = xlators

    # ---- reading and writing

    @classmethod
    def parse(cls, text: str) -> "Volfile":
        xlators: list[Xlator] = []
        current: Xlator | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split(None, 2)
            keyword = words[0]
            if keyword == "volume":
                if current is not None or len(words) != 2:
                    raise VolfileError(f"line {number}: unexpected 'volume'")
                current = Xlator(words[1], "")
            elif current is None:
                raise VolfileError(f"line {number}: {keyword!r} outside a volume block")
            elif keyword == "type":
                current.type = words[1]
            elif keyword == "option":
                if len(words) < 2:
                    raise VolfileError(f"line {number}: option without a key")
                current.options[words[1]] = words[2] if len(words) > 2 else ""
            elif keyword == "subvolumes":
                current.subvolumes = line.split()[1:]
            elif keyword == "end-volume":
                if not current.type:
                    raise VolfileError(f"line {number}: volume {current.name} has no type")
                xlators.append(current)
                current = None
            else:
                raise VolfileError(f"line {number}: unknown keyword {keyword!r}")
        if current is not None:
            raise VolfileError(f"volume {current.name} is not closed with end-volume")
        if not xlators:
            raise VolfileError("the volfile defines no translator")
        return cls(xlators)

    @classmethod
    def read(cls, path: Path | str) -> "Volfile":
        return cls.parse(Path(path).read_text())

    def render(self) -> str:
        return "\n\n".join(x.render() for x in self.xlators) + "\n"

    def write(self, path: Path | str) -> None:
        Path(path).write_text(self.render())

    # ---- queries

    @property
    def top(self) -> Xlator:
        return self.xlators[-1]

    def __getitem__(self, name: str) -> Xlator:
        for x in self.xlators:
            if x.name == name:
                return x
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(x.name == name for x in self.xlators)

    def names(self) -> list[str]:
        return [x.name for x in self.xlators]

    def subgraph(self, name: str) -> "Volfile":
        """The translator `name` and everything below it, in volfile order (copies, safe to edit)."""
        if name not in self:
            raise VolfileError(f"no translator {name!r} in the graph (it has: {', '.join(self.names())})")
        wanted: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current not in wanted:
                wanted.add(current)
                pending.extend(self[current].subvolumes)
        return Volfile([Xlator(x.name, x.type, dict(x.options), list(x.subvolumes))
                        for x in self.xlators if x.name in wanted])

    def parents(self, name: str) -> list[Xlator]:
        return [x for x in self.xlators if name in x.subvolumes]

    def find_type(self, pattern: str) -> list[Xlator]:
        """Translators whose type matches a regular expression, e.g. ``storage/posix``."""
        return [x for x in self.xlators if re.fullmatch(pattern, x.type)]

    # ---- edits

    def insert_above(self, target: str, new: Xlator) -> None:
        """Put `new` between `target` and its parents (or on top, if target is the top)."""
        if new.name in self:
            raise VolfileError(f"the graph already has a translator named {new.name}")
        if target not in self:
            raise VolfileError(f"no translator {target!r} in the graph (it has: {', '.join(self.names())})")
        for parent in self.parents(target):
            parent.subvolumes = [new.name if s == target else s for s in parent.subvolumes]
        new.subvolumes = [target]
        index = self.names().index(target)
        self.xlators.insert(index + 1, new)

    def insert_below_top(self, new: Xlator) -> None:
        """Put `new` right under the top translator (for a client graph: under io-stats)."""
        top = self.top
        if len(top.subvolumes) != 1:
            raise VolfileError(f"the top translator {top.name} has {len(top.subvolumes)} children")
        self.insert_above(top.subvolumes[0], new)

    def remove(self, name: str) -> Xlator:
        """Take a single-child translator out of the graph, joining its parents to its child."""
        x = self[name]
        if len(x.subvolumes) != 1:
            raise VolfileError(f"cannot remove {name}: it has {len(x.subvolumes)} children")
        child = x.subvolumes[0]
        for parent in self.parents(name):
            parent.subvolumes = [child if s == name else s for s in parent.subvolumes]
        self.xlators.remove(x)
        return x


def glupy_xlator(name: str, module: str, options: dict[str, str] | None = None, *, xlator_type: str = "user/glupy") -> Xlator:
    """A volfile entry for a Python translator."""
    opts = {"module": module}
    opts.update(options or {})
    return Xlator(name, xlator_type, opts)


def join_under(top: Xlator, branches: list[Volfile]) -> Volfile:
    """One graph: `top` (e.g. a cluster translator) over the tops of `branches`.

    ``join_under(glupy_xlator("mirror", "glupy.translators.mirror"),
    [Volfile.read(a).subgraph("A-client-0"), Volfile.read(b).subgraph("B-client-0")])``
    puts a mirror over the protocol/client of two volumes. Translator names must
    be unique across the branches (GlusterFS names them after their volume).
    """
    xlators: list[Xlator] = []
    seen: set[str] = set()
    for branch in branches:
        for x in branch.xlators:
            if x.name in seen:
                raise VolfileError(f"two branches have a translator named {x.name}")
            seen.add(x.name)
            xlators.append(x)
    if top.name in seen:
        raise VolfileError(f"a branch already has a translator named {top.name}")
    top.subvolumes = [b.top.name for b in branches]
    return Volfile(xlators + [top])
