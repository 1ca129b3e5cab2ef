package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The rebalance listener and the parked-key index, driven by Kafka's {@link MockConsumer}. */
class InboxRebalanceListenerTest {

    private static final String TOPIC = "outbox.event.order";
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);
    private static final TopicPartition P1 = new TopicPartition(TOPIC, 1);
    private static final TopicPartition P2 = new TopicPartition(TOPIC, 2);

    /** Offset commits, in order. */
    private final List<Map<TopicPartition, OffsetAndMetadata>> commits = new ArrayList<>();
    private final MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest") {
        @Override
        public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            commits.add(Map.copyOf(offsets));
            super.commitSync(offsets);
        }
    };
    private final InboxCounters counters = new InboxCounters();
    /** The parked-key table, per partition; a partition listed in {@link #databaseDown} cannot be read. */
    private final Map<TopicPartition, Set<String>> table = new HashMap<>();
    private final Set<TopicPartition> databaseDown = new HashSet<>();
    private final ParkedKeyIndex index = new ParkedKeyIndex("billing", tp -> {
        if (databaseDown.contains(tp)) {
            throw new SQLTransientConnectionException("database is down (simulated)", "08001");
        }
        return table.getOrDefault(tp, Set.of());
    }, counters);
    private final PartitionRetries retries =
            new PartitionRetries(new Backoff(Duration.ofMillis(100), Duration.ofSeconds(10), () -> 0.5));
    private final OffsetCommitter offsets = new OffsetCommitter("billing", consumer, counters);
    private final InboxRebalanceListener listener =
            new InboxRebalanceListener("billing", consumer, index, retries, offsets);

    InboxRebalanceListenerTest() {
        consumer.subscribe(List.of(TOPIC), listener);
    }

    @Test
    void assignedPartitionsAreReadOnlyOnceTheirParkedKeysAreLoaded() {
        table.put(P0, Set.of("order-7"));

        consumer.rebalance(List.of(P0, P1));

        assertThat(consumer.paused()).isEmpty();
        assertThat(index.isLoaded(P0)).isTrue();
        assertThat(index.isLoaded(P1)).isTrue();
        assertThat(index.isParked(P0, "order-7")).isTrue();
        assertThat(index.isParked(P0, "order-8")).isFalse();
        assertThat(index.isParked(P1, "order-7")).as("keys are per partition").isFalse();
    }

    @Test
    void partitionWhoseParkedKeysCannotBeLoadedStaysPausedUntilTheyAre() {
        table.put(P1, Set.of("order-9"));
        databaseDown.add(P1);

        consumer.rebalance(List.of(P1));

        assertThat(consumer.paused()).containsExactly(P1);
        assertThat(index.isUnloaded(P1)).isTrue();
        assertThat(index.isLoaded(P1)).isFalse();
        assertThat(counters.snapshot().failures()).isEqualTo(1);

        listener.loadParkedKeys();
        assertThat(consumer.paused()).as("still down").containsExactly(P1);

        databaseDown.clear();
        listener.loadParkedKeys();

        assertThat(consumer.paused()).isEmpty();
        assertThat(index.isUnloaded(P1)).isFalse();
        assertThat(index.isParked(P1, "order-9")).isTrue();
    }

    @Test
    void loadedPartitionWaitingForARetryBackoffStaysPaused() {
        consumer.rebalance(List.of(P0, P1));
        // P1 was read, a keyless record failed, the partition was rewound and paused for the backoff
        retries.failed(P1, 5, 0);
        consumer.pause(List.of(P1));
        // a rebalance that keeps P1 but cannot load P2 yet
        databaseDown.add(P2);
        consumer.rebalance(List.of(P0, P1, P2));
        assertThat(consumer.paused()).containsExactlyInAnyOrder(P1, P2);

        databaseDown.clear();
        listener.loadParkedKeys();

        assertThat(consumer.paused()).as("P2 loaded and resumed; P1 waits for its backoff").containsExactly(P1);
    }

    @Test
    void revokedPartitionsCommitTheirAppliedOffsetsAndAreForgotten() {
        table.put(P0, Set.of("order-7"));
        consumer.rebalance(List.of(P0, P1));
        offsets.processed(P0, 41);
        offsets.processed(P1, 9);
        retries.failed(P0, 42, 0);

        consumer.rebalance(List.of(P1));

        assertThat(commits).as("only the revoked partition; kept ones commit with the loop")
                .containsExactly(Map.of(P0, new OffsetAndMetadata(42)));
        assertThat(index.isLoaded(P0)).isFalse();
        assertThat(index.isParked(P0, "order-7")).isFalse();
        assertThat(retries.isWaiting(P0)).isFalse();
        assertThat(retries.attemptsSoFar(P0, 42)).isZero();
        assertThat(index.isLoaded(P1)).isTrue();
    }

    @Test
    void reassignedPartitionLoadsItsParkedKeysAfresh() {
        table.put(P0, Set.of("order-7"));
        consumer.rebalance(List.of(P0));
        index.park(P0, "order-8"); // parked here, then the partition moves away and comes back
        consumer.rebalance(List.of());
        table.put(P0, Set.of("order-8")); // meanwhile another member applied order-7 and unparked it

        consumer.rebalance(List.of(P0));

        assertThat(index.isParked(P0, "order-7")).isFalse();
        assertThat(index.isParked(P0, "order-8")).isTrue();
    }

    @Test
    void lostPartitionsAreForgottenWithoutCommitting() {
        consumer.rebalance(List.of(P0, P1));
        offsets.processed(P0, 41);
        retries.failed(P0, 42, 0);

        listener.onPartitionsLost(List.of(P0));

        assertThat(index.isLoaded(P0)).isFalse();
        assertThat(retries.isWaiting(P0)).isFalse();
        offsets.commitAll();
        assertThat(commits).as("the offset of a lost partition is never committed").isEmpty();
    }

    @Test
    void revocationOfAPartitionNotYetLoadedForgetsIt() {
        databaseDown.add(P0);
        consumer.rebalance(List.of(P0));
        assertThat(index.isUnloaded(P0)).isTrue();

        consumer.rebalance(List.of());
        databaseDown.clear();
        listener.loadParkedKeys();

        assertThat(index.isUnloaded(P0)).isFalse();
        assertThat(index.isLoaded(P0)).as("not owned any more: not loaded").isFalse();
    }

    @Test
    void unparkedKeysLeaveTheIndex() {
        table.put(P0, Set.of("order-7", "order-8"));
        consumer.rebalance(List.of(P0));

        index.unpark(P0, "order-7");
        index.park(P0, "order-9");

        assertThat(index.isParked(P0, "order-7")).isFalse();
        assertThat(index.isParked(P0, "order-8")).isTrue();
        assertThat(index.isParked(P0, "order-9")).isTrue();
    }
}
