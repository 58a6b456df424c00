"""Output helpers shared by the command-line modules."""
from __future__ import annotations

import os
import sys
from typing import Iterable


def print_lines(lines: Iterable[str]) -> None:
    """Print lines; a reader that left (``parity list | head``) is not an error."""
    try:
        print("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
