"""The vocabulary every other part speaks, importing nothing above it: the case spec and its geometry, dtypes,
seeded inputs, layout and padding translations (``convert``), ``-k`` expressions and file checks."""
