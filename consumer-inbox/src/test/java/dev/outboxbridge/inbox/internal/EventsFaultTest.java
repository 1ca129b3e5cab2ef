package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;
import org.junit.jupiter.api.Test;

/**
 * Which failed commits of a one-event transaction (no savepoints) are the event's: PostgreSQL refused its data. The
 * rest is the database's and retried in place, never parked or dead-lettered.
 */
class EventsFaultTest {

    @Test
    void dataAndConstraintErrorsAnywhereInTheCauseChainAreTheEvents() {
        SQLException unique = new SQLException("duplicate key value violates unique constraint", "23505");
        assertThat(InboxTransaction.isEventsFault(unique)).isTrue();
        assertThat(InboxTransaction.isEventsFault(new RuntimeException("commit failed",
                new IllegalStateException("flush", unique)))).as("wrapped, as Spring and Hibernate do").isTrue();
        assertThat(InboxTransaction.isEventsFault(new SQLException("value too long", "22001"))).isTrue();
        assertThat(InboxTransaction.isEventsFault(new SQLException("raised by a trigger", "P0001"))).isTrue();
    }

    @Test
    void connectionAndConcurrencyFailuresAreTheDatabases() {
        assertThat(InboxTransaction.isEventsFault(new SQLException("connection refused", "08001"))).isFalse();
        assertThat(InboxTransaction.isEventsFault(new SQLException("could not serialize access", "40001"))).isFalse();
        assertThat(InboxTransaction.isEventsFault(new SQLException("no state"))).isFalse();
        assertThat(InboxTransaction.isEventsFault(new IllegalStateException("rollback-only"))).isFalse();
    }
}
