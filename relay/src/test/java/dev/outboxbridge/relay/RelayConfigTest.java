package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.relay.internal.EngineProperties;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RelayConfigTest {

    static Map<String, String> minimal() {
        Map<String, String> m = new HashMap<>();
        m.put("database.hostname", "db.internal");
        m.put("database.dbname", "orders");
        m.put("database.user", "relay");
        m.put("database.password", "s3cret-pw");
        m.put("kafka.bootstrap.servers", "kafka:9092");
        return m;
    }

    private static RelayConfig with(String key, String value) {
        Map<String, String> m = minimal();
        m.put(key, value);
        return RelayConfig.of(m);
    }

    @Test
    void appliesDefaults() {
        RelayConfig c = RelayConfig.of(minimal());
        assertThat(c.databasePort()).isEqualTo(5432);
        assertThat(c.outboxTable().toString()).isEqualTo("public.outbox_event");
        assertThat(c.slotName()).isEqualTo("outbox_bridge");
        assertThat(c.topicPrefix()).isEqualTo("outbox.event.");
        assertThat(c.jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:5432/orders");
    }

    @Test
    void missingRequiredSettingIsNamed() {
        Map<String, String> m = minimal();
        m.remove("database.hostname");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class).hasMessageContaining("database.hostname");
    }

    @Test
    void unknownSettingIsRefusedWithTheKnownOnes() {
        assertThatThrownBy(() -> with("databse.hostname", "x")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("Unknown relay setting 'databse.hostname'").hasMessageContaining("database.hostname");
    }

    @Test
    void idempotenceOffIsRefusedNotCorrected() {
        assertThatThrownBy(() -> with("kafka.producer.enable.idempotence", "false")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.producer.enable.idempotence").hasMessageContaining("must be true");
    }

    @Test
    void acksOtherThanAllIsRefused() {
        assertThatThrownBy(() -> with("kafka.producer.acks", "1")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.producer.acks").hasMessageContaining("must be all");
        assertThat(with("kafka.producer.acks", "all").producerOverrides()).containsEntry("acks", "all");
    }

    @Test
    void tooManyInFlightRequestsIsRefused() {
        assertThatThrownBy(() -> with("kafka.producer.max.in.flight.requests.per.connection", "6"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("between 1 and 5");
    }

    @Test
    void debeziumSettingsTheRelayOwnsAreRefused() {
        assertThatThrownBy(() -> with("debezium.snapshot.mode", "initial")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("debezium.snapshot.mode");
        assertThatThrownBy(() -> with("debezium.snapshot.select.statement.overrides.public.outbox_event", "SELECT * FROM outbox_event"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("first.start.snapshot");
        assertThatThrownBy(() -> with("debezium.slot.name", "x")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("use 'slot.name' instead");
        assertThat(with("debezium.status.update.interval.ms", "500").debeziumOverrides()).containsEntry("status.update.interval.ms", "500");
    }

    @Test
    void hostileIdentifiersAreRefused() {
        assertThatThrownBy(() -> with("slot.name", "x'); DROP TABLE outbox_event; --")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("slot.name");
        assertThatThrownBy(() -> with("outbox.table", "public.outbox_event\"; DROP")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("outbox.table");
        assertThatThrownBy(() -> with("topic.prefix", "bad prefix ")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("topic.prefix");
    }

    @Test
    void queueMustExceedBatch() {
        Map<String, String> m = minimal();
        m.put("max.batch.size", "100");
        m.put("max.queue.size", "100");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class).hasMessageContaining("max.queue.size");
    }

    @Test
    void environmentWinsOverTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("relay.properties");
        Files.writeString(file, "database.hostname=from-file\ndatabase.dbname=orders\ndatabase.user=relay\n"
                + "kafka.bootstrap.servers=kafka:9092\nkafka.producer.linger.ms=20\n");
        RelayConfig c = RelayConfig.load(file, Map.of("OUTBOX_RELAY_DATABASE_HOSTNAME", "from-env",
                "OUTBOX_RELAY_KAFKA_PRODUCER_LINGER_MS", "1", "PATH", "/usr/bin"));
        assertThat(c.databaseHost()).isEqualTo("from-env");
        assertThat(c.producerOverrides()).containsEntry("linger.ms", "1");
    }

    @Test
    void unreadableFileNamesThePath(@TempDir Path dir) {
        Path missing = dir.resolve("nope.properties");
        assertThatThrownBy(() -> RelayConfig.load(missing, Map.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("nope.properties").hasMessageContaining("--config");
    }

    @Test
    void passwordsNeverAppearInTheDescription() {
        Map<String, String> m = minimal();
        m.put("kafka.producer.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"kpw\";");
        m.put("kafka.producer.ssl.truststore.password", "tspw");
        m.put("kafka.producer.ssl.keystore.key", "-----BEGIN PRIVATE KEY-----\npemkey\n-----END PRIVATE KEY-----");
        RelayConfig c = RelayConfig.of(m);
        assertThat(c.describe()).doesNotContain("s3cret-pw").doesNotContain("kpw").doesNotContain("tspw").doesNotContain("pemkey")
                .contains("[hidden]");
        assertThat(c.toString()).doesNotContain("s3cret-pw");
    }

    @Test
    void configurationReferenceIsGeneratedFromTheDeclaration() {
        String doc = ConfigDocs.markdown(RelayConfig.DEFINITION);
        for (String key : RelayConfig.DEFINITION.names()) {
            assertThat(doc).contains("`" + key + "`");
        }
        assertThat(doc).contains("OUTBOX_RELAY_DATABASE_PASSWORD").contains("(required)");
    }

    @Test
    void highAvailabilityIsOnByDefaultWithAValidatedLease() {
        RelayConfig c = RelayConfig.of(minimal());
        assertThat(c.getBoolean(RelayConfig.HA_ENABLED)).isTrue();
        assertThat(c.getLong(RelayConfig.HA_LEASE_MS)).isEqualTo(4_000L);
        assertThatThrownBy(() -> with("ha.lease.ms", "500")).isInstanceOf(ConfigException.class).hasMessageContaining("ha.lease.ms")
                .hasMessageContaining("500");
        assertThatThrownBy(() -> with("ha.enabled", "maybe")).isInstanceOf(ConfigException.class).hasMessageContaining("ha.enabled");
    }

    @Test
    void positionStorageIsKafkaByDefaultAndValidated() {
        RelayConfig c = RelayConfig.of(minimal());
        assertThat(c.offsetsInKafka()).isTrue();
        assertThat(c.getString(RelayConfig.OFFSET_STORAGE_TOPIC)).isEqualTo("outbox-relay-offsets");
        assertThat(c.offsetServerName()).isEqualTo("orders.outbox_bridge");
        Map<String, String> file = minimal();
        file.put("offset.storage", "file");
        assertThatThrownBy(() -> RelayConfig.of(file)).as("HA relays must share the position").isInstanceOf(ConfigException.class)
                .hasMessageContaining("ha.enabled").hasMessageContaining("offset.storage=kafka").hasMessageContaining("ha.enabled=false");
        file.put("ha.enabled", "false");
        assertThat(RelayConfig.of(file).offsetsInKafka()).isFalse();
        assertThatThrownBy(() -> with("offset.storage", "jdbc")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("offset.storage").hasMessageContaining("jdbc");
        assertThatThrownBy(() -> with("offset.storage.topic", "bad topic")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("offset.storage.topic");
        assertThatThrownBy(() -> with("offset.storage.replication.factor", "0")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("offset.storage.replication.factor");
    }

    @Test
    void settingsThatWouldBreakPositionOrHeartbeatsAreOwnedByTheRelay() {
        for (String key : new String[] {"offset.mismatch.strategy", "heartbeat.action.query", "offset.storage.topic", "lsn.flush.mode"}) {
            assertThatThrownBy(() -> with("debezium." + key, "x")).isInstanceOf(ConfigException.class)
                    .hasMessageContaining("debezium." + key).hasMessageContaining("the relay sets it");
        }
    }

    @Test
    void httpPortAndHeartbeatAreRangeChecked() {
        assertThat(RelayConfig.of(minimal()).getInt(RelayConfig.HTTP_PORT)).isEqualTo(-1);
        assertThatThrownBy(() -> with("http.port", "70000")).isInstanceOf(ConfigException.class).hasMessageContaining("http.port");
        assertThatThrownBy(() -> with("heartbeat.interval.ms", "-5")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("heartbeat.interval.ms");
        assertThat(with("heartbeat.interval.ms", "0").getLong(RelayConfig.HEARTBEAT_INTERVAL_MS)).isZero();
    }

    @Test
    void settingsTurnedIntoEnvironmentVariablesLoadBackUnchanged() {
        Map<String, String> settings = minimal();
        settings.put("kafka.producer.linger.ms", "1");
        Map<String, String> env = RelayConfig.toEnvironment(settings);
        assertThat(env).containsEntry("OUTBOX_RELAY_DATABASE_PASSWORD", "s3cret-pw").containsEntry("OUTBOX_RELAY_KAFKA_PRODUCER_LINGER_MS", "1");
        assertThat(RelayConfig.fromEnvironment(env)).isEqualTo(settings);
    }

    @Test
    void aDebeziumLingerForThePositionProducerIsRefusedNotOverwritten() {
        assertThatThrownBy(() -> with("debezium.linger.ms", "50")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("debezium.linger.ms").hasMessageContaining("50").hasMessageContaining("position");
    }

    @Test
    void aDebeziumKafkaClientSettingIsRefusedInsteadOfBeingOverriddenByTheProducerOne() {
        Map<String, String> m = minimal();
        m.put("kafka.producer.security.protocol", "SASL_SSL");
        m.put("debezium.security.protocol", "SSL");
        assertThatThrownBy(() -> RelayConfig.of(m)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("debezium.security.protocol").hasMessageContaining("SSL")
                .hasMessageContaining("kafka.producer.security.protocol");
        // alone too: the position store's clients take their security settings from kafka.producer.*
        assertThatThrownBy(() -> with("debezium.ssl.truststore.location", "/tmp/t.p12")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.producer.ssl.truststore.location");
    }

    @Test
    void everyKeyTheRelaySetsIsOwnedOrADocumentedOverridableDefault() {
        Map<String, String> kafkaPosition = minimal();
        kafkaPosition.put("kafka.producer.security.protocol", "SASL_SSL"); // copied to the position store's clients
        kafkaPosition.put("kafka.producer.sasl.mechanism", "SCRAM-SHA-512");
        kafkaPosition.put("kafka.producer.retry.backoff.ms", "200");
        Map<String, String> filePosition = minimal();
        filePosition.put("ha.enabled", "false");
        filePosition.put("offset.storage", "file");
        for (Map<String, String> settings : List.of(kafkaPosition, filePosition)) {
            RelayConfig config = RelayConfig.of(settings);
            for (String key : EngineProperties.engine(config, "instance").stringPropertyNames()) {
                assertThat(EngineProperties.whyOwned("debezium." + key) != null || EngineProperties.DEFAULTS.containsKey("debezium." + key))
                        .as("Debezium setting %s is set by the relay but neither owned (refused from users) nor a documented default", key)
                        .isTrue();
            }
            for (String key : EngineProperties.producer(config).keySet()) {
                boolean userGiven = config.producerOverrides().containsKey(key);
                boolean validated = key.equals("enable.idempotence") || key.equals("acks"); // users may give only the required value
                assertThat(userGiven || validated || EngineProperties.OWNED.containsKey("kafka.producer." + key)
                        || EngineProperties.DEFAULTS.containsKey("kafka.producer." + key))
                        .as("producer setting %s is set by the relay but neither owned nor a documented default", key).isTrue();
            }
        }
        // an owned key is refused whatever its value, with the reason and the fix
        EngineProperties.OWNED.forEach((key, why) -> assertThatThrownBy(() -> with(key, "x")).as(key)
                .isInstanceOf(ConfigException.class).hasMessageContaining(key).hasMessageContaining("Fix:"));
        // a default is the user's to override
        assertThat(EngineProperties.engine(with("debezium.slot.max.retries", "5"), "i")
                .getProperty("slot.max.retries")).isEqualTo("5");
        assertThat(EngineProperties.producer(with("kafka.producer.linger.ms", "20")).get("linger.ms")).isEqualTo("20");
    }
}
