package dev.outboxbridge.bench;

import java.io.PrintStream;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/** Prints what runs now, every 2 s, on the thread {@code bench-progress}. */
final class Progress implements AutoCloseable {

    private final PrintStream out;
    private final long start = System.nanoTime();
    private final ScheduledExecutorService timer;
    private volatile String phase = "starting";
    private volatile LongSupplier done = () -> 0;
    private volatile long total;
    private volatile long phaseStart = System.nanoTime();
    private volatile long lastDone;
    private volatile long lastAt = System.nanoTime();

    Progress(PrintStream out) {
        this.out = out;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-progress");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleAtFixedRate(this::print, 2, 2, TimeUnit.SECONDS);
    }

    /** Announces a phase; {@code done} is polled for the progress line. */
    void phase(String name, LongSupplier done, long total) {
        this.phase = name;
        this.done = done;
        this.total = total;
        this.phaseStart = System.nanoTime();
        this.lastDone = 0;
        this.lastAt = phaseStart;
        log("> " + name + (total > 0 ? String.format(" (%,d)", total) : ""));
    }

    void phase(String name) {
        phase(name, () -> 0, 0);
    }

    void log(String line) {
        long s = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        synchronized (out) {
            out.printf("[%02d:%02d] %s%n", s / 60, s % 60, line);
            out.flush();
        }
    }

    private void print() {
        try {
            long n = done.getAsLong();
            if (n <= 0 && total <= 0) {
                return;
            }
            if (total > 0 && n >= total && lastDone >= total) {
                return; // finished; the scenario prints its own figure
            }
            long now = System.nanoTime();
            double rate = (n - lastDone) / Math.max(1e-9, (now - lastAt) / 1e9);
            lastDone = n;
            lastAt = now;
            log(String.format("  %s: %,d%s, %,.0f/s", phase, n, total > 0 ? String.format(" of %,d (%.0f%%)", total, 100.0 * n / total) : "", rate));
        } catch (RuntimeException e) {
            // progress is best effort
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
