package dev.outboxbridge.inbox.internal;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retention of the inbox table: deletes this consumer's rows older than the retention, in batches of
 * at most {@code batchSize} rows, each its own short transaction ({@code FOR UPDATE SKIP LOCKED}, so
 * several members of a group never wait on each other), walking the {@code processed_at} index.
 * Runs on the polling thread between polls, at most {@link #MAX_BATCHES_PER_RUN} batches at a time so
 * that polling is never held up for long.
 */
final class InboxCleanup {

    static final int MAX_BATCHES_PER_RUN = 10;

    private static final Logger LOG = LoggerFactory.getLogger(InboxCleanup.class);

    private final String consumerName;
    private final DataSource dataSource;
    private final Sql sql;
    private final Clock clock;
    private final Duration retention;
    private final Duration interval;
    private final int batchSize;
    private Instant nextRun;

    InboxCleanup(String consumerName, DataSource dataSource, Sql sql, Clock clock, Duration retention,
            Duration interval, int batchSize) {
        this.consumerName = consumerName;
        this.dataSource = dataSource;
        this.sql = sql;
        this.clock = clock;
        this.retention = retention;
        this.interval = interval;
        this.batchSize = batchSize;
    }

    /** Runs a cleanup if retention is on and the interval elapsed (by the injected clock). */
    void runIfDue() {
        if (retention.isZero()) {
            return;
        }
        Instant now = clock.instant();
        if (nextRun != null && now.isBefore(nextRun)) {
            return;
        }
        try {
            int deleted = deleteExpired(now.minus(retention));
            if (deleted > 0) {
                LOG.info("Inbox consumer '{}' removed {} inbox rows older than {}", consumerName, deleted, retention);
            }
            // a full run left more behind: continue at the next poll instead of waiting an interval
            nextRun = deleted == MAX_BATCHES_PER_RUN * batchSize ? now : now.plus(interval);
        } catch (Exception e) {
            nextRun = now.plus(interval);
            LOG.warn("Inbox consumer '{}': retention cleanup failed; retrying in {}", consumerName, interval, e);
        }
    }

    /** Deletes up to {@link #MAX_BATCHES_PER_RUN} batches of rows processed before {@code cutoff}. */
    int deleteExpired(Instant cutoff) throws Exception {
        int total = 0;
        for (int batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
            int deleted = Transactions.inTransaction(dataSource, (Connection c) -> {
                try (PreparedStatement ps = c.prepareStatement(sql.deleteExpired)) {
                    ps.setString(1, consumerName);
                    ps.setTimestamp(2, Timestamp.from(cutoff));
                    ps.setInt(3, batchSize);
                    return ps.executeUpdate();
                }
            });
            total += deleted;
            if (deleted < batchSize) {
                break;
            }
        }
        return total;
    }
}
