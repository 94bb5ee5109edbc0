"""Versions 1-7: the first version's tables and the changes of the rounds before the city-scale one."""

from __future__ import annotations

from skynet.store.schema.migration import Migration

FOUNDING: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE cameras (
            id TEXT PRIMARY KEY CHECK (length(id) > 0),
            name TEXT NOT NULL,
            source_url TEXT NOT NULL,
            latitude {float} CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90),
            longitude {float} CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180),
            tags TEXT NOT NULL DEFAULT '[]'
        );

        CREATE TABLE sightings (
            id {id},
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
            first_seen {float} NOT NULL,
            last_seen {float} NOT NULL,
            best_time {float} NOT NULL,
            x1 {float} NOT NULL, y1 {float} NOT NULL, x2 {float} NOT NULL, y2 {float} NOT NULL,
            quality {float} NOT NULL,
            thumbnail_path TEXT,
            context_path TEXT,
            embedding {blob},
            plate_text TEXT,
            plate_confidences TEXT,
            track_id {bigint},
            origin_kind TEXT NOT NULL CHECK (origin_kind IN ('live', 'archive')),
            origin_file TEXT,
            origin_offset {float},
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
            id {row_id},
            sighting_id {bigint} NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            text TEXT NOT NULL CHECK (length(text) > 0),
            norm TEXT NOT NULL,
            rnorm TEXT NOT NULL,
            confidence {float} NOT NULL
        );
        CREATE INDEX plate_reads_sighting ON plate_reads(sighting_id);
        CREATE INDEX plate_reads_norm ON plate_reads(norm{prefix_ops});
        CREATE INDEX plate_reads_rnorm ON plate_reads(rnorm{prefix_ops});

        CREATE TABLE watchlist_entries (
            id {id},
            kind TEXT NOT NULL CHECK (kind IN ('face', 'plate')),
            label TEXT NOT NULL,
            reason TEXT NOT NULL,
            added_by TEXT NOT NULL,
            created_at {float} NOT NULL,
            expires_at {float},
            plate_pattern TEXT,
            embeddings {blob},
            embedding_count INTEGER NOT NULL DEFAULT 0,
            min_similarity {float}
        );

        CREATE TABLE alerts (
            id {id},
            entry_id {bigint} NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
            sighting_id {bigint} NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            created_at {float} NOT NULL,
            score {float} NOT NULL,
            acknowledged_by TEXT,
            acknowledged_at {float}
        );
        CREATE INDEX alerts_created ON alerts(created_at);

        CREATE TABLE audit_log (
            id {id},
            at {float} NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            reason TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );

        -- Re-index state of archive files, for resumable ingestion.
        CREATE TABLE reindex_files (
            path TEXT PRIMARY KEY,
            size {bigint} NOT NULL,
            mtime {float} NOT NULL,
            sha256 TEXT,
            model_pack TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
            frames_done INTEGER NOT NULL DEFAULT 0,
            updated_at {float} NOT NULL
        );
        """,
        sqlite="""
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

        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        """,
        postgresql="""
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX plate_reads_trigram ON plate_reads USING gin (norm gin_trgm_ops);

        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only';
        END $$;
        CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
        """,
    ),
    Migration(
        2,
        """
        -- Users and API tokens (hashed), background jobs, the webhook outbox.
        CREATE TABLE users (
            id {id},
            name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
            role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'operator')),
            created_at {float} NOT NULL,
            password_hash TEXT,
            disabled {bool} NOT NULL DEFAULT {false}
        );

        CREATE TABLE api_tokens (
            id {id},
            token_hash TEXT NOT NULL UNIQUE,
            user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
            created_at {float} NOT NULL,
            expires_at {float},
            label TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE jobs (
            id {id},
            kind TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {float} NOT NULL,
            updated_at {float} NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
            params TEXT NOT NULL DEFAULT '{}',
            progress TEXT NOT NULL DEFAULT '{}',
            errors TEXT NOT NULL DEFAULT '[]'
        );

        -- Webhook deliveries not yet done (skynet.alerts.outbox.DeliveryOutbox): kept across restarts.
        CREATE TABLE webhook_deliveries (
            id {id},
            target TEXT NOT NULL,
            body {blob} NOT NULL,
            created_at {float} NOT NULL,
            next_attempt_at {float} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
            last_error TEXT
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
        """,
    ),
    Migration(
        3,
        """
        -- Every face embedding records the embedding model it came from (skynet.index.face_models);
        -- vectors of other models, made by a re-embedding job (skynet.index.reembed), go to
        -- face_embeddings. Watch-list entries keep their photos (to be re-embedded) and their
        -- reference embeddings per model.
        ALTER TABLE sightings ADD COLUMN embedding_model TEXT;
        UPDATE sightings SET embedding_model = 'default/dlib_resnet' WHERE kind = 'face';

        CREATE TABLE face_embeddings (
            model TEXT NOT NULL,
            sighting_id {bigint} NOT NULL REFERENCES sightings(id) ON DELETE CASCADE,
            embedding {blob} NOT NULL,
            PRIMARY KEY (model, sighting_id)
        );
        CREATE INDEX face_embeddings_sighting ON face_embeddings(sighting_id);

        CREATE TABLE watchlist_photos (
            id {id},
            entry_id {bigint} NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
            image {blob} NOT NULL
        );
        CREATE INDEX watchlist_photos_entry ON watchlist_photos(entry_id);

        CREATE TABLE watchlist_embeddings (
            entry_id {bigint} NOT NULL REFERENCES watchlist_entries(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            embeddings {blob} NOT NULL,
            embedding_count INTEGER NOT NULL CHECK (embedding_count > 0),
            PRIMARY KEY (entry_id, model)
        );

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
        """,
    ),
    Migration(
        4,
        """
        -- Per-camera TLS verification of https:// and rtsps:// sources (skynet.records.Camera): verified
        -- by default; tls_ca_file names a PEM file of the CAs (or the camera's own certificate) to trust.
        ALTER TABLE cameras ADD COLUMN tls_verify {bool} NOT NULL DEFAULT {true}
            CHECK (tls_verify IN ({false}, {true}));
        ALTER TABLE cameras ADD COLUMN tls_ca_file TEXT;
        """,
    ),
    Migration(
        5,
        """
        -- Face vectors have one home: each sighting's own vector moves from sightings.embedding
        -- (recorded as of sightings.embedding_model) to face_embeddings, beside the vectors of other
        -- models, and the two columns go.
        INSERT INTO face_embeddings (model, sighting_id, embedding)
            SELECT COALESCE(embedding_model, 'default/dlib_resnet'), id, embedding FROM sightings
            WHERE embedding IS NOT NULL
            ON CONFLICT (model, sighting_id) DO UPDATE SET embedding = excluded.embedding;
        """,
        # SQLite cannot drop a column that a CHECK names: the table is rebuilt (its id sequence
        # kept, so no id is handed out twice); the foreign keys of other tables name the table,
        # so they point at the new one (SQLite migrations run with foreign keys off, then checked).
        sqlite="""
        CREATE TABLE sightings_new (
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
            plate_text TEXT,
            plate_confidences TEXT,
            track_id INTEGER,
            origin_kind TEXT NOT NULL CHECK (origin_kind IN ('live', 'archive')),
            origin_file TEXT,
            origin_offset REAL,
            CHECK ((kind = 'plate') = (plate_text IS NOT NULL)),
            CHECK (first_seen <= last_seen)
        );
        INSERT INTO sightings_new
            SELECT id, camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality,
                   thumbnail_path, context_path, plate_text, plate_confidences, track_id, origin_kind,
                   origin_file, origin_offset
            FROM sightings;
        DELETE FROM sqlite_sequence WHERE name = 'sightings_new';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'sightings_new', seq FROM sqlite_sequence WHERE name = 'sightings';
        DROP TABLE sightings;
        ALTER TABLE sightings_new RENAME TO sightings;
        CREATE INDEX sightings_time ON sightings(best_time);
        CREATE INDEX sightings_camera_time ON sightings(camera_id, best_time);
        CREATE INDEX sightings_faces ON sightings(id) WHERE kind = 'face';
        CREATE INDEX sightings_origin_file ON sightings(origin_file) WHERE origin_file IS NOT NULL;
        """,
        postgresql="""
        ALTER TABLE sightings DROP COLUMN embedding, DROP COLUMN embedding_model;
        """,
    ),
    Migration(
        6,
        """
        -- Each audit row names the API token of the request (token_id) and, for a token an admin minted
        -- for another user, that admin (token_minted_by). The log becomes a hash chain
        -- (skynet.store.audit_chain): each row keeps the hash of the row before it and its own. The rows
        -- written before have none: the first open after this migration seals them with one row, since
        -- their hashes need the chain's key, which is kept outside the database (skynet.store.audit_witness).
        ALTER TABLE audit_log ADD COLUMN token_id {bigint};
        ALTER TABLE audit_log ADD COLUMN token_minted_by TEXT;
        ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
        ALTER TABLE audit_log ADD COLUMN hash TEXT;
        """,
    ),
    Migration(
        7,
        """
        -- One durable outbox for every alert channel (skynet.store.outbox): the webhook deliveries
        -- become the 'webhook' rows of deliveries, beside SMS (Kannel) and e-mail (SMTP) ones; each
        -- row is also the delivery's log (attempts, last error, when it was delivered). Watch-list
        -- entries name the phone numbers and e-mail addresses told of their alerts (a JSON list).
        ALTER TABLE webhook_deliveries RENAME TO deliveries;
        ALTER TABLE deliveries ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
        ALTER TABLE deliveries ADD COLUMN delivered_at {float};
        DROP INDEX webhook_deliveries_due;
        CREATE INDEX deliveries_due ON deliveries(channel, next_attempt_at) WHERE state = 'pending';
        ALTER TABLE watchlist_entries ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
        """,
        postgresql="""
        ALTER SEQUENCE webhook_deliveries_id_seq RENAME TO deliveries_id_seq;
        ALTER INDEX webhook_deliveries_pkey RENAME TO deliveries_pkey;
        """,
    ),
)
