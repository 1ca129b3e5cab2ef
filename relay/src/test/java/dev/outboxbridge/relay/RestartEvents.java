package dev.outboxbridge.relay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Events written in committed transactions of 1-3 events over a few aggregates, and the check of what a relay that
 * restarted published: every committed event, in commit order per aggregate (first occurrences: at-least-once may send
 * an event again after a restart), nothing else. For the in-process restart tests.
 */
final class RestartEvents {

    private final Outbox outbox;
    private final Callable<Connection> connections;
    private final SplittableRandom random = new SplittableRandom(14);
    private final List<Written> committed = new ArrayList<>();
    private int transactions;

    RestartEvents(Outbox outbox, Callable<Connection> connections) {
        this.outbox = outbox;
        this.connections = connections;
    }

    record Written(UUID id, String aggregateId) {
    }

    /** Commits at least {@code count} more events; returns how many are committed in all. */
    int commit(int count) throws Exception {
        int target = committed.size() + count;
        while (committed.size() < target) {
            List<Written> events = new ArrayList<>();
            for (int i = 0, size = 1 + random.nextInt(3); i < size; i++) {
                events.add(new Written(UUID.randomUUID(), "o-" + random.nextInt(8)));
            }
            int tx = transactions++;
            try (Connection c = connections.call()) {
                c.setAutoCommit(false);
                for (Written w : events) {
                    outbox.append(c, OutboxEvent.builder().id(w.id()).aggregateType("order").aggregateId(w.aggregateId())
                            .type("Changed").payload("tx-" + tx).build());
                }
                c.commit();
            } catch (SQLException e) {
                throw new IllegalStateException("transaction " + tx + " did not commit: " + e.getMessage(), e);
            }
            committed.addAll(events);
        }
        return committed.size();
    }

    List<Written> committed() {
        return List.copyOf(committed);
    }

    /** The ids among the records (first occurrences). */
    static Set<UUID> ids(List<ConsumerRecord<byte[], byte[]>> records) {
        Set<UUID> ids = new LinkedHashSet<>();
        records.forEach(r -> ids.add(id(r)));
        return ids;
    }

    /** True when every committed event is among the records. */
    boolean allPublished(List<ConsumerRecord<byte[], byte[]>> records) {
        Set<UUID> ids = ids(records);
        return committed.stream().allMatch(w -> ids.contains(w.id()));
    }

    /** L and O: every committed event, first occurrences in commit order per aggregate; P: nothing else. */
    void assertEveryEventInOrder(List<ConsumerRecord<byte[], byte[]>> records) {
        Map<String, List<UUID>> expected = new LinkedHashMap<>();
        committed.forEach(w -> expected.computeIfAbsent(w.aggregateId(), k -> new ArrayList<>()).add(w.id()));
        Set<UUID> committedIds = new LinkedHashSet<>();
        committed.forEach(w -> committedIds.add(w.id()));
        Map<String, LinkedHashSet<UUID>> firstOccurrences = new LinkedHashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String key = new String(r.key(), StandardCharsets.UTF_8);
            assertThat(committedIds).as("P: only committed events reach Kafka").contains(id(r));
            firstOccurrences.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(id(r));
        }
        expected.forEach((aggregate, ids) -> assertThat(List.copyOf(firstOccurrences.getOrDefault(aggregate, new LinkedHashSet<>())))
                .as("L and O: every committed event of %s, in commit order", aggregate).isEqualTo(ids));
    }

    private static UUID id(ConsumerRecord<byte[], byte[]> r) {
        return UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8));
    }
}
