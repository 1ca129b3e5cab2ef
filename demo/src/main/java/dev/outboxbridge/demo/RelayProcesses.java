package dev.outboxbridge.demo;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.testsupport.BrokerProcess;
import dev.outboxbridge.testsupport.ChildJvm;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The demo's relays, each a separate OS process ({@code RelayMain}, as deployed) on the same slot with the HA lease:
 * the first one started leads, the others wait as standbys. A relay is asked for its role through the gauges on its
 * {@code /metrics} ({@code outbox_relay_leader}, {@code outbox_relay_standby}), so the demo sees what an operator sees.
 *
 * <p>Owns its processes: {@link #close()} stops them (SIGTERM, bounded wait, then SIGKILL), and until then a JVM
 * shutdown hook kills them, so Ctrl-C on the demo leaves no relay running.
 */
public final class RelayProcesses implements AutoCloseable {

    static final String RELAY_MAIN = "dev.outboxbridge.relay.app.RelayMain";
    /** 1 while the relay publishes (holds the lease and its engine runs). */
    public static final String LEADER_GAUGE = "outbox_relay_leader";
    /** 1 while the relay waits for the lease as a standby. */
    public static final String STANDBY_GAUGE = "outbox_relay_standby";
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(1);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

    /** One relay process and the port of its operations endpoint. */
    public record RelayProcess(String name, ChildJvm process, int operationsPort, Path log) {

        /** The value of {@code gauge} on this relay's {@code /metrics}; -1 when it does not answer (stopped, starting). */
        double gauge(String gauge) {
            try {
                HttpURLConnection c = (HttpURLConnection) URI.create("http://localhost:" + operationsPort + "/metrics").toURL()
                        .openConnection();
                c.setConnectTimeout((int) ASK_TIMEOUT.toMillis());
                c.setReadTimeout((int) ASK_TIMEOUT.toMillis());
                try (InputStream in = c.getInputStream()) {
                    return RelayProcesses.gauge(new String(in.readAllBytes(), StandardCharsets.UTF_8), gauge);
                } finally {
                    c.disconnect();
                }
            } catch (IOException e) {
                return -1;
            }
        }

        boolean publishing() {
            return process.isAlive() && gauge(LEADER_GAUGE) == 1;
        }
    }

    private final Path workDir;
    private final Map<String, String> environment;
    private final List<RelayProcess> relays = new ArrayList<>();
    private final Thread killOnExit = new Thread(this::killAll, "demo-relays-kill-on-exit");
    private boolean closed;

    /** Relays configured by {@code settings} (relay keys), logging to {@code <name>.log} in {@code workDir}. */
    public RelayProcesses(Path workDir, Map<String, String> settings) {
        this.workDir = workDir;
        this.environment = RelayConfig.toEnvironment(settings);
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    /** Starts a relay process named {@code name} ({@code -Xmx512m}, as the fault run), its operations endpoint on a free port. */
    public synchronized RelayProcess start(String name) throws IOException {
        if (closed) {
            throw new IllegalStateException("The relays are closed; cannot start " + name);
        }
        int port = BrokerProcess.freePort();
        Map<String, String> env = new HashMap<>(environment);
        env.put(RelayConfig.environmentVariable(RelayConfig.NAME), "demo-" + name);
        env.put(RelayConfig.environmentVariable(RelayConfig.HTTP_PORT), String.valueOf(port));
        Path log = workDir.resolve(name + ".log");
        RelayProcess relay = new RelayProcess(name, ChildJvm.start(name, RELAY_MAIN, List.of(), env, log, "512m"), port, log);
        relays.add(relay);
        return relay;
    }

    /**
     * Waits until {@code relay} reports {@code gauge} = 1 ({@link #LEADER_GAUGE} or {@link #STANDBY_GAUGE}).
     *
     * @throws IllegalStateException if the process exits or the timeout passes first, naming its log
     */
    public void await(RelayProcess relay, String gauge, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (relay.gauge(gauge) != 1) {
            if (!relay.process().isAlive()) {
                throw new IllegalStateException(relay.name() + " exited with code " + relay.process().exitValue()
                        + " before reporting " + gauge + " = 1; see " + relay.log());
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(relay.name() + " did not report " + gauge + " = 1 within " + timeout.toSeconds()
                        + " s; see " + relay.log());
            }
            Thread.sleep(100);
        }
    }

    /** The relay that publishes now, as the relays report it; empty while none does (during a failover). */
    public synchronized Optional<RelayProcess> leader() {
        return relays.stream().filter(RelayProcess::publishing).findFirst();
    }

    /** Whether any relay process is still running. */
    public synchronized boolean anyAlive() {
        return relays.stream().anyMatch(r -> r.process().isAlive());
    }

    /** {@code kill -9} of one relay: no shutdown hook, no last flush; the lease is freed only when it expires. */
    public void kill(RelayProcess relay) throws InterruptedException {
        relay.process().kill();
    }

    /** Stops every relay (SIGTERM, at most 30 s each, then SIGKILL). Idempotent. */
    @Override
    public void close() throws InterruptedException {
        List<RelayProcess> toStop;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            toStop = List.copyOf(relays);
        }
        for (RelayProcess r : toStop) {
            if (r.process().isAlive()) {
                r.process().terminate(STOP_TIMEOUT);
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs anyway and finds nothing alive
        }
    }

    /** The shutdown hook: SIGKILL to every relay still running (Ctrl-C, System.exit before close()). */
    private void killAll() {
        List<RelayProcess> toKill;
        synchronized (this) {
            closed = true;
            toKill = List.copyOf(relays);
        }
        for (RelayProcess r : toKill) {
            if (r.process().isAlive()) {
                try {
                    r.process().kill();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** The value of {@code gauge} in a Prometheus scrape (with or without tags), or -1 if it is not there. */
    public static double gauge(String scrape, String gauge) {
        for (String line : scrape.split("\n")) {
            if (line.startsWith(gauge + "{") || line.startsWith(gauge + " ")) {
                try {
                    return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1).trim());
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
