package dev.outboxbridge.testkit;

import java.util.Objects;

/** A reachable Kafka cluster, embedded or external: hands out topic namespaces. */
final class KafkaCluster implements KafkaServer {

    private final String bootstrapServers;

    KafkaCluster(String bootstrapServers) {
        this.bootstrapServers = Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    }

    @Override
    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public TestKafka newNamespace(String prefix) {
        return new TestKafka(bootstrapServers, Names.topicPrefix(prefix));
    }

    @Override
    public String toString() {
        return "Kafka " + bootstrapServers;
    }
}
