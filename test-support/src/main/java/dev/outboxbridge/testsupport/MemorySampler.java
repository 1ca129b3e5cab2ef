package dev.outboxbridge.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Samples the memory of the harness's child processes during a fault run, per process kind
 * (relay, consumer, Kafka broker), over every instance a kind had (each restart is a new JVM):
 * resident memory from {@code /proc/<pid>/status} ({@code VmRSS} now, {@code VmHWM} the process's
 * peak) every {@link #INTERVAL}, and the Java heap from each JVM's GC log ({@code -Xlog:gc}, see
 * {@link ChildJvm#gcLog()}): the most it held (used before a GC) and its live set (used after a
 * GC). Owns one named thread; {@link #close()} stops it with a bounded wait. Linux only: elsewhere
 * the resident memory is reported as unknown (0).
 */
public final class MemorySampler implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MemorySampler.class);
    static final Duration INTERVAL = Duration.ofMillis(500);
    /** {@code [12.345s] GC(7) Pause Young (Allocation Failure) 45M->12M(123M) 3.456ms}. */
    private static final Pattern GC_LINE = Pattern.compile("GC\\(\\d+\\) Pause.* (\\d+)([KMG])->(\\d+)([KMG])\\((\\d+)([KMG])\\)");

    private final Map<String, List<Supervised>> kinds;
    private final Map<Long, Long> peakRssByPid = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean closed;

    /** Starts sampling the processes of each kind, for example {@code "relay" -> [relay]}. */
    public MemorySampler(Map<String, List<Supervised>> kinds) {
        this.kinds = new LinkedHashMap<>(kinds);
        thread = new Thread(this::run, "fault-memory-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        while (!closed) {
            sample();
            try {
                Thread.sleep(INTERVAL.toMillis());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Reads the resident memory of the running instance of every kind. */
    private void sample() {
        for (List<Supervised> processes : kinds.values()) {
            for (Supervised s : processes) {
                ChildJvm child = s.current();
                long peak = peakRss(child.pid());
                if (peak > 0) {
                    peakRssByPid.merge(child.pid(), peak, Math::max);
                }
            }
        }
    }

    /** The larger of VmHWM and VmRSS of a process in KiB, or 0 when it is gone or /proc is unavailable. */
    static long peakRss(long pid) {
        long peak = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"), StandardCharsets.UTF_8)) {
                if (line.startsWith("VmHWM:") || line.startsWith("VmRSS:")) {
                    peak = Math.max(peak, Long.parseLong(line.replaceAll("[^0-9]", "")));
                }
            }
        } catch (NoSuchFileException e) {
            // the process has exited between two samples
        } catch (IOException | RuntimeException e) {
            LOG.debug("Cannot read the memory of process {}: {}", pid, e.toString());
        }
        return peak;
    }

    /** Stops sampling (bounded wait), takes a last sample and reads the GC logs: the maximum per kind. */
    public MemoryReport finish() throws InterruptedException {
        close();
        sample();
        Map<String, MemoryReport.Usage> result = new LinkedHashMap<>();
        kinds.forEach((kind, processes) -> {
            long rss = 0;
            long used = 0;
            long live = 0;
            int jvms = 0;
            int collections = 0;
            for (Supervised s : processes) {
                for (ChildJvm child : s.instances()) {
                    jvms++;
                    rss = Math.max(rss, peakRssByPid.getOrDefault(child.pid(), 0L));
                    long[] heap = heapFromGcLog(child.gcLog());
                    used = Math.max(used, heap[0]);
                    live = Math.max(live, heap[1]);
                    collections += (int) heap[2];
                }
            }
            result.put(kind, new MemoryReport.Usage(rss, used, live, jvms, collections));
        });
        return new MemoryReport(result);
    }

    /** From a GC log: the largest heap used before a GC and after a GC, in KiB, and the number of GCs. */
    static long[] heapFromGcLog(Path gcLog) {
        long before = 0;
        long after = 0;
        long count = 0;
        List<String> lines;
        try {
            lines = Files.readAllLines(gcLog, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return new long[] {0, 0, 0}; // killed before its first GC log line, or started without one
        } catch (IOException e) {
            LOG.warn("Cannot read the GC log {}: {}", gcLog, e.toString());
            return new long[] {0, 0, 0};
        }
        for (String line : lines) {
            Matcher m = GC_LINE.matcher(line);
            if (m.find()) {
                before = Math.max(before, kib(m.group(1), m.group(2)));
                after = Math.max(after, kib(m.group(3), m.group(4)));
                count++;
            }
        }
        return new long[] {before, after, count};
    }

    private static long kib(String value, String unit) {
        long v = Long.parseLong(value);
        return switch (unit) {
            case "K" -> v;
            case "M" -> v * 1024;
            default -> v * 1024 * 1024;
        };
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        thread.interrupt();
        thread.join(10_000);
        if (thread.isAlive()) {
            LOG.warn("The memory sampler did not stop within 10 s");
        }
    }
}
