package dev.outboxbridge.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MemoryReportTest {

    @TempDir
    Path dir;

    @Test
    void heapPeakAndLiveSetAreReadFromTheGcLog() throws Exception {
        Path log = dir.resolve("relay-0.gc.log");
        Files.writeString(log, String.join("\n",
                "[0.007s] Using Serial",
                "[2.264s] GC(0) Pause Young (Allocation Failure) 17M->4M(61M) 38.061ms",
                "[2.452s] GC(1) Pause Young (Allocation Failure) 121M->19M(161M) 55.518ms",
                "[9.574s] GC(2) Pause Full (Allocation Failure) 36M->33M(161M) 121.054ms",
                "[9.600s] GC(3) Pause Young (Allocation Fai"), StandardCharsets.UTF_8); // cut off by kill -9
        assertThat(MemorySampler.heapFromGcLog(log)).containsExactly(121 * 1024, 33 * 1024, 3);
        assertThat(MemorySampler.heapFromGcLog(dir.resolve("never-written.gc.log"))).containsExactly(0, 0, 0);
    }

    @Test
    void residentMemoryOfALiveProcessIsRead() {
        assertThat(MemorySampler.peakRss(ProcessHandle.current().pid())).as("this JVM's VmHWM in KiB").isGreaterThan(1024);
        assertThat(MemorySampler.peakRss(Long.MAX_VALUE)).as("no such process").isZero();
    }

    @Test
    void theRelayOverItsBoundFailsTheReportWithTheReason() {
        Map<String, MemoryReport.Usage> kinds = new LinkedHashMap<>();
        kinds.put(MemoryReport.RELAY, new MemoryReport.Usage(900 * 1024, 500 * 1024, 300 * 1024, 3, 40));
        kinds.put("consumer", new MemoryReport.Usage(2000 * 1024, 250 * 1024, 200 * 1024, 2, 10)); // no bound for consumers
        MemoryReport over = new MemoryReport(kinds);
        assertThat(over.violations()).containsExactly("relay live heap 300 MiB after GC > bound 256 MiB", "relay RSS 900 MiB > bound 768 MiB");

        MemoryReport within = new MemoryReport(Map.of(MemoryReport.RELAY, new MemoryReport.Usage(400 * 1024, 480 * 1024, 100 * 1024, 1, 5)));
        assertThat(within.violations()).isEmpty();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        within.print(new PrintStream(text, true, StandardCharsets.UTF_8));
        assertThat(text.toString(StandardCharsets.UTF_8))
                .contains("memory of relay                  heap 480 MiB peak used, 100 MiB live after GC; RSS 400 MiB peak (1 JVM, 5 GCs)")
                .contains("M relay memory bounded           ok (live heap <= 256 MiB, RSS <= 768 MiB, with -Xmx512m)");
    }
}
