package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.KafkaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's start-up under {@code delivery.guarantee=exactly_once} (see docs/exactly-once.md).
 *
 * <p><b>Order.</b> {@code initTransactions()} runs on the engine's thread <em>before</em> the engine starts, so before
 * the position store reads the position back: it fences every earlier producer of the slot's transactional.id and
 * completes (aborts) a transaction such a relay left open, so the store's read_committed read finds the position of
 * the last transaction that committed, and no transaction of an earlier relay can commit afterwards. Were it called
 * after the read, a zombie's transaction committing in between would be published again. A standby never calls it:
 * that would fence the working leader.
 *
 * <p><b>The lease wait.</b> Under at_least_once a relay that acquires the lease waits {@code ha.lease.ms} before
 * publishing, until any previous leader has certainly fenced itself: nothing else stops a leader paused between its
 * lease check and {@code send()} from publishing after a takeover. Under exactly_once Kafka stops it: anything a zombie
 * sends after the new leader's {@code initTransactions()} is aborted, and its position write is part of that
 * transaction. The wait would still protect only what is outside Kafka: the slot (PostgreSQL lets one walsender hold
 * it; the new leader terminates a lingering one and the engine retries the slot, so a zombie's walsender delays the
 * takeover but cannot read for it) and the slot's confirmed position (a zombie confirms only positions it committed,
 * which the new leader read back anyway, and PostgreSQL never moves a slot backwards). Neither needs the wait, so
 * under exactly_once a new lease holder publishes at once, and a lone relay starts without the wait.
 */
final class ExactlyOnce {

    private static final Logger LOG = LoggerFactory.getLogger(ExactlyOnce.class);

    private ExactlyOnce() {
    }

    /** Whether a new lease holder waits a lease before publishing: only under at_least_once (see the class comment). */
    static boolean leaseWait(RelayConfig config) {
        return !config.exactlyOnce();
    }

    /** Runs {@code engine} after {@code producer.initTransactions()}; tells {@code failed} instead when that fails. */
    static Runnable initThenRun(RelayConfig config, Producer<byte[], byte[]> producer, Runnable engine,
            Consumer<RelayException> failed) {
        return () -> {
            try {
                producer.initTransactions();
                LOG.info("Relay '{}': exactly-once publishing with transactional.id {} (any earlier relay of slot {} is fenced)",
                        config.name(), config.transactionalId(), config.slotName());
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                failed.accept(new RelayException("Relay '" + config.name() + "': Kafka did not initialize transactions for"
                        + " transactional.id " + config.transactionalId() + " within max.block.ms: " + e + ". Fix: check "
                        + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + " and that the brokers (and their transaction coordinator) are"
                        + " up; the relay's supervisor starts it again", e));
                return;
            } catch (KafkaException | IllegalStateException e) {
                failed.accept(new RelayException("Relay '" + config.name() + "': Kafka refused to initialize transactions for"
                        + " transactional.id " + config.transactionalId() + ": " + e + KafkaClients.rootCause(e) + ". Fix: grant"
                        + " the relay WRITE and DESCRIBE on that transactional id (ACL resource TransactionalId), check that the"
                        + " brokers allow transactions (transaction.state.log.replication.factor not above the number of"
                        + " brokers), or set " + RelayConfig.DELIVERY_GUARANTEE + "=" + RelayConfig.AT_LEAST_ONCE, e));
                return;
            }
            engine.run();
        };
    }
}
