package dev.outboxbridge.testkit;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops the servers the testkit started when the JVM exits, in parallel and with a bounded wait,
 * from one shutdown hook thread named {@value #THREAD_NAME}.
 */
final class ShutdownHook {

    static final String THREAD_NAME = "outbox-testkit-shutdown";
    private static final long STOP_TIMEOUT_MS = TimeUnit.SECONDS.toMillis(30);
    private static final Logger LOG = LoggerFactory.getLogger(ShutdownHook.class);

    private static final List<Registration> SERVERS = new ArrayList<>();
    private static boolean installed;

    private ShutdownHook() {
    }

    /**
     * Registers a started server to be closed when the JVM exits.
     *
     * @throws IllegalStateException if the JVM is already shutting down; the caller then closes it
     */
    static synchronized void stopOnExit(String name, AutoCloseable server) {
        if (!installed) {
            Runtime.getRuntime().addShutdownHook(new Thread(ShutdownHook::stopAll, THREAD_NAME));
            installed = true;
        }
        SERVERS.add(new Registration(name, server));
    }

    /** Closes a server, logging instead of throwing. */
    static void closeQuietly(String name, AutoCloseable server) {
        if (server == null) {
            return;
        }
        try {
            server.close();
        } catch (Exception | LinkageError e) {
            LOG.warn("Could not stop {}: {}", name, e.toString(), e);
        }
    }

    private static void stopAll() {
        List<Registration> servers;
        synchronized (ShutdownHook.class) {
            servers = new ArrayList<>(SERVERS);
            SERVERS.clear();
        }
        Collections.reverse(servers);
        List<Thread> stoppers = new ArrayList<>();
        for (Registration r : servers) {
            Thread t = new Thread(() -> {
                long start = System.nanoTime();
                closeQuietly(r.name(), r.server());
                LOG.info("Stopped {} in {} ms", r.name(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            }, THREAD_NAME + "-" + r.name().replaceAll("\\s+", "-"));
            t.setDaemon(true);
            t.start();
            stoppers.add(t);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STOP_TIMEOUT_MS);
        for (int i = 0; i < stoppers.size(); i++) {
            Thread t = stoppers.get(i);
            try {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left > 0) {
                    t.join(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (t.isAlive()) {
                LOG.warn("{} did not stop within {} s; the JVM exits without waiting for it",
                        servers.get(i).name(), TimeUnit.MILLISECONDS.toSeconds(STOP_TIMEOUT_MS));
            }
        }
    }

    private record Registration(String name, AutoCloseable server) {
    }
}
