"""Versions 8 to 14: the city-scale round (evidence holds and positions, analyses, alerts per pass, feeds, media
links and token minters, the cluster's leases and notifications, plates at scale)."""

from __future__ import annotations

from skynet.store.schema.migration import Migration

CITY_SCALE: tuple[Migration, ...] = (
    Migration(
        8,
        """
        -- Evidence (skynet.store.holds): a sighting in an export or with an acknowledged alert is held, and
        -- no deletion (retention, a forced re-index) removes it; the database refuses too (no cascade).
        CREATE TABLE evidence_holds (
            id {id},
            sighting_id {bigint} NOT NULL REFERENCES sightings(id),
            cause TEXT NOT NULL CHECK (cause IN ('export', 'alert')),
            ref TEXT NOT NULL,
            held_by TEXT NOT NULL,
            held_at {float} NOT NULL,
            UNIQUE (sighting_id, cause, ref)
        );
        CREATE INDEX evidence_holds_sighting ON evidence_holds(sighting_id);
        INSERT INTO evidence_holds (sighting_id, cause, ref, held_by, held_at)
            SELECT sighting_id, 'alert', CAST(id AS TEXT), acknowledged_by, acknowledged_at FROM alerts
            WHERE acknowledged_by IS NOT NULL;

        -- Deleting sightings finds the alerts on them by index (cascade, and the ids a deletion audits).
        CREATE INDEX alerts_sighting ON alerts(sighting_id);

        -- A sighting keeps the position its camera had when it was seen (trajectories and maps use it).
        ALTER TABLE sightings ADD COLUMN latitude {float};
        ALTER TABLE sightings ADD COLUMN longitude {float};
        UPDATE sightings SET
            latitude = (SELECT c.latitude FROM cameras c WHERE c.id = sightings.camera_id),
            longitude = (SELECT c.longitude FROM cameras c WHERE c.id = sightings.camera_id);

        -- A deleted watch-list entry is kept (its alerts name it) without its photos and embeddings.
        ALTER TABLE watchlist_entries ADD COLUMN deleted_at {float};
        ALTER TABLE watchlist_entries ADD COLUMN deleted_by TEXT;

        -- A re-indexed file remembers the camera and start time it was read as: a redo keeps them.
        ALTER TABLE reindex_files ADD COLUMN camera_id TEXT;
        ALTER TABLE reindex_files ADD COLUMN start_time {float};
        """,
        sqlite="""
        INSERT OR IGNORE INTO evidence_holds (sighting_id, cause, ref, held_by, held_at)
            SELECT CAST(j.value AS INTEGER), 'export', json_extract(a.detail, '$.export'), a.actor, a.at
            FROM audit_log a, json_each(a.detail, '$.sighting_ids') j
            WHERE a.action = 'export.create' AND json_valid(a.detail)
              AND CAST(j.value AS INTEGER) IN (SELECT id FROM sightings);
        """,
        postgresql="""
        INSERT INTO evidence_holds (sighting_id, cause, ref, held_by, held_at)
            SELECT CAST(j.value AS BIGINT), 'export', a.detail::jsonb ->> 'export', a.actor, a.at
            FROM audit_log a, jsonb_array_elements_text(a.detail::jsonb -> 'sighting_ids') j(value)
            WHERE a.action = 'export.create' AND CAST(j.value AS BIGINT) IN (SELECT id FROM sightings)
            ON CONFLICT DO NOTHING;
        """,
    ),
    Migration(
        9,
        """
        -- The investigative analyses (skynet.analytics): the permissions an admin granted a user beyond
        -- their role's (a JSON list), and the indexes that find a plate's sightings in time order.
        ALTER TABLE users ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX sightings_plate_time ON sightings(plate_text, best_time) WHERE plate_text IS NOT NULL;
        -- every plate sighting of a time window in one sequential read (an analysis reads many of them)
        CREATE INDEX sightings_plate_window ON sightings(best_time, plate_text, camera_id, first_seen, last_seen, id)
            WHERE plate_text IS NOT NULL;

        -- Unknown-face identities ("person #12"): face sightings grouped as they arrive (skynet.index.identities),
        -- merged and split by investigators. A merged identity points at the one it went into.
        CREATE TABLE identities (
            id {id},
            created_at {float} NOT NULL,
            merged_into {bigint} REFERENCES identities(id)
        );
        CREATE TABLE face_identities (
            sighting_id {bigint} PRIMARY KEY REFERENCES sightings(id) ON DELETE CASCADE,
            identity_id {bigint} NOT NULL REFERENCES identities(id)
        );
        CREATE INDEX face_identities_identity ON face_identities(identity_id);
        """,
    ),
    Migration(
        10,
        """
        -- One alert per pass (skynet.watchlist.matcher): an alert remembers the track of its camera it
        -- came from and when the pass was last seen (sighting time), so the later sightings of the same
        -- pass, and passes within the entry's cooldown, are folded into it (how many: sightings; when:
        -- updated_at) instead of raising another. Entries may set their own cooldown (seconds).
        ALTER TABLE alerts ADD COLUMN track_id {bigint};
        ALTER TABLE alerts ADD COLUMN last_seen {float};
        ALTER TABLE alerts ADD COLUMN updated_at {float};
        ALTER TABLE alerts ADD COLUMN sightings INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX alerts_entry_camera ON alerts(entry_id, camera_id, id);
        CREATE INDEX alerts_open ON alerts(id) WHERE acknowledged_by IS NULL;
        ALTER TABLE watchlist_entries ADD COLUMN cooldown_s {float};
        """,
    ),
    Migration(
        11,
        """
        -- External feeds (skynet.services.feeds): road-checkpoint plate reads and registrations of people by
        -- identity key become sightings of their source (checkpoint, registration; video for the rest), kind
        -- 'identity' for a registration; feed_records holds what they add, keyed by each record's natural key
        -- (a second import adds nothing). Identity keys are kept as a keyed hash (matching), a mask (display)
        -- and an AES-GCM ciphertext. feed_imports: how far the import of each file got (resumable).
        -- Watch-list entries of kind 'identity'; users of role 'feed' (they push records, nothing else).
        CREATE TABLE feed_records (
            sighting_id {bigint} PRIMARY KEY REFERENCES sightings(id) ON DELETE CASCADE,
            feed_key TEXT NOT NULL UNIQUE,
            direction TEXT,
            place TEXT CHECK (place IS NULL OR place IN ('hotel', 'internet_cafe', 'residence_office', 'other')),
            person_name TEXT,
            identity_hash TEXT,
            identity_masked TEXT,
            identity_sealed {blob}
        );
        CREATE INDEX feed_records_identity ON feed_records(identity_hash) WHERE identity_hash IS NOT NULL;

        CREATE TABLE feed_imports (
            path TEXT NOT NULL,
            kind TEXT NOT NULL,
            size {bigint} NOT NULL,
            mtime {float} NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
            rows_done {bigint} NOT NULL DEFAULT 0,
            bytes_done {bigint} NOT NULL DEFAULT 0,
            added {bigint} NOT NULL DEFAULT 0,
            duplicates {bigint} NOT NULL DEFAULT 0,
            rejected {bigint} NOT NULL DEFAULT 0,
            report TEXT,
            updated_at {float} NOT NULL,
            PRIMARY KEY (path, kind)
        );
        """,
        # SQLite cannot change a CHECK: sightings, watchlist_entries and users are rebuilt (id sequences kept;
        # the foreign keys of other tables name the tables, so they point at the new ones), with every index of
        # the earlier migrations on them.
        sqlite="""
        CREATE TABLE sightings_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            kind TEXT NOT NULL CHECK (kind IN ('face', 'plate', 'identity')),
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
            latitude REAL,
            longitude REAL,
            source TEXT NOT NULL DEFAULT 'video' CHECK (source IN ('video', 'checkpoint', 'registration')),
            CHECK ((kind = 'plate') = (plate_text IS NOT NULL)),
            CHECK (first_seen <= last_seen)
        );
        INSERT INTO sightings_new
            SELECT id, camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality,
                   thumbnail_path, context_path, plate_text, plate_confidences, track_id, origin_kind,
                   origin_file, origin_offset, latitude, longitude, 'video'
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
        CREATE INDEX sightings_plate_time ON sightings(plate_text, best_time) WHERE plate_text IS NOT NULL;
        CREATE INDEX sightings_plate_window ON sightings(best_time, plate_text, camera_id, first_seen, last_seen, id)
            WHERE plate_text IS NOT NULL;
        CREATE INDEX sightings_source_time ON sightings(source, best_time) WHERE source <> 'video';

        CREATE TABLE watchlist_entries_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('face', 'plate', 'identity')),
            label TEXT NOT NULL,
            reason TEXT NOT NULL,
            added_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL,
            plate_pattern TEXT,
            embeddings BLOB,
            embedding_count INTEGER NOT NULL DEFAULT 0,
            min_similarity REAL,
            recipients TEXT NOT NULL DEFAULT '[]',
            deleted_at REAL,
            deleted_by TEXT,
            cooldown_s REAL,
            identity_hash TEXT,
            identity_masked TEXT,
            identity_sealed BLOB
        );
        INSERT INTO watchlist_entries_new
            SELECT id, kind, label, reason, added_by, created_at, expires_at, plate_pattern, embeddings,
                   embedding_count, min_similarity, recipients, deleted_at, deleted_by, cooldown_s, NULL, NULL, NULL
            FROM watchlist_entries;
        DELETE FROM sqlite_sequence WHERE name = 'watchlist_entries_new';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'watchlist_entries_new', seq FROM sqlite_sequence WHERE name = 'watchlist_entries';
        DROP TABLE watchlist_entries;
        ALTER TABLE watchlist_entries_new RENAME TO watchlist_entries;

        CREATE TABLE users_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
            role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'operator', 'feed')),
            created_at REAL NOT NULL,
            password_hash TEXT,
            disabled INTEGER NOT NULL DEFAULT 0,
            grants TEXT NOT NULL DEFAULT '[]'
        );
        INSERT INTO users_new SELECT id, name, role, created_at, password_hash, disabled, grants FROM users;
        DELETE FROM sqlite_sequence WHERE name = 'users_new';
        INSERT INTO sqlite_sequence (name, seq) SELECT 'users_new', seq FROM sqlite_sequence WHERE name = 'users';
        DROP TABLE users;
        ALTER TABLE users_new RENAME TO users;
        """,
        postgresql="""
        ALTER TABLE sightings DROP CONSTRAINT sightings_kind_check,
            ADD CONSTRAINT sightings_kind_check CHECK (kind IN ('face', 'plate', 'identity')),
            ADD COLUMN source TEXT NOT NULL DEFAULT 'video'
                CHECK (source IN ('video', 'checkpoint', 'registration'));
        CREATE INDEX sightings_source_time ON sightings(source, best_time) WHERE source <> 'video';
        ALTER TABLE watchlist_entries DROP CONSTRAINT watchlist_entries_kind_check,
            ADD CONSTRAINT watchlist_entries_kind_check CHECK (kind IN ('face', 'plate', 'identity')),
            ADD COLUMN identity_hash TEXT, ADD COLUMN identity_masked TEXT, ADD COLUMN identity_sealed BYTEA;
        ALTER TABLE users DROP CONSTRAINT users_role_check,
            ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'investigator', 'operator', 'feed'));
        """,
    ),
    Migration(
        12,
        """
        -- Who minted each API token (the user logging in, the admin who issued it, or 'cli'): audit rows
        -- name it beside the token. Tokens issued before have none.
        ALTER TABLE api_tokens ADD COLUMN minted_by TEXT;
        """,
    ),
    Migration(
        13,
        """
        -- Scale-out (docs/cluster.md). A live sighting's idempotency key is (camera, kind, track, start):
        -- a retried write of a batch whose commit went unanswered finds its rows instead of adding them
        -- twice (and a sighting matched again alerts nobody twice: skynet.watchlist.matcher). A camera lease:
        -- the one instance that may run a camera, and a fencing token that grows with each new holder.
        CREATE UNIQUE INDEX sightings_live_key ON sightings(camera_id, kind, track_id, first_seen)
            WHERE origin_kind = 'live' AND track_id IS NOT NULL;
        CREATE TABLE camera_leases (
            camera_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            node TEXT NOT NULL,
            token {bigint} NOT NULL,
            acquired_at {float} NOT NULL,
            expires_at {float} NOT NULL
        );
        """,
        # API nodes follow new sightings and alerts (skynet.cluster.follower): a commit that adds
        # rows wakes them (one notification per statement; they read the rows by id).
        postgresql="""
        CREATE FUNCTION skynet_notify_table() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('skynet_' || TG_TABLE_NAME, '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER sightings_notify AFTER INSERT ON sightings
            FOR EACH STATEMENT EXECUTE FUNCTION skynet_notify_table();
        CREATE TRIGGER alerts_notify AFTER INSERT ON alerts
            FOR EACH STATEMENT EXECUTE FUNCTION skynet_notify_table();
        """,
    ),
    Migration(
        14,
        """
        -- Plates at scale (docs/scale.md). The normalised read without its first character (the province of
        -- a Chinese plate), for prefix searches of a plate's body: a fuzzy search within one edit finds every
        -- candidate as a read whose body starts with the query body's first half (this index) or ends with
        -- its second half (plate_reads_rnorm): narrow B-tree ranges instead of two trigram lookups.
        CREATE INDEX plate_reads_body ON plate_reads((substr(norm, 2)){prefix_ops});
        -- A wildcard with a literal start and end (桂B*45): the reads of the start's range whose end matches,
        -- read from the index alone (each range alone holds ~13k reads at 10M).
        DROP INDEX plate_reads_norm;
        """,
        sqlite="""
        CREATE INDEX plate_reads_norm ON plate_reads(norm, rnorm);
        """,
        postgresql="""
        CREATE INDEX plate_reads_norm ON plate_reads(norm text_pattern_ops, rnorm text_pattern_ops) INCLUDE (id);
        """,
    ),
)
