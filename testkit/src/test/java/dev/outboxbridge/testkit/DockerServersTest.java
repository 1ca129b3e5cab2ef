package dev.outboxbridge.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Testcontainers provider's settings and start-up pieces that need no Docker. */
class DockerServersTest {

    @Test
    void serversVariableAcceptsEmbeddedAndTestcontainersOnly() {
        assertThat(Environment.servers(null)).isEqualTo(Environment.Servers.EMBEDDED);
        assertThat(Environment.servers("embedded")).isEqualTo(Environment.Servers.EMBEDDED);
        assertThat(Environment.servers(" TestContainers ")).isEqualTo(Environment.Servers.TESTCONTAINERS);
        assertThatThrownBy(() -> Environment.servers("docker"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("OUTBOX_TEST_SERVERS must be 'embedded' (the default) or 'testcontainers', but is 'docker'. "
                        + "Fix: set it to one of them, or unset it.");
    }

    @Test
    void choosingTestcontainersWithoutItOnTheClassPathNamesTheDependencyToAdd() {
        // the platform class loader sees the JDK only, as a user's test class path without Testcontainers would
        assertThatThrownBy(() -> DockerServers.requireTestcontainers(ClassLoader.getPlatformClassLoader()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("OUTBOX_TEST_SERVERS=testcontainers needs Testcontainers on the test class path")
                .hasMessageContaining("Fix: add org.testcontainers:testcontainers (2.0.x) with test scope");
        DockerServers.requireTestcontainers(DockerServersTest.class.getClassLoader()); // here it is (optional dependency)
    }

    @Test
    void defaultImagesAreTheOfficialOnesAtOurVersions() {
        String kafkaVersion = org.apache.kafka.common.utils.AppInfoParser.getVersion();
        assertThat(DockerServers.defaultKafkaImage()).isEqualTo("apache/kafka:" + kafkaVersion);
        assertThat(DockerServers.localKafkaImage()).isEqualTo("outbox-bridge/kafka:" + kafkaVersion);
        assertThat(DockerServers.DEFAULT_POSTGRES_IMAGE).isEqualTo("postgres:17");
    }

    @Test
    void kafkaContainerGetsTheEmbeddedBrokersSettingsAsApacheKafkaImageVariables() {
        Map<String, String> env = ContainerServers.kafkaEnvironment();
        assertThat(env).containsEntry("KAFKA_PROCESS_ROLES", "broker,controller")
                .containsEntry("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                .containsEntry("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
                .containsEntry("KAFKA_INTER_BROKER_LISTENER_NAME", "BROKER")
                .doesNotContainKey("KAFKA_ADVERTISED_LISTENERS"); // known only once the port is mapped
        EmbeddedKafkaStarter.BROKER_CONFIG.keySet().forEach(key ->
                assertThat(env).containsKey(ContainerServers.environmentName(key)));
        assertThat(ContainerServers.advertisedListeners("localhost", 32771))
                .isEqualTo("PLAINTEXT://localhost:32771,BROKER://" + DockerServers.KAFKA_NETWORK_BOOTSTRAP_SERVERS);
    }

    @Test
    void startScriptExportsTheListenersAndRunsTheImagesOwnCommandQuoted() {
        String script = ContainerServers.startScript("PLAINTEXT://localhost:1,BROKER://kafka:9093",
                List.of("/__cacert_entrypoint.sh", "/etc/kafka/docker/run", "it's"));
        assertThat(script).isEqualTo("#!/bin/sh\n"
                + "export KAFKA_ADVERTISED_LISTENERS='PLAINTEXT://localhost:1,BROKER://kafka:9093'\n"
                + "exec '/__cacert_entrypoint.sh' '/etc/kafka/docker/run' 'it'\\''s'\n");
    }
}
