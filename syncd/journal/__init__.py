"""The SQLite journal behind one facade, `Journal`, split by concern:

- `db`: opening, migrations, transactions and the compare-and-set every change goes through;
- `files`: the scanner's side (new, changed, hashed, vanished files);
- `claims`: the workers' side (claims under a lease, transitions, recovery);
- `sessions`: resumable upload sessions and acknowledged chunks;
- `albums`: album titles and their ids on the site;
- `queries`: rows, counts and the event log, read only;
- `reconcile`: what a comparison with the site writes (adoption, drift, forgetting);
- `site`: the site the journal describes;
- `unconfirmed`: metadata sent that the site did not confirm;
- `peek`: read-only looks at another process's journal file.

This package is the only place with SQL. Every state change is one short `BEGIN IMMEDIATE`
transaction with a compare-and-set on the row's state and one event-log row, and only the
transitions in `syncd.model.TRANSITIONS` are accepted.
"""

from __future__ import annotations

from syncd.journal.albums import Albums
from syncd.journal.claims import Claims
from syncd.journal.db import BUSY_TIMEOUT_SECONDS, CLAIMABLE
from syncd.journal.files import Files
from syncd.journal.owners import make_owner, owner_is_alive, owner_is_local
from syncd.journal.peek import read_chunk_progress, read_state
from syncd.journal.queries import Queries
from syncd.journal.reconcile import Reconciling
from syncd.journal.schema import MIGRATIONS, SCHEMA_VERSION
from syncd.journal.sessions import Sessions
from syncd.journal.site import SiteBinding, Sites
from syncd.journal.unconfirmed import Unconfirmed, UnconfirmedFields


class Journal(Files, Claims, Sessions, Albums, Queries, Reconciling, Sites, UnconfirmedFields):
    """The journal of one syncd installation. Thread-safe: one connection per process,
    guarded by a re-entrant lock; processes share the file through WAL and a busy timeout."""


__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "CLAIMABLE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Journal",
    "SiteBinding",
    "Unconfirmed",
    "make_owner",
    "owner_is_alive",
    "owner_is_local",
    "read_chunk_progress",
    "read_state",
]
