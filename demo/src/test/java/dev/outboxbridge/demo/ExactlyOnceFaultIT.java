package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.demo.faults.Fault;
import dev.outboxbridge.demo.faults.FaultReport;
import dev.outboxbridge.demo.faults.FaultRun;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The short exactly-once fault run of the suite: the two relays (leader and standby) run with
 * delivery.guarantee=exactly_once while 4,800 events are written at 60/s, and faults are injected every 0.5-1 s after
 * the previous one recovered: kill -9 and SIGSTOP (past the lease) of the leader, halts in the middle of a transaction
 * and right after a commit before the slot is told, connection resets on a link. Read read_committed, Kafka must hold every event exactly once:
 * 0 duplicates, with L, P, O, X and F. The long run is {@code FaultMain --exactly-once} (docs/faults.md).
 */
@ExtendWith(OutboxBridgeExtension.class)
class ExactlyOnceFaultIT {

    /**
     * Five kinds; the connection resets also give the run its own broker (behind the harness's proxies), whose log F
     * reads. The long run has all kinds.
     */
    static final Set<Fault> RELAY_FAULTS = EnumSet.of(Fault.RELAY_KILL, Fault.RELAY_PAUSE, Fault.RELAY_HALT_AFTER_SEND,
            Fault.RELAY_HALT_AFTER_COMMIT, Fault.NET_RESET);

    @Test
    void relaysKilledPausedAndHaltedUnderLoadLeaveNoDuplicateInKafka(PostgresServer pg, KafkaServer kafka) throws Exception {
        FaultRun.Options options = new FaultRun.Options(new Workload.Settings(4_800, 200, 2, 10, 0.1, 13, 60)
                .withBadEvents(0, 0.002), 3,
                Duration.ofMillis(500), Duration.ofMillis(1000), Duration.ofMinutes(3), 13, RELAY_FAULTS, 1, true);
        FaultReport report = new FaultRun(pg, kafka, options, System.out).run();
        report.print(System.out);

        assertThat(report.totalFaults()).as("every kind once (each kind comes once before any repeats)")
                .isGreaterThanOrEqualTo(RELAY_FAULTS.size());
        assertThat(report.faults()).as("halted right after a commit, before the slot was told")
                .containsKey(Fault.RELAY_HALT_AFTER_COMMIT);
        HistoryChecker.Verdict v = report.verdict();
        assertThat(v.lost()).as("L").isEmpty();
        assertThat(v.phantoms()).as("P").isEmpty();
        assertThat(v.orderViolations()).as("O").isEmpty();
        assertThat(v.effectViolations()).as("X").isEmpty();
        assertThat(v.kafkaDuplicates()).as("D: no duplicate in Kafka, read read_committed").isZero();
        assertThat(v.deadLetters().oversizedDeadLettered()).as("oversized events in the relay's dead-letter topic")
                .isEqualTo(v.deadLetters().oversized());
        assertThat(report.interleavedPublishers()).as("F: no fenced relay wrote after its successor (producer epochs)")
                .hasValue(List.of());
        assertThat(report.ok()).isTrue();
    }
}
