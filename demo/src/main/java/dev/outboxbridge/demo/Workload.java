package dev.outboxbridge.demo;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongConsumer;
import javax.sql.DataSource;

/**
 * A sample domain service under load: transactions of random sizes, each updating business rows
 * ({@code shop_order}, whose {@code version} grows by one per event of that order) and appending
 * one outbox event per update; some transactions are rolled back on purpose, some updates are
 * undone by rolling back to a savepoint, and a transaction whose COMMIT fails is resolved by
 * querying the database. It records what committed and what
 * rolled back, so the checker can compare that history with Kafka and the consumer's database.
 */
public final class Workload {

    /** What kind of event the workload wrote. */
    public enum Kind {
        /** A well-formed event that the billing consumer applies. */
        NORMAL,
        /**
         * A committed event whose payload the billing handler cannot deserialize (written in a wrong format):
         * it reaches the topic, and the consumer sends it to its dead-letter topic without applying it.
         */
        POISON,
        /**
         * A committed event of {@link #OVERSIZED_PAYLOAD_BYTES}: outbox-core accepts it, but it is larger than the
         * topic's {@code max.message.bytes} that the harness sets, so the relay sends it to its dead-letter topic.
         */
        OVERSIZED
    }

    /** An event the workload wrote, with the version its order reached in that transaction. */
    public record WrittenEvent(UUID id, String orderId, int version, long amount, Kind kind) {

        /** A {@link Kind#NORMAL} event. */
        public WrittenEvent(UUID id, String orderId, int version, long amount) {
            this(id, orderId, version, amount, Kind.NORMAL);
        }
    }

    /**
     * Settings of a run. {@code poisonRatio} and {@code oversizedRatio} are the fractions of events written as
     * {@link Kind#POISON} and {@link Kind#OVERSIZED} events (0 for none, the default).
     */
    public record Settings(int events, int aggregates, int writers, int maxTransactionSize, double rollbackRatio, long seed,
            int eventsPerSecond, double poisonRatio, double oversizedRatio) {

        /** Settings without a rate limit: the writers run flat out. */
        public Settings(int events, int aggregates, int writers, int maxTransactionSize, double rollbackRatio, long seed) {
            this(events, aggregates, writers, maxTransactionSize, rollbackRatio, seed, 0);
        }

        /** Settings with well-formed events only. */
        public Settings(int events, int aggregates, int writers, int maxTransactionSize, double rollbackRatio, long seed,
                int eventsPerSecond) {
            this(events, aggregates, writers, maxTransactionSize, rollbackRatio, seed, eventsPerSecond, 0, 0);
        }

        public Settings {
            if (eventsPerSecond < 0) {
                throw new IllegalArgumentException("Invalid workload rate " + eventsPerSecond + " events/s: use 0 for no limit");
            }
            if (!(poisonRatio >= 0 && oversizedRatio >= 0 && poisonRatio + oversizedRatio < 1)) {
                throw new IllegalArgumentException("Invalid workload settings: poison ratio " + poisonRatio + ", oversized ratio "
                        + oversizedRatio + ": each must be at least 0 (0 = none) and together below 1, e.g. 0.002 each");
            }
            if (events < 1 || aggregates < 1 || writers < 1 || maxTransactionSize < 1 || rollbackRatio < 0 || rollbackRatio >= 1) {
                throw new IllegalArgumentException("Invalid workload settings: " + events + " events, " + aggregates + " aggregates, "
                        + writers + " writers, transactions of at most " + maxTransactionSize + ", rollback ratio " + rollbackRatio);
            }
        }

        /** These settings with the given fractions of poison and oversized events. */
        public Settings withBadEvents(double poisonRatio, double oversizedRatio) {
            return new Settings(events, aggregates, writers, maxTransactionSize, rollbackRatio, seed, eventsPerSecond, poisonRatio,
                    oversizedRatio);
        }

        /** Whether the run writes poison or oversized events. */
        public boolean badEvents() {
            return poisonRatio > 0 || oversizedRatio > 0;
        }
    }

    public static final String AGGREGATE_TYPE = "order";
    public static final String EVENT_TYPE = "OrderChanged";
    /**
     * Payload size of an {@link Kind#OVERSIZED} event: below outbox-core's default maxRecordBytes (1,000,000), so the
     * append succeeds, and above the topic limit a harness sets for such runs ({@code DemoRun.TOPIC_MAX_MESSAGE_BYTES}).
     */
    public static final int OVERSIZED_PAYLOAD_BYTES = 128 * 1024;

