"""Hypothesis draws the same examples on every run here (profile ``ci``, the default), so that a verdict of
this suite is reproducible on a clean checkout: new specs are drawn by ``--hypothesis-profile explore`` or
``parity fuzz --seed S``, and what they find is pinned as a test before it lands."""
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile("ci")
