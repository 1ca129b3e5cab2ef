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

    private static DemoRun.Report run(PostgresServer pg, KafkaServer kafka, int events, int aggregates, boolean killLeader,
            boolean redeliver) throws Exception {
        DemoRun.Options options = new DemoRun.Options(new Workload.Settings(events, aggregates, 2, 12, 0.15, events),
                3, killLeader, redeliver, Duration.ofMinutes(5));
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
        assertThat(report.verdict().kafkaDuplicates()).as("no relay killed, so no duplicate in Kafka").isZero();
    }

    @Test
    void forcedRedeliveryOfTheWholeTopicLeavesEffectsExactlyOnce(PostgresServer pg, KafkaServer kafka) throws Exception {
        DemoRun.Report report = run(pg, kafka, 2_000, 100, false, true);
        assertGuarantees(report, 2_000);
        assertThat(report.redeliveredDuplicates()).as("every replayed record is a suppressed duplicate")
                .isEqualTo(report.verdict().kafkaRecords());
    }

    @Test
    void poisonEventsAreDeadLetteredByTheConsumerAndOversizedOnesByTheRelayWhileTheRestFlowsInOrder(PostgresServer pg,
            KafkaServer kafka) throws Exception {
        DemoRun.Options options = new DemoRun.Options(new Workload.Settings(3_000, 100, 2, 12, 0.15, 5).withBadEvents(0.02, 0.02),
                3, false, false, Duration.ofMinutes(5));
        DemoRun.Report report = new DemoRun(pg, kafka, options, System.out).run();
        report.print(System.out);

        HistoryChecker.Verdict v = report.verdict();
        HistoryChecker.DeadLetters d = v.deadLetters();
        assertThat(d.poison()).as("poison events written").isGreaterThanOrEqualTo(20);
        assertThat(d.oversized()).as("oversized events written").isGreaterThanOrEqualTo(20);
        assertThat(v.lost()).as("L: normal and poison events in the topic, oversized ones in the relay's dead-letter topic").isEmpty();
        assertThat(v.phantoms()).as("P: nothing from rolled-back transactions in any topic").isEmpty();
        assertThat(v.orderViolations()).as("O: each aggregate's other events in version order").isEmpty();
        assertThat(v.effectViolations()).as("X: normal events applied once, poison events dead-lettered and not applied").isEmpty();
        assertThat(d.poisonInTopic()).isEqualTo(d.poison());
        assertThat(d.poisonDeadLettered()).isEqualTo(d.poison());
        assertThat(d.consumerDeadLetterRecords()).as("no relay or consumer restart: each poison event dead-lettered once")
                .isEqualTo(d.poison());
        assertThat(d.oversizedDeadLettered()).isEqualTo(d.oversized());
        assertThat(d.relayDeadLetterRecords()).as("each oversized event diverted once").isEqualTo(d.oversized());
        assertThat(d.oversizedInTopic() + d.poisonApplied() + d.oversizedApplied()).isZero();
        assertThat(v.effectsApplied()).isEqualTo(3_000 - d.poison() - d.oversized());
        assertThat(report.deadLetteredKeysSkipped()).as("each poison event parked its order until the operator skipped it")
                .isEqualTo(d.poison());
        assertThat(v.kafkaDuplicates()).isZero();
    }

    @Test
    void leaderRelayKilledMidStreamIsReplacedByTheStandbyAndNothingIsLost(PostgresServer pg, KafkaServer kafka) throws Exception {
        DemoRun.Report report = run(pg, kafka, 4_000, 200, true, false);
        assertThat(report.failover()).as("relay-0 killed with kill -9, relay-1 took over").hasValueSatisfying(f -> {
            assertThat(f.killed()).isEqualTo("relay-0");
            assertThat(f.successor()).isEqualTo("relay-1");
            assertThat(f.takeoverAt()).isGreaterThan(f.killedAt());
        });
        assertGuarantees(report, 4_000);
    }
}
