package dev.outboxbridge.bench;

import dev.outboxbridge.testkit.TestDatabase;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The database CPU a contender costs: utime+stime from {@code /proc/<pid>/stat} (as {@link CpuAccounting} reads it) of
 * the PostgreSQL sessions of one database, the walsenders (logical decoding) and the client backends, leaving out the
 * sessions of the benchmark's own writers (told apart by their {@code application_name}, set by
 * {@link BenchWorkload#pool}) and the background processes (whose work the writers cause alike for every contender).
 * For the relay this is its walsender plus its SQL sessions (heartbeats, position confirmation); for the polling peer
 * its polling session (select, delete, commit). Sessions are taken from {@code pg_stat_activity} at the start and at the
 * end; a session that ended in between is not counted (the contenders keep theirs open).
 */
final class DatabaseCpu {

    private static final long CLOCK_TICKS_PER_SECOND = 100;
    private final TestDatabase db;
    private final Set<String> excludedApplications;
    private final Map<Long, Long> startTicks = new HashMap<>();
    private long startNanos;

    DatabaseCpu(TestDatabase db, Set<String> excludedApplications) {
        this.db = db;
        this.excludedApplications = excludedApplications;
    }

    void start() {
        startTicks.clear();
        sessions().forEach((pid, kind) -> {
            long t = ticks(pid);
            if (t >= 0) {
                startTicks.put(pid, t);
            }
        });
        startNanos = System.nanoTime();
    }

    /**
     * The CPU since {@link #start()}: total, walsender and client backends (seconds), and per event ({@code events > 0})
     * and per second of wall time.
     */
    Map<String, Object> stop(long events) {
        double wall = (System.nanoTime() - startNanos) / 1e9;
        double walsender = 0;
        double backends = 0;
        int n = 0;
        for (Map.Entry<Long, String> e : sessions().entrySet()) {
            long end = ticks(e.getKey());
            if (end < 0) {
                continue;
            }
            n++;
            double s = (end - startTicks.getOrDefault(e.getKey(), 0L)) / (double) CLOCK_TICKS_PER_SECOND;
            if (e.getValue().equals("walsender")) {
                walsender += s;
            } else {
                backends += s;
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("wall_s", CpuAccounting.round(wall));
        m.put("sessions", n);
        m.put("cpu_s", CpuAccounting.round(walsender + backends));
        m.put("walsender_cpu_s", CpuAccounting.round(walsender));
        m.put("backends_cpu_s", CpuAccounting.round(backends));
        m.put("cpu_ms_per_s", CpuAccounting.round((walsender + backends) * 1000 / Math.max(1e-9, wall)));
        if (events > 0) {
            m.put("events", events);
            m.put("cpu_us_per_event", CpuAccounting.round((walsender + backends) * 1e6 / events));
        }
        return m;
    }

    /** pid → "walsender" or "backend", for this database's sessions but ours and the excluded applications'. */
    private Map<Long, String> sessions() {
        Map<Long, String> m = new HashMap<>();
        try (Connection c = db.connect(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pid, backend_type, coalesce(application_name, '') FROM pg_stat_activity"
                        + " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        + " AND backend_type IN ('client backend', 'walsender')")) {
            while (rs.next()) {
                if (!excludedApplications.contains(rs.getString(3))) {
                    m.put(rs.getLong(1), rs.getString(2).equals("walsender") ? "walsender" : "backend");
                }
            }
        } catch (Exception e) {
            // no split: reported as zero sessions
        }
        return m;
    }

    private static long ticks(long pid) {
        long[] stat = CpuAccounting.stat(Path.of("/proc", String.valueOf(pid)));
        return stat == null ? -1 : stat[2];
    }
}
