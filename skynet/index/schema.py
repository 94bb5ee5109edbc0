"""The SQLite schema: versioned migrations (``PRAGMA user_version``), connection settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from skynet.index.errors import StoreError

# Each entry moves the schema from version i to i + 1. Append new migrations; never edit old ones.
PER_MODEL_EMBEDDINGS_DATA = """
    INSERT INTO watchlist_embeddings (entry_id, model, embeddings, embedding_count)
        SELECT id, 'default/dlib_resnet', embeddings, embedding_count FROM watchlist_entries
        WHERE embeddings IS NOT NULL AND embedding_count > 0;
    UPDATE watchlist_entries SET embeddings = NULL, embedding_count = 0;

    -- meta: face_model (the model searches use), embedding_dim/<model> (each model's dimension)
    INSERT INTO meta (key, value)
        SELECT 'embedding_dim/default/dlib_resnet', value FROM meta WHERE key = 'embedding_dim';
    INSERT INTO meta (key, value)
        SELECT 'face_model', 'default/dlib_resnet'
        WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'embedding_dim')
           OR EXISTS (SELECT 1 FROM watchlist_embeddings);
    DELETE FROM meta WHERE key = 'embedding_dim';
"""
"""Migration 3's data moves, the same SQL in SQLite and PostgreSQL (appended to both dialects' DDL)."""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE cameras (
        id TEXT PRIMARY KEY CHECK (length(id) > 0),
        name TEXT NOT NULL,
        source_url TEXT NOT NULL,
        latitude REAL CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
        longitude REAL CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180),
        tags TEXT NOT NULL DEFAULT '[]'
    );

    CREATE TABLE sightings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL REFERENCES cameras(id),
        kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        best_time REAL NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        quality REAL NOT NULL,
        thumbnail_path TEXT,
        context_path TEXT,
        embedding BLOB,
        plate_text TEXT,
        plate_confidences TEXT,
        track_id INTEGER,
        origin_kind TEXT NOT NULL CHECK (origin_kind IN ('live', 'archive')),
        origin_file TEXT,
        origin_offset REAL,
        CHECK ((kind = 'face') = (embedding IS NOT NULL)),
        CHECK ((kind = 'plate') = (plate_text IS NOT NULL)),
        CHECK (first_seen <= last_seen)
    );
    CREATE INDEX sightings_time ON sightings(best_time);
    CREATE INDEX sightings_camera_time ON sightings(camera_id, best_time);
    CREATE INDEX sightings_faces ON sightings(id) WHERE kind = 'face';
    CREATE INDEX sightings_origin_file ON sightings(origin_file) WHERE origin_file IS NOT NULL;

    -- Every read of a plate sighting: rank 0 is the voted text, then the alternative reads.
    -- norm: confusable characters folded to one class; rnorm: norm reversed (suffix searches).
    CREATE TABLE plate_reads (
        id INTEGER PRIMARY KEY,
        sighting_id INTEGER NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        rank INTEGER NOT NULL,
        text TEXT NOT NULL CHECK (length(text) > 0),
        norm TEXT NOT NULL,
        rnorm TEXT NOT NULL,
        confidence REAL NOT NULL
    );
    CREATE INDEX plate_reads_sighting ON plate_reads(sighting_id);
    CREATE INDEX plate_reads_norm ON plate_reads(norm);
    CREATE INDEX plate_reads_rnorm ON plate_reads(rnorm);
    -- detail=none: the trigram index only says which rows hold a trigram; every match is then
    -- checked exactly (GLOB, or rapidfuzz for fuzzy searches), so positions are not needed.
    CREATE VIRTUAL TABLE plate_fts USING fts5(
        norm, content='plate_reads', content_rowid='id', tokenize='trigram', detail='none'
    );
    CREATE TRIGGER plate_reads_ai AFTER INSERT ON plate_reads BEGIN
        INSERT INTO plate_fts(rowid, norm) VALUES (new.id, new.norm);
    END;
    CREATE TRIGGER plate_reads_ad AFTER DELETE ON plate_reads BEGIN
        INSERT INTO plate_fts(plate_fts, rowid, norm) VALUES ('delete', old.id, old.norm);
    END;

    CREATE TABLE watchlist_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
        label TEXT NOT NULL,
        reason TEXT NOT NULL,
        added_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        plate_pattern TEXT,
        embeddings BLOB,
        embedding_count INTEGER NOT NULL DEFAULT 0,
        min_similarity REAL
    );

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id INTEGER NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        sighting_id INTEGER NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        camera_id TEXT NOT NULL REFERENCES cameras(id),
        created_at REAL NOT NULL,
        score REAL NOT NULL,
        acknowledged_by TEXT,
        acknowledged_at REAL
    );
    CREATE INDEX alerts_created ON alerts(created_at);

    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;

    -- Re-index state of archive files, for resumable ingestion.
    CREATE TABLE reindex_files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT,
        model_pack TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
        frames_done INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    """,
    """
    -- Version 2: users and API tokens (hashed), background jobs, the webhook outbox.
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
        role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'operator')),
        created_at REAL NOT NULL,
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash TEXT NOT NULL UNIQUE,
        user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL,
        label TEXT NOT NULL DEFAULT ''
    );

    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        params TEXT NOT NULL DEFAULT '{}',
        progress TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '[]'
    );

    -- Webhook deliveries not yet done (skynet.alerts.outbox.DeliveryOutbox): kept across restarts.
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
        last_error TEXT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
    """,
    """
    -- Version 3: every face embedding records the embedding model it came from
    -- (skynet.index.face_models); vectors of other models, made by a re-embedding job
    -- (skynet.index.reembed), go to face_embeddings. Watch-list entries keep their photos (to be
    -- re-embedded) and their reference embeddings per model.
    ALTER TABLE sightings ADD COLUMN embedding_model TEXT;
    UPDATE sightings SET embedding_model = 'default/dlib_resnet' WHERE kind = 'face';

    CREATE TABLE face_embeddings (
        model TEXT NOT NULL,
        sighting_id INTEGER NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        embedding BLOB NOT NULL,
        PRIMARY KEY (model, sighting_id)
    );
    CREATE INDEX face_embeddings_sighting ON face_embeddings(sighting_id);

    CREATE TABLE watchlist_photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id INTEGER NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        image BLOB NOT NULL
    );
    CREATE INDEX watchlist_photos_entry ON watchlist_photos(entry_id);

    CREATE TABLE watchlist_embeddings (
        entry_id INTEGER NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        embeddings BLOB NOT NULL,
        embedding_count INTEGER NOT NULL CHECK (embedding_count > 0),
        PRIMARY KEY (entry_id, model)
    );
    """
    + PER_MODEL_EMBEDDINGS_DATA,
    """
    -- Version 4: per-camera TLS verification of https:// and rtsps:// sources (skynet.records.Camera):
    -- verified by default; tls_ca_file names a PEM file of the CAs (or the camera's own certificate) to trust.
    ALTER TABLE cameras ADD COLUMN tls_verify INTEGER NOT NULL DEFAULT 1 CHECK (tls_verify IN (0, 1));
    ALTER TABLE cameras ADD COLUMN tls_ca_file TEXT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, read_only: bool = False, cache_mib: int = 256) -> sqlite3.Connection:
    """A connection with WAL, foreign keys, a busy timeout and ``cache_mib`` of page cache;
    autocommit (explicit transactions)."""
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")  # B-trees of millions of rows
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as error:
        raise StoreError(
            f"cannot open the sighting store {path}: {error}",
            "check the file is a Skynet store and the directory is writable",
        ) from error
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`, one transaction per migration; returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this Skynet ({SCHEMA_VERSION})",
            "upgrade Skynet, or open a store written by this version",
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[target - 1]}\nPRAGMA user_version = {target};\nCOMMIT;")
        except sqlite3.DatabaseError as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"schema migration to version {target} failed: {error}") from error
    return SCHEMA_VERSION
