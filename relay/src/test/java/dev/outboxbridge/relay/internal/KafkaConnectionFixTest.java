package dev.outboxbridge.relay.internal;


import static org.assertj.core.api.Assertions.assertThat;

import java.security.cert.CertificateException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.junit.jupiter.api.Test;

/**
 * The fix the relay gives when its first connection to Kafka fails, for each way TLS and SASL go
 * wrong (the exceptions as the Kafka client and the JDK raise them). {@code TlsIT} in the demo
 * module checks the untrusted certificate against a real SASL_SSL broker.
 */
class KafkaConnectionFixTest {

    private static SslAuthenticationException handshakeFailed(Exception jdkCause) {
        SSLHandshakeException handshake = new SSLHandshakeException(jdkCause.getMessage());
        handshake.initCause(jdkCause);
        return new SslAuthenticationException("SSL handshake failed", handshake);
    }

    @Test
    void untrustedCertificateNamesTheTruststoreSettings() {
        String fix = KafkaClients.kafkaConnectionFix(handshakeFailed(new CertificateException(
                "PKIX path building failed: unable to find valid certification path to requested target")));
        assertThat(fix).contains("does not trust the brokers' certificate", "kafka.producer.ssl.truststore.location",
                "kafka.producer.ssl.truststore.password", "keytool -importcert");
    }

    @Test
    void certificateForAnotherHostNamesTheHostNotTheTruststore() {
        String fix = KafkaClients.kafkaConnectionFix(handshakeFailed(new CertificateException(
                "No subject alternative DNS name matching kafka-1.internal found.")));
        assertThat(fix).contains("does not name the host", "kafka.bootstrap.servers", "subject alternative name")
                .doesNotContain("truststore");
    }

    @Test
    void tlsClientOnAPlaintextListenerNamesTheSecurityProtocol() {
        String fix = KafkaClients.kafkaConnectionFix(handshakeFailed(new SSLException("Unrecognized SSL message, plaintext connection?")));
        assertThat(fix).contains("does not speak TLS", "kafka.producer.security.protocol");
    }

    @Test
    void refusedCredentialsNameTheJaasConfig() {
        String fix = KafkaClients.kafkaConnectionFix(new SaslAuthenticationException("Authentication failed: Invalid username or password"));
        assertThat(fix).contains("refused the relay's credentials", "kafka.producer.sasl.jaas.config");
    }

    @Test
    void timeoutNamesTheServersAndTheSecuritySettings() {
        assertThat(KafkaClients.kafkaConnectionFix(null)).contains("kafka.bootstrap.servers", "kafka.producer.security.protocol");
    }
}
