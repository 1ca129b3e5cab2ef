-- Outbox Bridge: a least-privilege PostgreSQL role for the relay.
--
-- The relay needs to log in, to stream logical replication (REPLICATION attribute: create and read
-- its slot), and to read the outbox table (Debezium reads the table's metadata). It needs no
-- superuser, no write on any table, no access to the business tables. The publication is created
-- here, by the table's owner, because CREATE PUBLICATION requires owning the table; run the relay
-- with publication.create=false.
--
-- Run as the owner of the outbox table (or a superuser), in the database that holds it:
--
--   psql -d shop -v relay_role=outbox_relay -v relay_password='change-me' \
--        -v outbox_schema=public -v outbox_table=outbox_event -v publication=outbox_bridge_pub \
--        -f outbox-relay-role.sql
--
-- With the time-partitioned outbox table (dev/outboxbridge/db/outbox-partitioned), change the last statement's
-- options to WITH (publish = 'insert', publish_via_partition_root = true): the relay refuses a publication that
-- publishes the partitions as tables of their own.
--
-- Then configure the relay with database.user=outbox_relay, publication.name=outbox_bridge_pub,
-- publication.create=false. If your pg_hba.conf lists replication connections separately, allow
-- the role there too (the relay's streaming connection is a replication connection).

CREATE ROLE :"relay_role" WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'relay_password';

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'relay_role') \gexec

GRANT USAGE ON SCHEMA :"outbox_schema" TO :"relay_role";
GRANT SELECT ON TABLE :"outbox_schema".:"outbox_table" TO :"relay_role";

CREATE PUBLICATION :"publication" FOR TABLE :"outbox_schema".:"outbox_table" WITH (publish = 'insert');
