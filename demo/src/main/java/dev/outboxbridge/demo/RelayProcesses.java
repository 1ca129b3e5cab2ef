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
import java.util.LinkedHashMap;
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
 *
 * <p>{@link #external(Map)} stands for relays that run elsewhere (the containers of {@code docker-compose.yml}): they are
 * only watched through their {@code /metrics}, never started, killed or stopped from here.
 */
public final class RelayProcesses implements AutoCloseable {

    static final String RELAY_MAIN = "dev.outboxbridge.relay.app.RelayMain";
    /** 1 while the relay publishes (holds the lease and its engine runs). */
    public static final String LEADER_GAUGE = "outbox_relay_leader";
    /** 1 while the relay waits for the lease as a standby. */
    public static final String STANDBY_GAUGE = "outbox_relay_standby";
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(1);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);

    /**
     * One relay and its operations endpoint ({@code http://host:port}).
     *
     * @param process the relay's process; null for an external relay
     * @param log the process's log; for an external relay, where its log is (a description)
     */
    public record RelayProcess(String name, ChildJvm process, URI operations, String log) {

        /** The value of {@code gauge} on this relay's {@code /metrics}; -1 when it does not answer (stopped, starting). */
        double gauge(String gauge) {
            try {
                HttpURLConnection c = (HttpURLConnection) operations.resolve("/metrics").toURL().openConnection();
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
            return alive() && gauge(LEADER_GAUGE) == 1;
        }

        /** Whether the process runs; for an external relay, whether its endpoint answers. */
        boolean alive() {
            return process == null ? gauge(LEADER_GAUGE) >= 0 : process.isAlive();
        }

        boolean external() {
            return process == null;
        }

        /** How to find this relay: its pid, or its endpoint when it is external. */
        public String where() {
            return process == null ? operations.toString() : "pid " + process.pid();
        }
    }

    private final Path workDir;
    private final Map<String, String> environment;
    private final List<RelayProcess> relays = new ArrayList<>();
    private final Thread killOnExit = new Thread(this::killAll, "demo-relays-kill-on-exit");
    private final boolean external;
    private boolean closed;

    /** Relays configured by {@code settings} (relay keys), logging to {@code <name>.log} in {@code workDir}. */
    public RelayProcesses(Path workDir, Map<String, String> settings) {
        this.workDir = workDir;
        this.environment = RelayConfig.toEnvironment(settings);
        this.external = false;
        Runtime.getRuntime().addShutdownHook(killOnExit);
    }

    private RelayProcesses(Map<String, URI> endpoints) {
        this.workDir = null;
        this.environment = Map.of();
        this.external = true;
        endpoints.forEach((name, uri) -> relays.add(new RelayProcess(name, null, uri, "the log of " + name)));
    }

    /**
     * Relays that run elsewhere, by name and operations endpoint ({@code http://relay-a:8080}), in the order given: they
     * are watched, not started or stopped, and {@link #kill} refuses them.
     */
    public static RelayProcesses external(Map<String, URI> endpoints) {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("No external relay endpoints given");
        }
        return new RelayProcesses(new LinkedHashMap<>(endpoints));
    }

    /** Whether the relays run elsewhere ({@link #external(Map)}). */
    public boolean isExternal() {
        return external;
    }

    /** The relays, in the order they were started or given. */
    public synchronized List<RelayProcess> all() {
        return List.copyOf(relays);
    }

    /** Starts a relay process named {@code name} ({@code -Xmx512m}, as the fault run), its operations endpoint on a free port. */
    public synchronized RelayProcess start(String name) throws IOException {
        if (closed) {
            throw new IllegalStateException("The relays are closed; cannot start " + name);
        }
        if (external) {
            throw new IllegalStateException("The relays run elsewhere (external); cannot start " + name);
        }
        int port = BrokerProcess.freePort();
        Map<String, String> env = new HashMap<>(environment);
        env.put(RelayConfig.environmentVariable(RelayConfig.NAME), "demo-" + name);
        env.put(RelayConfig.environmentVariable(RelayConfig.HTTP_PORT), String.valueOf(port));
        Path log = workDir.resolve(name + ".log");
        RelayProcess relay = new RelayProcess(name, ChildJvm.start(name, RELAY_MAIN, List.of(), env, log, "512m"),
                URI.create("http://localhost:" + port), log.toString());
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
            if (!relay.external() && !relay.process().isAlive()) {
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
        return relays.stream().anyMatch(RelayProcess::alive);
    }

    /** {@code kill -9} of one relay: no shutdown hook, no last flush; the lease is freed only when it expires. */
    public void kill(RelayProcess relay) throws InterruptedException {
        if (relay.external()) {
            throw new IllegalStateException(relay.name() + " runs elsewhere (" + relay.operations() + "): it cannot be killed from here");
        }
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
            if (!r.external() && r.process().isAlive()) {
                r.process().terminate(STOP_TIMEOUT);
            }
        }
        try {
            if (!external) {
                Runtime.getRuntime().removeShutdownHook(killOnExit);
            }
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
            if (!r.external() && r.process().isAlive()) {
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
