"""The PostgreSQL schema: versioned migrations recorded in ``meta.schema_version``."""

from __future__ import annotations

from typing import Any

from skynet.index.errors import StoreError
from skynet.index.schema import PER_MODEL_EMBEDDINGS_DATA

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE TABLE cameras (
        id TEXT PRIMARY KEY CHECK (length(id) > 0),
        name TEXT NOT NULL,
        source_url TEXT NOT NULL,
        latitude DOUBLE PRECISION CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
        longitude DOUBLE PRECISION CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180),
        tags TEXT NOT NULL DEFAULT '[]'
    );

    CREATE TABLE sightings (
        id BIGSERIAL PRIMARY KEY,
        camera_id TEXT NOT NULL REFERENCES cameras(id),
        kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
        first_seen DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL,
        best_time DOUBLE PRECISION NOT NULL,
        x1 DOUBLE PRECISION NOT NULL, y1 DOUBLE PRECISION NOT NULL,
        x2 DOUBLE PRECISION NOT NULL, y2 DOUBLE PRECISION NOT NULL,
        quality DOUBLE PRECISION NOT NULL,
        thumbnail_path TEXT,
        context_path TEXT,
        embedding BYTEA,
        plate_text TEXT,
        plate_confidences TEXT,
        track_id BIGINT,
        origin_kind TEXT NOT NULL CHECK (origin_kind IN ('live', 'archive')),
        origin_file TEXT,
        origin_offset DOUBLE PRECISION,
        CHECK ((kind = 'face') = (embedding IS NOT NULL)),
        CHECK ((kind = 'plate') = (plate_text IS NOT NULL)),
        CHECK (first_seen <= last_seen)
    );
    CREATE INDEX sightings_time ON sightings(best_time);
    CREATE INDEX sightings_camera_time ON sightings(camera_id, best_time);
    CREATE INDEX sightings_faces ON sightings(id) WHERE kind = 'face';
    CREATE INDEX sightings_origin_file ON sightings(origin_file) WHERE origin_file IS NOT NULL;

    CREATE TABLE plate_reads (
        id BIGSERIAL PRIMARY KEY,
        sighting_id BIGINT NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        rank INTEGER NOT NULL,
        text TEXT NOT NULL CHECK (length(text) > 0),
        norm TEXT NOT NULL,
        rnorm TEXT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX plate_reads_sighting ON plate_reads(sighting_id);
    CREATE INDEX plate_reads_norm ON plate_reads(norm text_pattern_ops);
    CREATE INDEX plate_reads_rnorm ON plate_reads(rnorm text_pattern_ops);
    CREATE INDEX plate_reads_trigram ON plate_reads USING gin (norm gin_trgm_ops);

    CREATE TABLE watchlist_entries (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
        label TEXT NOT NULL,
        reason TEXT NOT NULL,
        added_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        plate_pattern TEXT,
        embeddings BYTEA,
        embedding_count INTEGER NOT NULL DEFAULT 0,
        min_similarity DOUBLE PRECISION
    );

    CREATE TABLE alerts (
        id BIGSERIAL PRIMARY KEY,
        entry_id BIGINT NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        sighting_id BIGINT NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        camera_id TEXT NOT NULL REFERENCES cameras(id),
        created_at DOUBLE PRECISION NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        acknowledged_by TEXT,
        acknowledged_at DOUBLE PRECISION
    );
    CREATE INDEX alerts_created ON alerts(created_at);

    CREATE TABLE audit_log (
        id BIGSERIAL PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only';
    END $$;
    CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

    CREATE TABLE reindex_files (
        path TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        mtime DOUBLE PRECISION NOT NULL,
        sha256 TEXT,
        model_pack TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
        frames_done INTEGER NOT NULL DEFAULT 0,
        updated_at DOUBLE PRECISION NOT NULL
    );
    """,
    """
    -- Version 2: users and API tokens (hashed), background jobs, the webhook outbox.
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
        role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'operator')),
        created_at DOUBLE PRECISION NOT NULL,
        password_hash TEXT,
        disabled BOOLEAN NOT NULL DEFAULT FALSE
    );

    CREATE TABLE api_tokens (
        id BIGSERIAL PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        created_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION,
        label TEXT NOT NULL DEFAULT ''
    );

    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        params TEXT NOT NULL DEFAULT '{}',
        progress TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '[]'
    );

    -- Webhook deliveries not yet done (skynet.alerts.outbox.DeliveryOutbox): kept across restarts.
    CREATE TABLE webhook_deliveries (
        id BIGSERIAL PRIMARY KEY,
        target TEXT NOT NULL,
        body BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        next_attempt_at DOUBLE PRECISION NOT NULL,
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
        sighting_id BIGINT NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
        embedding BYTEA NOT NULL,
        PRIMARY KEY (model, sighting_id)
    );
    CREATE INDEX face_embeddings_sighting ON face_embeddings(sighting_id);

    CREATE TABLE watchlist_photos (
        id BIGSERIAL PRIMARY KEY,
        entry_id BIGINT NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        image BYTEA NOT NULL
    );
    CREATE INDEX watchlist_photos_entry ON watchlist_photos(entry_id);

    CREATE TABLE watchlist_embeddings (
        entry_id BIGINT NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        embeddings BYTEA NOT NULL,
        embedding_count INTEGER NOT NULL CHECK (embedding_count > 0),
        PRIMARY KEY (entry_id, model)
    );
    """
    + PER_MODEL_EMBEDDINGS_DATA,
    """
    -- Version 4: per-camera TLS verification of https:// and rtsps:// sources (skynet.records.Camera):
    -- verified by default; tls_ca_file names a PEM file of the CAs (or the camera's own certificate) to trust.
    ALTER TABLE cameras ADD COLUMN tls_verify BOOLEAN NOT NULL DEFAULT TRUE;
    ALTER TABLE cameras ADD COLUMN tls_ca_file TEXT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = 0x5359_4E45  # pg_advisory_xact_lock key: one migrator at a time


def migrate(conn: Any) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION` in one transaction under an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this Skynet ({SCHEMA_VERSION})",
                "upgrade Skynet, or point it at a database written by this version",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[target - 1])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(target),),
            )
    return SCHEMA_VERSION
