/**
 * Support for the project's own fault and process tests, never a dependency of a production jar:
 * {@link dev.outboxbridge.testsupport.FaultPoints} (the {@link dev.outboxbridge.db.FaultHook} that
 * halts a JVM at an armed {@link dev.outboxbridge.db.FaultPoint}, registered through
 * {@code META-INF/services}), child JVMs ({@link dev.outboxbridge.testsupport.ChildJvm}) and their
 * supervisor ({@link dev.outboxbridge.testsupport.Supervised}), a Kafka broker as a killable process
 * ({@link dev.outboxbridge.testsupport.BrokerProcess}), a TCP proxy for network faults
 * ({@link dev.outboxbridge.testsupport.TcpProxy}), the least-privilege relay role
 * ({@link dev.outboxbridge.testsupport.RelayRole}) and the fault run's memory and publisher checks.
 * Not a supported API: it changes with the tests.
 */
package dev.outboxbridge.testsupport;
