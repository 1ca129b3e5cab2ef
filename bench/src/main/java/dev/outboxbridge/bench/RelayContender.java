package dev.outboxbridge.bench;

import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import java.util.HashMap;
import java.util.Map;

/** This project's relay, in process, with its defaults (engine batch 2048, queue 8192, poll 10 ms, flush 1 s). */
final class RelayContender implements Contender {

    static final String NAME = "outbox-bridge relay";
    /** The same relay with {@code delivery.guarantee=exactly_once} (issue 13): Kafka transactions per batch. */
    static final String NAME_EXACTLY_ONCE = "outbox-bridge relay, exactly_once";
    private final Relay relay;
    private final String name;

    RelayContender(Target t) {
        this(t, Map.of());
    }

    /** With extra relay settings over the defaults (e.g. a shorter poll interval). */
    RelayContender(Target t, Map<String, String> overrides) {
        this(t, overrides, NAME);
    }

    private RelayContender(Target t, Map<String, String> overrides, String name) {
        Map<String, String> m = settings(t);
        m.putAll(overrides);
        this.relay = Relay.create(RelayConfig.of(m));
        this.name = name;
    }

    /**
     * The same relay, every other setting equal, with {@code delivery.guarantee=exactly_once}: each batch and the position
     * after it in one Kafka transaction, its transactional.id the default one of its database and slot.
     */
    static RelayContender exactlyOnce(Target t) {
        return new RelayContender(t, Map.of(RelayConfig.DELIVERY_GUARANTEE, RelayConfig.EXACTLY_ONCE), NAME_EXACTLY_ONCE);
    }

    /** Latency-tuned settings: hand over partial batches after 1 ms, send without lingering. */
    static final Map<String, String> LOW_LATENCY = Map.of(RelayConfig.POLL_INTERVAL_MS, "1", RelayConfig.PRODUCER_PREFIX + "linger.ms", "0");

    static Map<String, String> settings(Target t) {
        Map<String, String> m = new HashMap<>();
        m.put(RelayConfig.NAME, "bench-" + t.slot()); // unique: offsets are kept per relay name
        m.put(RelayConfig.DATABASE_HOSTNAME, t.host());
        m.put(RelayConfig.DATABASE_PORT, String.valueOf(t.port()));
        m.put(RelayConfig.DATABASE_DBNAME, t.database());
        m.put(RelayConfig.DATABASE_USER, t.user());
        m.put(RelayConfig.DATABASE_PASSWORD, t.password() == null ? "" : t.password());
        m.put(RelayConfig.SLOT_NAME, t.slot());
        // its own publication, as the relay creates it (PostgreSQL 15+: a column list of what it reads; BenchContext)
        m.put(RelayConfig.PUBLICATION_NAME, BenchContext.RELAY_PUBLICATION);
        m.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, t.bootstrapServers());
        m.put(RelayConfig.TOPIC_PREFIX, t.topicPrefix());
        // one relay per slot: measure publishing, not the HA lease's one-off wait at start (ha.lease.ms, 4 s)
        m.put(RelayConfig.HA_ENABLED, "false");
        // the scenarios create the slot before the backlog: the slot holds every event, a first-start snapshot would
        // publish the backlog twice
        m.put(RelayConfig.FIRST_START_SNAPSHOT, "false");
        return m;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public void start() {
        relay.start();
    }

    @Override
    public long published() {
        return relay.publishedCount();
    }

    @Override
    public void checkHealthy() {
        if (relay.state() == Relay.State.FAILED) {
            throw new IllegalStateException("The relay failed: " + relay.failure().map(Throwable::toString).orElse("?"));
        }
    }

    @Override
    public void close() {
        relay.close();
    }
}
