package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.postgresql.PGConnection;
import org.postgresql.PGProperty;
import org.postgresql.replication.PGReplicationStream;

@ExtendWith(OutboxBridgeExtension.class)
class OutboxBridgeTestkitIT {

    /** Every database handed to a test of this class, checked for removal after all tests. */
    private static final Set<String> DATABASES = ConcurrentHashMap.newKeySet();
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final TestDatabase constructorDb;
    private final TestKafka constructorKafka;
    private TestDatabase beforeEachDb;

    OutboxBridgeTestkitIT(TestDatabase db, TestKafka kafka) {
        this.constructorDb = db;
        this.constructorKafka = kafka;
        DATABASES.add(db.name());
        INSTANCES.incrementAndGet();
    }

    @BeforeEach
    void rememberDatabase(TestDatabase db) {
        this.beforeEachDb = db;
    }

    @Test
    void givesEachTestOneMigratedDatabaseWithLogicalWal(TestDatabase db, TestKafka kafka) throws SQLException {
        assertThat(db).isSameAs(constructorDb).isSameAs(beforeEachDb);
        assertThat(kafka).isSameAs(constructorKafka);
        assertThat(db.name()).matches("[a-z][a-z0-9_]{0,62}");
        assertThat(db.jdbcUrl()).isEqualTo("jdbc:postgresql://" + db.host() + ":" + db.port() + "/" + db.name());

        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SHOW wal_level")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("logical");
            }
            try (ResultSet rs = st.executeQuery("SELECT current_database()")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo(db.name());
            }
        }

        String slot = db.uniqueName("slot");
        assertThat(slot).hasSizeLessThanOrEqualTo(63).endsWith(db.name());
        assertThat(db.count("SELECT count(*) FROM pg_create_logical_replication_slot(?, 'pgoutput')", slot))
                .isEqualTo(1);
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ? AND database = ?",
                slot, db.name())).isEqualTo(1);

        assertThat(db.count("SELECT count(*) FROM information_schema.tables "
                + "WHERE table_schema = current_schema() AND table_name IN ('outbox_event', 'inbox_event')"))
                .isEqualTo(2);
    }

    @Test
    void producesAndReadsRecords(TestKafka kafka, KafkaServer server) {
        assertThat(kafka.bootstrapServers()).isEqualTo(server.bootstrapServers());
        String topic = kafka.topic("events");
        assertThat(topic).startsWith(kafka.prefix()).matches("[a-zA-Z0-9._-]+");
        kafka.createTopic(topic, 3);

        int count = 30;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, bytes("key-" + (i % 5)), bytes("value-" + i)));
            }
            producer.flush();
        }

        List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, count, Duration.ofSeconds(30));
        assertThat(records).hasSize(count);
        assertThat(records).extracting(r -> new String(r.value(), StandardCharsets.UTF_8))
                .containsExactlyInAnyOrder(java.util.stream.IntStream.range(0, count)
                        .mapToObj(i -> "value-" + i).toArray(String[]::new));
        // ordered by partition, then offset; per key, in send order
        for (int i = 1; i < records.size(); i++) {
            ConsumerRecord<byte[], byte[]> a = records.get(i - 1);
            ConsumerRecord<byte[], byte[]> b = records.get(i);
            assertThat(a.partition() < b.partition() || a.partition() == b.partition() && a.offset() < b.offset())
                    .isTrue();
        }
        assertThat(kafka.readAll(kafka.topic("missing"), 1, Duration.ofMillis(500))).isEmpty();
    }

    /**
     * Every record in the topic when the count is reached is returned, however slowly the broker
     * hands them out: a consumer byte-rate quota on the reader's client id throttles it for seconds
     * after its first fetch (about 1 MB, three of the four records), far longer than any fixed wait
     * for stragglers. A duplicate check that stops early would miss the fourth record.
     */
    @Test
    void readAllReturnsEveryRecordThereWhenTheCountIsReachedEvenWhenFetchesAreThrottled(TestKafka kafka) throws Exception {
        String topic = kafka.topic("throttled");
        kafka.createTopic(topic, 1);
        byte[] big = new byte[300_000];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (int i = 0; i < 4; i++) {
                producer.send(new ProducerRecord<>(topic, bytes("key"), big)).get(30, TimeUnit.SECONDS); // one batch each
            }
        }
        ClientQuotaEntity reader = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, TestKafka.readerClientId(kafka.prefix())));
        kafka.admin().alterClientQuotas(List.of(new ClientQuotaAlteration(reader,
                List.of(new ClientQuotaAlteration.Op("consumer_byte_rate", 80_000.0))))).all().get(30, TimeUnit.SECONDS);
        try {
            assertThat(kafka.readAll(topic, 1, Duration.ofSeconds(60))).hasSize(4);
        } finally {
            kafka.admin().alterClientQuotas(List.of(new ClientQuotaAlteration(reader,
                    List.of(new ClientQuotaAlteration.Op("consumer_byte_rate", null))))).all().get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void closeDropsTheDatabaseEvenWithAStreamingReplicationSlot(PostgresServer pg, TestDatabase db) throws Exception {
        TestDatabase other = pg.createDatabase("CloseMe").migrateOutbox();
        String slot = other.uniqueName("slot");
        String publication = other.uniqueName("pub");
        try (Connection c = other.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE PUBLICATION " + publication + " FOR TABLE outbox_event");
            st.execute("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
        }
        try (Connection replication = openReplicationConnection(other)) {
            PGReplicationStream stream = replication.unwrap(PGConnection.class).getReplicationAPI()
                    .replicationStream().logical()
                    .withSlotName(slot)
                    .withSlotOption("proto_version", "1")
                    .withSlotOption("publication_names", publication)
                    .start();
            stream.readPending();
            assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ? AND active", slot))
                    .isEqualTo(1);
            // an idle ordinary session as well
            try (Connection idle = other.connect()) {
                long start = System.nanoTime();
                other.close();
                assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start)).isLessThan(15);
                assertThat(idle.isValid(2)).isFalse();
            }
        } catch (SQLException expected) {
            // closing the connection whose walsender was terminated may fail; the checks below matter
        }

        assertThat(db.count("SELECT count(*) FROM pg_database WHERE datname = ?", other.name())).isZero();
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot)).isZero();
        other.close(); // a second close does nothing
    }

    @Test
    void closesResourcesEvenWhenTheTestFails(TestDatabase db, TestKafka kafka) throws Exception {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(FailingScenario.class))
                .configurationParameter(OnlyWhenLaunched.PARAMETER, "true")
                .build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(request, listener);
        TestExecutionSummary summary = listener.getSummary();

        assertThat(summary.getTestsStartedCount()).isEqualTo(1);
        assertThat(summary.getTestsFailedCount()).isEqualTo(1);
        assertThat(summary.getFailures().get(0).getException()).hasMessage(FailingScenario.FAILURE);
        assertThat(FailingScenario.database).isNotNull();

        assertThat(db.count("SELECT count(*) FROM pg_database WHERE datname = ?", FailingScenario.database)).isZero();
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", FailingScenario.slot))
                .isZero();
        Set<String> topics = kafka.admin().listTopics().names().get(30, TimeUnit.SECONDS);
        assertThat(topics).doesNotContain(FailingScenario.topic);
    }

    @AfterAll
    static void everyDatabaseWasDistinctAndIsDropped(PostgresServer pg) throws SQLException {
        assertThat(DATABASES).hasSize(INSTANCES.get());
        Properties props = new Properties();
        props.setProperty("user", pg.adminUser());
        if (!pg.adminPassword().isEmpty()) {
            props.setProperty("password", pg.adminPassword());
        }
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl("postgres"), props);
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_database WHERE datname = ANY (?)")) {
            ps.setArray(1, c.createArrayOf("text", DATABASES.toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getLong(1)).isZero();
            }
        }
    }

    private static Connection openReplicationConnection(TestDatabase db) throws SQLException {
        Properties props = new Properties();
        PGProperty.USER.set(props, db.user());
        if (!db.password().isEmpty()) {
            PGProperty.PASSWORD.set(props, db.password());
        }
        PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "10");
        PGProperty.REPLICATION.set(props, "database");
        PGProperty.PREFER_QUERY_MODE.set(props, "simple");
        return DriverManager.getConnection(db.jdbcUrl(), props);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Enables {@link FailingScenario} only when {@link #closesResourcesEvenWhenTheTestFails} launches it. */
    static final class OnlyWhenLaunched implements ExecutionCondition {
        static final String PARAMETER = "outbox.testkit.it.launched";

        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return context.getConfigurationParameter(PARAMETER).isPresent()
                    ? ConditionEvaluationResult.enabled("launched by OutboxBridgeTestkitIT")
                    : ConditionEvaluationResult.disabled("runs only when launched by OutboxBridgeTestkitIT");
        }
    }

    /** A test that fails after acquiring a database with a slot and a topic. */
    @ExtendWith({OnlyWhenLaunched.class, OutboxBridgeExtension.class})
    static class FailingScenario {
        static final String FAILURE = "intended failure";
        static volatile String database;
        static volatile String slot;
        static volatile String topic;

        @Test
        void fails(TestDatabase db, TestKafka kafka) throws SQLException {
            database = db.name();
            slot = db.uniqueName("slot");
            db.count("SELECT count(*) FROM pg_create_logical_replication_slot(?, 'pgoutput')", slot);
            topic = kafka.topic("events");
            kafka.createTopic(topic, 1);
            throw new AssertionError(FAILURE);
        }
    }
}
