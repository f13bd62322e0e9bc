"""The former place of :mod:`glupy.gluster.gfapi` (libgfapi from Python), kept so that
``from glupy import gfapi`` goes on working: it is that module, not a copy, so
``glupy.gfapi.Client is glupy.gluster.gfapi.Client`` and patching one patches the other.
"""

import sys

from glupy.gluster import gfapi as _gfapi
from glupy.gluster.gfapi import *  # noqa: F401,F403 - what tools that read this file see
from glupy.gluster.gfapi import LockInfo as LockInfo, Volume as Volume

sys.modules[__name__] = _gfapi
