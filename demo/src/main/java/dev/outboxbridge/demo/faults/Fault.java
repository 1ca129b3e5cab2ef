package dev.outboxbridge.demo.faults;

import dev.outboxbridge.db.FaultPoint;
import dev.outboxbridge.testsupport.TcpProxy;
import java.time.Duration;

/**
 * The faults a fault run injects. Each kind carries its own injector: what it does to the running
 * {@link Topology} (which process, which link, which database sessions), through the
 * {@link FaultInjector} that schedules it.
 */
public enum Fault {
    /** kill -9 of the leading relay process (the standby takes over); restarted after up to 1 s, as the new standby. */
    RELAY_KILL(f -> f.leader().kill(f.upTo(1000))),
    /** SIGTERM of the leading relay process (graceful stop, the standby takes over); restarted at once. */
    RELAY_TERM(f -> f.leader().terminate()),
    /**
     * SIGSTOP of the leading relay for 5-7 s, longer than its lease (4 s): the standby takes over while the old
     * leader still holds its connections; after SIGCONT the old leader must find itself fenced, publish nothing
     * and exit (then it is restarted as a standby).
     */
    RELAY_PAUSE(f -> f.leader().pause(f.between(5000, 7000))),
    /** kill -9 of the consumer process; restarted after up to 1 s. */
    CONSUMER_KILL(f -> f.randomConsumer().kill(f.upTo(1000))),
    /** SIGTERM of the consumer process; restarted at once. */
    CONSUMER_TERM(f -> f.randomConsumer().terminate()),
    /** pg_terminate_backend of the walsender serving the relay's slot. */
    WALSENDER_TERMINATE(FaultInjector::terminateWalsender),
    /** pg_terminate_backend of the consumer's database connections (mid-transaction or idle). */
    CONSUMER_DB_TERMINATE(FaultInjector::terminateConsumerSessions),
    /** kill -9 of the Kafka broker (a process of the harness), restarted on the same log directory after up to 2 s. */
    BROKER_KILL(f -> f.topology().broker().kill(f.upTo(2000))),
    /**
     * pg_terminate_backend of the writers' connections: transactions fail, some at COMMIT with an
     * unknown outcome that the workload resolves by querying the database.
     */
    WRITER_DB_TERMINATE(FaultInjector::terminateWriterSessions),
    /**
     * PostgreSQL crashes and comes back: an immediate shutdown ({@code pg_ctl stop -m immediate}: no
     * checkpoint, every connection cut, the relay's walsender included), 0-1 s down, then a start on the
     * same port and data directory with crash recovery. Writers' transactions in flight fail, some at
     * COMMIT with the outcome resolved by query. Needs the embedded PostgreSQL (the testkit restarts it).
     */
    PG_RESTART(f -> f.postgres().restartImmediately(f.upTo(1000))),
    /** SIGSTOP of one consumer for 8-12 s (longer than its session timeout), then SIGCONT: a zombie that wakes up. */
    CONSUMER_PAUSE(f -> f.randomConsumer().pause(f.between(8000, 12000))),
    /** SIGSTOP of the Kafka broker for 20 s, longer than the relay's producer delivery timeout (15 s here), then SIGCONT. */
    BROKER_PAUSE(f -> f.topology().broker().pause(Duration.ofSeconds(20))),
    /** Connection reset (RST) on one link (relay↔PostgreSQL, relay↔Kafka, consumer↔PostgreSQL, consumer↔Kafka). */
    NET_RESET(f -> f.randomLink().resetAll()),
    /** Nothing passes on one link for 2-6 s; connections stay open. */
    NET_BLACKHOLE(f -> f.randomLink().blackhole(f.between(2000, 6000))),
    /** 100-300 ms added to every chunk on one link for 5 s. */
    NET_DELAY(f -> {
        TcpProxy link = f.randomLink();
        link.delay(f.between(100, 300));
        f.degradeFor(link, Duration.ofSeconds(5));
    }),
    /** One link limited to 20 KB/s for 5 s. */
    NET_BANDWIDTH(f -> {
        TcpProxy link = f.randomLink();
        link.bandwidth(20_000);
        f.degradeFor(link, Duration.ofSeconds(5));
    }),
    /** One link's connections become half-open: the server side is gone, the client is told 20 s later. */
    NET_HALF_OPEN(f -> f.randomLink().halfOpenAll(Duration.ofSeconds(20))),
    /**
     * The relay halts (as abruptly as kill -9) right after handing a batch to the producer, before
     * any acknowledgement: the records may or may not be in Kafka, none is marked processed.
     */
    RELAY_HALT_AFTER_SEND(f -> f.haltAt(f.leader(), FaultPoint.RELAY_AFTER_SEND)),
    /** The relay halts right after Kafka acknowledged a record, before it is marked processed: a duplicate on restart. */
    RELAY_HALT_AFTER_ACK(f -> f.haltAt(f.leader(), FaultPoint.RELAY_AFTER_ACK)),
    /**
     * The relay halts right before its position is written to the position topic (records acknowledged and
     * marked processed) or, at random, right after Kafka acknowledged the position write but before the slot
     * is told it.
     */
    RELAY_HALT_AROUND_FLUSH(f -> f.haltAt(f.leader(),
            f.either(FaultPoint.RELAY_BEFORE_POSITION_FLUSH, FaultPoint.RELAY_AFTER_POSITION_FLUSH))),
    /**
     * delivery.guarantee=exactly_once only: the relay halts right after the Kafka transaction of a batch (its events and
     * the position after them) committed, before anything is marked processed or the slot is told: the position in
     * Kafka is then ahead of the slot's, and the next leader must skip what the slot still holds before it.
     */
    RELAY_HALT_AFTER_COMMIT(f -> f.haltAt(f.leader(), FaultPoint.RELAY_AFTER_TRANSACTION_COMMIT)),
    /** One consumer halts after its handlers ran, right before the database commit: nothing of the transaction stays. */
    CONSUMER_HALT_BEFORE_DB_COMMIT(f -> f.haltAt(f.randomConsumer(), FaultPoint.INBOX_BEFORE_DB_COMMIT)),
    /** One consumer halts right after its database commit, before its offsets are even recorded: redelivered, skipped by the inbox. */
    CONSUMER_HALT_AFTER_DB_COMMIT(f -> f.haltAt(f.randomConsumer(), FaultPoint.INBOX_AFTER_DB_COMMIT)),
    /**
     * One consumer halts in its offset commit: at random right before commitSync sends the offsets, or right
     * after Kafka stored them but before the consumer learned it.
     */
    CONSUMER_HALT_IN_OFFSET_COMMIT(f -> f.haltAt(f.randomConsumer(),
            f.either(FaultPoint.INBOX_BEFORE_OFFSET_COMMIT, FaultPoint.INBOX_AFTER_OFFSET_COMMIT))),
    /**
     * HA topology: kill -9 of the PostgreSQL primary (every process of it, as a crashed machine) under load, then
     * promotion of the synchronous standby. Writers, relays and consumers reach the new primary through the host list;
     * the relays resume from the synchronized failover slot. Before the next fault the harness builds a new standby of
     * the new primary and waits until the relay's slot is synchronized to it.
     */
    PG_FAILOVER(FaultInjector::failOverPostgres),
    /** HA topology: kill -9 of the broker leading a random partition of the events topic, restarted after 0-2 s. */
    KAFKA_LEADER_KILL(FaultInjector::killPartitionLeader),
    /**
     * HA topology: SIGSTOP of one broker (the leader of a random partition of the events topic) for longer than the
     * relay's producer delivery timeout, then SIGCONT.
     */
    KAFKA_BROKER_PAUSE(FaultInjector::pauseBroker),
    /**
     * HA topology: two of the three brokers stopped (SIGSTOP) until the events topic's in-sync replicas are 1, below
     * min.insync.replicas = 2, and held there for 2-4 s: the relay waits, reporting partitions under min ISR; then they
     * run on and the relay resumes.
     */
    KAFKA_ISR_BELOW_MIN(FaultInjector::isrBelowMin),
    /**
     * HA topology: kill -9 of the KRaft controller, restarted after 0-2 s. The cluster has one controller: the metadata
     * quorum is gone while it is down.
     */
    KAFKA_CONTROLLER_KILL(FaultInjector::killController);

