package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxEvent;
import dev.outboxbridge.inbox.InboxHandler;
import dev.outboxbridge.spring.jpa.LedgerEntry;
import dev.outboxbridge.spring.jpa.OrderEntity;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.persistence.autoconfigure.EntityScan;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.config.EnableJpaRepositories;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.annotation.Transactional;

/**
 * Inbox handlers that write through Spring Data JPA repositories, in a real Spring Boot application (Hibernate,
 * Boot's {@code JpaTransactionManager}) on the testkit's PostgreSQL and Kafka. JPA has no savepoints, so a poll batch
 * runs optimistically in one transaction: an event that fails in the middle of the batch (its handler throws; a
 * {@code @Transactional} service it called marked the transaction rollback-only; its entity violates a constraint
 * when Hibernate flushes) rolls the batch back, the events before it are applied again in a new transaction (a new
 * persistence context), the failing one is retried and dead-lettered per policy, and the events after it follow in
 * per-key order. Every entity commits with its inbox row, and nothing is applied twice, redeliveries included.
 */
@ExtendWith(OutboxBridgeExtension.class)
class SpringInboxJpaIT {

    private static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void jpaHandlerFailuresInTheMiddleOfABatchCostTheirNeighboursNothing(TestDatabase db, TestKafka kafka)
            throws Exception {
        String topic = kafka.topic("order");
        String consumer = kafka.topic("billing");
        kafka.createTopic(topic, 1);
        kafka.createTopic(consumer + ".dlt", 1);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text PRIMARY KEY)");
            st.execute("CREATE TABLE ledger (applied_seq bigserial, event_id uuid PRIMARY KEY, order_key text NOT NULL,"
                    + " seq int NOT NULL, ref text NOT NULL UNIQUE)");
            st.execute("CREATE TABLE audit (event_id uuid NOT NULL)");
            st.execute("INSERT INTO ledger (event_id, order_key, seq, ref) VALUES (gen_random_uuid(), 'setup', 0, "
                    + "'taken')");
        }
        List<Sent> sent = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            sent.add(new Sent(UUID.randomUUID(), "k" + (i % 6), i / 6));
        }
        Sent flaky = new Sent(UUID.randomUUID(), "flaky", 0);
        Sent audited = new Sent(UUID.randomUUID(), "audited", 0);
        Sent clash = new Sent(UUID.randomUUID(), "clash", 0);
        sent.add(8, flaky);
        sent.add(14, audited);
        sent.add(20, clash);
        sent.add(25, new Sent(UUID.randomUUID(), "flaky", 1));
        sent.add(27, new Sent(UUID.randomUUID(), "audited", 1));
        sent.add(sent.get(2)); // redelivered: the same event again, later in the partition
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.producerProperties())) {
            for (Sent s : sent) {
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, s.key().getBytes(UTF_8),
                        Integer.toString(s.seq()).getBytes(UTF_8));
                record.headers().add(InboxEvent.ID_HEADER, s.id().toString().getBytes(UTF_8));
                record.headers().add(InboxEvent.EVENT_TYPE_HEADER, "OrderPlaced".getBytes(UTF_8));
                producer.send(record);
            }
            producer.flush();
        }
        int distinct = sent.size() - 1;

        Map<String, Object> properties = jpaApplication(db, kafka);
        String key = "outbox.inbox.consumers[" + consumer + "]";
        properties.put(key + ".topics", topic);
        properties.put(key + ".handler", "jpaBilling");
        properties.put(key + ".max-attempts", "2");
        properties.put(key + ".retry-backoff-initial", "50ms");
        properties.put(key + ".retry-backoff-max", "200ms");
        properties.put(key + ".parked-key-check-interval", "100ms");
        try (ConfigurableApplicationContext app = TestApplications.run(JpaBillingApp.class, properties)) {
            assertThat(app.getBean(PlatformTransactionManager.class)).isInstanceOf(JpaTransactionManager.class);
            InboxConsumer inbox = app.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();
            await().atMost(WAIT).until(() -> inbox.stats().processed() == distinct - 1
                    && inbox.stats().deadLettered() == 1 && inbox.stats().duplicates() == 1);
            JpaBilling billing = app.getBean(JpaBilling.class);
            assertThat(billing.runs.get(flaky.id()).get()).as("failed once, applied as its key's head").isEqualTo(2);
            assertThat(billing.runs.get(audited.id()).get()).as("failed once (rollback-only), then applied")
                    .isEqualTo(2);
            assertThat(billing.leaked).as("each event starts with an empty persistence context, in a batch and in "
                    + "the redo after a rollback").hasValue(0);

            List<ConsumerRecord<byte[], byte[]>> dead = kafka.readAll(consumer + ".dlt", 1, WAIT);
            assertThat(dead).hasSize(1);
            assertThat(new String(dead.get(0).headers().lastHeader(DeadLetterHeaders.EVENT_ID).value(), UTF_8))
                    .as("the flush-time constraint violation is blamed on its event").isEqualTo(clash.id().toString());
            assertThat(new String(dead.get(0).headers().lastHeader(DeadLetterHeaders.EXCEPTION_CLASS).value(), UTF_8))
                    .isEqualTo("org.springframework.dao.DataIntegrityViolationException");
        }
        // every event but the clash applied once, with its inbox row; nothing of a rolled-back attempt committed
        assertThat(db.count("SELECT count(*) FROM ledger WHERE order_key <> 'setup'")).isEqualTo(distinct - 1);
        assertThat(db.count("SELECT count(*) FROM (SELECT event_id FROM ledger GROUP BY event_id HAVING count(*) > 1) "
                + "twice")).isZero();
        assertThat(db.count("SELECT count(*) FROM ledger WHERE order_key = 'clash'")).isZero();
        assertThat(db.count("SELECT count(*) FROM audit")).as("the refused audit rolled back").isZero();
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = 'APPLIED'",
                consumer)).isEqualTo(distinct - 1);
        assertThat(db.count("SELECT count(*) FROM inbox_event i JOIN ledger l ON l.event_id = i.event_id "
                + "WHERE i.consumer_name = ? AND i.status = 'APPLIED'", consumer)).isEqualTo(distinct - 1);
        assertThat(db.count("SELECT count(*) FROM inbox_event WHERE consumer_name = ? AND status = 'DEAD_LETTERED' "
                + "AND event_id = ?", consumer, clash.id())).isEqualTo(1);
        assertPerKeyOrder(db);

        // a replay of the whole topic under a new group: every event a duplicate, no handler runs
        properties.put(key + ".kafka.group.id", consumer + "-replay");
        try (ConfigurableApplicationContext replay = TestApplications.run(JpaBillingApp.class, properties)) {
            InboxConsumer again = replay.getBean(SpringInboxConsumers.class).consumer(consumer).orElseThrow();
            await().atMost(WAIT).until(() -> again.stats().duplicates() == sent.size());
            assertThat(again.stats().processed()).isZero();
            assertThat(replay.getBean(JpaBilling.class).runs).isEmpty();
        }
        assertThat(db.count("SELECT count(*) FROM ledger WHERE order_key <> 'setup'")).isEqualTo(distinct - 1);
    }

    @Test
    void aJpaTransactionManagerRunsTheInboxWithoutSavepoints(TestDatabase db, TestKafka kafka) throws Exception {
        Map<String, Object> properties = jpaApplication(db, kafka);
        properties.put("outbox.inbox.auto-startup", "false");
        try (ConfigurableApplicationContext app = TestApplications.run(JpaBillingApp.class, properties)) {
            JpaTransactionManager jpa = app.getBean(JpaTransactionManager.class);
            assertThat(new SpringTransactionRunner(jpa).supportsSavepoints()).isFalse();
            jpa.setNestedTransactionAllowed(true); // Hibernate's JpaDialect still has no savepoints
            SpringTransactionRunner runner = new SpringTransactionRunner(jpa);
            assertThat(runner.supportsSavepoints()).isFalse();
            runner.verify(app.getBean(javax.sql.DataSource.class), false); // a transaction that binds the DataSource
        }
    }

    private static Map<String, Object> jpaApplication(TestDatabase db, TestKafka kafka) {
        Map<String, Object> properties = TestApplications.database(db);
        properties.put("spring.autoconfigure.exclude", "");
        properties.put("spring.jpa.hibernate.ddl-auto", "none");
        properties.put("spring.jpa.open-in-view", "false");
        properties.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        return properties;
    }

    /** Per order key, the ledger rows were written in the order of the key's events. */
    private static void assertPerKeyOrder(TestDatabase db) throws Exception {
        Map<String, Integer> last = new HashMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT order_key, seq FROM ledger WHERE order_key <> 'setup' ORDER BY applied_seq")) {
            while (rs.next()) {
                Integer previous = last.put(rs.getString(1), rs.getInt(2));
                assertThat(rs.getInt(2)).as("seq of %s after %s", rs.getString(1), previous)
                        .isEqualTo(previous == null ? 0 : previous + 1);
            }
        }
        assertThat(last.keySet()).containsAll(Set.of("k0", "k5", "flaky", "audited"));
    }

    record Sent(UUID id, String key, int seq) {
    }

    /** A Spring Data JPA repository, as a user's handler uses it. */
    public interface LedgerRepository extends JpaRepository<LedgerEntry, UUID> {
    }

    /**
     * A @Transactional service that writes, then refuses: its exception marks the caller's transaction
     * rollback-only.
     */
    public static class Audit {
        private final JdbcTemplate jdbc;

        public Audit(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Transactional
        public void refuse(UUID eventId) {
            jdbc.update("INSERT INTO audit (event_id) VALUES (?)", eventId);
            throw new IllegalStateException("audit refuses event " + eventId);
        }
    }

    /**
     * The handler: one ledger entry per event through the repository. The first attempt of 'flaky' 0 throws; the
     * first attempt of 'audited' 0 calls the refusing audit and swallows its exception (the transaction stays
     * rollback-only); 'clash' 0 saves an entry whose ref is taken (refused when Hibernate flushes).
     */
    public static class JpaBilling implements InboxHandler {
        final LedgerRepository ledger;
        final Audit audit;
        final Map<UUID, AtomicInteger> runs = new ConcurrentHashMap<>();
        private final Set<UUID> failedOnce = ConcurrentHashMap.newKeySet();
        /** Entities of an earlier event (committed, or of a rolled-back attempt) in this event's persistence context. */
        final AtomicInteger leaked = new AtomicInteger();
        private volatile LedgerEntry previous;
        @PersistenceContext
        private EntityManager entityManager;

        JpaBilling(LedgerRepository ledger, Audit audit) {
            this.ledger = ledger;
            this.audit = audit;
        }

        @Override
        public void handle(InboxEvent event, Connection transaction) {
            runs.computeIfAbsent(event.id(), id -> new AtomicInteger()).incrementAndGet();
            int seq = Integer.parseInt(event.payloadAsString());
            boolean first = seq == 0 && failedOnce.add(event.id());
            if (previous != null && entityManager.contains(previous)) {
                leaked.incrementAndGet();
            }
            LedgerEntry entry = new LedgerEntry(event.id(), event.key(), seq,
                    event.key().equals("clash") ? "taken" : event.id().toString());
            ledger.save(entry);
            previous = entry;
            if (event.key().equals("flaky") && first) {
                throw new IllegalStateException("flaky, first attempt");
            }
            if (event.key().equals("audited") && first) {
                try {
                    audit.refuse(event.id());
                } catch (IllegalStateException swallowed) {
                    // the handler goes on; the inbox transaction is rollback-only all the same
                }
            }
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    @EntityScan(basePackageClasses = OrderEntity.class)
    @EnableJpaRepositories(basePackageClasses = SpringInboxJpaIT.class, considerNestedRepositories = true,
            includeFilters = @org.springframework.context.annotation.ComponentScan.Filter(
                    type = org.springframework.context.annotation.FilterType.ASSIGNABLE_TYPE,
                    classes = LedgerRepository.class))
    static class JpaBillingApp {
        @Bean
        Audit audit(JdbcTemplate jdbc) {
            return new Audit(jdbc);
        }

        @Bean
        JpaBilling jpaBilling(LedgerRepository ledger, Audit audit) {
            return new JpaBilling(ledger, audit);
        }
    }
}
