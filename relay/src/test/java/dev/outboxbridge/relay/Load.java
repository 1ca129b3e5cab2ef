package dev.outboxbridge.relay;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.testkit.TestDatabase;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/** A writer committing multi-event outbox transactions flat out on its own thread until closed. */
public final class Load implements AutoCloseable {

    private final List<UUID> committed = Collections.synchronizedList(new ArrayList<>());

    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Thread thread;

    public Load(TestDatabase db, Outbox outbox, String aggregateType, int maxTxSize) {
        thread = new Thread(() -> {
            Random random = new Random(42);
            try (Connection c = db.connect()) {
                c.setAutoCommit(false);
                int tx = 0;
                while (running.get()) {
                    List<OutboxEvent> events = new ArrayList<>();
                    int size = 1 + random.nextInt(maxTxSize);
                    for (int i = 0; i < size; i++) {
                        events.add(OutboxEvent.of(aggregateType, "a-" + random.nextInt(20), "Happened", "tx-" + tx + "-" + i));
                    }
                    List<UUID> ids = outbox.appendAll(c, events);
                    c.commit();
                    committed.addAll(ids);
                    tx++;
                    Thread.sleep(5); // a steady stream (a few hundred events per second), not a flood
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "test-load-" + aggregateType);
        thread.start();
    }

    public int committedCount() {
        return committed.size();
    }

    /** Stops writing and returns the ids of every committed event. */
    public List<UUID> stop() throws InterruptedException {
        running.set(false);
        thread.join(30_000);
        if (failure.get() != null) {
            throw new AssertionError("load failed", failure.get());
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
}
