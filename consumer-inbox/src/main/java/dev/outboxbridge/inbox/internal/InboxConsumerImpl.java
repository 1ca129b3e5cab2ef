package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.inbox.InboxStats;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lifecycle of an inbox consumer: state transitions by compare-and-set, the polling thread, and a
 * bounded close. The consuming itself happens in {@link PollLoop}.
 */
final class InboxConsumerImpl implements InboxConsumer {

    private static final Logger LOG = LoggerFactory.getLogger(InboxConsumerImpl.class);
    private static final Duration DEAD_LETTER_SEND_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration DEAD_LETTER_CHECK_TIMEOUT = Duration.ofSeconds(5);

    private final InboxSettings settings;
    private final InboxCounters counters = new InboxCounters();
    private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
    private final Object lifecycleLock = new Object();
    private volatile Throwable failure;
    private volatile Consumer<byte[], byte[]> consumer;
    private volatile Thread thread;
    private volatile Producer<byte[], byte[]> producer;
    private volatile AutoCloseable metrics;

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
                checkDeadLetterTopic();
                producer = new KafkaProducer<>(settings.deadLetterProducerProperties());
                // waiting for a dead letter must not get the member evicted from its group
                Duration sendTimeout = Duration.ofMillis(Math.min(DEAD_LETTER_SEND_TIMEOUT.toMillis(),
                        KafkaConsumerProperties.maxPollIntervalMs(settings.kafkaProperties()) / 2));
                DeadLetterPublisher deadLetters = new DeadLetterPublisher(settings.consumerName(),
                        settings.deadLetterTopic(), producer, sendTimeout);
                consumer = new KafkaConsumer<>(settings.kafkaProperties());
                if (settings.meterRegistry() != null) {
                    metrics = MicrometerMetrics.bind(settings.meterRegistry(), settings.consumerName(), counters);
                }
                loop = new PollLoop(settings, consumer, counters, deadLetters, () -> state.get() == State.RUNNING,
                        this::exited, System::nanoTime);
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
    public boolean redrive(String topic, String key, RedriveMode mode) {
        if (topic == null || key == null || mode == null) {
            throw new IllegalArgumentException("redrive(topic, key, mode) needs all three (topic: " + topic + ", key: "
                    + key + ", mode: " + mode + "): give the topic and record key of the parked aggregate and a "
                    + "RedriveMode");
        }
        try {
            boolean parked = new ParkedStore(settings.consumerName(), settings.dataSource(),
                    new Sql(settings.inboxTable()), settings.clock()).redrive(topic, key, mode);
            LOG.info("Inbox consumer '{}': redrive of key '{}' of {} ({}): {}", settings.consumerName(), key, topic,
                    mode, parked ? "due now; the owner of its partition applies its events in order"
                            : "the key is not parked, nothing to do");
            return parked;
        } catch (Exception e) {
            throw new IllegalStateException("Inbox consumer '" + settings.consumerName() + "' could not redrive key '"
                    + key + "' of " + topic + " (" + e.getMessage() + "). Fix: check that the DataSource reaches the "
                    + "consumer's database, then call redrive again", e);
        }
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

    /**
     * Warns when the dead-letter topic is missing or cannot be checked. Not fatal: a consumer may start
     * while Kafka is unreachable, and a record that must be dead-lettered meanwhile waits (its
     * partition is rewound and paused, its offset not committed) until the topic acknowledges it.
     */
    private void checkDeadLetterTopic() {
        Map<String, Object> adminProps = new LinkedHashMap<>();
        settings.kafkaProperties().forEach((k, v) -> {
            if (AdminClientConfig.configNames().contains(k) && !AdminClientConfig.CLIENT_ID_CONFIG.equals(k)) {
                adminProps.put(k, v);
            }
        });
        adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, "outbox-inbox-" + settings.consumerName() + "-dlt-check");
        String topic = settings.deadLetterTopic();
        try (Admin admin = Admin.create(adminProps)) {
            admin.describeTopics(Set.of(topic)).allTopicNames().get(DEAD_LETTER_CHECK_TIMEOUT.toMillis(),
                    TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                LOG.warn("Inbox consumer '{}': the dead-letter topic '{}' does not exist. Records that must be "
                        + "dead-lettered wait, with their partition paused and their offset not committed, until it "
                        + "exists. Fix: create it (with the retention of the consumed topics or longer), or set "
                        + "deadLetterTopic(...) to an existing topic", settings.consumerName(), topic);
            } else {
                LOG.warn("Inbox consumer '{}': could not check the dead-letter topic '{}' ({})", settings.consumerName(),
                        topic, e.getCause().toString());
            }
        } catch (TimeoutException e) {
            LOG.warn("Inbox consumer '{}': Kafka did not answer within {} when checking the dead-letter topic '{}'",
                    settings.consumerName(), DEAD_LETTER_CHECK_TIMEOUT, topic);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Inbox consumer '" + settings.consumerName() + "': interrupted while "
                    + "checking the dead-letter topic '" + topic + "'", e);
        } catch (RuntimeException e) {
            LOG.warn("Inbox consumer '{}': could not check the dead-letter topic '{}' ({})", settings.consumerName(),
                    topic, e.toString());
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
        Producer<byte[], byte[]> dlt = producer;
        if (dlt != null) {
            try {
                dlt.close(settings.closeTimeout());
            } catch (RuntimeException e) {
                LOG.warn("Inbox consumer '{}' did not close its dead-letter producer cleanly", settings.consumerName(), e);
            }
        }
        AutoCloseable meters = metrics;
        if (meters != null) {
            try {
                meters.close();
            } catch (Exception e) {
                LOG.debug("Inbox consumer '{}': removing its meters failed", settings.consumerName(), e);
            }
        }
        State terminal = cause == null ? State.STOPPED : State.FAILED;
        State current = state.get();
        while ((current == State.RUNNING || current == State.STOPPING) && !state.compareAndSet(current, terminal)) {
            current = state.get();
        }
        InboxStats stats = counters.snapshot();
        LOG.info("Inbox consumer '{}' {}: processed {}, duplicates {}, failed attempts {}, dead-lettered {}, parked {}",
                settings.consumerName(), terminal == State.FAILED ? "failed" : "stopped", stats.processed(),
                stats.duplicates(), stats.failures(), stats.deadLettered(), stats.parked());
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
