"""The suite's hypothesis profiles: ``ci`` (loaded on import, the default) draws the same examples on every
run, so that a verdict of this suite is reproducible on a clean checkout; new specs are drawn by
``--hypothesis-profile explore`` or ``parity fuzz --seed S``, and what they find is pinned as a test before it
lands. The tests that draw import ``given`` from here; a run without them never imports hypothesis (with no
cached bytecode, pytest compiles and rewrites its modules in every process: 0.5 s each)."""
from hypothesis import Phase, given, settings

__all__ = ["given"]

# No shrinking in CI: a failure there shows the very spec that failed on that machine. Shrinking keeps any
# failure at the same assertion, so it once walked from an unknown failure to a different backend's.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          phases=(Phase.explicit, Phase.reuse, Phase.generate))
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile("ci")
