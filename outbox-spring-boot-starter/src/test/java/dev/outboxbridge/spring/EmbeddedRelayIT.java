package dev.outboxbridge.spring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testkit.TopicReader;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.health.registry.HealthContributorRegistry;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;

/**
 * The relay embedded in real Spring Boot applications ({@code outbox.relay.enabled=true}) on the testkit's
 * PostgreSQL and Kafka: what a {@code @Transactional} service appends is published by the relay of the same
 * application, with the application's MeterRegistry and Clock; and two application instances on one slot elect one
 * publisher through the relay's lease: the other stands by (health {@code standby}) and takes over when the leader's
 * context closes, every event published once, in order per key.
 */
@ExtendWith(OutboxBridgeExtension.class)
class EmbeddedRelayIT {

    private static final Duration WAIT = Duration.ofSeconds(90);

    @Test
    void whatATransactionalServiceAppendsIsPublishedByTheRelayOfTheSameApplication(TestDatabase db, TestKafka kafka)
            throws Exception {
        String topic = prepare(db, kafka);
        Map<String, Object> properties = properties(db, kafka, db.uniqueName("slot"), db.uniqueName("pub"), "shop-relay");
        Relay relay;
        MeterRegistry registry;
        try (ConfigurableApplicationContext app = TestApplications.run(ShopApp.class, properties)) {
            SpringRelay springRelay = app.getBean(SpringRelay.class);
            relay = springRelay.relay().orElseThrow();
            await().atMost(WAIT).until(() -> "leader".equals(health(app).getDetails().get("state")));
            assertThat(health(app).getStatus()).isEqualTo(Status.UP);

            Orders orders = app.getBean(Orders.class);
            for (int i = 0; i < 10; i++) {
                orders.place("o-" + i, 0, false);
            }
            assertThatThrownBy(() -> orders.place("rejected", 0, true)).hasMessageContaining("rejected");

            List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAtLeast(
                    TopicReader.committedReader(kafka.bootstrapServers()), topic, 10, WAIT);
            assertThat(records).extracting(r -> new String(r.key(), UTF_8)).containsExactlyInAnyOrder(
                    "o-0", "o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7", "o-8", "o-9");

            registry = app.getBean(MeterRegistry.class);
            await().atMost(WAIT).until(() -> relay.publishedCount() == 10);
            assertThat(registry.find("outbox.relay.leader").tag("relay", "shop-relay").gauge()).as("the application's registry")
                    .isNotNull();
            assertThat(registry.find("outbox.relay.leader").gauge().value()).isEqualTo(1.0);
            assertThat(app.getBean(CountingClock.class).reads.get()).as("the application's Clock measured the latency")
                    .isPositive();
            assertThat(health(app).getDetails()).containsEntry("published", 10L).containsEntry("name", "shop-relay");
        }
        assertThat(relay.state()).as("closed with the context").isEqualTo(Relay.State.STOPPED);
        assertThat(registry.find("outbox.relay.leader").gauge()).as("its meters removed, the registry stays").isNull();
    }

