package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.inbox.InboxConsumer.RedriveMode;
import dev.outboxbridge.inbox.InboxEvent;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * The durable state of parked keys: the parked-key table (one row per key whose head event failed)
 * and the parked-event table (the key's events, in arrival order). Each method is one transaction.
 */
final class ParkedStore {

    /** Longest error text stored in {@code last_error}. */
    static final int MAX_ERROR_CHARS = 4000;

    private final String consumerName;
    private final DataSource dataSource;
    private final Sql sql;
    private final Clock clock;

    ParkedStore(String consumerName, DataSource dataSource, Sql sql, Clock clock) {
        this.consumerName = consumerName;
        this.dataSource = dataSource;
        this.sql = sql;
        this.clock = clock;
    }

    /** The parked keys of one partition. */
    Set<String> keysOf(String topic, int partition) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            Set<String> keys = new HashSet<>();
            try (PreparedStatement ps = c.prepareStatement(sql.selectParkedKeysOfPartition)) {
                ps.setString(1, consumerName);
                ps.setString(2, topic);
                ps.setInt(3, partition);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        keys.add(rs.getString(1));
                    }
                }
            }
            return keys;
        });
    }

    /** What {@link #parkBehind} did with an event. */
    enum ParkBehind {
        /** Stored behind its parked key. */
        STORED,
        /** Not stored: the inbox already holds it (applied or dead-lettered). */
        DUPLICATE,
        /**
         * Not stored: the key is not parked (any more). Another member of the group, which owned the
         * partition for a while, may have drained and unparked it; the caller applies the event directly.
         */
        NOT_PARKED
    }

    /**
     * Stores {@code event} behind its parked key, unless the inbox already holds it or the key is not
     * parked. The key's row is locked first, as by every transaction that unparks a key
     * ({@link #unparkIfEmpty}, {@link InboxTransaction#applyParked}): an event stored here is either seen
     * by the unparking transaction (which then keeps the key) or finds the key gone, never stored behind
     * a key that nobody will drain.
     */
    ParkBehind parkBehind(InboxEvent event) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            if (!lockKey(c, sql, consumerName, event.topic(), event.key())) {
                return ParkBehind.NOT_PARKED;
            }
            if (inInbox(c, event.id())) {
                return ParkBehind.DUPLICATE;
            }
            insertParkedEvent(c, event);
            return ParkBehind.STORED;
        });
    }

    /**
     * Locks the row of a parked key ({@code SELECT ... FOR UPDATE}) in the transaction of {@code c}; false if the key
     * is not parked. Under READ COMMITTED, the statements after it see every event stored behind the key by
     * transactions that held the lock before.
     */
    static boolean lockKey(Connection c, Sql sql, String consumerName, String topic, String key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql.lockKey)) {
            ps.setString(1, consumerName);
            ps.setString(2, topic);
            ps.setString(3, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * Parks the key of {@code head}, whose handler failed: stores the event as the key's head, and the
     * key as retrying at {@code nextAttempt}.
     */
    void parkRetrying(InboxEvent head, Throwable error, int attempts, Instant nextAttempt) throws Exception {
        Transactions.inTransaction(dataSource, c -> {
            insertParkedKey(c, head, "RETRYING", attempts, nextAttempt, error);
            insertParkedEvent(c, head);
            return null;
        });
    }

    /**
     * Parks the key of {@code head}, which went to the dead-letter topic: its inbox row says
     * dead-lettered, the key waits for a redrive, and the event stays stored as the key's head so that
     * a redrive can run it again.
     */
    void parkDeadLettered(InboxEvent head, Throwable error, int attempts) throws Exception {
        Transactions.inTransaction(dataSource, c -> {
            insertDeadLetteredRow(c, head);
            insertParkedKey(c, head, "DEAD_LETTERED", attempts, null, error);
            insertParkedEvent(c, head);
            return null;
        });
    }

    /** Records an event without a key as dead-lettered in the inbox (no parking without a key). */
    void recordDeadLettered(InboxEvent event) throws Exception {
        Transactions.inTransaction(dataSource, c -> {
            insertDeadLetteredRow(c, event);
            return null;
        });
    }

    /** The head of a parked key went to the dead-letter topic: the key waits for a redrive. */
    void markDeadLettered(ParkedKey key, InboxEvent head, Throwable error, int attempts) throws Exception {
        Transactions.inTransaction(dataSource, c -> {
            insertDeadLetteredRow(c, head);
            try (PreparedStatement ps = c.prepareStatement(sql.markKeyDeadLettered)) {
                ps.setInt(1, attempts);
                ps.setString(2, describe(error));
                ps.setTimestamp(3, Timestamp.from(clock.instant()));
                ps.setString(4, consumerName);
                ps.setString(5, key.topic());
                ps.setString(6, key.key());
                ps.executeUpdate();
            }
            return null;
        });
    }

    /** Another attempt of the head of {@code key} failed; the next one is due at {@code nextAttempt}. */
    void recordFailure(ParkedKey key, Throwable error, int attempts, Instant nextAttempt) throws Exception {
        Transactions.inTransaction(dataSource, c -> {
            try (PreparedStatement ps = c.prepareStatement(sql.recordFailure)) {
                ps.setInt(1, attempts);
                ps.setTimestamp(2, Timestamp.from(nextAttempt));
                ps.setString(3, describe(error));
                ps.setTimestamp(4, Timestamp.from(clock.instant()));
                ps.setString(5, consumerName);
                ps.setString(6, key.topic());
                ps.setString(7, key.key());
                ps.executeUpdate();
            }
            return null;
        });
    }

    /** The retrying keys whose next attempt is due at {@code now}, earliest first. */
    List<ParkedKey> dueKeys(Instant now) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            List<ParkedKey> due = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(sql.selectDueKeys)) {
                ps.setString(1, consumerName);
                ps.setTimestamp(2, Timestamp.from(now));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        due.add(new ParkedKey(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getInt(4)));
                    }
                }
            }
            return due;
        });
    }

    /** The first stored event of {@code key}, if any. */
    Optional<InboxEvent> head(ParkedKey key) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            try (PreparedStatement ps = c.prepareStatement(sql.selectHead)) {
                ps.setString(1, consumerName);
                ps.setString(2, key.topic());
                ps.setString(3, key.key());
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return Optional.empty();
                    }
                    InboxEvent.Builder b = InboxEvent.builder()
                            .id(rs.getObject(1, UUID.class))
                            .eventType(rs.getString(2))
                            .aggregateType(rs.getString(3))
                            .payload(rs.getBytes(4))
                            .topic(key.topic())
                            .key(key.key())
                            .partition(rs.getInt(7))
                            .offset(rs.getLong(8));
                    String[] names = (String[]) rs.getArray(5).getArray();
                    String[] values = (String[]) rs.getArray(6).getArray();
                    for (int i = 0; i < names.length; i++) {
                        b.header(names[i], values[i]);
                    }
                    Timestamp committed = rs.getTimestamp(9);
                    b.committedAt(committed == null ? null : committed.toInstant());
                    return Optional.of(b.build());
                }
            }
        });
    }

    /** Removes {@code key} if it has no stored events left; true if it was removed. */
    boolean unparkIfEmpty(ParkedKey key) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            if (!lockKey(c, sql, consumerName, key.topic(), key.key())) {
                return false; // unparked meanwhile by another member
            }
            try (PreparedStatement ps = c.prepareStatement(sql.deleteKeyIfEmpty)) {
                ps.setString(1, consumerName);
                ps.setString(2, key.topic());
                ps.setString(3, key.key());
                return ps.executeUpdate() == 1;
            }
        });
    }

    /** See {@link dev.outboxbridge.inbox.InboxConsumer#redrive}. */
    boolean redrive(String topic, String key, RedriveMode mode) throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            String status;
            try (PreparedStatement ps = c.prepareStatement(sql.lockKey)) {
                ps.setString(1, consumerName);
                ps.setString(2, topic);
                ps.setString(3, key);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return false;
                    }
                    status = rs.getString(1);
                }
            }
            if (mode == RedriveMode.SKIP_DEAD_LETTERED && "DEAD_LETTERED".equals(status)) {
                try (PreparedStatement ps = c.prepareStatement(sql.deleteHead)) {
                    ps.setString(1, consumerName);
                    ps.setString(2, consumerName);
                    ps.setString(3, topic);
                    ps.setString(4, key);
                    ps.executeUpdate();
                }
            }
            Timestamp now = Timestamp.from(clock.instant());
            try (PreparedStatement ps = c.prepareStatement(sql.redriveKey)) {
                ps.setTimestamp(1, now);
                ps.setTimestamp(2, now);
                ps.setString(3, consumerName);
                ps.setString(4, topic);
                ps.setString(5, key);
                ps.executeUpdate();
            }
            return true;
        });
    }

    /** How many keys of this consumer are parked (all partitions). */
    long countParkedKeys() throws Exception {
        return Transactions.inTransaction(dataSource, c -> {
            try (PreparedStatement ps = c.prepareStatement(sql.countParkedKeys)) {
                ps.setString(1, consumerName);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }

    private boolean inInbox(Connection c, UUID eventId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql.selectInboxRow)) {
            ps.setString(1, consumerName);
            ps.setObject(2, eventId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private void insertDeadLetteredRow(Connection c, InboxEvent event) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql.insertDeadLettered)) {
            ps.setString(1, consumerName);
            ps.setObject(2, event.id());
            ps.setString(3, event.topic());
            ps.setInt(4, event.partition());
            ps.setLong(5, event.offset());
            ps.setTimestamp(6, Timestamp.from(clock.instant()));
            ps.executeUpdate();
        }
    }

    private void insertParkedKey(Connection c, InboxEvent head, String status, int attempts, Instant nextAttempt,
            Throwable error) throws SQLException {
        Timestamp now = Timestamp.from(clock.instant());
        try (PreparedStatement ps = c.prepareStatement(sql.insertParkedKey)) {
            ps.setString(1, consumerName);
            ps.setString(2, head.topic());
            ps.setString(3, head.key());
            ps.setInt(4, head.partition());
            ps.setString(5, status);
            ps.setInt(6, attempts);
            if (nextAttempt == null) {
                ps.setNull(7, Types.TIMESTAMP_WITH_TIMEZONE);
            } else {
                ps.setTimestamp(7, Timestamp.from(nextAttempt));
            }
            ps.setString(8, describe(error));
            ps.setTimestamp(9, now);
            ps.setTimestamp(10, now);
            ps.executeUpdate();
        }
    }

    private void insertParkedEvent(Connection c, InboxEvent event) throws SQLException {
        Map<String, String> headers = event.headers();
        Array names = c.createArrayOf("text", headers.keySet().toArray(new String[0]));
        Array values = c.createArrayOf("text", headers.values().toArray(new String[0]));
        try (PreparedStatement ps = c.prepareStatement(sql.insertParkedEvent)) {
            ps.setString(1, consumerName);
            ps.setObject(2, event.id());
            ps.setString(3, event.topic());
            ps.setString(4, event.key());
            ps.setInt(5, event.partition());
            ps.setLong(6, event.offset());
            ps.setString(7, event.eventType());
            ps.setString(8, event.aggregateType());
            ps.setBytes(9, event.payload());
            ps.setArray(10, names);
            ps.setArray(11, values);
            if (event.committedAt() == null) {
                ps.setNull(12, Types.TIMESTAMP_WITH_TIMEZONE);
            } else {
                ps.setTimestamp(12, Timestamp.from(event.committedAt()));
            }
            ps.setTimestamp(13, Timestamp.from(clock.instant()));
            ps.executeUpdate();
        } finally {
            names.free();
            values.free();
        }
    }

    /** Exception class and message, shortened to {@link #MAX_ERROR_CHARS}. */
    static String describe(Throwable error) {
        if (error == null) {
            return null;
        }
        String text = error.getClass().getName() + ": " + error.getMessage();
        return text.length() <= MAX_ERROR_CHARS ? text : text.substring(0, MAX_ERROR_CHARS);
    }
}
