"""``trustctl``: the command-line composition root. ``main`` is the console-script entry."""

from trust.cli.root import main

__all__ = ["main"]