    /** What a fault does to the running topology. */
    @FunctionalInterface
    interface Injection {
        void inject(FaultInjector injector) throws Exception;
    }

    private final Injection injection;

    Fault(Injection injection) {
        this.injection = injection;
    }

    /** Injects this fault now. */
    void inject(FaultInjector injector) throws Exception {
        injection.inject(injector);
    }

    /** Acts on one network link (needs the harness's proxies and its own broker). */
    public boolean network() {
        return name().startsWith("NET_");
    }

    /** Halts a process at a {@link FaultPoint} armed by the harness (needs the test-support hook in the child). */
    public boolean faultPoint() {
        return name().contains("_HALT_");
    }

    /** Acts on the Kafka broker process (needs the harness's own broker). */
    public boolean broker() {
        return this == BROKER_KILL || this == BROKER_PAUSE;
    }

    /** Acts on the PostgreSQL pair or the replicated Kafka cluster of the HA topology: only there. */
    public boolean haOnly() {
        return this == PG_FAILOVER || name().startsWith("KAFKA_");
    }

    /**
     * Whether this fault can be injected on the given topology. The HA topology has no proxies (network faults), no
     * single broker of the harness ({@link #BROKER_KILL}, {@link #BROKER_PAUSE}: the {@code KAFKA_*} faults act on the
     * cluster instead) and no single PostgreSQL to crash-restart ({@link #PG_RESTART}: {@link #PG_FAILOVER} instead);
     * the single-server topology has no standby and no cluster.
     */
    public boolean appliesTo(Topology.Kind topology) {
        return switch (topology) {
            case SINGLE -> !haOnly();
            case HA -> !network() && !broker() && this != PG_RESTART;
        };
    }

    /** Its fault point is reached only by a relay with delivery.guarantee=exactly_once. */
    public boolean exactlyOnceOnly() {
        return this == RELAY_HALT_AFTER_COMMIT;
    }

    /** Stops or crashes the relay (what the duplicates per relay stop are counted against). */
    public boolean stopsRelay() {
        return this == RELAY_KILL || this == RELAY_TERM || this == RELAY_PAUSE || name().startsWith("RELAY_HALT_");
    }
}
