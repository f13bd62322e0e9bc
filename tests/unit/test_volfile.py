from __future__ import annotations

import pytest

from glupy.gluster.volfile import Volfile, VolfileError, glupy_xlator

CLIENT = """
volume v0-client-0
    type protocol/client
    option remote-host 127.1.1.1
    option remote-subvolume /bricks/b0
end-volume

volume v0-client-1
    type protocol/client
    option remote-host 127.1.1.1
end-volume

volume v0-replicate-0
    type cluster/replicate
    subvolumes v0-client-0 v0-client-1
end-volume

volume v0-md-cache
    type performance/md-cache   # a comment
    subvolumes v0-replicate-0
end-volume

volume v0
    type debug/io-stats
    option log-level INFO
    subvolumes v0-md-cache
end-volume
"""


def test_parse_and_render_round_trip():
    v = Volfile.parse(CLIENT)
    assert v.names() == ["v0-client-0", "v0-client-1", "v0-replicate-0", "v0-md-cache", "v0"]
    assert v.top.name == "v0" and v["v0-client-0"].options["remote-subvolume"] == "/bricks/b0"
    assert Volfile.parse(v.render()).render() == v.render()


def test_insert_below_top_and_remove():
    v = Volfile.parse(CLIENT)
    v.insert_below_top(glupy_xlator("pt", "glupy.translators.passthrough"))
    assert v["v0"].subvolumes == ["pt"] and v["pt"].subvolumes == ["v0-md-cache"]
    assert v.names().index("pt") < v.names().index("v0")
    v.remove("pt")
    assert v["v0"].subvolumes == ["v0-md-cache"] and "pt" not in v


def test_insert_above_a_child_of_a_cluster_translator():
    v = Volfile.parse(CLIENT)
    v.insert_above("v0-client-1", glupy_xlator("x", "m"))
    assert v["v0-replicate-0"].subvolumes == ["v0-client-0", "x"]


def test_errors():
    with pytest.raises(VolfileError, match="not closed"):
        Volfile.parse("volume a\n type t\n")
    with pytest.raises(VolfileError, match="no translator 'nope'"):
        Volfile.parse(CLIENT).insert_above("nope", glupy_xlator("x", "m"))
    with pytest.raises(VolfileError, match="already has"):
        Volfile.parse(CLIENT).insert_above("v0", glupy_xlator("v0-md-cache", "m"))


def test_parse_statedump_sections() -> None:
    from glupy.gluster.mount import parse_statedump

    text = ("DUMP-START-TIME: 2026-11-26 02:00:00\n\n[mallinfo]\nmallinfo_arena=135168\n\n"
            "[xlator.glupy.neg.priv]\nhits=12\nmisses = 3\nnote=a=b\n\nDUMP-END-TIME: 2026-11-26 02:00:00\n")
    dump = parse_statedump(text)
    assert dump["mallinfo"] == {"mallinfo_arena": "135168"}
    assert dump["xlator.glupy.neg.priv"] == {"hits": "12", "misses": "3", "note": "a=b"}

