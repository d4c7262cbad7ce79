"""File-system events for `syncd watch`: watchdog observers on every root, supervised, and
their events coalesced into the folders to look at.

- One observer per [[watch]] root: inotify (`auto`, `inotify`) or polling (`polling`, for
  network file systems, which send no inotify events). When the kernel's inotify watch or
  instance limit is hit, the log names the sysctl that raises it and the root falls back
  to polling.
- Observers are supervised: a dead one is restarted with back-off; a root that does not
  exist (not mounted yet, or gone) is logged and looked for again, without stopping the
  daemon; a root that comes back is rescanned (the caller is told). "Dead" includes an
  observer whose thread still runs but watches nothing: watchdog's inotify emitter ends
  when its root is deleted, and a watch follows the folder it was put on, so a root
  deleted and made again, or another folder (a remount) put in its place, between two
  looks would otherwise go unwatched for good.
- Events are not acted on one by one. Each names a folder to look at (a file's folder; a
  new or moved-in folder as a whole tree), and the folder is looked at once its events
  have been quiet for a moment (`debounce`), at most MAX_DEBOUNCE_SECONDS after the first:
  a burst of writes is one look. A close-after-write event asks for a look at once (the
  stability rule of the scan still decides whether the file is complete).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from syncd.clock import Clock
from syncd.config import ObserverMode
from syncd.local.scan import ScanScope
from syncd.model import ObserverState
from syncd.text import printable

log = logging.getLogger(__name__)

# However busy a folder's events are, it is looked at this long after its first event, so
# files being written for minutes still get their rows (and their stability clock).
MAX_DEBOUNCE_SECONDS = 2.0
# A dead observer, or a missing root, is tried again after this long, doubling each time
# up to the cap: a root on a mount that comes back is found within a minute.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
# Folder-defaults files change the metadata of everything below their folder.
_FOLDER_DEFAULTS_PREFIX = ".syncd."
# The sysctl that raises each inotify limit, by the errno the kernel answers with.
INOTIFY_LIMITS = {
    errno.ENOSPC: "fs.inotify.max_user_watches",
    errno.EMFILE: "fs.inotify.max_user_instances",
}

ObserverFactory = Callable[[ObserverMode, float], BaseObserver]


def make_observer(mode: ObserverMode, poll_interval: float) -> BaseObserver:
    """An inotify observer, or a polling one. Import inotify lazily: it exists on Linux only."""
    if mode is ObserverMode.POLLING:
        return PollingObserver(timeout=poll_interval)
    from watchdog.observers.inotify import InotifyObserver

    return InotifyObserver()


class FolderEvents(FileSystemEventHandler):
    """Events of one root, coalesced by folder until they have been quiet for `debounce`."""

    def __init__(self, root: str, clock: Clock, debounce: float, wake: Callable[[], None]) -> None:
        self.root = root
        self._clock = clock
        self._debounce = debounce
        self._wake = wake
        self._lock = threading.Lock()
        self._due: dict[ScanScope, tuple[float, float]] = {}  # scope -> (first event, due)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a file changes nothing
        now = self._clock.time()
        at_once = event.event_type == "closed"  # written and closed: likely complete
        for scope in self._scopes(event):
            self._add(scope, now, at_once)
        self._wake()

    def _scopes(self, event: FileSystemEvent) -> Iterable[ScanScope]:
        paths = [_text(event.src_path)]
        if event.event_type == "moved":
            paths.append(_text(event.dest_path))
        for path in paths:
            if not _under(path, self.root):
                continue
            if event.is_directory:
                if event.event_type == "modified" or path == self.root:
                    continue  # its files' own events say what changed
                yield ScanScope(path, self.root, recursive=True)  # a folder came or went
                continue
            folder = os.path.dirname(path)
            defaults = os.path.basename(path).startswith(_FOLDER_DEFAULTS_PREFIX)
            # Folder defaults change everything below their folder: the whole subtree.
            yield ScanScope(folder, self.root, recursive=defaults)

    def _add(self, scope: ScanScope, now: float, at_once: bool) -> None:
        with self._lock:
            first, _ = self._due.get(scope, (now, now))
            due = now if at_once else min(first + MAX_DEBOUNCE_SECONDS, now + self._debounce)
            self._due[scope] = (first, due)

    def add(self, scope: ScanScope, due: float) -> None:
        """Look at `scope` at `due` (a folder with files still settling)."""
        with self._lock:
            old = self._due.get(scope)
            if old is None or due < old[1]:
                self._due[scope] = (old[0] if old else due, due)

    def take_due(self, now: float) -> list[ScanScope]:
        """The folders whose time has come, new or moved-in folders first (a rename's
        destination must be seen before its source is found missing)."""
        with self._lock:
            due = [s for s, (_, at) in self._due.items() if at <= now]
            for scope in due:
                del self._due[scope]
        return sorted(due, key=lambda s: (not s.recursive, s.path))

    def next_due(self) -> float | None:
        with self._lock:
            return min((at for _, at in self._due.values()), default=None)

    def pending(self) -> int:
        with self._lock:
            return len(self._due)


def _text(path: str | bytes) -> str:
    return os.fsdecode(path)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class WatchedRoot:
    """One root's observer and what the supervisor knows about it."""

    path: str
    mode: ObserverMode
    events: FolderEvents
    observer: BaseObserver | None = None
    state: ObserverState = ObserverState.MISSING
    retry_at: float = 0.0
    backoff: float = RETRY_FIRST_SECONDS
    fell_back: bool = False  # inotify was unavailable or full: polling instead
    problem: str = ""
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the folder being watched


