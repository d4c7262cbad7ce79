"""Album creation is claimed in the journal (issue 11, defect 6): one process creates an
album; a claim is taken over only when its time is up or its owner is known to be dead.

Real SQLite journal, real processes for liveness; time on a FakeClock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syncd.clock import FakeClock
from syncd.journal import Journal, make_owner, owner_is_alive, owner_is_local

SECONDS = 60.0
TITLE = "Holidays"
OTHER = "other.example:7:7"  # the second claimer (its own liveness does not matter)


def dead_local_owner() -> str:
    """The owner string of a real process on this host that has exited (and been reaped)."""
    code = "from syncd.journal import make_owner; print(make_owner())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    owner = done.stdout.strip()
    # The premise of the tests below: the journal can tell this owner is gone.
    assert owner_is_local(owner) and not owner_is_alive(owner), owner
    return owner


def test_a_live_owner_keeps_its_claim_until_its_time_is_up(
    journal: Journal, clock: FakeClock
) -> None:
    me = make_owner()  # this test process: local and alive
    assert journal.claim_album(TITLE, me, SECONDS)
    assert not journal.claim_album(TITLE, OTHER, SECONDS)
    clock.advance(SECONDS - 1)
    assert not journal.claim_album(TITLE, OTHER, SECONDS)  # still held, one second left
    assert journal.claim_album("Other album", OTHER, SECONDS)  # claims are per title


def test_the_holder_may_renew_its_claim(journal: Journal, clock: FakeClock) -> None:
    me = make_owner()
    assert journal.claim_album(TITLE, me, SECONDS)
    clock.advance(SECONDS - 1)
    assert journal.claim_album(TITLE, me, SECONDS)  # renewed: a fresh minute from now
    clock.advance(SECONDS - 1)
    assert not journal.claim_album(TITLE, OTHER, SECONDS)


def test_an_expired_claim_is_taken_over_even_from_a_live_owner(
    journal: Journal, clock: FakeClock
) -> None:
    """A live holder that has not created the album in its time (stuck, suspended) no
    longer blocks others; the new holder looks on the site first, so nothing is doubled."""
    me = make_owner()
    assert journal.claim_album(TITLE, me, SECONDS)
    clock.advance(SECONDS)
    assert journal.claim_album(TITLE, OTHER, SECONDS)
    # Taken over means held: the old holder cannot take it back while it is fresh...
    assert not journal.claim_album(TITLE, me, SECONDS)
    # ...and its late release does not free the new holder's claim.
    journal.release_album(TITLE, me)
    assert not journal.claim_album(TITLE, "third.example:9:9", SECONDS)


def test_a_claim_of_another_host_lapses_only_with_its_time(
    journal: Journal, clock: FakeClock
) -> None:
    """Whether a process on another host runs cannot be told from here: its time decides."""
    assert journal.claim_album(TITLE, "elsewhere.example:1:1", SECONDS)
    clock.advance(SECONDS - 0.001)
    assert not journal.claim_album(TITLE, OTHER, SECONDS)
    clock.advance(0.001)
    assert journal.claim_album(TITLE, OTHER, SECONDS)


def test_the_claim_of_a_dead_process_is_taken_over_at_once(
    journal: Journal, clock: FakeClock
) -> None:
    """A push killed while it held a claim must not make others wait out its minute."""
    dead = dead_local_owner()
    assert journal.claim_album(TITLE, dead, SECONDS)
    # No time passes: the owner being gone is enough.
    assert journal.claim_album(TITLE, OTHER, SECONDS)
    assert not journal.claim_album(TITLE, make_owner(), SECONDS)  # and now OTHER holds it


def test_a_released_claim_is_free_at_once(journal: Journal) -> None:
    me = make_owner()
    assert journal.claim_album(TITLE, me, SECONDS)
    journal.release_album(TITLE, OTHER)  # not the holder: nothing happens
    assert not journal.claim_album(TITLE, OTHER, SECONDS)
    journal.release_album(TITLE, me)
    assert journal.claim_album(TITLE, OTHER, SECONDS)


def test_a_claim_outlives_the_connection(tmp_path: Path, clock: FakeClock) -> None:
    """The claim is in the journal, not in memory: another process (here, another open of
    the same file) sees it."""
    path = tmp_path / "journal.db"
    with Journal.open(path, clock=clock) as first:
        assert first.claim_album(TITLE, make_owner(), SECONDS)
    with Journal.open(path, clock=clock) as second:
        assert not second.claim_album(TITLE, OTHER, SECONDS)
