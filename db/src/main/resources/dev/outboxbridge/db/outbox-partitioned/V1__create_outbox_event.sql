-- Outbox Bridge: the outbox table, time-partitioned variant (producer's database).
-- Same columns as dev/outboxbridge/db/outbox/V1__create_outbox_event.sql, so outbox-core and the relay work
-- unchanged; pick one of the two locations per database, never both (they share the Flyway history table
-- outbox_bridge_outbox_history: running the other variant on a migrated database fails Flyway's validation).
--
-- Why: retention by dropping whole partitions. Dropping a day's partition frees its space at once, leaves no dead
-- tuples and costs no VACUUM, where deleting rows one by one does both. OutboxCleanup (outbox-core) creates the
-- partitions of the coming days ahead and drops those entirely older than the retention. See docs/outbox-retention.md.
--
-- One partition per UTC day, named outbox_event_pYYYYMMDD, bounds [day 00:00 UTC, next day 00:00 UTC).
-- There is deliberately no DEFAULT partition: a row must never land somewhere the cleanup cannot drop by age. If no
-- partition covers now() (the cleanup did not run for PARTITIONS_AHEAD days), the INSERT fails loudly with "no
-- partition of relation outbox_event found for row" and the business transaction rolls back: nothing is lost silently.
--
-- The primary key must include the partition key, so it is (id, created_at): PostgreSQL enforces id uniqueness only
-- per (id, created_at). outbox-core's generated ids are UUIDv7 (unique by construction); an event id chosen by the
-- caller and appended twice in different transactions is no longer refused by the table (the plain variant refuses
-- it). Consumers deduplicate by event id in their inbox, so effects still apply once; the relay may publish both.
--
-- The relay publishes through the partition root: its publication needs publish_via_partition_root = true (the relay
-- creates it so, or checks it), so the topic, key and headers of each event are the same as with the plain table.
CREATE TABLE outbox_event (
    id            uuid         NOT NULL,
    aggregatetype varchar(249) NOT NULL,  -- routes to the Kafka topic <prefix><aggregatetype>
    aggregateid   varchar(255) NOT NULL,  -- Kafka record key: per-aggregate order
    type          varchar(255) NOT NULL,  -- event type, sent as the 'eventType' header
    payload       bytea        NOT NULL,  -- event body, sent as the record value unchanged
    headers       jsonb,                  -- optional {"name": "value"} sent as record headers
    created_at    timestamptz  NOT NULL DEFAULT now(),  -- partition key
    CONSTRAINT outbox_event_pk PRIMARY KEY (id, created_at),
    CONSTRAINT outbox_event_headers_is_object CHECK (headers IS NULL OR jsonb_typeof(headers) = 'object')
) PARTITION BY RANGE (created_at);

COMMENT ON TABLE outbox_event IS 'Outbox Bridge outbox, partitioned by UTC day on created_at: rows are published to Kafka by the relay from the WAL';

-- The partitions of today and the next 7 days (UTC), so writes work before the cleanup job first runs.
DO $$
DECLARE
    day date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    FOR i IN 0..7 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF outbox_event FOR VALUES FROM (%L) TO (%L)',
                       'outbox_event_p' || to_char(day + i, 'YYYYMMDD'),
                       ((day + i)::timestamp AT TIME ZONE 'UTC'),
                       ((day + i + 1)::timestamp AT TIME ZONE 'UTC'));
    END LOOP;
END
$$;
