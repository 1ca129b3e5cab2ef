package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxStats;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lifecycle of an inbox consumer: state transitions by compare-and-set, the polling thread, and a
 * bounded close. The consuming itself happens in {@link PollLoop}.
 */
final class InboxConsumerImpl implements InboxConsumer {

    private static final Logger LOG = LoggerFactory.getLogger(InboxConsumerImpl.class);

    private final InboxSettings settings;
    private final InboxCounters counters = new InboxCounters();
    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final Object lifecycleLock = new Object();
    private volatile Throwable failure;
    private volatile Consumer<byte[], byte[]> consumer;
    private volatile Thread thread;

    InboxConsumerImpl(InboxSettings settings) {
        this.settings = settings;
    }

    @Override
    public void start() {
        synchronized (lifecycleLock) {
            transition(State.NEW, State.RUNNING);
            PollLoop loop;
            try {
                checkInboxTable();
                consumer = new KafkaConsumer<>(settings.kafkaProperties());
                loop = new PollLoop(settings, consumer, counters, () -> state.get() == State.RUNNING, this::exited);
                loop.subscribe();
            } catch (RuntimeException | Error e) {
                closeQuietly(consumer);
                exited(e);
                throw e;
            }
            thread = new Thread(loop, threadName());
            thread.start();
        }
        LOG.info("Inbox consumer '{}' started: {}, group '{}', inbox table {}", settings.consumerName(),
                settings.subscription(), settings.groupId(), settings.inboxTable());
    }

    @Override
    public void close() {
        Thread polling;
        synchronized (lifecycleLock) {
            if (state.compareAndSet(State.NEW, State.STOPPED)) {
                return;
            }
            if (state.compareAndSet(State.RUNNING, State.STOPPING)) {
                consumer.wakeup();
            }
            polling = thread;
        }
        if (polling != null && polling != Thread.currentThread()) {
            awaitExit(polling);
        }
    }

    @Override
    public State state() {
        return state.get();
    }

    @Override
    public Optional<Throwable> failure() {
        return state.get() == State.FAILED ? Optional.ofNullable(failure) : Optional.empty();
    }

    @Override
    public InboxStats stats() {
        return counters.snapshot();
    }

    @Override
    public String toString() {
        return "InboxConsumer{name=" + settings.consumerName() + ", state=" + state.get() + ", "
                + settings.subscription() + '}';
    }

    private void checkInboxTable() {
        try (Connection connection = settings.dataSource().getConnection()) {
            SchemaCheck.requireInboxTable(connection, settings.inboxTable());
        } catch (SQLException e) {
            throw new IllegalStateException("Inbox consumer '" + settings.consumerName() + "' cannot start: checking "
                    + "the inbox table " + settings.inboxTable() + " failed (" + e.getMessage() + "). Fix: check that "
                    + "the DataSource reaches the consumer's database", e);
        }
    }

    private void closeQuietly(Consumer<?, ?> kafkaConsumer) {
        if (kafkaConsumer != null) {
            try {
                kafkaConsumer.close(CloseOptions.timeout(settings.closeTimeout()));
            } catch (RuntimeException e) {
                LOG.debug("Inbox consumer '{}': closing the Kafka consumer after a failed start failed",
                        settings.consumerName(), e);
            }
        }
    }

    private void transition(State expected, State next) {
        if (!state.compareAndSet(expected, next)) {
            throw new IllegalStateException("Inbox consumer '" + settings.consumerName() + "' is not in expected state "
                    + expected + ", current state is " + state.get());
        }
    }

    /** Called once, by the polling thread when it ends or by start() when it fails. */
    private void exited(Throwable cause) {
        failure = cause;
        State terminal = cause == null ? State.STOPPED : State.FAILED;
        State current = state.get();
        while ((current == State.RUNNING || current == State.STOPPING) && !state.compareAndSet(current, terminal)) {
            current = state.get();
        }
        InboxStats stats = counters.snapshot();
        LOG.info("Inbox consumer '{}' {}: processed {}, duplicates {}, failed attempts {}", settings.consumerName(),
                terminal == State.FAILED ? "failed" : "stopped", stats.processed(), stats.duplicates(), stats.failures());
    }

    private void awaitExit(Thread polling) {
        long timeoutMs = settings.closeTimeout().toMillis();
        try {
            polling.join(timeoutMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.warn("Inbox consumer '{}': interrupted while waiting for thread '{}' to stop", settings.consumerName(),
                    polling.getName());
            return;
        }
        if (polling.isAlive()) {
            LOG.warn("Inbox consumer '{}' did not stop within {} ms (state {}): thread '{}' is still finishing the "
                    + "record in flight; it commits the applied offsets and closes the Kafka consumer when done",
                    settings.consumerName(), timeoutMs, state.get(), polling.getName());
        }
    }

    private String threadName() {
        return "outbox-inbox-" + settings.consumerName();
    }
}
