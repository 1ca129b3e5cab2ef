package dev.outboxbridge.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What the run ran on. */
final class Machine {

    private Machine() {
    }

    static Map<String, Object> describe(String postgresVersion, String kafkaVersion) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        m.put("cpu_model", firstMatch(Path.of("/proc/cpuinfo"), "model name"));
        String mem = firstMatch(Path.of("/proc/meminfo"), "MemTotal");
        m.put("memory", mem == null ? "?" : String.format("%.1f GiB", Long.parseLong(mem.replaceAll("[^0-9]", "")) / 1048576.0));
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        m.put("java_max_heap", String.format("%.0f MiB", Runtime.getRuntime().maxMemory() / 1048576.0));
        m.put("postgresql", postgresVersion);
        m.put("kafka", kafkaVersion);
        m.put("load_average_at_start", firstLine(Path.of("/proc/loadavg")));
        return m;
    }

    static String loadAverage() {
        return firstLine(Path.of("/proc/loadavg"));
    }

    private static String firstLine(Path p) {
        try {
            List<String> lines = Files.readAllLines(p);
            return lines.isEmpty() ? "?" : lines.get(0);
        } catch (IOException e) {
            return "?";
        }
    }

    private static String firstMatch(Path p, String key) {
        try {
            for (String line : Files.readAllLines(p)) {
                if (line.startsWith(key)) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException e) {
            // not Linux
        }
        return null;
    }
}
