package dev.outboxbridge.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.demo.faults.Fault;
import dev.outboxbridge.demo.faults.FaultReport;
import dev.outboxbridge.demo.faults.FaultRun;
import dev.outboxbridge.demo.faults.Topology;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The short fault run on the production topology: a PostgreSQL 17 primary with a synchronous streaming standby
 * (failover slots) and a Kafka cluster of three brokers and a KRaft controller (replication factor 3,
 * min.insync.replicas 2). Under load, the primary is killed with {@code kill -9} and the standby promoted (writers,
 * relays and consumers follow through the host list; the harness then builds a new standby), the leader of a partition
 * of the events topic is killed, and two brokers are stopped until the in-sync replicas are below min.insync.replicas.
 * Afterwards L, P, O, X and F must hold, and each kind must have been injected and recovered from. The long run with
 * every kind is {@code FaultMain --topology ha} (docs/faults.md).
 */
class HaFaultInjectionIT {

    static final Set<Fault> FAULTS = EnumSet.of(Fault.PG_FAILOVER, Fault.KAFKA_LEADER_KILL, Fault.KAFKA_ISR_BELOW_MIN);

    @Test
    void primaryKilledAndPromotedAndKafkaLeaderKilledUnderLoadLoseNothingAndApplyEachEffectOnce() throws Exception {
        // each kind must be injected and recovered from: on a slow machine the load goes on in further rounds
        FaultRun.Options options = new FaultRun.Options(new Workload.Settings(3_000, 200, 2, 10, 0.1, 5, 50)
                .withBadEvents(0.002, 0.002), 3,
                Duration.ofMillis(500), Duration.ofMillis(1000), Duration.ofMinutes(3), 5, FAULTS, 1, false, Topology.Kind.HA, FAULTS, 0);
        FaultReport report = new FaultRun(null, null, options, System.out).run();
        report.print(System.out);

        assertThat(report.faults().keySet()).as("every kind injected (each comes once before any repeats)").containsAll(FAULTS);
        assertThat(report.recovered().keySet()).as("effects flowed again after each kind").containsAll(FAULTS);
        assertThat(report.observations()).as("a new standby was built after the promotion, and the slot synchronized to it")
                .containsKeys("standby rebuilt (ms)", "slot synchronized to the new standby after (ms)");
        HistoryChecker.Verdict v = report.verdict();
        assertThat(v.lost()).as("L").isEmpty();
        assertThat(v.phantoms()).as("P").isEmpty();
        assertThat(v.orderViolations()).as("O").isEmpty();
        assertThat(v.effectViolations()).as("X").isEmpty();
        HistoryChecker.DeadLetters d = v.deadLetters();
        assertThat(d.poisonDeadLettered()).as("poison events in the consumer's dead-letter topic").isEqualTo(d.poison());
        assertThat(d.oversizedDeadLettered()).as("oversized events in the relay's dead-letter topic").isEqualTo(d.oversized());
        assertThat(d.poisonApplied() + d.oversizedApplied() + d.oversizedInTopic()).isZero();
        assertThat(v.effectsApplied()).isEqualTo(v.committed() - d.poison() - d.oversized());
        assertThat(report.interleavedPublishers()).as("F: one relay publishing at a time").hasValue(List.of());
        assertThat(report.memory().violations()).as("relay memory within its bound").isEmpty();
        assertThat(report.ok()).isTrue();
    }

    @Test
    void faultsThatDoNotApplyToATopologyAreRefused() {
        Workload.Settings w = new Workload.Settings(10, 10, 1, 1, 0.1, 1, 10);
        assertThatThrownBy(() -> new FaultRun.Options(w, 1, Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofMinutes(1), 1,
                EnumSet.of(Fault.PG_RESTART, Fault.NET_RESET, Fault.RELAY_KILL), 1, false, Topology.Kind.HA))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("NET_RESET").hasMessageContaining("PG_RESTART").hasMessageNotContaining("RELAY_KILL")
                .hasMessageContaining("HA topology").hasMessageContaining("Fix:");
        assertThatThrownBy(() -> new FaultRun.Options(w, 1, Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofMinutes(1), 1,
                EnumSet.of(Fault.PG_FAILOVER, Fault.KAFKA_LEADER_KILL), 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[PG_FAILOVER, KAFKA_LEADER_KILL]").hasMessageContaining("--topology ha");
    }
}
