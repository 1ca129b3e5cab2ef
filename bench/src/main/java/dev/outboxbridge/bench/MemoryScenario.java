package dev.outboxbridge.bench;

import com.zaxxer.hikari.HikariDataSource;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Scenario 5, memory: the relay as a child JVM ({@code java -Xmx512m ... RelayMain}, configured
 * with OUTBOX_RELAY_* environment variables, its GC logged with -Xlog:gc) drains a backlog of M
 * rows written while it was not running. Peak RSS = VmHWM from /proc/&lt;pid&gt;/status; heap = the
 * largest "used before GC" in the GC log (the most the heap held), and the largest "after GC" (the
 * live set).
 */
final class MemoryScenario {

    private static final Pattern GC_LINE = Pattern.compile("\\[(\\d+[.,]\\d+)s].*GC\\(\\d+\\) Pause.* (\\d+)M->(\\d+)M\\((\\d+)M\\) (\\d+[.,]\\d+)ms");
    private final BenchContext ctx;

    MemoryScenario(BenchContext ctx) {
        this.ctx = ctx;
    }

    Map<String, Object> run() throws Exception {
        BenchOptions o = ctx.options();
        long m = o.memoryEvents();
        Map<String, Object> result = new LinkedHashMap<>();
        try (TestDatabase db = ctx.postgres().createDatabase("bench_memory").migrateOutbox();
                TestKafka ns = ctx.kafka().newNamespace("bench-mem");
                HikariDataSource pool = BenchWorkload.pool(db, "memory", Math.max(2, o.backlogWriters()))) {
            String pub = "bench_pub";
            BenchContext.createPublication(db, pub);
            String slot = db.uniqueName("memory");
            BenchContext.createSlot(db, slot);
            String prefix = ns.prefix() + "mem.";
            String topic = prefix + BenchWorkload.AGGREGATE_TYPE;
            ns.createTopic(topic, o.partitions());
            int txSize = Math.max(o.backlogTxSize(), 100);
            AtomicLong written = new AtomicLong();
            ctx.progress().phase("memory: writing the backlog (transactions of " + txSize + ")", written::get, m);
            BenchWorkload.writeBacklog(pool, m, o.aggregates(), o.payloadBytes(), txSize, o.backlogWriters(), written);

            Path gcLog = ctx.outDir().resolve("memory-gc.log");
            Path relayLog = ctx.outDir().resolve("memory-relay.log");
            Files.deleteIfExists(gcLog);
            Path logback = ctx.workDir().resolve("memory-relay-logback.xml");
            Files.writeString(logback, "<configuration><appender name=\"OUT\" class=\"ch.qos.logback.core.ConsoleAppender\"><encoder>"
                    + "<pattern>%d{HH:mm:ss.SSS} %-5level [%thread] %logger{36} - %msg%n</pattern></encoder></appender>"
                    + "<root level=\"WARN\"><appender-ref ref=\"OUT\"/></root><logger name=\"dev.outboxbridge\" level=\"INFO\"/>"
                    // Debezium 3.6 warns once per event when its metrics queue is full during a fast drain: thousands of lines
                    + "<logger name=\"io.debezium.metrics.stats.MeasurementCollector\" level=\"ERROR\"/></configuration>");
            List<String> cmd = List.of(javaBinary(), "-Xmx" + o.memoryHeap(), "-Xlog:gc:file=" + gcLog + ":uptime",
                    "-Dlogback.configurationFile=" + logback, "-cp", classpath(), "dev.outboxbridge.relay.app.RelayMain");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(relayLog.toFile());
            pb.environment().putAll(RelayConfig.toEnvironment(RelayContender.settings(ctx.target(db, slot, pub, prefix))));
            result.put("command", String.join(" ", cmd).replace(classpath(), "<bench jar>:<lib/*>").replace(logback.toString(), "<relay INFO logback.xml>"));
            result.put("xmx", o.memoryHeap());
            result.put("backlog_tx_size", txSize);
            List<double[]> rss = new ArrayList<>();
            AtomicLong published = new AtomicLong();
            ctx.progress().phase("memory: relay child JVM draining", published::get, m);
            long start = System.nanoTime();
            Process p = pb.start();
            long hwm = 0;
            long first = 0;
            try (KafkaConsumer<byte[], byte[]> offsets = endOffsetReader()) {
                List<TopicPartition> tps = new ArrayList<>();
                for (int i = 0; i < o.partitions(); i++) {
                    tps.add(new TopicPartition(topic, i));
                }
                long deadline = start + TimeUnit.MILLISECONDS.toNanos(o.timeoutMs());
                while (published.get() < m) {
                    if (!p.isAlive()) {
                        throw new IllegalStateException("the relay child JVM exited with " + p.exitValue() + "; see " + relayLog);
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("memory drain timed out: " + published.get() + " of " + m);
                    }
                    long[] mem = status(p.pid());
                    hwm = Math.max(hwm, mem[1]);
                    double t = (System.nanoTime() - start) / 1e9;
                    rss.add(new double[] {t, mem[0] / 1024.0});
                    published.set(offsets.endOffsets(tps).values().stream().mapToLong(Long::longValue).sum());
                    if (first == 0 && published.get() > 0) {
                        first = System.nanoTime();
                    }
                    Thread.sleep(250);
                }
                long end = System.nanoTime();
                hwm = Math.max(hwm, status(p.pid())[1]);
                result.put("events", m);
                result.put("seconds", CpuAccounting.round((end - start) / 1e9));
                result.put("events_per_s", Math.round(m / ((end - start) / 1e9)));
                result.put("steady_events_per_s", first == 0 ? 0 : Math.round(m / Math.max(1e-9, (end - first) / 1e9)));
                result.put("vm_hwm_mib", Math.round(hwm / 1024.0));
            } finally {
                p.destroy(); // SIGTERM: the relay stops cleanly
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
            result.put("exit_code", p.exitValue());
            List<double[]> before = new ArrayList<>();
            List<double[]> after = new ArrayList<>();
            double pauseMs = 0;
            for (String line : Files.readAllLines(gcLog)) {
                Matcher mt = GC_LINE.matcher(line);
                if (mt.find()) {
                    double t = Double.parseDouble(mt.group(1).replace(',', '.'));
                    before.add(new double[] {t, Double.parseDouble(mt.group(2))});
                    after.add(new double[] {t, Double.parseDouble(mt.group(3))});
                    pauseMs += Double.parseDouble(mt.group(5).replace(',', '.'));
                }
            }
            result.put("peak_heap_used_mib", before.stream().mapToDouble(x -> x[1]).max().orElse(0));
            result.put("max_heap_after_gc_mib", after.stream().mapToDouble(x -> x[1]).max().orElse(0));
            result.put("gc_pauses", before.size());
            result.put("gc_pause_ms_total", Math.round(pauseMs));
            result.put("method", "VmHWM/VmRSS of the child from /proc every 250 ms; heap from its -Xlog:gc (" + gcLog.getFileName() + ")");
            Map<String, Object> timeline = new LinkedHashMap<>();
            timeline.put("RSS", thin(rss));
            timeline.put("heap used before GC", thin(before));
            timeline.put("heap after GC", thin(after));
            result.put("timeline", timeline);
            ctx.progress().log(String.format("  relay child JVM: %,d events at %,d events/s; heap peak %.0f MiB, VmHWM %,d MiB", m,
                    (Long) result.get("events_per_s"), (Double) result.get("peak_heap_used_mib"), (Long) result.get("vm_hwm_mib")));
        }
        return result;
    }

    private static List<double[]> thin(List<double[]> points) {
        int step = Math.max(1, points.size() / 400);
        List<double[]> out = new ArrayList<>();
        for (int i = 0; i < points.size(); i += step) {
            double[] p = points.get(i);
            out.add(new double[] {CpuAccounting.round(p[0]), CpuAccounting.round(p[1])});
        }
        return out;
    }

    private KafkaConsumer<byte[], byte[]> endOffsetReader() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.kafka().bootstrapServers());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "bench-memory-offsets");
        return new KafkaConsumer<>(p);
    }

    /** VmRSS and VmHWM in KiB. */
    private static long[] status(long pid) {
        long rss = 0;
        long hwm = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.replaceAll("[^0-9]", ""));
                } else if (line.startsWith("VmHWM:")) {
                    hwm = Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // the process is gone
        }
        return new long[] {rss, hwm};
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** The bench jar plus its lib/ (the runnable jar's Class-Path), or this JVM's class path when run from classes. */
    static String classpath() {
        String cp = System.getProperty("java.class.path");
        if (!cp.contains(File.pathSeparator) && cp.endsWith(".jar")) {
            Path jar = Path.of(cp).toAbsolutePath();
            Path lib = jar.getParent().resolve("lib");
            if (Files.isDirectory(lib)) {
                return jar + File.pathSeparator + lib + File.separator + "*";
            }
        }
        return cp;
    }
}
