/**
 * Outbox Bridge testkit: a real PostgreSQL (with {@code wal_level=logical}) and a real Kafka
 * broker for integration tests, without Docker (or in Docker containers, when chosen).
 *
 * <p>Start with {@link dev.outboxbridge.testkit.OutboxBridgeExtension} in JUnit 5 tests, or use
 * {@link dev.outboxbridge.testkit.TestServers} directly. Servers are embedded (started in-process
 * or as a child process on first use and stopped when the JVM exits) unless environment
 * variables point the testkit at external servers; see {@link dev.outboxbridge.testkit.TestServers}.
 */
package dev.outboxbridge.testkit;
