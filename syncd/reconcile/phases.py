"""How a reconcile tells its progress while it lists and hashes (before any upload starts):
a phase at a time, with a running count. The CLI shows it live on a terminal and as one
line per phase elsewhere; tests ignore it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from syncd.progress import NullProgress, ProgressSink


class Phases(Protocol):
    def begin(self, text: str, total: int | None = None) -> None:
        """A phase starts: `text` says what is done; `total` when it is known."""
        ...

    def advance(self, done: int) -> None:
        """How far the phase has got (a count, absolute)."""
        ...

    def end(self, text: str) -> None:
        """The phase is over; `text` says what it found."""
        ...

    def note(self, text: str) -> None: ...

    def uploads(self) -> AbstractContextManager[ProgressSink]:
        """The display of the upload and metadata workers that follow the comparison."""
        ...


class NullPhases:
    def begin(self, text: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int) -> None:
        pass

    def end(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    @contextmanager
    def uploads(self) -> Iterator[ProgressSink]:
        yield NullProgress()
