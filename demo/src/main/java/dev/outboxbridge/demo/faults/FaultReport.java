package dev.outboxbridge.demo.faults;

import dev.outboxbridge.demo.HistoryChecker;
import dev.outboxbridge.testsupport.MemoryReport;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a fault run found: the checker's verdict over the full history, the faults injected, the
 * recovery after each, the processes' memory and, with the harness's own broker, whether two relays
 * ever published at the same time.
 *
 * @param interleavedPublishers producers that wrote interleaved runs in a partition (empty: one
 *        publisher at a time); absent when the run used a broker whose logs it cannot read
 * @param exactlyOnce the relays ran delivery.guarantee=exactly_once: a duplicate in Kafka (read read_committed) is a
 *        violation (D)
 * @param topology the servers the run ran on
 * @param recoveryMillisByFault the recovery after each fault, by kind
 * @param recovered faults after which effects flowed again within the recovery limit (two minutes), by kind; a
 *        PG_FAILOVER only once a new standby streams and the relay's slot is synchronized to it
 * @param observations what the harness saw of the HA topology (standbys rebuilt, the slot synchronized again, the relay
 *        reporting partitions under min ISR, the controller's quorum back), by what: values in ms, or 1 per occurrence
 */
public record FaultReport(HistoryChecker.Verdict verdict, Map<Fault, Integer> faults, int unexpectedRelayExits,
        int unexpectedConsumerExits, List<Long> recoveryMillis, long failedTransactions, long indeterminateCommits,
        Duration elapsed, MemoryReport memory, Map<Fault, Long> maxRecoveryMillisByFault,
        Optional<List<String>> interleavedPublishers, boolean exactlyOnce, Topology.Kind topology,
        Map<Fault, List<Long>> recoveryMillisByFault, Map<Fault, Integer> recovered, Map<String, List<Long>> observations) {

    public int totalFaults() {
        return faults.values().stream().mapToInt(Integer::intValue).sum();
    }

    public double duplicatesPerRelayStop() {
        int stops = faults.entrySet().stream().filter(e -> e.getKey().stopsRelay()).mapToInt(Map.Entry::getValue).sum()
                + unexpectedRelayExits;
        return stops == 0 ? 0 : (double) verdict.kafkaDuplicates() / stops;
    }

    public long maxRecoveryMillis() {
        return recoveryMillis.stream().mapToLong(Long::longValue).max().orElse(0);
    }

    /**
     * L, P, O and X hold, one relay published at a time (when checked), the relay stayed within its memory bound and, with
     * exactly_once, no event is twice in Kafka (D).
     */
    public boolean ok() {
        return verdict.ok() && memory.violations().isEmpty() && interleavedPublishers.map(List::isEmpty).orElse(true)
                && (!exactlyOnce || verdict.kafkaDuplicates() == 0);
    }

    public void print(PrintStream out) {
        HistoryChecker.Verdict v = verdict;
        out.println();
        out.println("================ Outbox Bridge fault run: report ================");
        out.printf("  topology                         %s%n", topology == Topology.Kind.HA
                ? "HA: PostgreSQL primary + synchronous standby (failover slots), 3 Kafka brokers + 1 KRaft controller (RF 3,"
                        + " min.insync.replicas 2)"
                : "single PostgreSQL server, single Kafka broker");
        out.printf("  faults injected                  %d %s%n", totalFaults(), faults);
        out.printf("  faults recovered (effects flow)  %d %s%n", recovered.values().stream().mapToInt(Integer::intValue).sum(), recovered);
        out.printf("  unexpected exits (restarted)     relay %d, consumer %d%n", unexpectedRelayExits, unexpectedConsumerExits);
        out.printf("  committed / rolled back          %,d / %,d events%n", v.committed(), v.rolledBack());
        out.printf("  writer transactions failed       %,d before COMMIT, %,d at COMMIT (outcome resolved by query)%n",
                failedTransactions, indeterminateCommits);
        out.printf("  records in Kafka                 %,d (duplicates %,d; %.1f per relay stop, crash or failure)%n", v.kafkaRecords(),
                v.kafkaDuplicates(), duplicatesPerRelayStop());
        List<Long> sorted = new ArrayList<>(recoveryMillis);
        Collections.sort(sorted);
        if (!sorted.isEmpty()) {
            out.printf("  recovery after a fault (ms)      p50 %d, max %d (until the next effect is applied)%n",
                    sorted.get(sorted.size() / 2), sorted.get(sorted.size() - 1));
            out.printf("  recovery by fault, max (ms)      %s%n", maxRecoveryMillisByFault);
            out.println("  recovery by fault (ms)           kind: n, p50, max");
            recoveryMillisByFault.forEach((fault, list) -> out.printf("    %-32s %d, %s%n", fault, list.size(), percentiles(list)));
        }
        if (!observations.isEmpty()) {
            out.println("  topology observed                what: n, p50, max (ms)");
            observations.forEach((what, list) -> out.printf("    %-56s %d%s%n", what, list.size(),
                    what.endsWith("(ms)") ? ", " + percentiles(list) : ""));
        }
        out.printf("  L nothing lost                   %s%n", verdictText(v.lost()));
        out.printf("  P no phantoms                    %s%n", verdictText(v.phantoms()));
        out.printf("  O order per aggregate            %s%n", verdictText(v.orderViolations()));
        out.printf("  X effects exactly once           %s (%,d applied)%n", verdictText(v.effectViolations()), v.effectsApplied());
        out.printf("  D no duplicate in Kafka          %s%n", !exactlyOnce ? "not required (at_least_once)"
                : verdict.kafkaDuplicates() == 0 ? "ok (exactly_once, read_committed)"
                : "VIOLATED: " + verdict.kafkaDuplicates() + " duplicates with exactly_once");
        out.printf("  F one relay publishing at a time %s%n", interleavedPublishers.map(FaultReport::verdictText)
                .orElse("not checked (needs the harness's own broker)"));
        v.deadLetters().print(out);
        memory.print(out);
        out.printf("  elapsed                          %.1f s%n", elapsed.toMillis() / 1000.0);
        out.println("  verdict: " + (ok() ? "OK" : "VIOLATION"));
        out.println("=================================================================");
    }

    private static String percentiles(List<Long> values) {
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.isEmpty() ? "-" : sorted.get(sorted.size() / 2) + ", " + sorted.get(sorted.size() - 1);
    }

    private static String verdictText(List<String> violations) {
        return violations.isEmpty() ? "ok" : "VIOLATED " + violations;
    }
}
