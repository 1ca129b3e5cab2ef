package dev.outboxbridge.outbox;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/** Bad settings of the cleanup job are refused when set, naming the setting and the fix. */
class OutboxCleanupTest {

    private final DataSource dataSource = new PGSimpleDataSource();

    @Test
    void refusesNonPositiveDurationsAndOutOfRangeSizes() {
        OutboxCleanup.Builder b = OutboxCleanup.builder(dataSource);
        assertThatThrownBy(() -> b.retention(Duration.ZERO)).hasMessageContaining("Invalid retention PT0S: must be positive");
        assertThatThrownBy(() -> b.interval(Duration.ofSeconds(-1))).hasMessageContaining("Invalid interval");
        assertThatThrownBy(() -> b.batchSize(0)).hasMessageContaining("Invalid batchSize 0: must be 1 to 100000");
        assertThatThrownBy(() -> b.statementTimeout(Duration.ofNanos(10))).hasMessageContaining("at least 1 ms");
        assertThatThrownBy(() -> b.partitionsAhead(0)).hasMessageContaining("Invalid partitionsAhead 0");
        assertThatThrownBy(() -> b.table("a.b.c")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void refusesAShutdownTimeoutThatWouldInterruptABatch() {
        assertThatThrownBy(() -> OutboxCleanup.builder(dataSource).statementTimeout(Duration.ofSeconds(30)).build())
                .hasMessageContaining("Invalid shutdownTimeout PT10S: must be longer than statementTimeout PT30S")
                .hasMessageContaining("Fix:");
    }
}
