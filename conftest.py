"""Repository-wide pytest configuration. The parity plugin itself is loaded from its ``pytest11`` entry
point (installing the package registers it), so a plain ``pytest`` here uses exactly what users get."""
import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=60)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
