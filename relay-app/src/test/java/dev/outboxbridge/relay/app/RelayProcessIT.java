package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.Load;
import dev.outboxbridge.relay.RelaySettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.internal.Preflight;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The packaged relay ({@code java -jar}) as an operator runs it, stopped with real signals. */
@ExtendWith(OutboxBridgeExtension.class)
class RelayProcessIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    static Path relayJar() throws IOException {
        try (Stream<Path> files = Files.list(Path.of("target"))) {
            return files.filter(p -> p.getFileName().toString().matches("outbox-relay-app-.*\\.jar") && !p.toString().endsWith("-sources.jar"))
                    .findFirst().orElseThrow(() -> new IllegalStateException("run 'package' first: no target/outbox-relay-app-*.jar"));
        }
    }

    /** Starts {@code java -jar outbox-relay-app.jar} configured through OUTBOX_RELAY_* environment variables. */
    static Process startRelayProcess(Map<String, String> settings, Path log) throws IOException {
        return startRelayProcess(settings, log, Map.of());
    }

    /** As {@link #startRelayProcess(Map, Path)}, with more environment variables (e.g. OUTBOX_LOG_LEVEL). */
    static Process startRelayProcess(Map<String, String> settings, Path log, Map<String, String> environment) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-Xmx256m", "-jar",
                relayJar().toAbsolutePath().toString());
        pb.environment().putAll(RelayConfig.toEnvironment(settings));
        pb.environment().putAll(environment);
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        return pb.start();
    }

    @Test
    void sigtermUnderLoadExitsZeroAndTheNextRelayResumesWithNoLossAndNoDuplicate(TestDatabase db, TestKafka kafka) throws Exception {
        String topic = kafka.prefix() + "outbox.event.order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, dir);
        settings.put(RelayConfig.DATABASE_PASSWORD, "Sup3r-Secret-Relay-Pw"); // the test server trusts local connections
        settings.put("kafka.producer.ssl.key.password", "Kafka-Secret-Pw"); // unused by PLAINTEXT, must not be logged either
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(kafka.prefix() + "outbox.event.").build());
        Path log = dir.resolve("relay.log");
        List<UUID> committed;
        settings.put(RelayConfig.FIRST_START_SNAPSHOT, "false"); // stops of the stream: no first-start snapshot (a stop during it repeats it)
        new Preflight(RelayConfig.of(settings)).run(); // publication and slot exist before the first write the relay must publish
        Process relay = startRelayProcess(settings, log);
        Load load = new Load(db, outbox, "order", 8);
        try (load) {
            try {
                await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, 100, Duration.ofSeconds(2)).size() >= 100);
            } finally {
                relay.destroy(); // SIGTERM, while the load keeps committing
            }
            assertThat(relay.waitFor(60, TimeUnit.SECONDS)).as("stopped within the shutdown timeout").isTrue();
            String output = Files.readString(log, StandardCharsets.UTF_8);
            Files.copy(log, Path.of("target", "RelayProcessIT-relay.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertThat(relay.exitValue()).as("exit code after SIGTERM; log:\n%s", output).isZero();
            assertThat(output).contains("Received SIGTERM").contains("stopped (STOPPED)")
                    .as("logs never contain passwords").doesNotContain("Sup3r-Secret-Relay-Pw").doesNotContain("Kafka-Secret-Pw");
            committed = new ArrayList<>(load.stop());
        } finally {
            relay.destroyForcibly();
        }
        try (Relay next = Relay.create(RelayConfig.of(settings))) {
            next.start();
            List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, committed.size(), TIMEOUT);
            List<UUID> published = records.stream()
                    .map(r -> UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8))).toList();
            assertThat(published).as("lost").containsAll(committed);
            assertThat(published).as("duplicates").doesNotHaveDuplicates().hasSameSizeAs(committed);
        }
    }
}
