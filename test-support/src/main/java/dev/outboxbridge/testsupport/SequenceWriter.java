package dev.outboxbridge.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * One thread committing one outbox event per transaction (aggregate {@code o-<seq % 20>}, payload
 * the sequence number) until stopped, so that the order of each aggregate's events can be checked
 * from the payloads.
 */
public final class SequenceWriter implements AutoCloseable {

    private final List<UUID> committed = new ArrayList<>(); // guarded by itself
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Thread thread;

    public SequenceWriter(TestDatabase db, Outbox outbox) {
        thread = new Thread(() -> {
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                for (int seq = 0; running.get(); seq++) {
                    UUID id = outbox.append(c, OutboxEvent.of("order", "o-" + seq % 20, "Placed", String.valueOf(seq)));
                    c.commit();
                    synchronized (committed) {
                        committed.add(id);
                    }
                    Thread.sleep(5);
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "test-sequence-writer");
        thread.start();
    }

    public int committedCount() {
        synchronized (committed) {
            return committed.size();
        }
    }

    /** Stops writing; returns every committed event id, or fails if the writer failed. */
    public List<UUID> stop() throws InterruptedException {
        close();
        if (failure.get() != null) {
            throw new AssertionError("the writer failed", failure.get());
        }
        synchronized (committed) {
            return new ArrayList<>(committed);
        }
    }

    @Override
    public void close() throws InterruptedException {
        running.set(false);
        thread.join(30_000);
    }

    /** Per aggregate, the first occurrence of each event id comes in write order (duplicates may follow). */
    public static void assertFirstOccurrencesInOrder(List<ConsumerRecord<byte[], byte[]>> records) {
        Map<String, Integer> last = new HashMap<>();
        Set<UUID> seen = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            UUID id = UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8));
            if (seen.add(id)) {
                String key = new String(r.key(), StandardCharsets.UTF_8);
                int seq = Integer.parseInt(new String(r.value(), StandardCharsets.UTF_8).replace("\"", ""));
                Integer previous = last.put(key, seq);
                assertThat(previous == null || previous < seq).as("order of %s: %s after %s", key, seq, previous).isTrue();
            }
        }
    }
}
