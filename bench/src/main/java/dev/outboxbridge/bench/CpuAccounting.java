package dev.outboxbridge.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Where the CPU time of an interval goes: per thread group of this JVM (ThreadMXBean CPU time,
 * thread names with digits folded, so "kafka-producer-network-thread | x" and the broker's threads
 * are told apart), and per process of the PostgreSQL server (utime+stime from /proc, labelled by
 * their process title, e.g. "walsender").
 */
final class CpuAccounting {

    private static final long CLOCK_TICKS_PER_SECOND = 100;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final long postmasterPid;
    private Map<Long, long[]> threadStart;
    private Map<Long, Long> procStart;
    private long wallStart;
    private long jvmStart;
    private long gcMsStart;
    private long gcCountStart;
    private long jitMsStart;

    CpuAccounting(long postmasterPid) {
        this.postmasterPid = postmasterPid;
        if (threads.isThreadCpuTimeSupported() && !threads.isThreadCpuTimeEnabled()) {
            threads.setThreadCpuTimeEnabled(true);
        }
    }

    void start() {
        wallStart = System.nanoTime();
        jvmStart = processCpuNanos();
        gcMsStart = gcMillis();
        gcCountStart = gcCount();
        jitMsStart = jitMillis();
        threadStart = threadCpu();
        procStart = postgresCpu();
    }

    /** The split since {@link #start()}: CPU seconds by JVM thread group and by PostgreSQL process kind. */
    Map<String, Object> stop() {
        Map<Long, long[]> threadEnd = threadCpu();
        Map<Long, Long> procEnd = postgresCpu();
        double wall = (System.nanoTime() - wallStart) / 1e9;
        double jvm = (processCpuNanos() - jvmStart) / 1e9;
        Map<String, Double> byGroup = new HashMap<>();
        Map<Long, String> names = new HashMap<>();
        for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info != null) {
                names.put(info.getThreadId(), info.getThreadName());
            }
        }
        threadEnd.forEach((id, v) -> {
            long before = threadStart.containsKey(id) ? threadStart.get(id)[0] : 0;
            double s = (v[0] - before) / 1e9;
            if (s > 0.005) {
                byGroup.merge(group(names.getOrDefault(id, "?")), s, Double::sum);
            }
        });
        Map<String, Double> byProc = new HashMap<>();
        procEnd.forEach((pid, ticks) -> {
            long before = procStart.getOrDefault(pid, 0L);
            double s = (ticks - before) / (double) CLOCK_TICKS_PER_SECOND;
            if (s > 0) {
                byProc.merge(processKind(pid), s, Double::sum);
            }
        });
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("wall_s", round(wall));
        out.put("jvm_cpu_s", round(jvm));
        out.put("jvm_gc_ms", gcMillis() - gcMsStart);
        out.put("jvm_gc_count", gcCount() - gcCountStart);
        out.put("jvm_jit_compile_ms", jitMillis() - jitMsStart);
        out.put("postgres_processes", procEnd.size());
        out.put("postgres_cpu_s", round(byProc.values().stream().mapToDouble(Double::doubleValue).sum()));
        out.put("jvm_threads_cpu_s", sorted(byGroup));
        out.put("postgres_processes_cpu_s", sorted(byProc));
        return out;
    }

    private static Map<String, Double> sorted(Map<String, Double> m) {
        return m.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(15)
                .collect(Collectors.toMap(Map.Entry::getKey, e -> round(e.getValue()), (a, b) -> a, LinkedHashMap::new));
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    static String group(String threadName) {
        String g = threadName.replaceAll("[0-9]+", "N").replaceAll("-[a-z0-9]{6,}-", "-").replaceAll("\\s+", " ");
        return g.length() > 70 ? g.substring(0, 70) : g;
    }

    private Map<Long, long[]> threadCpu() {
        Map<Long, long[]> m = new HashMap<>();
        for (long id : threads.getAllThreadIds()) {
            long t = threads.getThreadCpuTime(id);
            if (t >= 0) {
                m.put(id, new long[] {t});
            }
        }
        return m;
    }

    private static long gcMillis() {
        return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(b -> Math.max(0, b.getCollectionTime())).sum();
    }

    private static long gcCount() {
        return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(b -> Math.max(0, b.getCollectionCount())).sum();
    }

    private static long jitMillis() {
        var jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : 0;
    }

    private static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return 0;
    }

    private Map<Long, Long> postgresCpu() {
        Map<Long, Long> m = new HashMap<>();
        if (postmasterPid <= 0) {
            return m;
        }
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).collect(Collectors.toList())) {
                long[] stat = stat(p);
                if (stat != null && (stat[0] == postmasterPid || stat[1] == postmasterPid)) {
                    m.put(stat[0], stat[2]);
                }
            }
        } catch (IOException e) {
            // not Linux: no PostgreSQL split
        }
        return m;
    }

    /** pid, ppid, utime+stime (ticks) from /proc/pid/stat, or null. */
    static long[] stat(Path procDir) {
        try {
            String s = Files.readString(procDir.resolve("stat"));
            int close = s.lastIndexOf(')');
            String[] f = s.substring(close + 2).split(" ");
            // fields after the comm: state(0) ppid(1) ... utime(11) stime(12)
            return new long[] {Long.parseLong(procDir.getFileName().toString()), Long.parseLong(f[1]),
                    Long.parseLong(f[11]) + Long.parseLong(f[12])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private String processKind(long pid) {
        if (pid == postmasterPid) {
            return "postmaster";
        }
        try {
            String cmd = Files.readString(Path.of("/proc", String.valueOf(pid), "cmdline")).replace('\0', ' ').trim();
            // "postgres: walsender postgres 127.0.0.1(1234) START_REPLICATION" / "postgres: postgres db 127.0.0.1(..) idle"
            if (cmd.contains("walsender")) {
                return "walsender (logical decoding)";
            }
            for (String kind : List.of("checkpointer", "background writer", "walwriter", "autovacuum", "logical replication launcher")) {
                if (cmd.contains(kind)) {
                    return kind;
                }
            }
            return "backends (SQL sessions)";
        } catch (IOException e) {
            return "exited";
        }
    }

    /** The postmaster's pid: the parent of a backend of ours. */
    static long postmasterOf(long backendPid) {
        long[] stat = stat(Path.of("/proc", String.valueOf(backendPid)));
        return stat == null ? -1 : stat[1];
    }
}
