"""Versions 15 on: scale-out (cancellable jobs, face-index shards, feed keys of 128 bits, the store change log
that API nodes follow). New migrations are appended here."""

from __future__ import annotations

from skynet.store.schema.migration import Migration

SCALE_OUT: tuple[Migration, ...] = (
    Migration(
        15,
        "",
        # A job can be cancelled (skynet.services.jobs): the state CHECK widens, which SQLite only does by
        # rebuilding the table.
        sqlite="""
        CREATE TABLE jobs_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            params TEXT NOT NULL DEFAULT '{}',
            progress TEXT NOT NULL DEFAULT '{}',
            errors TEXT NOT NULL DEFAULT '[]'
        );
        INSERT INTO jobs_new SELECT id, kind, created_by, created_at, updated_at, state, params, progress, errors
            FROM jobs;
        DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
        INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_new', seq FROM sqlite_sequence WHERE name = 'jobs';
        DROP TABLE jobs;
        ALTER TABLE jobs_new RENAME TO jobs;
        """,
        postgresql="""
        ALTER TABLE jobs DROP CONSTRAINT jobs_state_check,
            ADD CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled'));
        """,
    ),
    Migration(
        16,
        """
        -- Face-index shards across nodes (skynet.cluster.face_shard): the one shard that holds a partition of a
        -- model's face index ('<model>/<week>'), with a fencing token; the same lease as a camera's.
        CREATE TABLE index_leases (
            partition_key TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            node TEXT NOT NULL,
            token {bigint} NOT NULL,
            acquired_at {float} NOT NULL,
            expires_at {float} NOT NULL
        );
        """,
    ),
    Migration(
        17,
        """
        -- Feed imports at a million rows (skynet.services.feeds): a record's natural key is the first 128 bits of
        -- its SHA-256 (32 hex characters, not 64): the unique index every imported row goes into, and the table,
        -- take half the room, so a batch rewrites fewer pages. Keys stored before are cut the same way, so a
        -- record imported before the upgrade is still found.
        UPDATE feed_records SET feed_key = substr(feed_key, 1, 32) WHERE length(feed_key) > 32;
        """,
    ),
    Migration(
        18,
        """
        -- What API nodes must redo in memory when another node changes the store (skynet.store.changes,
        -- skynet.cluster.follower): face sightings deleted (retention, a re-indexed file, any DELETE: their
        -- vectors leave every node's face index) and alerts whose pass was seen again or that were acknowledged
        -- (the live stream updates them). Written by triggers in the deleting or updating transaction; ids: the
        -- rows' ids, comma-separated.
        -- Kept a day (pruned by deletions); a follower that was away longer sets its index right by counts.
        -- A later migration that rebuilds sightings or alerts (SQLite) must create their triggers again.
        CREATE TABLE store_changes (
            id {id},
            kind TEXT NOT NULL CHECK (kind IN ('faces_deleted', 'alert_updated')),
            ids TEXT NOT NULL,
            at {float} NOT NULL
        );
        CREATE INDEX store_changes_at ON store_changes(at);
        """,
        sqlite="""
        CREATE TRIGGER sightings_faces_deleted AFTER DELETE ON sightings WHEN OLD.kind = 'face' BEGIN
            INSERT INTO store_changes (kind, ids, at)
                VALUES ('faces_deleted', CAST(OLD.id AS TEXT), (julianday('now') - 2440587.5) * 86400.0);
        END;
        CREATE TRIGGER alerts_updated AFTER UPDATE ON alerts
            WHEN (NEW.sighting_id, NEW.score, NEW.sightings, NEW.last_seen, NEW.acknowledged_by, NEW.acknowledged_at)
                IS NOT (OLD.sighting_id, OLD.score, OLD.sightings, OLD.last_seen, OLD.acknowledged_by,
                    OLD.acknowledged_at) BEGIN
            INSERT INTO store_changes (kind, ids, at)
                VALUES ('alert_updated', CAST(NEW.id AS TEXT), (julianday('now') - 2440587.5) * 86400.0);
        END;
        """,
        # one row per statement (a deletion's chunk of thousands of sightings is one row); a commit that adds
        # rows wakes the followers as new sightings do
        postgresql="""
        CREATE FUNCTION skynet_faces_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO store_changes (kind, ids, at)
                SELECT 'faces_deleted', string_agg(CAST(id AS TEXT), ','), extract(epoch FROM clock_timestamp())
                FROM gone WHERE kind = 'face' HAVING count(*) > 0;
            RETURN NULL;
        END $$;
        CREATE TRIGGER sightings_faces_deleted AFTER DELETE ON sightings
            REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION skynet_faces_deleted();
        CREATE FUNCTION skynet_alerts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO store_changes (kind, ids, at)
                SELECT 'alert_updated', string_agg(CAST(n.id AS TEXT), ','), extract(epoch FROM clock_timestamp())
                FROM changed n JOIN prior o ON o.id = n.id
                WHERE (n.sighting_id, n.score, n.sightings, n.last_seen, n.acknowledged_by, n.acknowledged_at)
                    IS DISTINCT FROM (o.sighting_id, o.score, o.sightings, o.last_seen, o.acknowledged_by,
                        o.acknowledged_at)
                HAVING count(*) > 0;
            RETURN NULL;
        END $$;
        CREATE TRIGGER alerts_updated AFTER UPDATE ON alerts
            REFERENCING OLD TABLE AS prior NEW TABLE AS changed FOR EACH STATEMENT
            EXECUTE FUNCTION skynet_alerts_updated();
        CREATE TRIGGER store_changes_notify AFTER INSERT ON store_changes
            FOR EACH STATEMENT EXECUTE FUNCTION skynet_notify_table();
        """,
    ),
)
