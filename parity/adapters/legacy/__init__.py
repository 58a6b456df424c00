"""Backends that run in another interpreter: the legacy adapters (``tf1``, ``tflearn``, ``theano``), the
environments they run in (:mod:`.envs`, ``parity env create``), and the worker protocol (:mod:`.worker`,
the scripts under ``workers/``), which ``--isolate`` also uses for parity's in-process adapters."""
