package dev.outboxbridge.bench;

/**
 * Something that publishes outbox rows to Kafka: this project's relay, or a peer. Started once,
 * closed once; {@link #published()} counts records acknowledged by Kafka.
 */
interface Contender extends AutoCloseable {

    /** Short name used in tables, JSON keys and charts. */
    String name();

    void start() throws Exception;

    /** Records acknowledged by Kafka (and marked done) since start. */
    long published();

    /** Throws if the contender failed on its own thread. */
    void checkHealthy();

    @Override
    void close();

    /** Where a contender reads from and writes to. */
    record Target(String host, int port, String database, String user, String password, String slot, String publication,
            String bootstrapServers, String topicPrefix, java.nio.file.Path workDir) {
    }
}
