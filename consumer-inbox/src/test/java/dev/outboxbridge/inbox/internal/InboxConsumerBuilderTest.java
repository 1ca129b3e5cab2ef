package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.inbox.InboxConsumer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintWriter;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

class InboxConsumerBuilderTest {

    private static final DataSource NO_DATABASE = new UnusedDataSource();

    private static InboxConsumerBuilder valid() {
        InboxConsumerBuilder b = new InboxConsumerBuilder();
        b.consumerName("billing")
                .kafkaProperties(Map.of("bootstrap.servers", "localhost:9092"))
                .topics(List.of("outbox.event.order"))
                .dataSource(NO_DATABASE)
                .handler((event, tx) -> { });
        return b;
    }

    @Test
    void validSettingsGetTheInboxDefaults() {
        InboxSettings s = valid().settings();

        assertThat(s.kafkaProperties())
                .containsEntry("group.id", "billing")
                .containsEntry("enable.auto.commit", "false")
                .containsEntry("auto.offset.reset", "earliest")
                .containsEntry("partition.assignment.strategy", CooperativeStickyAssignor.class.getName())
                .containsEntry("key.deserializer", ByteArrayDeserializer.class.getName())
                .containsEntry("value.deserializer", ByteArrayDeserializer.class.getName());
        assertThat(s.inboxTable().quoted()).isEqualTo("\"public\".\"inbox_event\"");
        assertThat(s.pollTimeout()).isEqualTo(Duration.ofMillis(100));
        assertThat(s.closeTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(s.retryBackoffInitial()).isEqualTo(Duration.ofMillis(100));
        assertThat(s.retryBackoffMax()).isEqualTo(Duration.ofSeconds(30));
    }

    @Test
    void everySettingReachesItsOwnField() {
        Clock clock = Clock.fixed(Instant.parse("2025-01-01T00:00:00Z"), ZoneOffset.UTC);
        MeterRegistry registry = new SimpleMeterRegistry();
        // distinct values for settings of one type, so that two swapped settings cannot pass
        InboxSettings s = valid()
                .inboxTable("billing.inbox")
                .pollTimeout(Duration.ofMillis(101))
                .closeTimeout(Duration.ofSeconds(31))
                .retryBackoff(Duration.ofMillis(102), Duration.ofSeconds(32))
                .clock(clock)
                .maxAttempts(7)
                .deadLetterTopic("billing.dead")
                .parkedKeyCheckInterval(Duration.ofMillis(1_003))
                .retention(Duration.ofDays(14))
                .cleanupInterval(Duration.ofSeconds(63))
                .cleanupBatchSize(504)
                .maxBatchSize(55)
                .meterRegistry(registry)
                .settings();

        assertThat(s.consumerName()).isEqualTo("billing");
        assertThat(s.topics()).containsExactly("outbox.event.order");
        assertThat(s.topicPattern()).isNull();
        assertThat(s.dataSource()).isSameAs(NO_DATABASE);
        assertThat(s.inboxTable().quoted()).isEqualTo("\"billing\".\"inbox\"");
        assertThat(s.pollTimeout()).isEqualTo(Duration.ofMillis(101));
        assertThat(s.closeTimeout()).isEqualTo(Duration.ofSeconds(31));
        assertThat(s.retryBackoffInitial()).isEqualTo(Duration.ofMillis(102));
        assertThat(s.retryBackoffMax()).isEqualTo(Duration.ofSeconds(32));
        assertThat(s.clock()).isSameAs(clock);
        assertThat(s.maxAttempts()).isEqualTo(7);
        assertThat(s.deadLetterTopic()).isEqualTo("billing.dead");
        assertThat(s.parkedKeyCheckInterval()).isEqualTo(Duration.ofMillis(1_003));
        assertThat(s.retention()).isEqualTo(Duration.ofDays(14));
        assertThat(s.cleanupInterval()).isEqualTo(Duration.ofSeconds(63));
        assertThat(s.cleanupBatchSize()).isEqualTo(504);
        assertThat(s.maxBatchSize()).isEqualTo(55);
        assertThat(s.meterRegistry()).isSameAs(registry);

        InboxSettings byPattern = valid().topics(null).topicPattern(Pattern.compile("outbox\\.event\\..*")).settings();
        assertThat(byPattern.topics()).isNull();
        assertThat(byPattern.topicPattern().pattern()).isEqualTo("outbox\\.event\\..*");
    }

    @Test
    void buildReturnsANewConsumer() {
        try (InboxConsumer consumer = valid().build()) {
            assertThat(consumer.state()).isEqualTo(InboxConsumer.State.NEW);
            assertThat(consumer.failure()).isEmpty();
            assertThat(consumer.stats().processed()).isZero();
        }
    }

    @Test
    void userKafkaSettingsPassThroughAndWinOverDefaults() {
        Properties props = new Properties();
        props.put("bootstrap.servers", "kafka:9092");
        props.put("group.id", "billing-v2");
        props.put("auto.offset.reset", "latest");
        props.put("partition.assignment.strategy", RangeAssignor.class.getName());
        props.put("max.poll.records", "50");
        props.put("enable.auto.commit", "false");
        props.put("key.deserializer", ByteArrayDeserializer.class);

        InboxSettings s = valid().kafkaProperties(props).settings();

        assertThat(s.kafkaProperties())
                .containsEntry("group.id", "billing-v2")
                .containsEntry("auto.offset.reset", "latest")
                .containsEntry("partition.assignment.strategy", RangeAssignor.class.getName())
                .containsEntry("max.poll.records", "50")
                .containsEntry("key.deserializer", ByteArrayDeserializer.class.getName());
    }

    @Test
    void consumerGroupProtocolGetsNoAssignmentStrategy() {
        InboxSettings s = valid().kafkaProperties(Map.of("bootstrap.servers", "kafka:9092", "group.protocol", "consumer"))
                .settings();

        assertThat(s.kafkaProperties()).doesNotContainKey("partition.assignment.strategy");
    }

    @Test
    void missingConsumerNameIsRefused() {
        assertThatThrownBy(() -> valid().consumerName(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("consumerName")
                .hasMessageContaining("null");
    }

    @Test
    void blankOrOverlongConsumerNameIsRefused() {
        assertThatThrownBy(() -> valid().consumerName("  ").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("consumerName");
        assertThatThrownBy(() -> valid().consumerName("x".repeat(256)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("consumerName")
                .hasMessageContaining("255");
    }

    @Test
    void missingBootstrapServersIsRefused() {
        assertThatThrownBy(() -> valid().kafkaProperties(Map.of("group.id", "g")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bootstrap.servers")
                .hasMessageContaining("localhost:9092");
        assertThatThrownBy(() -> valid().kafkaProperties(Map.of("bootstrap.servers", " ")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bootstrap.servers");
    }

    @Test
    void missingKafkaPropertiesIsRefused() {
        assertThatThrownBy(() -> valid().kafkaProperties((Map<String, ?>) null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("kafkaProperties")
                .hasMessageContaining("bootstrap.servers");
    }

    @Test
    void autoCommitIsRefusedNotSilentlyFixed() {
        for (Object value : List.of(true, "true", "TRUE")) {
            assertThatThrownBy(() -> valid()
                    .kafkaProperties(Map.of("bootstrap.servers", "kafka:9092", "enable.auto.commit", value)).build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("enable.auto.commit")
                    .hasMessageContaining(String.valueOf(value))
                    .hasMessageContaining("remove the setting");
        }
    }

    @Test
    void autoCommitFalseIsAccepted() {
        InboxSettings s = valid().kafkaProperties(Map.of("bootstrap.servers", "kafka:9092", "enable.auto.commit", false))
                .settings();
        assertThat(s.kafkaProperties()).containsEntry("enable.auto.commit", "false");
    }

    @Test
    void otherDeserializersAreRefused() {
        assertThatThrownBy(() -> valid().kafkaProperties(Map.of("bootstrap.servers", "kafka:9092",
                "value.deserializer", StringDeserializer.class)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("value.deserializer")
                .hasMessageContaining(StringDeserializer.class.getName())
                .hasMessageContaining(ByteArrayDeserializer.class.getName());
        assertThatThrownBy(() -> valid().kafkaProperties(Map.of("bootstrap.servers", "kafka:9092",
                "key.deserializer", StringDeserializer.class.getName())).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("key.deserializer");
    }

    @Test
    void invalidKafkaValueIsRefusedWithKafkasMessage() {
        assertThatThrownBy(() -> valid().kafkaProperties(Map.of("bootstrap.servers", "kafka:9092",
                "max.poll.records", "many")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max.poll.records")
                .hasMessageContaining("many");
    }

    @Test
    void deadLetterDefaultsAreIdempotentAndAcksAll() {
        InboxSettings s = valid().kafkaProperties(Map.of("bootstrap.servers", "localhost:9092",
                "security.protocol", "PLAINTEXT", "client.id", "billing-1", "max.poll.records", 100)).settings();

        assertThat(s.deadLetterTopic()).isEqualTo("billing.dlt");
        assertThat(s.maxAttempts()).isEqualTo(InboxConsumer.Builder.DEFAULT_MAX_ATTEMPTS);
        assertThat(s.retention()).isEqualTo(Duration.ZERO);
        assertThat(s.deadLetterProducerProperties())
                .containsEntry("bootstrap.servers", "localhost:9092")
                .containsEntry("security.protocol", "PLAINTEXT")
                .containsEntry("acks", "all")
                .containsEntry("enable.idempotence", "true")
                .containsEntry("client.id", "outbox-inbox-billing-dlt") // not the consumer's client.id
                .doesNotContainKeys("max.poll.records", "group.id");
    }

    @Test
    void deadLetterProducerThatIsNotIdempotentWithAcksAllIsRefused() {
        assertThatThrownBy(() -> valid().deadLetterProducerProperties(Map.of("acks", "1")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Invalid value 1 for dead-letter producer setting 'acks'")
                .hasMessageContaining("remove the setting");
        assertThatThrownBy(() -> valid().deadLetterProducerProperties(Map.of("enable.idempotence", false)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("enable.idempotence");
        assertThatThrownBy(() -> valid().deadLetterProducerProperties(Map.of("value.serializer", "x")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("value.serializer")
                .hasMessageContaining("the inbox owns it");
        assertThat(valid().deadLetterProducerProperties(Map.of("acks", "-1", "compression.type", "zstd")).settings()
                .deadLetterProducerProperties()).containsEntry("compression.type", "zstd").containsEntry("acks", "all");
    }

    @Test
    void badFailureSettingsAreRefused() {
        assertThatThrownBy(() -> valid().maxAttempts(0).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Invalid value 0 for setting maxAttempts");
        assertThatThrownBy(() -> valid().deadLetterTopic("bad topic").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("deadLetterTopic")
                .hasMessageContaining("'bad topic'");
        assertThatThrownBy(() -> valid().deadLetterTopic("outbox.event.order").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("also one of the consumed topics");
        assertThatThrownBy(() -> valid().fatalExceptions(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("fatalExceptions");
        assertThatThrownBy(() -> valid().retention(Duration.ofDays(-1)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("retention")
                .hasMessageContaining("PT-24H");
        assertThatThrownBy(() -> valid().cleanupBatchSize(0).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cleanupBatchSize");
        assertThatThrownBy(() -> valid().parkedKeyCheckInterval(Duration.ZERO).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("parkedKeyCheckInterval");
    }

    @Test
    void fatalClassificationFollowsClassesPredicateAndCauses() {
        FailureClassifier c = valid().fatalExceptions(List.of(NumberFormatException.class))
                .fatalWhen(e -> e.getMessage() != null && e.getMessage().contains("constraint")).settings().classifier();

        assertThat(c.isFatal(new dev.outboxbridge.inbox.FatalEventException("x"))).isTrue();
        assertThat(c.isFatal(new IllegalStateException("wrapped", new NumberFormatException("x")))).isTrue();
        assertThat(c.isFatal(new java.sql.SQLException("violates check constraint"))).isTrue();
        assertThat(c.isFatal(new IllegalStateException("downstream unavailable"))).isFalse();
        assertThat(c.isFatal(new java.sql.SQLTransientConnectionException("down"))).isFalse();
    }

    @Test
    void badBackoffIsRefused() {
        assertThatThrownBy(() -> valid().retryBackoff(Duration.ofSeconds(5), Duration.ofSeconds(1)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("retryBackoff")
                .hasMessageContaining("PT5S")
                .hasMessageContaining("PT1S")
                .hasMessageContaining("max must be at least initial");
        assertThatThrownBy(() -> valid().retryBackoff(Duration.ZERO, Duration.ofSeconds(1)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("retryBackoff initial")
                .hasMessageContaining("PT0S");
        assertThatThrownBy(() -> valid().retryBackoff(Duration.ofMillis(100), null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("retryBackoff max");
    }

    @Test
    void badTimeoutsAreRefused() {
        assertThatThrownBy(() -> valid().pollTimeout(Duration.ofMillis(-1)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pollTimeout");
        assertThatThrownBy(() -> valid().closeTimeout(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("closeTimeout");
        assertThatThrownBy(() -> valid().pollTimeout(Duration.ofMinutes(10)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pollTimeout")
                .hasMessageContaining("max.poll.interval.ms");
    }

    @Test
    void topicsXorPatternIsRequired() {
        assertThatThrownBy(() -> valid().topics(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topics")
                .hasMessageContaining("exactly one");
        assertThatThrownBy(() -> valid().topicPattern(Pattern.compile("outbox\\..*")).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exactly one");
        assertThatThrownBy(() -> valid().topics(List.of()).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topics");
        assertThat(valid().topics(null).topicPattern(Pattern.compile("outbox\\..*")).build()).isNotNull();
    }

    @Test
    void missingDataSourceOrHandlerIsRefused() {
        assertThatThrownBy(() -> valid().dataSource(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dataSource");
        assertThatThrownBy(() -> valid().handler(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("handler");
    }

    @Test
    void badInboxTableIsRefused() {
        assertThatThrownBy(() -> valid().inboxTable("inbox; drop table x").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("inboxTable")
                .hasMessageContaining("inbox; drop table x");
    }

    @Test
    void closingANewConsumerStopsItAndItCannotStartAgain() {
        InboxConsumer consumer = valid().build();
        consumer.close();
        consumer.close();

        assertThat(consumer.state()).isEqualTo(InboxConsumer.State.STOPPED);
        assertThatThrownBy(consumer::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not in expected state NEW, current state is STOPPED");
    }

    @Test
    void startFailsClearlyWhenTheDatabaseIsUnreachable() {
        InboxConsumer consumer = valid().build();

        assertThatThrownBy(consumer::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("billing")
                .hasMessageContaining("public.inbox_event");
        assertThat(consumer.state()).isEqualTo(InboxConsumer.State.FAILED);
        assertThat(consumer.failure()).isPresent();
        consumer.close();
        assertThat(consumer.state()).isEqualTo(InboxConsumer.State.FAILED);
    }

    /** A DataSource that is never reachable; the builder must not touch it. */
    private static final class UnusedDataSource implements DataSource {
        @Override
        public Connection getConnection() throws java.sql.SQLException {
            throw new java.sql.SQLException("no database in unit tests");
        }

        @Override
        public Connection getConnection(String user, String password) throws java.sql.SQLException {
            return getConnection();
        }

        @Override
        public PrintWriter getLogWriter() {
            return null;
        }

        @Override
        public void setLogWriter(PrintWriter out) {
        }

        @Override
        public void setLoginTimeout(int seconds) {
        }

        @Override
        public int getLoginTimeout() {
            return 0;
        }

        @Override
        public Logger getParentLogger() {
            return Logger.getGlobal();
        }

        @Override
        public <T> T unwrap(Class<T> iface) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return false;
        }
    }
}
