"""What the ``glupy`` command does, as functions (the CLI in :mod:`glupy.cli` only
parses and prints; :mod:`glupy.cli_render` draws tables and graphs).

Every function raises :class:`~glupy.errors.AdminError` with a one-line message
for failures a user can fix; the CLI prints it and exits non-zero.

=========================  ==========================================================
module                     what it does
=========================  ==========================================================
``glusterd``               which glusterd; its commands; their errors as one line
``translators``            a translator before it goes on a volume: name, options,
                           import and checks, trial start, identity
``side``                   the interface of the two sides (:class:`Side`) and
                           what attach/detach/list exchange
``server``                 server side: ``user.xlator`` keys, ``user/NAME.so``,
                           the bricks' state, restarts
``client``                 client side: the volfile filter's keys, trial mounts,
                           mounted clients switching graphs
``options``                dropping and restoring a volume's options
``operations``             attach, detach, list, refresh, reload: either side
``graph``                  a volume's graphs, a client graph with ``--with``
``mounts``                 ``glupy mount``/``umount``
``checks``                 ``glupy doctor``, ``glupy install``'s command
=========================  ==========================================================

The names below are the ones other code uses; import them from here.
"""

from glupy.admin.checks import Check, doctor, install_command, source_checkout
from glupy.admin.client import (
    ClientSide,
    client_entries,
    client_state,
    graph_switch,
    local_mounts,
    trial_mount,
    verify_client_volfile,
)
from glupy.admin.glusterd import (
    INSTALL_HINT,
    fetch_client_volfile,
    gluster,
    node_from_dir,
    resolve_node,
    restart_volume,
    stop_after_failed_start,
    system_node,
    volume_info,
    volume_names,
    volume_options,
)
from glupy.admin.graph import build_client_graph, volume_graph
from glupy.admin.mounts import MOUNT_STATE_DIR, mount, umount
from glupy.admin.operations import (
    SIDES,
    Refresh,
    Reload,
    ReloadPlan,
    apply_attach,
    apply_reload,
    attached_side,
    attached_translators,
    detach,
    list_translators,
    plan_attach,
    plan_guard,
    plan_new_version,
    plan_reload,
    refresh_identity,
    reload_translator,
    roll_back_attach,
    side_named,
)
from glupy.admin.options import regenerate_client_volfiles
from glupy.admin.server import (
    DEFAULT_SERVER_POSITION,
    SERVER_PREFIX,
    ServerSide,
    brick_log_texts,
    restart_forced,
    running_identities,
    server_entries,
    server_start_error,
    server_state,
)
from glupy.admin.side import RELOAD_WAIT, AttachPlan, DetachResult, Entry, Side
from glupy.admin.translators import (
    DRY_RUN_STARTUP,
    INIT_TIMEOUT,
    default_name,
    dry_run,
    group_with_options,
    guard_name,
    is_python_xlator,
    new_project,
    parse_options,
    placement_after,
    translator_error,
    validate_translator,
)
from glupy.errors import AdminError

__all__ = [
    "DEFAULT_SERVER_POSITION", "DRY_RUN_STARTUP", "INIT_TIMEOUT", "INSTALL_HINT", "MOUNT_STATE_DIR", "RELOAD_WAIT", "SERVER_PREFIX",
    "SIDES", "AdminError", "AttachPlan", "Check", "ClientSide", "DetachResult", "Entry", "Refresh", "Reload",
    "ReloadPlan", "ServerSide", "Side", "apply_attach", "apply_reload", "attached_side", "attached_translators", "brick_log_texts",
    "build_client_graph", "client_entries", "client_state", "default_name", "detach", "doctor", "dry_run",
    "fetch_client_volfile", "gluster", "graph_switch", "group_with_options", "guard_name", "install_command",
    "is_python_xlator", "list_translators", "local_mounts", "mount", "new_project", "node_from_dir",
    "parse_options", "placement_after", "plan_attach", "plan_guard", "plan_new_version", "plan_reload", "refresh_identity",
    "regenerate_client_volfiles", "reload_translator", "resolve_node", "restart_forced", "restart_volume",
    "roll_back_attach", "running_identities", "server_entries", "server_start_error", "server_state",
    "side_named", "source_checkout", "stop_after_failed_start", "system_node", "translator_error", "trial_mount",
    "umount", "validate_translator", "verify_client_volfile", "volume_graph", "volume_info", "volume_names",
    "volume_options",
]
