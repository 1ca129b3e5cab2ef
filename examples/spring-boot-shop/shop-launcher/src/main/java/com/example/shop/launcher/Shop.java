package com.example.shop.launcher;

import com.example.shop.billing.BillingApplication;
import com.example.shop.orders.OrdersApplication;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.spring.SpringInboxConsumers;
import dev.outboxbridge.spring.SpringRelay;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.TestDatabase;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationContextInitializer;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * The two services, as two real deployments would be, on one PostgreSQL server and one Kafka broker: orders with its
 * own database (orders table, outbox table, the relay's slot), billing with its own (invoice table, inbox tables), each
 * a Spring Boot application with its web server. Closing it stops billing, then orders (its relay stores its
 * position), then drops both databases with the relay's slot.
 *
 * <p>Each application also gets one thing a deployment would not have: an in-memory span exporter (Boot's
 * OpenTelemetry SDK exports to every {@code SpanExporter} bean; as configured, the services have none of their own
 * until an OTLP endpoint is set), exporting every 100 ms, so the launcher and the test can show and check the trace
 * of an order across both services ({@link #ordersSpans()}, {@link #billingSpans()}).
 */
public final class Shop implements AutoCloseable {

    /** The order topic's partitions. */
    static final int ORDER_PARTITIONS = 3;

    private final Topics topics;
    private final String bootstrapServers;
    private final TestDatabase ordersDb;
    private final TestDatabase billingDb;
    private final InMemorySpanExporter ordersSpans = InMemorySpanExporter.create();
    private final InMemorySpanExporter billingSpans = InMemorySpanExporter.create();
    private ConfigurableApplicationContext orders;
    private ConfigurableApplicationContext billing;

    /**
     * Kafka names, all under one prefix (empty on a broker of its own; unique per test on a shared one).
     *
     * @param prefix prefix of every topic and group
     */
    public record Topics(String prefix) {
        /** The outbox topic prefix of orders: its events go to this + the aggregate type. */
        public String outboxPrefix() {
            return prefix + "outbox.event.";
        }

        /** Where OrderPlaced is published. */
        public String orders() {
            return outboxPrefix() + "order";
        }

        /** billing's dead-letter topic. */
        public String billingDeadLetters() {
            return prefix + "billing.dlt";
        }

        /** The relay's position. */
        public String relayOffsets() {
            return prefix + "orders-relay-offsets";
        }

        /** billing's consumer group. */
        public String billingGroup() {
            return prefix + "billing";
        }
    }

    private Shop(Topics topics, String bootstrapServers, TestDatabase ordersDb, TestDatabase billingDb) {
        this.topics = topics;
        this.bootstrapServers = bootstrapServers;
        this.ordersDb = ordersDb;
        this.billingDb = billingDb;
    }

    /**
     * Creates both databases and the topics, then starts orders and billing.
     *
     * @param ordersPort the orders web server's port, 0 for any free one
     * @param billingPort billing's, 0 for any free one
     * @throws RuntimeException if anything fails to start; what did start is stopped again
     */
    public static Shop start(PostgresServer postgres, String bootstrapServers, Topics topics, int ordersPort,
            int billingPort) {
        createTopics(bootstrapServers, topics);
        TestDatabase ordersDb = postgres.createDatabase("orders");
        TestDatabase billingDb;
        try {
            billingDb = postgres.createDatabase("billing");
        } catch (RuntimeException e) {
            ordersDb.close();
            throw e;
        }
        Shop shop = new Shop(topics, bootstrapServers, ordersDb, billingDb);
        try {
            shop.orders = OrdersApplication.application().initializers(withSpanExporter(shop.ordersSpans))
                    .run(shop.ordersArguments(ordersPort));
            shop.billing = BillingApplication.application().initializers(withSpanExporter(shop.billingSpans))
                    .run(shop.billingArguments(billingPort));
            return shop;
        } catch (RuntimeException e) {
            shop.close();
            throw e;
        }
    }

    /** Adds the exporter as a bean before the context refreshes: Boot's span processor exports to it too. */
    private static ApplicationContextInitializer<ConfigurableApplicationContext> withSpanExporter(
            InMemorySpanExporter exporter) {
        return context -> ((GenericApplicationContext) context).registerBean("shopInMemorySpanExporter",
                InMemorySpanExporter.class, () -> exporter);
    }

    // command-line arguments: they take precedence over orders.yml and billing.yml
    private String[] ordersArguments(int port) {
        Map<String, Object> p = common(port);
        database(p, "orders.db", ordersDb);
        p.put("outbox.topic-prefix", topics.outboxPrefix());
        p.put("outbox.relay.slot-name", ordersDb.uniqueName("orders_outbox"));
        p.put("outbox.relay.publication-name", ordersDb.uniqueName("orders_outbox_pub"));
        p.put("outbox.relay.properties.offset.storage.topic", topics.relayOffsets());
        return arguments(p);
    }

    private String[] billingArguments(int port) {
        Map<String, Object> p = common(port);
        database(p, "billing.db", billingDb);
        p.put("shop.topics.orders", topics.orders());
        p.put("shop.topics.billing-dead-letters", topics.billingDeadLetters());
        p.put("outbox.inbox.consumers.billing.kafka.group.id", topics.billingGroup());
        return arguments(p);
    }

    private Map<String, Object> common(int port) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("server.port", port);
        p.put("spring.kafka.bootstrap-servers", bootstrapServers);
        p.put("spring.datasource.hikari.maximum-pool-size", 4);
        p.put("spring.main.banner-mode", "off");
        p.put("spring.main.log-startup-info", false);
        // the spans reach the in-memory exporters within 100 ms (Boot's default batches them for 5 s)
        p.put("management.opentelemetry.tracing.export.schedule-delay", "100ms");
        return p;
    }

    private static void database(Map<String, Object> p, String prefix, TestDatabase db) {
        p.put(prefix + ".host", db.host());
        p.put(prefix + ".port", db.port());
        p.put(prefix + ".name", db.name());
        p.put(prefix + ".user", db.user());
        p.put(prefix + ".password", db.password() == null ? "" : db.password());
    }

    private static String[] arguments(Map<String, Object> properties) {
        List<String> args = new ArrayList<>();
        properties.forEach((k, v) -> args.add("--" + k + "=" + v));
        return args.toArray(String[]::new);
    }

    private static void createTopics(String bootstrapServers, Topics topics) {
        try (Admin admin = admin(bootstrapServers)) {
            for (NewTopic topic : List.of(new NewTopic(topics.orders(), ORDER_PARTITIONS, (short) -1),
                    new NewTopic(topics.billingDeadLetters(), 1, (short) -1))) {
                try {
                    admin.createTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("cannot create topic " + topic.name() + " on "
                                + bootstrapServers + ": " + e.getCause().getMessage(), e.getCause());
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("Kafka at " + bootstrapServers + " did not create the topics within 30 s", e);
        }
    }

    private static Admin admin(String bootstrapServers) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "shop-launcher-admin");
        return Admin.create(p);
    }

    /** The Kafka names. */
    public Topics topics() {
        return topics;
    }

    /** {@code http://localhost:<port>} of orders. */
    public String ordersUrl() {
        return "http://localhost:" + ((WebServerApplicationContext) orders).getWebServer().getPort();
    }

    /** {@code http://localhost:<port>} of billing. */
    public String billingUrl() {
        return "http://localhost:" + ((WebServerApplicationContext) billing).getWebServer().getPort();
    }

    /** The orders database (orders table, outbox table). */
    public TestDatabase ordersDb() {
        return ordersDb;
    }

    /** The billing database (invoice table, inbox tables). */
    public TestDatabase billingDb() {
        return billingDb;
    }

    /** The application contexts, for their beans. */
    public ConfigurableApplicationContext orders() {
        return orders;
    }

    public ConfigurableApplicationContext billing() {
        return billing;
    }

    /** Events the relay embedded in orders (the starter's {@link SpringRelay}) published since it started. */
    public long published() {
        return orders.getBean(SpringRelay.class).relay().map(Relay::publishedCount).orElse(0L);
    }

    /** The spans orders has finished (and exported) so far: its HTTP server spans, its {@code outbox.append} spans. */
    public List<SpanData> ordersSpans() {
        return ordersSpans.getFinishedSpanItems();
    }

    /** The spans billing has finished so far: its inbox handler's consumer spans, its HTTP server spans. */
    public List<SpanData> billingSpans() {
        return billingSpans.getFinishedSpanItems();
    }

    /**
     * The {@code traceparent} header of the order's event as orders stored it in its outbox row (the context of the
     * {@code outbox.append} span, written by the starter), if the order has an event with one.
     */
    public Optional<String> traceparent(String orderId) {
        return orders.getBean(JdbcTemplate.class).queryForList("SELECT headers->>'traceparent' FROM outbox_event WHERE"
                + " aggregateid = ?", String.class, orderId).stream().filter(h -> h != null).findFirst();
    }

    /** billing's inbox consumer. */
    public InboxConsumer billingConsumer() {
        return billing.getBean(SpringInboxConsumers.class).consumer("billing")
                .orElseThrow(() -> new IllegalStateException("billing's inbox consumer is not running"));
    }

    /** How many records the orders topic holds (the sum of its partitions' end offsets). */
    public long recordsOnOrderTopic() throws Exception {
        try (Admin admin = admin(bootstrapServers)) {
            Map<TopicPartition, OffsetSpec> latest = new LinkedHashMap<>();
            for (int p = 0; p < ORDER_PARTITIONS; p++) {
                latest.put(new TopicPartition(topics.orders(), p), OffsetSpec.latest());
            }
            return admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS).values().stream()
                    .mapToLong(r -> r.offset()).sum();
        }
    }

    /**
     * A header of the record keyed {@code orderId} on the orders topic, reading the topic from its start to its end
     * offsets as of now; empty if there is no such record or it has no such header.
     */
    public Optional<String> orderRecordHeader(String orderId, String header) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "shop-launcher-reader");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<TopicPartition> partitions = new ArrayList<>();
        for (int i = 0; i < ORDER_PARTITIONS; i++) {
            partitions.add(new TopicPartition(topics.orders(), i));
        }
        Optional<String> found = Optional.empty();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not read " + topics.orders() + " to its end offsets " + end
                            + " within 30 s");
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    Header h = r.headers().lastHeader(header);
                    if (r.key() != null && new String(r.key(), StandardCharsets.UTF_8).equals(orderId) && h != null) {
                        found = Optional.of(new String(h.value(), StandardCharsets.UTF_8));
                    }
                }
            }
        }
        return found;
    }

    @Override
    public void close() {
        try {
            if (billing != null) {
                billing.close(); // the inbox consumer finishes its batch and commits its offsets
            }
        } finally {
            try {
                if (orders != null) {
                    orders.close(); // the web server, then the relay (it stores its position)
                }
            } finally {
                billingDb.close();
                ordersDb.close(); // drops the relay's slot too
            }
        }
    }
}
