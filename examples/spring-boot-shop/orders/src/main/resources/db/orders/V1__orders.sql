CREATE TABLE orders (
    id          text PRIMARY KEY,
    customer    text NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents > 0),
    placed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer ON orders (customer);
