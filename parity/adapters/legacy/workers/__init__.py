"""Worker scripts for out-of-process backends (see :mod:`parity.adapters.legacy.worker`).

They run under other interpreters (Python 3.7, 3.8) with only their environment's packages: they import
nothing from parity and use no syntax newer than Python 3.7. Each is run as a script, so its folder is
on its ``sys.path`` and the shared loop is imported as ``worker_protocol``.
"""
