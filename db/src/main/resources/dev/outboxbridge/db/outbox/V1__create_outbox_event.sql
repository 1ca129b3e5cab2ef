-- Outbox Bridge: the outbox table (producer's database).
-- Column names follow Debezium's Outbox Event Router defaults (id, aggregatetype, aggregateid,
-- type, payload), so the same table also works with Debezium's EventRouter on Kafka Connect.
-- outbox-core appends rows here inside the caller's transaction; the relay reads the inserts from
-- the WAL (publication WITH (publish = 'insert')) and never needs the row afterwards.
CREATE TABLE outbox_event (
    id            uuid         NOT NULL,
    aggregatetype varchar(249) NOT NULL,  -- routes to the Kafka topic <prefix><aggregatetype>
    aggregateid   varchar(255) NOT NULL,  -- Kafka record key: per-aggregate order
    type          varchar(255) NOT NULL,  -- event type, sent as the 'eventType' header
    payload       bytea        NOT NULL,  -- event body, sent as the record value unchanged
    headers       jsonb,                  -- optional {"name": "value"} sent as record headers
    created_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT outbox_event_pk PRIMARY KEY (id),
    CONSTRAINT outbox_event_headers_is_object CHECK (headers IS NULL OR jsonb_typeof(headers) = 'object')
);

-- Lets an operator (or a future cleanup job) delete published rows by age without a full scan.
CREATE INDEX outbox_event_created_at_idx ON outbox_event (created_at);

COMMENT ON TABLE outbox_event IS 'Outbox Bridge outbox: rows are published to Kafka by the relay from the WAL';
