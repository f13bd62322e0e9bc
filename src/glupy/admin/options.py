"""Taking options off a volume and putting them back, which GlusterFS 10 makes hard.

GlusterFS 10.3 refuses ``gluster volume reset VOL user.*`` ("Did you mean ...?"),
so the only way to drop a ``user.`` key is ``volume reset VOL all`` and setting
every other option again; glupy does that while the volume is stopped when it is
started, so that no client sees the options in between. Client volfiles are made
by glusterd (and glupy's volfile filter) when an option is set: after the client
keys change, :func:`regenerate_client_volfiles`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from glupy import volfile_filter as gfilter
from glupy.admin.glusterd import gluster, restart_volume, stop_volume, volume_options, volume_set
from glupy.errors import AdminError
from glupy.gluster import GlusterNode


def is_on(value: str) -> bool:
    """A GlusterFS boolean option's value read as on."""
    return value.lower() in ("on", "yes", "true", "enable", "1")


#: options that `volume reset all` clears but `volume set` refuses while the volume is
#: started: how to set them again then
_SET_OTHERWISE = {
    "cluster.granular-entry-heal": lambda vol, v: ("volume", "heal", vol, "granular-entry-heal",
                                                   "enable" if is_on(v) else "disable"),
}


def regenerate_client_volfiles(node: GlusterNode, volume: str) -> None:
    """Make glusterd regenerate the client volfiles now that the options are stored (see glupy.volfile_filter)."""
    volume_set(node, volume, gfilter.GENERATION_KEY, str(time.time_ns()))


def drop_options(node: GlusterNode, volume: str, keys: Sequence[str], *, restart: bool) -> list[str]:
    """Drop *keys* from the volume's options: stop (if *restart*), ``reset all``, set the
    others again, start. Returns warnings about options set again only partly."""
    saved = volume_options(node, volume)
    if restart:
        stop_volume(node, volume)
    failed = []
    later = []
    try:
        gluster(node, "volume", "reset", volume, "all")
        now = volume_options(node, volume)
        for key, value in saved.items():
            if key in keys or now.get(key) == value:
                continue
            try:
                volume_set(node, volume, key, value)
            except AdminError as error:
                if key in _SET_OTHERWISE:  # refused while started: its own command, once started
                    later.append(_SET_OTHERWISE[key](volume, value))
                else:
                    failed.append(f"{key}={value} ({error})")
        if any(k.startswith(gfilter.CLIENT_PREFIX) and k not in keys for k in saved):  # set again: regenerate
            regenerate_client_volfiles(node, volume)
    finally:
        if restart:
            restart_volume(node, volume, start_only=True)
    warnings = []
    for args in later:
        for attempt in range(10):  # heal commands need the self-heal daemon up
            try:
                gluster(node, *args)
                break
            except AdminError as error:
                if attempt == 9:
                    warnings.append(f"{error}: run `gluster {' '.join(args)}`")
                time.sleep(1)
    if failed:
        raise AdminError(f"could not set again after `volume reset {volume} all`: {'; '.join(failed)}")
    return warnings


def restore_options(node: GlusterNode, volume: str, before: Mapping[str, str], *, restart: bool) -> list[str]:
    """The volume's options exactly as *before*: keys added since dropped, changed
    ones set back (see :func:`drop_options`). Returns warnings."""
    now = volume_options(node, volume)
    changed = [k for k, v in now.items() if before.get(k) != v]
    warnings = drop_options(node, volume, changed, restart=restart) if changed else []
    for key in changed:
        if key in before:
            try:
                volume_set(node, volume, key, before[key])
            except AdminError as error:
                warnings.append(f"{key}={before[key]} not set again ({error})")
    client = [k for k in changed if k.startswith(gfilter.CLIENT_PREFIX)]
    same = next((k for k in before if not k.startswith("user.")), None)
    if client and gfilter.GENERATION_KEY not in before and same:
        # the filter ran while the dropped keys were still stored (see regenerate_client_volfiles):
        # once more, with the old options stored, without adding a generation key
        try:
            volume_set(node, volume, same, before[same])
        except AdminError as error:
            warnings.append(f"client volfiles of {volume} not regenerated ({error})")
    return warnings
