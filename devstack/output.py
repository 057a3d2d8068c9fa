"""One output stream for everything ``make up`` prints: ``name      | line``."""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

_RESET = "\x1b[0m"
_PALETTE = ("36", "32", "35", "33", "34", "96", "92", "95")  # cyan, green, magenta, ...
_FIXED = {"supervisor": "1;37", "bootstrap": "90"}


def use_color(stream: TextIO) -> bool:
    """Colour when writing to a terminal, unless NO_COLOR is set (FORCE_COLOR forces it)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Printer:
    """Writes whole lines, prefixed with a padded source name, from any thread."""

    def __init__(
        self, stream: TextIO | None = None, *, width: int = 10, color: bool | None = None
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._width = width
        self._color = use_color(self._stream) if color is None else color
        self._colors: dict[str, str] = dict(_FIXED)
        self._lock = threading.Lock()

    def _prefix(self, source: str) -> str:
        label = f"{source:<{self._width}} |"
        if not self._color:
            return label
        code = self._colors.get(source)
        if code is None:
            code = _PALETTE[len(self._colors) % len(_PALETTE)]
            self._colors[source] = code
        return f"\x1b[{code}m{label}{_RESET}"

    def line(self, source: str, text: str) -> None:
        """Print one line (trailing newline and carriage returns stripped)."""
        text = text.rstrip("\r\n")
        self._write(f"{self._prefix(source)} {text}\n")

    def lines(self, source: str, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.line(source, line)

    def block(self, lines: list[str]) -> None:
        """Print lines as they are, without prefix, in one piece (copy-paste friendly)."""
        self._write("".join(f"{line}\n" for line in lines))

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                # Nobody reads our output any more (`make up | head`, closed terminal):
                # keep supervising rather than die on a print.
                pass
