"""Worker threads for read-only listing, each with a Client of its own, and the one place
where a list request is sent (counted, retried through the injected engine, stoppable).

A Client is used by one thread only (its session and last-answer fields are not shared
safely), so every worker thread makes its own on first use; `close()` closes them all.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from syncd.api import Client, Page
from syncd.errors import Interrupted, NotFound
from syncd.model import RemoteItem

log = logging.getLogger(__name__)

T = TypeVar("T")
Filters = Mapping[str, str | int]


class Tally:
    """Requests sent for one operation (a walk, a batch of lookups); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


class CallWithRetry(Protocol):
    """Runs `fn` (one request, signed afresh on each call) with the run's retry policy.

    `what` names the request for the engine's log lines. The run's engine
    (`syncd.retry.Retrier`) has this shape; `call_once` is the default.
    """

    def __call__(self, fn: Callable[[], T], *, what: str) -> T: ...


def call_once(fn: Callable[[], T], *, what: str) -> T:
    """No retries: a transient fault ends the listing with its error."""
    del what
    return fn()


class ClientPool:
    """`workers` threads, each with its own Client made by `connect()` on first use."""

    def __init__(
        self,
        connect: Callable[[], Client],
        workers: int,
        *,
        call_with_retry: CallWithRetry = call_once,
        stop: threading.Event | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._connect = connect
        self._retry = call_with_retry
        self._stop = stop
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="remote-list")
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        self.tally = Tally()  # every request of every operation, retries included

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def submit(self, task: Callable[[Client], T]) -> Future[T]:
        """Run task(client) on a worker thread, with that thread's Client."""
        return self._executor.submit(lambda: task(self._client()))

    def run(self, task: Callable[[Client], T]) -> T:
        """submit(task) and wait for it (sequential steps still use a worker's Client)."""
        return self.submit(task).result()

    def map_unordered(self, tasks: Iterable[Callable[[Client], T]]) -> Iterator[T]:
        """Each task's result as it completes, at most `workers` tasks in flight or done but
        not yet taken, so a slow consumer holds no more than that many results."""
        todo = iter(tasks)
        running: dict[Future[T], int] = {}
        serial = itertools.count()
        try:
            for task in itertools.islice(todo, self.workers):
                running[self.submit(task)] = next(serial)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=running.__getitem__):
                    del running[future]
                    result = future.result()  # an error ends the whole map
                    following = next(todo, None)
                    if following is not None:
                        running[self.submit(following)] = next(serial)
                    yield result
        finally:
            for future in running:  # abandoned (error or consumer gone): start no more
                future.cancel()

    def list_page(
        self,
        client: Client,
        filters: Filters,
        p: int,
        *,
        tally: Tally,
        absent: frozenset[str] = frozenset(),
    ) -> Page[RemoteItem]:
        """One signed photo/list page. An API error whose code is in `absent` (e.g.
        `no_such_tag` for a tag nobody uses) is an empty page, not a failure."""
        if self._stop is not None and self._stop.is_set():
            raise Interrupted("stopping: remote listing abandoned")
        what = f"photo/list {describe(filters)} p={p}"

        def attempt() -> Page[RemoteItem]:
            self._count(tally)
            return client.photo_list(**filters, p=p)

        try:
            return self._retry(attempt, what=what)
        except NotFound as exc:
            if exc.code not in absent:
                raise
            log.debug("%s: %s, taken as no items", what, exc.code)
            return Page(items=[], p=p, size=int(filters.get("size", 0)) or 1, total_count=0)

    def album_page(
        self, client: Client, filters: Filters, p: int, *, tally: Tally
    ) -> Page[dict[str, Any]]:
        """One signed album/list page."""
        if self._stop is not None and self._stop.is_set():
            raise Interrupted("stopping: remote listing abandoned")

        def attempt() -> Page[dict[str, Any]]:
            self._count(tally)
            return client.album_list(**filters, p=p)

        return self._retry(attempt, what=f"album/list {describe(filters)} p={p}")

    def _count(self, tally: Tally) -> None:
        tally.add()
        self.tally.add()

    def close(self) -> None:
        """Wait for running requests, cancel queued ones, close every Client."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def describe(filters: Filters) -> str:
    """The filters that tell one listing from another (not the constant ones)."""
    constant = {"include_unpublished_p", "include_hidden_p", "size", "orderby", "order"}
    shown = [f"{k}={v}" for k, v in filters.items() if k not in constant]
    return " ".join(shown) or "(whole site)"
