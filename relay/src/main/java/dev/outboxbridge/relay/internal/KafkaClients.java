package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The relay's Kafka clients (from {@link EngineProperties}) and the diagnosis of a failed first connection: what to fix. */
final class KafkaClients {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaClients.class);

    private KafkaClients() {
    }

    static KafkaProducer<byte[], byte[]> createProducer(RelayConfig config) {
        return new KafkaProducer<>(EngineProperties.producer(config));
    }

    static Admin createAdmin(RelayConfig config) {
        String p = RelayConfig.PRODUCER_PREFIX;
        try {
            return Admin.create(EngineProperties.admin(config));
        } catch (KafkaException e) {
            // e.g. a truststore that is missing, of another type or with another password
            throw new RelayException("Cannot create a Kafka client from the " + RelayConfig.PRODUCER_PREFIX + "* settings: "
                    + e.getMessage() + rootCause(e) + ". Fix: check that " + p + "ssl.truststore.location names a readable"
                    + " truststore of type " + p + "ssl.truststore.type (PKCS12, JKS or PEM) whose password is "
                    + p + "ssl.truststore.password (likewise " + p + "ssl.keystore.* when the brokers ask for client"
                    + " certificates), then " + p + "sasl.* and " + p + "security.protocol", e);
        }
    }

    static void checkKafkaReachable(Admin admin, RelayConfig config) {
        try {
            String clusterId = admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
            LOG.info("Connected to Kafka cluster {} at {}", clusterId, config.bootstrapServers());
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : null;
            throw new RelayException("Cannot reach Kafka at " + config.bootstrapServers() + " within 30 s: "
                    + (cause != null ? cause + rootCause(cause) : "timed out") + ". Fix: " + kafkaConnectionFix(cause), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RelayException("Interrupted while connecting to Kafka", e);
        }
    }

    /** What to change when the first connection to Kafka failed with {@code cause} (null: timed out). */
    static String kafkaConnectionFix(Throwable cause) {
        String p = RelayConfig.PRODUCER_PREFIX;
        if (cause instanceof SslAuthenticationException) {
            String detail = rootCause(cause);
            if (detail.contains("subject alternative") || detail.contains("No name matching")) {
                return "the brokers' certificate does not name the host the relay connects to. Connect by a name the certificate"
                        + " holds (" + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + " and the brokers' advertised.listeners), or reissue"
                        + " the certificate with that name as a subject alternative name";
            }
            if (detail.contains("plaintext connection")) {
                return "the listener at " + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + " does not speak TLS: point it at the brokers'"
                        + " SSL/SASL_SSL listener, or set " + p + "security.protocol to match the listener";
            }
            return "the relay does not trust the brokers' certificate. Point " + p + "ssl.truststore.location (with " + p
                    + "ssl.truststore.type and " + p + "ssl.truststore.password) at a truststore holding the certificate of the CA"
                    + " that signed the brokers' certificates (keytool -importcert -alias kafka-ca -file ca.crt -keystore"
                    + " truststore.p12 -storetype PKCS12), or remove it when a public CA in the JVM's default trust store signed them";
        }
        if (cause instanceof SaslAuthenticationException) {
            return "the brokers refused the relay's credentials: check " + p + "sasl.mechanism and the user name and password in "
                    + p + "sasl.jaas.config";
        }
        return "check " + RelayConfig.KAFKA_BOOTSTRAP_SERVERS + ", the brokers and the security settings (" + p
                + "security.protocol, " + p + "ssl.*, " + p + "sasl.*)";
    }

    /** " (root cause: ...)" of {@code t}: Kafka's own messages say little (e.g. "SSL handshake failed"); empty without a cause. */
    static String rootCause(Throwable t) {
        Throwable root = t.getCause();
        if (root == null) {
            return "";
        }
        for (int depth = 0; root.getCause() != null && depth < 10; depth++) {
            root = root.getCause();
        }
        return " (root cause: " + root.getClass().getSimpleName() + ": " + root.getMessage() + ")";
    }
}
