package dev.outboxbridge.relay;

import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Relay settings for a test database and Kafka namespace; shared with relay-app's and the starter's tests through the test-jar. */
public final class RelaySettings {

    private RelaySettings() {
    }

    public static Map<String, String> of(TestDatabase db, TestKafka kafka, Path offsets) {
        Map<String, String> m = of(db, kafka, kafka.prefix() + "outbox.event.");
        m.put(RelayConfig.OFFSET_FILE, offsets.resolve("offsets.dat").toString()); // used by tests that choose offset.storage=file
        return m;
    }

    /** Settings with the position in Kafka (the default offset storage) and the given topic prefix. */
    public static Map<String, String> of(TestDatabase db, TestKafka kafka, String topicPrefix) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "relay-" + db.name());
        m.put(RelayConfig.DATABASE_HOSTNAME, db.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(db.port()));
        m.put(RelayConfig.DATABASE_DBNAME, db.name());
        m.put(RelayConfig.DATABASE_USER, db.user());
        m.put(RelayConfig.DATABASE_PASSWORD, db.password() == null ? "" : db.password());
        m.put(RelayConfig.SLOT_NAME, db.uniqueName("slot"));
        m.put(RelayConfig.PUBLICATION_NAME, db.uniqueName("pub"));
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers());
        m.put(RelayConfig.TOPIC_PREFIX, topicPrefix);
        return m;
    }
}
