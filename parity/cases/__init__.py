"""Case generators. Every module here is imported by :func:`parity.running.registry.collect`; decorate a
generator with ``@generator("smoke" | "default" | "full")`` and yield :class:`~parity.core.spec.ConvSpec`
objects (their slug becomes the id) or :class:`~parity.running.registry.Case` objects with an id of your own."""
