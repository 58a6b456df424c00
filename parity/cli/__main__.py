"""``python -m parity.cli``."""
from parity.cli.main import main

raise SystemExit(main())
