"""Reports of finished runs (they read results, never run a backend): the text table and JSON, HTML with its PNG
error maps, and baselines."""
