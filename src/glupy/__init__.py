"""glupy: GlusterFS translators written in Python."""
