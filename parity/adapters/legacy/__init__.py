"""Frameworks parity cannot import: the legacy adapters, run in another interpreter (``tf1``, ``tflearn``,
``theano``), the environments they run in (:mod:`.envs`, ``parity env create``), the worker protocol
(:mod:`.worker`, the scripts under ``workers/``, which ``--isolate`` also uses for parity's in-process
adapters), and recorded outputs (:mod:`.recordings`, ``parity record``) with the ``recorded`` backend that
replays them."""
