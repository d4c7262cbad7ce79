"""How executors report progress. The CLI renders it; tests and `watch` may ignore it."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def add_work(self, files: int, nbytes: int) -> None:
        """More files (and their bytes) are now known to need uploading."""
        ...

    def file_started(self, path: str, size: int) -> None: ...

    def file_bytes(self, path: str, nbytes: int) -> None:
        """Bytes sent for a file; negative to roll back an attempt that will be resent."""
        ...

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None: ...

    def note(self, text: str) -> None:
        """A line worth showing the operator (a retry, a resume, a skip)."""
        ...


class NullProgress:
    def add_work(self, files: int, nbytes: int) -> None:
        pass

    def file_started(self, path: str, size: int) -> None:
        pass

    def file_bytes(self, path: str, nbytes: int) -> None:
        pass

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        pass

    def note(self, text: str) -> None:
        pass
