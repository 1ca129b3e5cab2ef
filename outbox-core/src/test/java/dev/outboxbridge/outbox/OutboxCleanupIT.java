package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The cleanup job's lifecycle and the delete-in-transaction mode against a real PostgreSQL. */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxCleanupIT {

    private static final String THREAD = "outbox-cleanup-outbox_event";

    @Test
    void startedJobCleansOnItsOwnNamedThreadAndCloseStopsIt(TestDatabase db) throws Exception {
        append(db, Outbox.create(OutboxConfig.defaults()), 25);
        OutboxCleanup job = OutboxCleanup.builder(db.dataSource())
                .retention(Duration.ofMinutes(1))
                .interval(Duration.ofMillis(50))
                .batchSize(10)
                .clock(Clock.fixed(Instant.now().plus(Duration.ofHours(1)), ZoneOffset.UTC))
                .build();
        job.start();
        assertThatThrownBy(job::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not in expected state NEW, current state is RUNNING");
        await().atMost(Duration.ofSeconds(30)).until(() -> db.count("SELECT count(*) FROM outbox_event") == 0);
        assertThat(threadsNamed(THREAD)).hasSize(1);
        assertThat(job.totals().deletedRows()).isEqualTo(25);

        job.close();
        assertThat(threadsNamed(THREAD)).as("no thread left after close()").isEmpty();
        assertThatThrownBy(job::runOnce).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        job.close(); // again: nothing
    }

    @Test
    void aMissingTableIsReportedWithTheFix(TestDatabase db) {
        try (OutboxCleanup job = OutboxCleanup.builder(db.dataSource()).table("public.no_such_outbox").build()) {
            assertThatThrownBy(job::runOnce).isInstanceOf(OutboxException.class)
                    .hasMessageContaining("Outbox table public.no_such_outbox does not exist")
                    .hasMessageContaining("Fix: run the outbox migrations");
        }
    }

    @Test
    void deleteInTransactionLeavesNoRowAndRollsBackWithTheCaller(TestDatabase db) throws Exception {
        Outbox outbox = Outbox.create(OutboxConfig.builder().deleteInTransaction(true).build());
        append(db, outbox, 5);
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            outbox.append(c, OutboxEvent.of("order", "o-1", "OrderPlaced", "{}"));
            assertThat(countIn(c)).as("deleted inside the transaction already").isZero();
            c.rollback();
        }
        assertThat(db.count("SELECT count(*) FROM outbox_event")).isZero();
    }

    private static long countIn(Connection c) throws Exception {
        try (var s = c.createStatement(); var rs = s.executeQuery("SELECT count(*) FROM outbox_event")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void append(TestDatabase db, Outbox outbox, int n) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            List<OutboxEvent> events = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                events.add(OutboxEvent.of("order", "o-" + i, "OrderPlaced", "{}"));
            }
            outbox.appendAll(c, events.subList(0, n - 1));
            outbox.append(c, events.get(n - 1));
            c.commit();
        }
    }

    private static List<Thread> threadsNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name) && t.isAlive()).toList();
    }
}
