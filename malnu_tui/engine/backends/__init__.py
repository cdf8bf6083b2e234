"""One module per database kind, all implementing :class:`~.base.Backend`."""