class Observers:
    """Starts, supervises and stops the observers of every root."""

    def __init__(
        self,
        clock: Clock,
        *,
        poll_interval: float,
        debounce: float,
        wake: Callable[[], None],
        on_state: Callable[[str, ObserverState], None] | None = None,
        factory: ObserverFactory = make_observer,
    ) -> None:
        self._clock = clock
        self._poll_interval = poll_interval
        self._debounce = debounce
        self._wake = wake
        self._on_state = on_state or (lambda root, state: None)
        self._factory = factory
        self.roots: dict[str, WatchedRoot] = {}

    def set_roots(self, roots: Iterable[tuple[str, ObserverMode]]) -> None:
        """Watch exactly these roots (a reload may add and remove some)."""
        wanted = dict(roots)
        for path in [p for p in self.roots if p not in wanted]:
            self._stop(self.roots.pop(path))
            log.info("no longer watching %s", printable(path))
        for path, mode in wanted.items():
            known = self.roots.get(path)
            if known is not None and known.mode is mode:
                continue
            if known is not None:
                self._stop(known)
            events = FolderEvents(path, self._clock, self._debounce, self._wake)
            self.roots[path] = WatchedRoot(path, mode, events)

    def supervise(self) -> list[str]:
        """Start what should run and is not (due roots only); return the roots that started
        this time: they need a full look (what happened while nothing watched)."""
        now = self._clock.time()
        started: list[str] = []
        for root in self.roots.values():
            if root.observer is not None and root.observer.is_alive():
                now_there = _identity(root.path)
                if now_there is None:
                    self._stop(root)  # its root went away (unmounted, deleted)
                    self._set(root, ObserverState.MISSING, "root folder is missing")
                    root.retry_at = now
                elif now_there == root.identity and _emitters_alive(root.observer):
                    continue
                else:  # another folder at the path, or the emitter ended: watch it anew
                    log.warning(
                        "watch root %s was replaced or its watch ended; watching it again",
                        printable(root.path),
                    )
                    root.retry_at = now
            if now < root.retry_at:
                continue
            if root.observer is not None:  # it died
                self._stop(root)
                self._set(root, ObserverState.RESTARTING, "observer stopped; restarting")
            if self._start(root):
                root.backoff = RETRY_FIRST_SECONDS
                started.append(root.path)
            else:
                root.retry_at = now + root.backoff
                root.backoff = min(RETRY_MAX_SECONDS, root.backoff * 2)
        return started

    def next_check(self) -> float | None:
        waiting = [r.retry_at for r in self.roots.values() if r.observer is None]
        return min(waiting, default=None)

    def stop_all(self) -> None:
        for root in self.roots.values():
            self._stop(root)

    def states(self) -> dict[str, ObserverState]:
        return {path: root.state for path, root in self.roots.items()}

    # --- one root -----------------------------------------------------------------------

    def _start(self, root: WatchedRoot) -> bool:
        if not os.path.isdir(root.path):
            if root.state is not ObserverState.MISSING or not root.problem:
                log.warning(
                    "watch root %s does not exist (not mounted?); looking again",
                    printable(root.path),
                )
            self._set(root, ObserverState.MISSING, "root folder is missing")
            return False
        mode = ObserverMode.POLLING if root.fell_back else root.mode
        root.identity = _identity(root.path)  # before the watch: a swap after it is seen
        try:
            root.observer = self._run(root, mode)
        except OSError as exc:
            sysctl = INOTIFY_LIMITS.get(exc.errno or 0)
            if mode is ObserverMode.POLLING or (
                sysctl is None and root.mode is ObserverMode.INOTIFY
            ):
                log.error(
                    "cannot watch %s: %s; trying again in %g s",
                    printable(root.path),
                    exc,
                    root.backoff,
                )
                self._set(root, ObserverState.RESTARTING, str(exc))
                return False
            if sysctl is not None:
                log.error(
                    "cannot watch %s with inotify: %s; raise the limit with `sysctl -w %s=...`"
                    " (and in /etc/sysctl.d/); watching it by polling every %g s meanwhile",
                    printable(root.path),
                    os.strerror(exc.errno or 0),
                    sysctl,
                    self._poll_interval,
                )
            else:
                log.warning(
                    "inotify is unavailable for %s (%s); watching it by polling",
                    printable(root.path),
                    exc,
                )
            root.fell_back = True
            try:
                root.observer = self._run(root, ObserverMode.POLLING)
            except OSError as again:
                log.error(
                    "cannot watch %s: %s; trying again in %g s",
                    printable(root.path),
                    again,
                    root.backoff,
                )
                self._set(root, ObserverState.RESTARTING, str(again))
                return False
            mode = ObserverMode.POLLING
        state = ObserverState.POLLING if mode is ObserverMode.POLLING else ObserverState.INOTIFY
        self._set(root, state, "")
        log.info("watching %s (%s)", printable(root.path), state.value)
        return True

    def _run(self, root: WatchedRoot, mode: ObserverMode) -> BaseObserver:
        observer = self._factory(mode, self._poll_interval)
        observer.daemon = True
        observer.schedule(root.events, root.path, recursive=True)
        try:
            observer.start()  # inotify's limits are hit here
        except BaseException:
            _stop_observer(observer)
            raise
        return observer

    def _stop(self, root: WatchedRoot) -> None:
        if root.observer is not None:
            _stop_observer(root.observer)
            root.observer = None

    def _set(self, root: WatchedRoot, state: ObserverState, problem: str) -> None:
        changed = root.state is not state
        root.state, root.problem = state, problem
        if changed:
            self._on_state(root.path, state)


def _identity(path: str) -> tuple[int, int] | None:
    """Which folder is at `path` (None: none)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _emitters_alive(observer: BaseObserver) -> bool:
    """False when a watch's emitter has ended (inotify's ends with its root's deletion)."""
    emitters = getattr(observer, "emitters", None)  # a stand-in observer may have none
    return emitters is None or all(e.is_alive() for e in list(emitters))


def _stop_observer(observer: BaseObserver) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
    except (OSError, RuntimeError) as exc:  # a half-started observer, a vanished watch
        log.debug("stopping an observer: %s", exc)
