package dev.outboxbridge.demo.faults;

import dev.outboxbridge.db.FaultPoint;
import dev.outboxbridge.demo.DemoRun;
import dev.outboxbridge.testkit.PostgresServer;
import dev.outboxbridge.testkit.PostgresStandbyPair;
import dev.outboxbridge.testkit.ReplicatedKafkaCluster;
import dev.outboxbridge.testsupport.FaultPoints;
import dev.outboxbridge.testsupport.Supervised;
import dev.outboxbridge.testsupport.TcpProxy;
import java.io.PrintStream;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * Injects a random {@link Fault} every {@code minGap..maxGap} into a {@link Topology} and measures
 * how long until effects flow again. Each fault injects itself ({@link Fault#inject}) through the
 * targets and actions offered here: the leading relay, a random consumer or link, terminating
 * database sessions, halting a process at a fault point. Runs on a thread of its own; {@link #stop()}
 * ends it.
 */
final class FaultInjector implements Runnable {

    /** PostgreSQL application_name of the workload's connections (see DemoRun.pool). */
    static final String WRITER_APPLICATION_NAME = "demo-fault-shop";
    private static final Duration RECOVERY_LIMIT = Duration.ofSeconds(120);
    private static final Duration HALT_LIMIT = Duration.ofSeconds(60);
    /** Longer than a takeover (the lease, 4 s in the fault run, plus the engine's start). */
    private static final Duration LEADER_WAIT = Duration.ofSeconds(15);
    /** HA: how long the pair and the cluster may take to be whole again after a fault (a new standby, the slot synchronized). */
    private static final Duration HEAL_LIMIT = Duration.ofSeconds(180);
    /** The relay's gauge of partitions with fewer in-sync replicas than min.insync.replicas, as Prometheus names it. */
    static final String UNDER_MIN_ISR_GAUGE = "outbox_relay_kafka_partitions_under_min_isr";

    /**
     * The databases and the topic a fault acts on.
     *
     * @param topic the events topic (HA: the Kafka faults pick its partitions' leaders)
     * @param partitions its partition count
     */
    record Databases(DataSource shop, String shopName, String slot, DataSource billing, String billingName, String topic,
            int partitions) {
    }

    /** A process halted at a fault point: when that was noticed, and the effects applied by then. */
    private record Halt(long seenNanos, long appliedBefore) {
    }

    private final Topology topology;
    private final PostgresServer postgres;
    private final Databases databases;
    private final Duration minGap;
    private final Duration maxGap;
    private final List<Fault> enabled;
    private final PrintStream out;
    private final SplittableRandom random;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Map<Fault, Integer> counts = Collections.synchronizedMap(new EnumMap<>(Fault.class));
    private final List<Long> recoveries = Collections.synchronizedList(new ArrayList<>());
    private final Map<Fault, Long> maxRecoveryByFault = Collections.synchronizedMap(new EnumMap<>(Fault.class));
    private final Map<Fault, List<Long>> recoveriesByFault = Collections.synchronizedMap(new EnumMap<>(Fault.class));
    /** Faults after which effects flowed again within {@link #RECOVERY_LIMIT}. */
    private final Map<Fault, Integer> recovered = Collections.synchronizedMap(new EnumMap<>(Fault.class));
    /** HA: what the harness saw of the topology (standbys rebuilt, the relay waiting under min ISR, ...), by what. */
    private final Map<String, List<Long>> observations = Collections.synchronizedMap(new LinkedHashMap<>());
    private final List<Fault> bag = new ArrayList<>();
    private Halt halt; // set by haltAt during the current injection; only the injector's thread uses it

    FaultInjector(Topology topology, PostgresServer postgres, Databases databases, Set<Fault> faults, Duration minGap,
            Duration maxGap, long seed, PrintStream out) {
        this.topology = topology;
        this.postgres = postgres;
        this.databases = databases;
        this.enabled = faults.stream().sorted().toList();
        this.minGap = minGap;
        this.maxGap = maxGap;
        this.random = new SplittableRandom(seed);
        this.out = out;
    }

    @Override
    public void run() {
        while (!stop.get()) {
            long gap = minGap.toMillis() + random.nextLong(Math.max(1, maxGap.toMillis() - minGap.toMillis()));
            try {
                Thread.sleep(gap);
                Fault fault = nextFault();
                if (topology.kind() == Topology.Kind.HA) {
                    awaitHealthy(fault);
                }
                long before = appliedEvents(databases.billing());
                long t0 = System.nanoTime();
                halt = null;
                fault.inject(this);
                if (halt != null) { // the fault happened when the point was reached, not when it was armed
                    t0 = halt.seenNanos();
                    before = halt.appliedBefore();
                }
                counts.merge(fault, 1, Integer::sum);
                out.printf("  fault %-13s (%,d effects applied before it)%n", fault, before);
                boolean flowing = awaitRecovery(fault, t0, before);
                if (flowing && topology.kind() == Topology.Kind.HA && !topology.pair().hasStandby()) {
                    restorePair(); // part of recovering from a failover: the pair can take the next one
                }
                if (flowing) {
                    recovered.merge(fault, 1, Integer::sum);
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                out.println("  fault injection failed: " + e);
            }
        }
    }

    /** Stops injecting; the thread ends at its next wait. */
    void stop() {
        stop.set(true);
    }

    // ---- what faults act on -------------------------------------------------------------------

    Topology topology() {
        return topology;
    }

    PostgresServer postgres() {
        return postgres;
    }

    /**
     * The relay publishing now, as the relays report it. During a failover none does until the new
     * leader's lease wait is over: then this waits up to {@link #LEADER_WAIT} for one, and takes any
     * relay if none appears (a relay stuck as a standby is worth a fault too).
     */
    Supervised leader() throws InterruptedException {
        long deadline = System.nanoTime() + LEADER_WAIT.toNanos();
        Optional<Supervised> leader;
        while ((leader = topology.leader()).isEmpty() && !stop.get() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        if (leader.isPresent()) {
            out.printf("    on the leader, %s%n", leader.get().name());
            return leader.get();
        }
        out.printf("    no relay published within %d s: on any relay%n", LEADER_WAIT.toSeconds());
        List<Supervised> relays = topology.relays();
        return relays.get(random.nextInt(relays.size()));
    }

    // ---- the HA topology ------------------------------------------------------------------------

    /** kill -9 of the PostgreSQL primary, then promotion of the standby (the pair is made whole again before the next fault). */
    void failOverPostgres() {
        PostgresStandbyPair pair = topology.pair();
        PostgresServer primary = pair.currentPrimary();
        Duration promotion = uninterruptibly(() -> { // the end of the run must not leave the pair without a primary
            pair.killPrimary();
            return pair.promoteStandby();
        });
        out.printf("    killed the primary %s:%d (kill -9), promoted the standby %s:%d in %d ms%n", primary.host(), primary.port(),
                pair.currentPrimary().host(), pair.currentPrimary().port(), promotion.toMillis());
    }

    /** kill -9 of the broker leading a random partition of the events topic, restarted on its log directory after 0-2 s. */
    void killPartitionLeader() throws InterruptedException {
        ReplicatedKafkaCluster cluster = topology.cluster();
        int partition = random.nextInt(databases.partitions());
        int leader = cluster.leaderOf(databases.topic(), partition);
        Duration down = upTo(2000);
        cluster.kill(leader);
        out.printf("    killed broker %d (kill -9), leader of partition %d; restart in %d ms%n", leader, partition, down.toMillis());
        try {
            Thread.sleep(down.toMillis());
        } finally {
            uninterruptibly(() -> {
                cluster.restart(leader);
                return null;
            });
        }
    }

    /**
     * SIGSTOP of the broker leading a random partition of the events topic for 10-12 s, longer than the relay's producer
     * delivery timeout on this topology (8 s), then SIGCONT.
     */
    void pauseBroker() throws InterruptedException {
        ReplicatedKafkaCluster cluster = topology.cluster();
        int partition = random.nextInt(databases.partitions());
        int broker = cluster.leaderOf(databases.topic(), partition);
        Duration paused = between(10_000, 12_000);
        cluster.pause(broker);
        out.printf("    paused broker %d (SIGSTOP), leader of partition %d, for %d ms%n", broker, partition, paused.toMillis());
        try {
            Thread.sleep(paused.toMillis());
        } finally {
            uninterruptibly(() -> {
                cluster.resume(broker);
                return null;
            });
        }
    }

    /**
     * Two of the three brokers stopped (SIGSTOP) until the events topic's partition 0 has one in-sync replica, below
     * min.insync.replicas = 2; held for 2-4 s more while the harness watches the relays' under-min-ISR gauge; then both
     * run on.
     */
    void isrBelowMin() throws InterruptedException {
        ReplicatedKafkaCluster cluster = topology.cluster();
        List<Integer> brokers = new ArrayList<>(cluster.brokerIds());
        Collections.swap(brokers, 0, random.nextInt(brokers.size()));
        List<Integer> stopped = brokers.subList(1, 3);
        long start = System.nanoTime();
        stopped.forEach(cluster::pause);
        out.printf("    paused brokers %s (SIGSTOP): broker %d alone in sync%n", stopped, brokers.get(0));
        try {
            cluster.awaitIsrAtMost(databases.topic(), 0, 1, Duration.ofSeconds(60));
            long shrunk = System.nanoTime();
            observe("in-sync replicas down to 1 after (ms)", (shrunk - start) / 1_000_000);
            long hold = between(2000, 4000).toMillis();
            boolean seen = false;
            long holdUntil = shrunk + hold * 1_000_000;
            while (System.nanoTime() < holdUntil) {
                seen |= topology.relayGauge(UNDER_MIN_ISR_GAUGE) > 0;
                Thread.sleep(200);
            }
            observe(seen ? "relay reported partitions under min ISR" : "relay did not report under min ISR within the hold", 1);
        } finally {
            uninterruptibly(() -> {
                stopped.forEach(cluster::resume);
                return null;
            });
        }
    }

    /** kill -9 of the KRaft controller (the only one: no metadata quorum while it is down), restarted after 0-2 s. */
    void killController() throws InterruptedException {
        ReplicatedKafkaCluster cluster = topology.cluster();
        Duration down = upTo(2000);
        cluster.killController();
        out.printf("    killed the KRaft controller (kill -9); restart in %d ms%n", down.toMillis());
        try {
            Thread.sleep(down.toMillis());
        } finally {
            long start = System.nanoTime();
            uninterruptibly(() -> {
                cluster.restartController();
                return null;
            });
            observe("controller restarted, quorum back after (ms)", (System.nanoTime() - start) / 1_000_000);
        }
    }

    /**
     * HA: before the next fault, the pair and the cluster are whole: after a promotion a new standby of the new primary
     * is built; the relay's failover slot is synchronized to the standby (else a promotion would find no slot and the
     * relay would rightly refuse to resume); every broker runs and every replica of the events topic is in sync.
     */
    private void awaitHealthy(Fault next) throws InterruptedException {
        long start = System.nanoTime();
        // the first fault once effects flow: the relays and the consumers have started (four Kafka JVMs make it slow)
        while (appliedEventsOr(databases.billing(), 0) == 0 && !stop.get() && System.nanoTime() - start < HEAL_LIMIT.toNanos()) {
            Thread.sleep(200);
        }
        PostgresStandbyPair pair = topology.pair();
        if (!pair.hasStandby()) {
            restorePair(); // the last failover's recovery was cut short
        } else if (next == Fault.PG_FAILOVER) {
            pair.awaitSlotSynced(databases.slot(), HEAL_LIMIT);
        }
        ReplicatedKafkaCluster cluster = topology.cluster();
        if (!cluster.isControllerRunning()) {
            cluster.restartController();
        }
        for (int id : cluster.brokerIds()) {
            if (!cluster.isRunning(id)) {
                cluster.restart(id);
            }
        }
        if (next.name().startsWith("KAFKA_")) {
            // a restarted broker catches up meanwhile; the next Kafka fault starts from full in-sync replica sets
            cluster.awaitFullIsr(databases.topic(), HEAL_LIMIT);
        }
        long healed = (System.nanoTime() - start) / 1_000_000;
        if (healed > 1000) {
            out.printf("    topology whole again after %d ms%n", healed);
        }
    }

    /**
     * Runs {@code action} with the thread's interrupt status cleared (and restored afterwards): what undoes a fault
     * (resuming, restarting, promoting) must happen even when the run ends meanwhile, or the drain would find the
     * cluster without a quorum of in-sync replicas or the pair without a primary.
     */
    private static <T> T uninterruptibly(java.util.concurrent.Callable<T> action) {
        boolean interrupted = Thread.interrupted();
        try {
            return action.call();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** After a promotion: a new standby of the new primary, and the relay's failover slot synchronized to it. */
    private void restorePair() {
        PostgresStandbyPair pair = topology.pair();
        Duration took = pair.rebuildStandby();
        observe("standby rebuilt (ms)", took.toMillis());
        out.printf("    new standby %s streams from the primary %s:%d (%d ms)%n", pair.currentStandby().map(String::valueOf)
                .orElse("?"), pair.currentPrimary().host(), pair.currentPrimary().port(), took.toMillis());
        long t = System.nanoTime();
        pair.awaitSlotSynced(databases.slot(), HEAL_LIMIT);
        observe("slot synchronized to the new standby after (ms)", (System.nanoTime() - t) / 1_000_000);
    }

    private void observe(String what, long value) {
        observations.computeIfAbsent(what, k -> Collections.synchronizedList(new ArrayList<>())).add(value);
    }

    Supervised randomConsumer() {
        List<Supervised> consumers = topology.consumers();
        return consumers.get(random.nextInt(consumers.size()));
    }

    TcpProxy randomLink() {
        List<TcpProxy> links = topology.links();
        TcpProxy l = links.get(random.nextInt(links.size()));
        out.printf("    on link %s%n", l.name());
        return l;
    }

    /** A random duration of {@code 0..bound-1} ms. */
    Duration upTo(int boundMillis) {
        return Duration.ofMillis(random.nextInt(boundMillis));
    }

    /** A random duration of {@code min..max-1} ms. */
    Duration between(int minMillis, int maxMillis) {
        return Duration.ofMillis(minMillis + random.nextInt(maxMillis - minMillis));
    }

    <T> T either(T a, T b) {
        return random.nextBoolean() ? a : b;
    }

    /** Leaves {@code link} degraded for {@code duration}, then heals it. */
    void degradeFor(TcpProxy link, Duration duration) throws InterruptedException {
        try {
            Thread.sleep(duration.toMillis());
        } finally {
            link.heal();
        }
    }

    void terminateWalsender() throws SQLException {
        terminate(databases.shop(), "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                + " WHERE slot_name = ? AND active_pid IS NOT NULL", databases.slot());
    }

    void terminateConsumerSessions() throws SQLException {
        terminate(databases.billing(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                + " WHERE datname = ? AND application_name = '" + ConsumerMain.APPLICATION_NAME + "'", databases.billingName());
    }

    void terminateWriterSessions() throws SQLException {
        terminate(databases.shop(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                + " WHERE datname = ? AND application_name = '" + WRITER_APPLICATION_NAME + "'", databases.shopName());
    }

    /**
     * Arms {@code point} at a random hit (1-10) in the current (or next) process of {@code target}
     * and waits until it halted there and its supervisor restarted it. The recovery is measured from
     * the halt.
     */
    void haltAt(Supervised target, FaultPoint point) throws Exception {
        Path file = topology.faultPointFile(target.name());
        int halts = target.faultPointHalts();
        long n = 1 + random.nextInt(10);
        FaultPoints.arm(file, point, n);
        out.printf("    %s armed to halt at hit %d of %s%n", target.name(), n, point.id());
        long deadline = System.nanoTime() + HALT_LIMIT.toNanos();
        try {
            while (target.faultPointHalts() == halts) {
                if (stop.get() || System.nanoTime() > deadline) {
                    throw new IllegalStateException(target.name() + " did not reach fault point " + point.id() + " " + n
                            + " times within " + HALT_LIMIT.toSeconds() + " s (or the run ended); disarmed");
                }
                Thread.sleep(20);
            }
        } catch (InterruptedException | RuntimeException e) {
            FaultPoints.disarm(file);
            throw e;
        }
        halt = new Halt(target.lastHaltSeenNanos(), appliedEvents(databases.billing()));
        while (!target.isAlive() && !stop.get() && System.nanoTime() < deadline) {
            Thread.sleep(20); // isAlive() waits for the supervisor's restart
        }
    }

    // ---- results ------------------------------------------------------------------------------

    int total() {
        synchronized (counts) {
            return counts.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    Map<Fault, Integer> counts() {
        synchronized (counts) {
            return counts.isEmpty() ? new EnumMap<>(Fault.class) : new EnumMap<>(counts);
        }
    }

    Map<Fault, Long> maxRecoveryByFault() {
        synchronized (maxRecoveryByFault) {
            return maxRecoveryByFault.isEmpty() ? new EnumMap<>(Fault.class) : new EnumMap<>(maxRecoveryByFault);
        }
    }

    List<Long> recoveries() {
        synchronized (recoveries) {
            return List.copyOf(recoveries);
        }
    }

    /** The recovery of every fault, by kind. */
    Map<Fault, List<Long>> recoveriesByFault() {
        synchronized (recoveriesByFault) {
            Map<Fault, List<Long>> m = new EnumMap<>(Fault.class);
            recoveriesByFault.forEach((k, v) -> m.put(k, List.copyOf(v)));
            return m;
        }
    }

    /** Faults after which effects flowed again (within two minutes), by kind. */
    Map<Fault, Integer> recovered() {
        synchronized (recovered) {
            return recovered.isEmpty() ? new EnumMap<>(Fault.class) : new EnumMap<>(recovered);
        }
    }

    /** HA: what the harness observed of the topology, by what (values in ms, or 1 per occurrence). */
    Map<String, List<Long>> observations() {
        synchronized (observations) {
            Map<String, List<Long>> m = new LinkedHashMap<>();
            observations.forEach((k, v) -> m.put(k, List.copyOf(v)));
            return m;
        }
    }

    /** Effects applied so far (distinct events in the billing effects table). */
    static long appliedEvents(DataSource billing) throws SQLException {
        try (var c = billing.getConnection(); var s = c.createStatement();
                var rs = s.executeQuery("SELECT count(DISTINCT event_id) FROM " + DemoRun.EFFECTS_TABLE)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Effects applied so far, or {@code fallback} while the database does not answer (PostgreSQL restarting). */
    private static long appliedEventsOr(DataSource billing, long fallback) {
        try {
            return appliedEvents(billing);
        } catch (SQLException e) {
            return fallback;
        }
    }

    /**
     * Waits (up to two minutes) until the next effect is applied after {@code t0}; records how long that took. Returns
     * whether effects flow again.
     */
    private boolean awaitRecovery(Fault fault, long t0, long before) throws InterruptedException {
        long deadline = t0 + RECOVERY_LIMIT.toNanos();
        while (!stop.get() && appliedEventsOr(databases.billing(), before) <= before && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        if (!stop.get()) {
            long recovery = (System.nanoTime() - t0) / 1_000_000;
            recoveries.add(recovery);
            maxRecoveryByFault.merge(fault, recovery, Math::max);
            recoveriesByFault.computeIfAbsent(fault, k -> new ArrayList<>()).add(recovery);
            return appliedEventsOr(databases.billing(), before) > before;
        }
        return false;
    }

    /** Random order, but every enabled kind once before any kind comes again (a shuffled bag). */
    private Fault nextFault() {
        if (bag.isEmpty()) {
            bag.addAll(enabled);
            for (int i = bag.size() - 1; i > 0; i--) {
                Collections.swap(bag, i, random.nextInt(i + 1));
            }
        }
        return bag.remove(bag.size() - 1);
    }

    private static void terminate(DataSource dataSource, String sql, String parameter) throws SQLException {
        try (var c = dataSource.getConnection(); var ps = c.prepareStatement(sql)) {
            ps.setString(1, parameter);
            ps.executeQuery().close();
        }
    }
}
