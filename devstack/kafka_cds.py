"""Class-data sharing for the broker's JVM: an archive of loaded classes that makes a start
~1.7 s faster.

The archive is made by the first broker that runs without one (dumped when it exits, which
adds a few seconds to that one stop). It belongs to a JDK build and a classpath, so its
name carries both; a stale one is just ignored by the JVM.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path


class CdsArchive:
    def __init__(self) -> None:
        self.final: Path | None = None
        self._pending: Path | None = None

    def flags(self, java: Path, libs: Path) -> list[str]:
        """The flags that use the archive if there is one (none otherwise)."""
        java_real = java.resolve()
        try:
            stamp = f"{java_real}:{java_real.stat().st_mtime_ns}:{libs}"
        except OSError:
            return []
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
        self.final = libs.parent / f"{libs.name}-{digest}.jsa"
        if self.final.exists():
            return [f"-XX:SharedArchiveFile={self.final}", "-Xshare:auto", "-Xlog:cds=off"]
        return []

    @property
    def missing(self) -> bool:
        return self.final is not None and not self.final.exists()

    def dump_flags(self) -> list[str]:
        """The flags that make this run dump the archive when it exits."""
        assert self.final is not None
        self._pending = self.final.with_name(f"{self.final.name}.{secrets.token_hex(4)}.tmp")
        return [f"-XX:ArchiveClassesAtExit={self._pending}", "-Xlog:cds=off"]

    def finish(self, *, clean_exit: bool) -> None:
        """Keep a dumped archive after a clean exit; drop a half-written one."""
        pending, self._pending = self._pending, None
        if pending is None or self.final is None:
            return
        with contextlib.suppress(OSError):
            if clean_exit and pending.exists() and pending.stat().st_size > 0:
                os.replace(pending, self.final)
            else:
                pending.unlink(missing_ok=True)
