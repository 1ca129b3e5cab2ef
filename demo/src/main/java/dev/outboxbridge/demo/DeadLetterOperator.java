package dev.outboxbridge.demo;

import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The billing team's operator, automated for the demo and the fault runs: follows "The redrive
 * procedure" of docs/consumer-failures.md. An event whose handler fails fatally goes to the
 * consumer's dead-letter topic and parks its key (the order's later events wait behind it). The
 * billing runbook says a payload that cannot be deserialized will never be applied: skip it and let
 * the order's later events through. So every {@code interval} this looks for keys parked
 * {@code DEAD_LETTERED} whose error is such a payload ({@link FatalEventException#undeserializable})
 * and redrives them with {@link InboxConsumer.RedriveMode#SKIP_DEAD_LETTERED}. Keys dead-lettered for
 * any other reason are left parked: the history checker then reports their events as not applied.
 *
 * <p>Runs on one thread, {@code demo-dead-letter-operator}, until {@link #close()}.
 */
public final class DeadLetterOperator implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DeadLetterOperator.class);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
    /** The start of the parked key's last_error for an undeserializable payload (see ParkedStore: class name, ": ", message). */
    static final String UNDESERIALIZABLE_ERROR = FatalEventException.class.getName() + ": the payload of event ";
    static final String UNDESERIALIZABLE_MARK = "cannot be deserialized";

    private final DataSource inboxDb;
    private final String consumerName;
    private final InboxConsumer redriver;
    private final Duration interval;
    private final Thread thread;
    private final AtomicLong skipped = new AtomicLong();
    private volatile boolean stop;

    private DeadLetterOperator(DataSource inboxDb, String consumerName, String bootstrapServers, String topic, Duration interval) {
        this.inboxDb = inboxDb;
        this.consumerName = consumerName;
        this.interval = interval;
        // redrive needs only the consumer's database: this instance is never started
        this.redriver = InboxConsumer.builder()
                .consumerName(consumerName)
                .kafkaProperties(Map.of("bootstrap.servers", bootstrapServers))
                .topics(List.of(topic))
                .dataSource(inboxDb)
                .handler((event, tx) -> {
                    throw new IllegalStateException("the operator's consumer is never started");
                })
                .build();
        this.thread = new Thread(this::run, "demo-dead-letter-operator");
        this.thread.setDaemon(true);
    }

    private record ParkedKey(String topic, String key, String error) {
    }

    /** Starts the operator for consumer {@code consumerName}, whose inbox tables are in {@code inboxDb}. */
    public static DeadLetterOperator start(DataSource inboxDb, String consumerName, String bootstrapServers, String topic,
            Duration interval) {
        DeadLetterOperator operator = new DeadLetterOperator(inboxDb, consumerName, bootstrapServers, topic, interval);
        operator.thread.start();
        return operator;
    }

    /** Keys redriven with SKIP_DEAD_LETTERED so far (one per dead-lettered undeserializable head). */
    public long skipped() {
        return skipped.get();
    }

    private void run() {
        while (!stop) {
            try {
                redriveOnce();
            } catch (SQLException | RuntimeException e) {
                // the database may be down or the connection terminated (fault runs): look again next time
                LOG.debug("Dead-letter operator: cannot look at the parked keys of '{}': {}", consumerName, e.toString());
            }
            try {
                Thread.sleep(interval.toMillis());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** One pass of the procedure; returns the keys redriven. */
    int redriveOnce() throws SQLException {
        List<ParkedKey> due = new ArrayList<>();
        try (Connection c = inboxDb.getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT topic, record_key, last_error FROM inbox_parked_key"
                        + " WHERE consumer_name = ? AND status = 'DEAD_LETTERED' ORDER BY parked_at")) {
            ps.setString(1, consumerName);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String error = rs.getString(3);
                    if (error != null && error.startsWith(UNDESERIALIZABLE_ERROR) && error.contains(UNDESERIALIZABLE_MARK)) {
                        due.add(new ParkedKey(rs.getString(1), rs.getString(2), error));
                    }
                }
            }
        }
        int n = 0;
        for (ParkedKey key : due) {
            if (stop) {
                break;
            }
            if (redriver.redrive(key.topic(), key.key(), InboxConsumer.RedriveMode.SKIP_DEAD_LETTERED)) {
                skipped.incrementAndGet();
                n++;
                LOG.info("Dead-letter operator: skipped the undeserializable head of key '{}' of {} ({})", key.key(), key.topic(),
                        key.error());
            }
        }
        return n;
    }

    /** Stops the operator; waits at most 10 s for its thread and warns if it is still running then. */
    @Override
    public void close() {
        stop = true;
        thread.interrupt();
        try {
            thread.join(CLOSE_TIMEOUT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.warn("Dead-letter operator of '{}' still running {} s after close", consumerName, CLOSE_TIMEOUT.toSeconds());
        }
        redriver.close();
    }
}
