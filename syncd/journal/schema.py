"""The journal's schema: the ordered migrations that build it, and the files columns."""

from __future__ import annotations

FILE_COLUMNS = (
    "path",
    "root",
    "size",
    "mtime_ns",
    "inode",
    "sha256",
    "state",
    "photo_id",
    "attempts",
    "error_code",
    "error_message",
    "next_attempt_at",
    "lease_owner",
    "lease_until",
    "stable_since",
    "duplicate_of",
    "desired_digest",
    "applied_digest",
    "upload_mode",
    "created_at",
    "updated_at",
    "uploaded_sha256",
    "parks",
    "meta_sig",
    "applied_parts",
)
# Columns transition() may set; state, path and lease are managed here.
SETTABLE_FIELDS = frozenset(
    {
        "size",
        "mtime_ns",
        "inode",
        "sha256",
        "photo_id",
        "attempts",
        "error_code",
        "error_message",
        "next_attempt_at",
        "stable_since",
        "duplicate_of",
        "desired_digest",
        "applied_digest",
        "upload_mode",
        "parks",
        "meta_sig",
        "applied_parts",
    }
)
PATH_FIELDS = frozenset({"duplicate_of"})

# Ordered migrations: MIGRATIONS[i] takes user_version i to i + 1. Append only;
# never edit a released step. Each step is a tuple of single statements (not
# executescript, which would commit the surrounding transaction).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE files (
            path BLOB PRIMARY KEY,
            root BLOB NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT,
            state TEXT NOT NULL,
            photo_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error_code TEXT,
            error_message TEXT,
            next_attempt_at REAL,
            lease_owner TEXT,
            lease_until REAL,
            stable_since REAL,
            duplicate_of BLOB,
            desired_digest TEXT,
            applied_digest TEXT,
            upload_mode TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX files_state ON files(state)",
        "CREATE INDEX files_sha256 ON files(sha256)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            path BLOB NOT NULL,
            from_state TEXT,
            to_state TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX events_path ON events(path)",
        """CREATE TABLE chunk_sessions (
            path BLOB PRIMARY KEY REFERENCES files(path) ON DELETE CASCADE,
            upload_token TEXT NOT NULL,
            identifier TEXT NOT NULL,
            chunk_size INTEGER NOT NULL,
            total_size INTEGER NOT NULL,
            total_chunks INTEGER NOT NULL,
            valid_until REAL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE chunk_acks (
            path BLOB NOT NULL REFERENCES chunk_sessions(path) ON DELETE CASCADE,
            chunk_number INTEGER NOT NULL,
            PRIMARY KEY (path, chunk_number)
        )""",
        "CREATE TABLE albums (title TEXT PRIMARY KEY, album_id TEXT NOT NULL)",
    ),
    (
        # claim() walks these in order and stops at the first row under its roots,
        # instead of sorting every ready row on each claim (O(n) per file).
        "CREATE INDEX files_state_updated ON files(state, updated_at)",
        "CREATE INDEX files_state_due ON files(state, next_attempt_at)",
    ),
    (
        # The content the remote item holds, so a touched or re-copied file with the
        # same bytes is recognised as synced instead of uploaded again.
        "ALTER TABLE files ADD COLUMN uploaded_sha256 TEXT",
        "UPDATE files SET uploaded_sha256 = sha256 WHERE photo_id IS NOT NULL",
        # The content a chunk session is uploading: a session never resumes
        # with different bytes.
        "ALTER TABLE chunk_sessions ADD COLUMN sha256 TEXT",
    ),
    (
        # Rounds of retries that ended parked: the park delay grows with rounds, not
        # with claims (a claim that was interrupted is not a failed round).
        "ALTER TABLE files ADD COLUMN parks INTEGER NOT NULL DEFAULT 0",
        # A fingerprint of everything the desired metadata is made of (the config's
        # layer, the sidecars' versions, the file's name): when it changes, the scan
        # works out the metadata again and the metadata stage brings the site in line.
        "ALTER TABLE files ADD COLUMN meta_sig TEXT",
        # A renamed file keeps its inode: found again without reading it.
        "CREATE INDEX files_inode ON files(inode)",
        # Metadata work: items whose site metadata is behind (see claim_metadata()).
        "CREATE INDEX files_metadata_due ON files(next_attempt_at)"
        " WHERE state = 'uploaded' OR (state = 'synced' AND desired_digest IS NOT applied_digest)",
        # Album creation is claimed, so two processes sharing a journal create an album once.
        """CREATE TABLE album_claims (
            title TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            until REAL NOT NULL
        )""",
    ),
    (
        # What the metadata stage applied, part by part (JSON: the photo/update fields'
        # digest, the chapters' digest, the coordinate it added, the thumbnail's digest),
        # so a change to one part sends only that part (syncd.plan.metadata.AppliedParts).
        "ALTER TABLE files ADD COLUMN applied_parts TEXT",
    ),
    (
        # The site this journal describes (one row): recorded when first used, so that a
        # run against another site refuses instead of taking this journal's word for it.
        """CREATE TABLE site (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            domain TEXT NOT NULL,
            site_id TEXT,
            site_name TEXT,
            bound_at REAL NOT NULL
        )""",
        # Metadata an upload sent but the site did not confirm (publish_date where the
        # list answer does not show it): listed by `syncd status`. Follows its file row.
        """CREATE TABLE unconfirmed (
            path BLOB PRIMARY KEY
                REFERENCES files(path) ON DELETE CASCADE ON UPDATE CASCADE,
            fields TEXT NOT NULL,
            detail TEXT NOT NULL,
            at REAL NOT NULL
        )""",
    ),
    (
        # Files and bytes per (root, state), kept by triggers on every insert, delete and
        # change of state, root or size, whoever makes it: `syncd status` and run reports
        # read a handful of rows instead of counting a million.
        """CREATE TABLE state_counts (
            root BLOB NOT NULL,
            state TEXT NOT NULL,
            n INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (root, state)
        ) WITHOUT ROWID""",
        "INSERT INTO state_counts (root, state, n, bytes)"
        " SELECT root, state, COUNT(*), COALESCE(SUM(size), 0) FROM files GROUP BY root, state",
        """CREATE TRIGGER files_counted_insert AFTER INSERT ON files BEGIN
            INSERT INTO state_counts (root, state, n, bytes)
            VALUES (NEW.root, NEW.state, 1, NEW.size)
            ON CONFLICT (root, state) DO UPDATE SET n = n + 1, bytes = bytes + NEW.size;
        END""",
        """CREATE TRIGGER files_counted_delete AFTER DELETE ON files BEGIN
            UPDATE state_counts SET n = n - 1, bytes = bytes - OLD.size
            WHERE root = OLD.root AND state = OLD.state;
        END""",
        """CREATE TRIGGER files_counted_update AFTER UPDATE OF state, root, size ON files
        WHEN OLD.state IS NOT NEW.state OR OLD.root IS NOT NEW.root
            OR OLD.size IS NOT NEW.size BEGIN
            UPDATE state_counts SET n = n - 1, bytes = bytes - OLD.size
            WHERE root = OLD.root AND state = OLD.state;
            INSERT INTO state_counts (root, state, n, bytes)
            VALUES (NEW.root, NEW.state, 1, NEW.size)
            ON CONFLICT (root, state) DO UPDATE SET n = n + 1, bytes = bytes + NEW.size;
        END""",
        # files_state is the first column of files_state_updated: a second copy of every
        # row's state that no query needs.
        "DROP INDEX files_state",
        # Content is looked up by the first 16 hex digits of its hash (64 bits: a second
        # row in the same entry is a twin, or one in 10^19), then compared in full: a
        # quarter of the index (db.FILES_WITH_SHA spells the lookup).
        "DROP INDEX files_sha256",
        "CREATE INDEX files_sha_prefix ON files(substr(sha256, 1, 16))",
        # Events name their file by a 64-bit hash of its path (db.path_key), not a copy of
        # the path in the row and again in the index: a file's history is four or five
        # events, and the copies were most of the journal's size. `syncd status PATH` hashes
        # the path it is given.
        """CREATE TABLE events_keyed (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            path_key INTEGER NOT NULL,
            from_state TEXT,
            to_state TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        "INSERT INTO events_keyed (id, at, path_key, from_state, to_state, detail)"
        " SELECT id, at, syncd_path_key(path), from_state, to_state, detail FROM events",
        "DROP TABLE events",
        "ALTER TABLE events_keyed RENAME TO events",
        "CREATE INDEX events_path_key ON events(path_key)",
    ),
    (
        # The consumer key the journal's site was last confirmed with: a run at the bound
        # domain with this key trusts the binding without asking site/get (a re-push of a
        # synced tree sends nothing); new credentials at the same domain are asked about.
        "ALTER TABLE site ADD COLUMN consumer_key TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
