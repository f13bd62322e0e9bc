"""The former name of :mod:`glupy.volfile_filter`, kept because filters installed
before the rename (``$libdir/glusterfs/VERSION/filter/glupy-client``) run
``from glupy.filter import main``; ``glupy install --filter`` rewrites them. It is
that module, not a copy."""

import sys

from glupy import volfile_filter as _volfile_filter

sys.modules[__name__] = _volfile_filter
