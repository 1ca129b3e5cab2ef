package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.outboxbridge.demo.faults.FaultRun;
import dev.outboxbridge.testkit.KafkaServer;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.PostgresServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The short fault run of the suite: the relay and the billing consumer run as separate processes
 * and are killed with {@code kill -9} or stopped with SIGTERM every 1-2.5 s while the workload
 * writes; afterwards nothing may be lost, invented, reordered or applied twice. The long run is
 * {@code FaultMain} (see README).
 */
@ExtendWith(OutboxBridgeExtension.class)
class FaultInjectionIT {

    @Test
    void relayAndConsumerKilledAndRestartedUnderLoadLoseNothingAndApplyEachEffectOnce(PostgresServer pg, KafkaServer kafka)
            throws Exception {
        FaultRun.Options options = new FaultRun.Options(new Workload.Settings(10_000, 300, 2, 10, 0.1, 11, 100), 3,
                Duration.ofMillis(1000), Duration.ofMillis(2500), Duration.ofMinutes(5), 11);
        FaultRun.Report report = new FaultRun(pg, kafka, options, System.out).run();
        report.print(System.out);

        assertThat(report.totalFaults()).as("dozens of faults").isGreaterThanOrEqualTo(15);
        assertThat(report.faults()).as("every kind of fault injected").hasSize(FaultRun.Fault.values().length);
        HistoryChecker.Verdict v = report.verdict();
        assertThat(v.lost()).as("L").isEmpty();
        assertThat(v.phantoms()).as("P").isEmpty();
        assertThat(v.orderViolations()).as("O").isEmpty();
        assertThat(v.effectViolations()).as("X").isEmpty();
        assertThat(v.effectsApplied()).isEqualTo(10_000);
    }
}
