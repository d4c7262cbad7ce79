"""The loop every run shares: a feed supplies work, a pool of workers does it, a stop rule
says when it is over. Push is a scan feed with a burst; watch a watch feed run forever."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from syncd.pipeline.context import RunContext
from syncd.pipeline.feeds import Feed
from syncd.pipeline.pool import IDLE_POLL_SECONDS, WorkerPool
from syncd.pipeline.stop import StopRule

log = logging.getLogger(__name__)

# Exit status when a second signal ends the process at once (as for Ctrl-C in a shell).
EXIT_INTERRUPTED = 130


def run_pipeline(
    ctx: RunContext,
    pool: WorkerPool,
    feed: Feed,
    stop_rule: StopRule,
    *,
    on_tick: Callable[[], float | None] | None = None,
    drain_timeout: float = 0.0,
    idle_poll: float = IDLE_POLL_SECONDS,
) -> None:
    """Run until the stop rule says done or a stop is asked for. Workers start before the
    feed's first scan and take each file as soon as it is ready.

    `on_tick` runs on every pass of the loop (a daemon's watchdog ping, status, reload)
    and may say when it next wants to run. When the run is asked to drain, no new work is
    taken and transfers in flight get `drain_timeout` seconds to finish before they are
    abandoned at their next block.
    """
    lifecycle = ctx.lifecycle
    pool.start(ctx.concurrency)
    try:
        feed.start()
        if not ctx.stop:
            pool.claim_since = None  # the scan has seen what earlier runs left: it may go too
            pool.wake()
        drain_until: float | None = None
        while not ctx.stop:
            lifecycle.wake.clear()  # before looking, so no change goes unnoticed
            exit_if_forced(ctx)
            wants = on_tick() if on_tick is not None else None
            now = ctx.clock.time()
            if lifecycle.draining.is_set():
                if drain_until is None:
                    drain_until = now + drain_timeout
                    busy = len(pool.inflight())
                    log.info("stopping: %d transfer(s) get %.0f s to finish", busy, drain_timeout)
                if not pool.busy() or now >= drain_until:
                    lifecycle.request_stop()  # what is still in flight stops at its next block
                    break
                wants = drain_until if wants is None else min(wants, drain_until)
            else:
                if pool.requeued.is_set():
                    pool.requeued.clear()
                    feed.poke()
                fed = feed.step()
                wants = fed if wants is None else (wants if fed is None else min(wants, fed))
                if stop_rule.done(pool, feed, now):
                    break
            timeout = idle_poll if wants is None else min(idle_poll, wants - now)
            # Woken early when a worker finishes, the scan readies a file, or a stop comes.
            ctx.clock.wait(lifecycle.wake, max(0.0, timeout))
    except BaseException:
        lifecycle.request_stop()  # a failed scan or loop: workers stop at once, not when done
        raise
    finally:
        pool.finish(lifecycle.force)
        exit_if_forced(ctx)


def exit_if_forced(ctx: RunContext) -> None:
    """A second stop signal: leave now. Safe: every state change is one transaction, and
    what was in flight is recovered (and asked about) by the next run."""
    if ctx.lifecycle.force.is_set():
        log.warning("second stop signal: leaving at once")
        os._exit(EXIT_INTERRUPTED)
