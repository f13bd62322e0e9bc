"""helloworld: logs each lookup, then passes it on. The smallest useful translator."""

from __future__ import annotations

import glupy


class HelloWorld(glupy.Translator):
    """Logs every lookup (path and result) to the GlusterFS log at INFO level."""

    async def lookup(self, loc, xdata):
        try:
            reply = await self.child.lookup(loc, xdata)
        except glupy.FopError as error:
            self.log.info("hello: lookup %s -> %s", loc.path, error.name)
            raise
        self.log.info("hello: lookup %s -> gfid %s", loc.path, reply.buf.gfid if reply.buf else None)
        return reply
