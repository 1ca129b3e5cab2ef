package dev.outboxbridge.testsupport;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The memory of the fault run's processes, the maximum per kind (relay, consumer, Kafka broker)
 * over all their instances, and the bound the relay must stay within.
 *
 * <p>The relay runs with {@code -Xmx512m}. Its memory is bounded by design: at most
 * {@code max.queue.size} change events queued plus one batch in flight and the producer's buffer;
 * the benchmark measured a live set of 130 MiB while draining a backlog of 1,000,000 rows
 * (docs/benchmarks.md). The bound here: a live heap (the most left after a garbage collection) of
 * at most {@value #RELAY_LIVE_HEAP_BOUND_MIB} MiB, half of {@code -Xmx}, and a peak resident set
 * ({@code VmHWM}) of at most {@value #RELAY_RSS_BOUND_MIB} MiB, the heap limit plus 256 MiB for
 * metaspace, code, thread stacks and direct buffers. The heap used before a collection is reported
 * too but not bounded: the JVM lets it grow towards {@code -Xmx} before collecting.
 *
 * @param byKind per process kind, in the order of the report
 */
public record MemoryReport(Map<String, Usage> byKind) {

    public static final String RELAY = "relay";
    public static final long RELAY_LIVE_HEAP_BOUND_MIB = 256;
    public static final long RELAY_RSS_BOUND_MIB = 768;

    public MemoryReport {
        byKind = Collections.unmodifiableMap(new LinkedHashMap<>(byKind));
    }

    /**
     * The maximum memory of one kind of process over the run, in KiB; 0 when unknown (no /proc, or
     * no garbage collection logged).
     */
    public record Usage(long peakRssKib, long peakHeapUsedKib, long maxHeapAfterGcKib, int jvms, int collections) {

        @Override
        public String toString() {
            return "heap " + mib(peakHeapUsedKib) + " MiB peak used, " + mib(maxHeapAfterGcKib) + " MiB live after GC; RSS "
                    + mib(peakRssKib) + " MiB peak (" + jvms + (jvms == 1 ? " JVM, " : " JVMs, ") + collections + " GCs)";
        }
    }

    /** Why the relay broke its memory bound; empty when it kept it. */
    public List<String> violations() {
        List<String> violations = new ArrayList<>();
        Usage relay = byKind.get(RELAY);
        if (relay == null) {
            return violations;
        }
        if (relay.maxHeapAfterGcKib() > RELAY_LIVE_HEAP_BOUND_MIB * 1024) {
            violations.add("relay live heap " + mib(relay.maxHeapAfterGcKib()) + " MiB after GC > bound " + RELAY_LIVE_HEAP_BOUND_MIB + " MiB");
        }
        if (relay.peakRssKib() > RELAY_RSS_BOUND_MIB * 1024) {
            violations.add("relay RSS " + mib(relay.peakRssKib()) + " MiB > bound " + RELAY_RSS_BOUND_MIB + " MiB");
        }
        return violations;
    }

    /** One line per process kind, then the relay's bound and whether it was kept. */
    public void print(PrintStream out) {
        byKind.forEach((kind, usage) -> out.printf("  %-33s%s%n", "memory of " + kind, usage));
        List<String> violations = violations();
        out.printf("  %-33s%s (live heap <= %d MiB, RSS <= %d MiB, with -Xmx512m)%n", "M relay memory bounded",
                violations.isEmpty() ? "ok" : "VIOLATED " + violations, RELAY_LIVE_HEAP_BOUND_MIB, RELAY_RSS_BOUND_MIB);
    }

    static String mib(long kib) {
        return kib == 0 ? "?" : String.valueOf(Math.round(kib / 1024.0));
    }
}