    @Test
    void aSecondInstanceStandsByAndTakesOverWhenTheLeadersContextClosesEveryEventPublishedOnceInOrder(TestDatabase db,
            TestKafka kafka) throws Exception {
        String topic = prepare(db, kafka);
        String slot = db.uniqueName("slot");
        String publication = db.uniqueName("pub");
        int keys = 5;
        int perPhase = 4;
        ConfigurableApplicationContext a = TestApplications.run(ShopApp.class, properties(db, kafka, slot, publication, "relay-a"));
        ConfigurableApplicationContext b = null;
        try {
            await().atMost(WAIT).until(() -> "leader".equals(health(a).getDetails().get("state")));
            b = TestApplications.run(ShopApp.class, properties(db, kafka, slot, publication, "relay-b"));
            ConfigurableApplicationContext standby = b;
            Health standbyHealth = health(standby);
            assertThat(standbyHealth.getDetails()).containsEntry("state", "standby");
            assertThat(standbyHealth.getStatus()).as("a standby is ready to take over").isEqualTo(Status.UP);

            Orders leaderOrders = a.getBean(Orders.class);
            for (int seq = 0; seq < perPhase; seq++) {
                for (int k = 0; k < keys; k++) {
                    leaderOrders.place("k" + k, seq, false);
                }
            }
            Relay leader = a.getBean(SpringRelay.class).relay().orElseThrow();
            a.close(); // the leader's relay drains, stores its position and releases the lease
            assertThat(leader.state()).isEqualTo(Relay.State.STOPPED);

            Orders standbyOrders = standby.getBean(Orders.class);
            for (int seq = perPhase; seq < 2 * perPhase; seq++) { // appended while the standby takes over
                for (int k = 0; k < keys; k++) {
                    standbyOrders.place("k" + k, seq, false);
                }
            }
            await().atMost(WAIT).until(() -> "leader".equals(health(standby).getDetails().get("state")));
            for (int seq = 2 * perPhase; seq < 3 * perPhase; seq++) {
                for (int k = 0; k < keys; k++) {
                    standbyOrders.place("k" + k, seq, false);
                }
            }

            int expected = keys * 3 * perPhase;
            List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAtLeast(
                    TopicReader.committedReader(kafka.bootstrapServers()), topic, expected, WAIT);
            Map<String, List<Integer>> byKey = new LinkedHashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : records) { // ordered by partition, then offset: a key's order
                byKey.computeIfAbsent(new String(r.key(), UTF_8), k -> new ArrayList<>())
                        .add(Integer.parseInt(new String(r.value(), UTF_8)));
            }
            List<Integer> inOrder = new ArrayList<>();
            for (int seq = 0; seq < 3 * perPhase; seq++) {
                inOrder.add(seq);
            }
            assertThat(records).as("every event once, none lost, none twice").hasSize(expected);
            assertThat(byKey).hasSize(keys).allSatisfy((key, seqs) -> assertThat(seqs).as(key).isEqualTo(inOrder));
        } finally {
            a.close();
            if (b != null) {
                b.close();
            }
        }
    }

    private static String prepare(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE orders (id text NOT NULL, seq int NOT NULL, PRIMARY KEY (id, seq))");
        }
        return topic;
    }

    private static Map<String, Object> properties(TestDatabase db, TestKafka kafka, String slot, String publication,
            String name) {
        Map<String, Object> p = TestApplications.database(db);
        p.put("spring.kafka.bootstrap-servers", kafka.bootstrapServers());
        p.put("outbox.topic-prefix", kafka.prefix() + "outbox.event.");
        p.put("outbox.relay.enabled", "true");
        p.put("outbox.relay.name", name);
        p.put("outbox.relay.slot-name", slot);
        p.put("outbox.relay.publication-name", publication);
        p.put("outbox.relay.properties.offset.storage.topic", kafka.topic("relay-offsets"));
        p.put("outbox.relay.properties.ha.lease.ms", "1000");
        return p;
    }

    private static Health health(ConfigurableApplicationContext app) {
        return (Health) ((HealthIndicator) app.getBean(HealthContributorRegistry.class).getContributor("outboxRelay"))
                .health();
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class ShopApp {
        @Bean
        Orders orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            return new Orders(jdbc, outbox);
        }

        @Bean
        SimpleMeterRegistry meterRegistry() {
            return new SimpleMeterRegistry();
        }

        @Bean
        CountingClock clock() {
            return new CountingClock();
        }
    }

    /** The system clock, counting its reads: shows the relay measures with the application's Clock. */
    static final class CountingClock extends Clock {
        final AtomicLong reads = new AtomicLong();

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            reads.incrementAndGet();
            return Instant.now();
        }
    }

    /** An order row and its event in one Spring-managed transaction. */
    static class Orders {
        private final JdbcTemplate jdbc;
        private final SpringOutbox outbox;

        Orders(JdbcTemplate jdbc, SpringOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String id, int seq, boolean reject) {
            jdbc.update("INSERT INTO orders (id, seq) VALUES (?, ?)", id, seq);
            outbox.append(OutboxEvent.of("order", id, "OrderChanged", String.valueOf(seq)));
            if (reject) {
                throw new IllegalStateException("order " + id + " rejected");
            }
        }
    }
}
