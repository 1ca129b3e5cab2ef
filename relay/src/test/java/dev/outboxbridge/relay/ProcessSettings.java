package dev.outboxbridge.relay;

import dev.outboxbridge.testkit.TestDatabase;
import java.util.HashMap;
import java.util.Map;

/** Relay settings for the tests that run the relay against a broker of their own or as a process. */
public final class ProcessSettings {

    /** The relay's {@code name} in these settings (in its log lines and Kafka client ids). */
    public static final String NAME = "test-relay";

    private ProcessSettings() {
    }

    /**
     * The database's host, port, name and owner credentials, a unique slot and publication,
     * {@code bootstrapServers} and {@code topicPrefix}; the position goes to the relay's default
     * compacted Kafka topic. A mutable map: add or replace settings.
     */
    public static Map<String, String> of(TestDatabase db, String bootstrapServers, String topicPrefix) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, NAME);
        m.put(RelayConfig.DATABASE_HOSTNAME, db.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(db.port()));
        m.put(RelayConfig.DATABASE_DBNAME, db.name());
        m.put(RelayConfig.DATABASE_USER, db.user());
        m.put(RelayConfig.DATABASE_PASSWORD, db.password() == null ? "" : db.password());
        m.put(RelayConfig.SLOT_NAME, db.uniqueName("slot"));
        m.put(RelayConfig.PUBLICATION_NAME, db.uniqueName("pub"));
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, bootstrapServers);
        m.put(RelayConfig.TOPIC_PREFIX, topicPrefix);
        return m;
    }
}
