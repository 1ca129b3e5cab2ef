package dev.outboxbridge.testkit;

/**
 * A running Kafka broker (KRaft mode), shared by the tests of a JVM.
 *
 * <p>Obtain it from {@link TestServers#kafka()} or as a parameter of a test that uses
 * {@link OutboxBridgeExtension}. Tests isolate themselves from each other with
 * {@link #newNamespace(String)}, which gives unique topic names.
 */
public interface KafkaServer {

    /** The {@code bootstrap.servers} value of the broker, for example {@code localhost:40123}. */
    String bootstrapServers();

    /**
     * A new namespace: a unique topic name prefix (starting with the given prefix, reduced to
     * {@code [a-z0-9-]}) plus helpers to create, read and finally delete its topics.
     * The caller owns it and closes it.
     */
    TestKafka newNamespace(String prefix);
}
