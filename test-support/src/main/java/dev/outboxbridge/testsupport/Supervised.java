package dev.outboxbridge.testsupport;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one child process running, as systemd or Kubernetes would: when it exits on its own it is
 * restarted after a short delay. Faults are injected through {@link #kill()} and
 * {@link #terminate()}, which also restart it. An exit with {@link FaultPoints#HALT_STATUS} (halted
 * at an armed fault point) is intended, not counted as unexpected. Owns one named thread;
 * {@link #close()} stops it and the child.
 */
public final class Supervised implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Supervised.class);

    /** Starts a new instance of the child. */
    @FunctionalInterface
    public interface Launcher {
        ChildJvm launch(int generation) throws Exception;
    }

    private final String name;
    private final Launcher launcher;
    private final Duration restartDelay;
    private final Thread watcher;
    private final AtomicInteger unexpectedExits = new AtomicInteger();
    private final AtomicInteger faultPointHalts = new AtomicInteger();
    private volatile long lastHaltSeenNanos;
    private final Object lock = new Object();
    private final List<ChildJvm> instances = new ArrayList<>();
    private volatile ChildJvm current;
    private int generation;
    private volatile boolean closed;

    public Supervised(String name, Launcher launcher, Duration restartDelay) throws Exception {
        this.name = name;
        this.launcher = launcher;
        this.restartDelay = restartDelay;
        synchronized (lock) {
            current = launch();
        }
        watcher = new Thread(this::watch, "fault-supervisor-" + name);
        watcher.setDaemon(true);
        watcher.start();
    }

    /** Starts the next instance; called with the lock held. */
    private ChildJvm launch() throws Exception {
        ChildJvm child = launcher.launch(generation++);
        synchronized (instances) {
            instances.add(child);
        }
        return child;
    }

    private void watch() {
        while (!closed) {
            try {
                Thread.sleep(200);
                synchronized (lock) {
                    if (!closed && !current.isAlive()) {
                        if (current.exitValue() == FaultPoints.HALT_STATUS) {
                            lastHaltSeenNanos = System.nanoTime();
                            faultPointHalts.incrementAndGet();
                            LOG.info("{} halted at a fault point as armed; restarting it in {} ms", name, restartDelay.toMillis());
                        } else {
                            unexpectedExits.incrementAndGet();
                            LOG.info("{} exited on its own (code {}); restarting it in {} ms", name, current.exitValue(),
                                    restartDelay.toMillis());
                        }
                        Thread.sleep(restartDelay.toMillis());
                        current = launch();
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                LOG.warn("Could not restart {}: {}", name, e.toString());
            }
        }
    }

    /** kill -9, then a new instance after {@code downtime}. */
    public void kill(Duration downtime) throws Exception {
        synchronized (lock) {
            current.kill();
            Thread.sleep(downtime.toMillis());
            current = launch();
        }
    }

    /** SIGTERM (graceful stop), then a new instance. */
    public void terminate() throws Exception {
        synchronized (lock) {
            int code = current.terminate(Duration.ofSeconds(40));
            if (code != 0 && code != 143) {
                LOG.warn("{} exited with code {} after SIGTERM", name, code);
            }
            current = launch();
        }
    }

    /**
     * Freezes the process with SIGSTOP for {@code duration}, then SIGCONT: a paused broker, or a
     * "zombie" consumer that wakes up after the group moved on without it.
     */
    public void pause(Duration duration) throws Exception {
        ChildJvm paused;
        synchronized (lock) {
            paused = current;
            signal(paused, "STOP");
        }
        try {
            Thread.sleep(duration.toMillis());
        } finally {
            signal(paused, "CONT");
        }
    }

    private static void signal(ChildJvm child, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(child.pid())).redirectErrorStream(true).start();
        if (!kill.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) || kill.exitValue() != 0) {
            LOG.warn("kill -{} {} failed", signal, child.pid());
        }
    }

    public boolean isAlive() {
        synchronized (lock) {
            return current.isAlive();
        }
    }

    /** The running instance (or the one that just exited), without waiting for a fault in progress. */
    public ChildJvm current() {
        return current;
    }

    /** Every instance started so far, in order, the running one last. */
    public List<ChildJvm> instances() {
        synchronized (instances) {
            return List.copyOf(instances);
        }
    }

    public String name() {
        return name;
    }

    public int unexpectedExits() {
        return unexpectedExits.get();
    }

    /** How many instances halted at a fault point (exit status {@link FaultPoints#HALT_STATUS}). */
    public int faultPointHalts() {
        return faultPointHalts.get();
    }

    /** {@link System#nanoTime()} when the last fault-point halt was noticed (at most 200 ms after it). */
    public long lastHaltSeenNanos() {
        return lastHaltSeenNanos;
    }

    public int generations() {
        return generation;
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        watcher.interrupt();
        watcher.join(10_000);
        synchronized (lock) {
            if (current.isAlive()) {
                current.terminate(Duration.ofSeconds(40));
            }
        }
    }
}
