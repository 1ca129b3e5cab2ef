-- Outbox Bridge: dead letters and per-key parking (consumer's database), used by consumer-inbox.

-- An inbox row is either APPLIED (the handler's effects committed with it) or DEAD_LETTERED (the
-- event went to the dead-letter topic; a redelivery must not run the handler again).
ALTER TABLE inbox_event
    ADD COLUMN status varchar(16) NOT NULL DEFAULT 'APPLIED'
        CONSTRAINT inbox_event_status_check CHECK (status IN ('APPLIED', 'DEAD_LETTERED'));

-- An aggregate (record key of a topic) whose head event failed: later events of the key wait in
-- inbox_parked_event, in order, while other keys keep flowing. RETRYING: the head is retried at
-- next_attempt_at. DEAD_LETTERED: the head went to the dead-letter topic; an operator redrives.
CREATE TABLE inbox_parked_key (
    consumer_name   varchar(255) NOT NULL,
    topic           varchar(249) NOT NULL,
    record_key      text         NOT NULL,
    kafka_partition integer      NOT NULL,
    status          varchar(16)  NOT NULL
        CONSTRAINT inbox_parked_key_status_check CHECK (status IN ('RETRYING', 'DEAD_LETTERED')),
    attempts        integer      NOT NULL,
    next_attempt_at timestamptz,
    last_error      text,
    parked_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT inbox_parked_key_pk PRIMARY KEY (consumer_name, topic, record_key)
);

-- The owner of a partition looks for keys due for a retry.
CREATE INDEX inbox_parked_key_due_idx ON inbox_parked_key (consumer_name, status, next_attempt_at);

-- The events of a parked key, in arrival order (seq); the first one is the failing head. Their
-- Kafka offsets are committed once they are stored here, so the partition keeps flowing.
CREATE TABLE inbox_parked_event (
    consumer_name   varchar(255) NOT NULL,
    event_id        uuid         NOT NULL,
    seq             bigint       GENERATED ALWAYS AS IDENTITY,
    topic           varchar(249) NOT NULL,
    record_key      text         NOT NULL,
    kafka_partition integer      NOT NULL,
    kafka_offset    bigint       NOT NULL,
    event_type      text,
    aggregate_type  text,
    payload         bytea        NOT NULL,
    header_names    text[]       NOT NULL,
    header_values   text[]       NOT NULL,
    committed_at    timestamptz,
    parked_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT inbox_parked_event_pk PRIMARY KEY (consumer_name, event_id)
);

CREATE INDEX inbox_parked_event_key_idx ON inbox_parked_event (consumer_name, topic, record_key, seq);

COMMENT ON TABLE inbox_parked_key IS 'Outbox Bridge inbox: aggregates whose events wait behind a failing or dead-lettered event';
COMMENT ON TABLE inbox_parked_event IS 'Outbox Bridge inbox: events waiting, in order, behind the head of a parked key';