    private final DataSource dataSource;
    private final Outbox outbox;
    private final Settings settings;
    private final Queue<WrittenEvent> committed = new ConcurrentLinkedQueue<>();
    private final Queue<UUID> rolledBack = new ConcurrentLinkedQueue<>();
    private final AtomicLong committedCount = new AtomicLong();
    private final AtomicLongArray committedByKind = new AtomicLongArray(Kind.values().length);
    private final AtomicLong indeterminate = new AtomicLong();
    private final AtomicLong failedTransactions = new AtomicLong();
    private final AtomicInteger remaining;
    private volatile long startNanos;

    public Workload(DataSource dataSource, Outbox outbox, Settings settings) {
        this.dataSource = dataSource;
        this.outbox = outbox;
        this.settings = settings;
        this.remaining = new AtomicInteger(settings.events());
    }

    /** Creates the business table in the producer's database. */
    public static void createSchema(DataSource dataSource) throws SQLException {
        try (Connection c = dataSource.getConnection(); var s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS shop_order (id text PRIMARY KEY, version int NOT NULL, total bigint NOT NULL)");
        }
    }

    /**
     * Writes until {@code settings.events()} events are committed; {@code progress} is told the
     * number committed so far after each commit.
     */
    public void run(LongConsumer progress) throws Exception {
        startNanos = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(settings.writers(), r -> new Thread(r, "demo-writer"));
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int w = 0; w < settings.writers(); w++) {
                SplittableRandom random = new SplittableRandom(settings.seed() + w);
                futures.add(pool.submit(() -> {
                    writeLoop(random, progress);
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
            pool.awaitTermination(30, TimeUnit.SECONDS);
        }
    }

    private void writeLoop(SplittableRandom random, LongConsumer progress) throws InterruptedException {
        while (true) {
            int size = 1 + random.nextInt(settings.maxTransactionSize());
            boolean rollback = random.nextDouble() < settings.rollbackRatio();
            if (!rollback) {
                size = claim(size);
                if (size == 0) {
                    return; // budget used up (a writer that gives some back goes on itself)
                }
            }
            int committedNow = writeTransaction(random, size, rollback, progress);
            if (!rollback && committedNow < size) {
                remaining.addAndGet(size - committedNow); // savepoint rollbacks and failed transactions do not count
            }
            pace();
        }
    }

    /** Takes up to {@code wanted} events from the budget; 0 when it is used up. */
    private int claim(int wanted) {
        while (true) {
            int left = remaining.get();
            if (left <= 0) {
                return 0;
            }
            int take = Math.min(wanted, left);
            if (remaining.compareAndSet(left, left - take)) {
                return take;
            }
        }
    }

    /** Keeps all writers together at {@code eventsPerSecond} (committed events), if a rate is set. */
    private void pace() {
        int rate = settings.eventsPerSecond();
        if (rate <= 0) {
            return;
        }
        long dueNanos = startNanos + (long) (committedCount.get() * 1_000_000_000.0 / rate);
        long waitNanos = dueNanos - System.nanoTime();
        if (waitNanos > 0) {
            try {
                Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * One business transaction: for each event an order row update and an outbox append; some
     * appends are undone by rolling back to a savepoint, and the whole transaction is rolled back
     * when asked. A failure at commit (connection lost) leaves the outcome unknown: it is resolved
     * by asking the database whether the events exist.
     *
     * @return the number of events committed
     */
    private int writeTransaction(SplittableRandom random, int size, boolean rollback, LongConsumer progress)
            throws InterruptedException {
        List<WrittenEvent> written = new ArrayList<>(size);
        List<UUID> undone = new ArrayList<>();
        boolean commitSent = false;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement upsert = c.prepareStatement(
                    "INSERT INTO shop_order (id, version, total) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE"
                            + " SET version = shop_order.version + 1, total = shop_order.total + excluded.total RETURNING version")) {
                // lock orders in one global order so concurrent writers never deadlock
                int[] orders = new int[size];
                for (int i = 0; i < size; i++) {
                    orders[i] = random.nextInt(settings.aggregates());
                }
                Arrays.sort(orders);
                for (int i = 0; i < size; i++) {
                    boolean undo = !rollback && random.nextDouble() < settings.rollbackRatio() / 2;
                    Savepoint savepoint = undo ? c.setSavepoint() : null;
                    String orderId = "order-" + orders[i];
                    long amount = 1 + random.nextInt(10_000);
                    upsert.setString(1, orderId);
                    upsert.setLong(2, amount);
                    int version;
                    try (ResultSet rs = upsert.executeQuery()) {
                        rs.next();
                        version = rs.getInt(1);
                    }
                    UUID id = UUID.randomUUID();
                    Kind kind = kind(random);
                    outbox.append(c, OutboxEvent.builder().id(id).aggregateType(AGGREGATE_TYPE).aggregateId(orderId).type(EVENT_TYPE)
                            .payload(payload(kind, orderId, version, amount)).build());
                    if (undo) {
                        c.rollback(savepoint); // the event and its version bump are gone; the transaction goes on
                        undone.add(id);
                    } else {
                        written.add(new WrittenEvent(id, orderId, version, amount, kind));
                    }
                }
            }
            if (rollback) {
                c.rollback();
                written.forEach(e -> rolledBack.add(e.id()));
                rolledBack.addAll(undone);
                return 0;
            }
            commitSent = true;
            c.commit();
        } catch (SQLException | RuntimeException e) {
            if (!commitSent) {
                // failed before COMMIT was sent: nothing of this transaction can have committed
                written.forEach(w -> rolledBack.add(w.id()));
                rolledBack.addAll(undone);
                failedTransactions.incrementAndGet();
                Thread.sleep(50);
                return 0;
            }
            if (!resolveIndeterminate(written)) {
                written.forEach(w -> rolledBack.add(w.id()));
                rolledBack.addAll(undone);
                return 0;
            }
        }
        rolledBack.addAll(undone);
        committed.addAll(written);
        written.forEach(w -> committedByKind.incrementAndGet(w.kind().ordinal()));
        progress.accept(committedCount.addAndGet(written.size()));
        return written.size();
    }

    /** Draws the kind of the next event; draws nothing when the run has no bad events, so a seed gives the same run as before. */
    private Kind kind(SplittableRandom random) {
        if (!settings.badEvents()) {
            return Kind.NORMAL;
        }
        double r = random.nextDouble();
        return r < settings.poisonRatio() ? Kind.POISON
                : r < settings.poisonRatio() + settings.oversizedRatio() ? Kind.OVERSIZED : Kind.NORMAL;
    }

    /**
     * The event body: JSON for a normal event; for a poison event the same fields in a format the billing handler
     * cannot deserialize (as written by a producer with the wrong serializer); for an oversized event valid JSON
     * padded with an attachment to {@link #OVERSIZED_PAYLOAD_BYTES}.
     */
    static String payload(Kind kind, String orderId, int version, long amount) {
        String json = "{\"order\":\"" + orderId + "\",\"version\":" + version + ",\"amount\":" + amount;
        return switch (kind) {
            case NORMAL -> json + "}";
            case POISON -> "OrderChanged;order=" + orderId + ";version=" + version + ";amount=" + amount;
            case OVERSIZED -> {
                String head = json + ",\"attachment\":\"";
                yield head + "x".repeat(OVERSIZED_PAYLOAD_BYTES - head.length() - 2) + "\"}";
            }
        };
    }

    /** The connection was lost at COMMIT: did the transaction commit? Asks the database until it answers. */
    private boolean resolveIndeterminate(List<WrittenEvent> written) throws InterruptedException {
        indeterminate.incrementAndGet();
        if (written.isEmpty()) {
            return true;
        }
        while (true) {
            try (Connection c = dataSource.getConnection();
                    PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM outbox_event WHERE id = ANY (?)")) {
                ps.setArray(1, c.createArrayOf("uuid", written.stream().map(WrittenEvent::id).toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    long found = rs.getLong(1);
                    if (found != 0 && found != written.size()) {
                        throw new IllegalStateException("Atomicity violated: " + found + " of " + written.size()
                                + " events of one transaction exist");
                    }
                    return found == written.size();
                }
            } catch (SQLException e) {
                Thread.sleep(200); // the database is still unreachable: keep asking
            }
        }
    }

    /** Transactions whose COMMIT failed with the outcome unknown, resolved afterwards by querying the database. */
    public long indeterminateTransactions() {
        return indeterminate.get();
    }

    /** Transactions that failed before COMMIT (connection lost), so rolled back. */
    public long failedTransactions() {
        return failedTransactions.get();
    }

    public List<WrittenEvent> committed() {
        return List.copyOf(committed);
    }

    public List<UUID> rolledBack() {
        return List.copyOf(rolledBack);
    }

    public long committedCount() {
        return committedCount.get();
    }

    /** Committed events of one kind. */
    public long committedCount(Kind kind) {
        return committedByKind.get(kind.ordinal());
    }

    /** Committed {@link Kind#NORMAL} events: the effects a consumer applies once everything is drained. */
    public long expectedEffects() {
        return committedCount(Kind.NORMAL);
    }
}
