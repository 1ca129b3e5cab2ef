-- Outbox Bridge: the inbox table (consumer's database).
-- consumer-inbox inserts (consumer_name, event_id) with ON CONFLICT DO NOTHING in the same
-- transaction as the handler's side effects: a redelivered event finds its row and is skipped.
CREATE TABLE inbox_event (
    consumer_name   varchar(255) NOT NULL,
    event_id        uuid         NOT NULL,
    topic           varchar(249) NOT NULL,
    kafka_partition integer      NOT NULL,
    kafka_offset    bigint       NOT NULL,
    processed_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT inbox_event_pk PRIMARY KEY (consumer_name, event_id)
);

-- Retention cleanup deletes by age in small batches.
CREATE INDEX inbox_event_processed_at_idx ON inbox_event (processed_at);

COMMENT ON TABLE inbox_event IS 'Outbox Bridge inbox: one row per (consumer, event) applied; dedupes redelivery';
