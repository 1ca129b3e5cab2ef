package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The whole path on real servers: a service commits business rows and outbox events (some
 * transactions rolled back), the relay publishes them from the WAL, the inbox consumer applies
 * them, and the history checker verifies L (nothing lost), P (no phantoms), O (per-aggregate
 * order in one partition) and X (each effect applied exactly once).
 */
@ExtendWith(OutboxBridgeExtension.class)
class EndToEndIT {

    private static DemoRun.Report run(PostgresServer pg, KafkaServer kafka, int events, int aggregates, boolean restartRelay,
            boolean redeliver) throws Exception {
        DemoRun.Options options = new DemoRun.Options(new Workload.Settings(events, aggregates, 2, 12, 0.15, events),
                3, restartRelay, redeliver, Duration.ofMinutes(5));
        DemoRun.Report report = new DemoRun(pg, kafka, options, System.out).run();
        report.print(System.out);
        return report;
    }

    private static void assertGuarantees(DemoRun.Report report, int events) {
        HistoryChecker.Verdict v = report.verdict();
        assertThat(v.committed()).isEqualTo(events);
        assertThat(v.rolledBack()).as("the workload rolled some transactions back").isPositive();
        assertThat(v.lost()).as("L: committed events missing from Kafka").isEmpty();
        assertThat(v.phantoms()).as("P: events in Kafka that never committed").isEmpty();
        assertThat(v.orderViolations()).as("O: per-aggregate order and partition").isEmpty();
        assertThat(v.effectViolations()).as("X: effects not applied exactly once").isEmpty();
        assertThat(v.effectsApplied()).isEqualTo(events);
        assertThat(report.consumer().processed()).isEqualTo(events);
    }

    @Test
    void everyCommittedEventIsAppliedOnceAndNothingFromRolledBackTransactions(PostgresServer pg, KafkaServer kafka) throws Exception {
        DemoRun.Report report = run(pg, kafka, 10_000, 250, false, false);
        assertGuarantees(report, 10_000);
        assertThat(report.verdict().kafkaDuplicates()).as("no relay restart, so no duplicate in Kafka").isZero();
    }

    @Test
    void forcedRedeliveryOfTheWholeTopicLeavesEffectsExactlyOnce(PostgresServer pg, KafkaServer kafka) throws Exception {
        DemoRun.Report report = run(pg, kafka, 2_000, 100, false, true);
        assertGuarantees(report, 2_000);
        assertThat(report.redeliveredDuplicates()).as("every replayed record is a suppressed duplicate")
                .isEqualTo(report.verdict().kafkaRecords());
    }

    @Test
    void relayStoppedAndRestartedMidStreamLosesNothing(PostgresServer pg, KafkaServer kafka) throws Exception {
        DemoRun.Report report = run(pg, kafka, 4_000, 200, true, false);
        assertThat(report.relayRestarts()).isEqualTo(1);
        assertGuarantees(report, 4_000);
    }
}
