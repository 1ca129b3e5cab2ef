-- one invoice per order; the inbox (not this key) makes each event apply once
CREATE TABLE invoice (
    order_id     text PRIMARY KEY,
    customer     text NOT NULL,
    amount_cents bigint NOT NULL,
    event_id     uuid NOT NULL,
    issued_at    timestamptz NOT NULL DEFAULT now()
);
