-- The test application's own first migration (OutboxMigrationsIT): same version number as the shipped ones.
CREATE TABLE orders (id text PRIMARY KEY);
