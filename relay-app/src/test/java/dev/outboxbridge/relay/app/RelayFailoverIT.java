package dev.outboxbridge.relay.app;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.ProcessSettings;
import dev.outboxbridge.testsupport.SequenceWriter;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import dev.outboxbridge.testsupport.ChildJvm;
import dev.outboxbridge.testsupport.RelayRole;
import dev.outboxbridge.testsupport.TcpProxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The leader relay is cut off from PostgreSQL by the network (a black hole: its connections stay
 * open, nothing passes): it must fence itself, and the standby must take over, publish everything
 * in order and start only after the old leader stopped. Both relays are processes, as the least-privilege role.
 */
@ExtendWith(OutboxBridgeExtension.class)
class RelayFailoverIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void standbyTakesOverWhenLeaderIsCutOffFromPostgres(TestDatabase db, TestKafka kafka) throws Exception {
        String topicPrefix = kafka.prefix() + "outbox.event.";
        String topic = topicPrefix + "order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = ProcessSettings.of(db, kafka.bootstrapServers(), topicPrefix);
        String role = RelayRole.provision(db, settings);
        Path logA = dir.resolve("relay-a.log");
        Path logB = dir.resolve("relay-b.log");
        Outbox outbox = Outbox.create(OutboxConfig.builder().topicPrefix(topicPrefix).build());
        SequenceWriter writer = null;
        try (TcpProxy leaderLink = TcpProxy.start("relay-a-postgres", db.host(), db.port())) {
            Map<String, String> a = new HashMap<>(settings);
            a.put(RelayConfig.NAME, "failover-a");
            a.put(RelayConfig.DATABASE_HOSTNAME, "localhost");
            a.put(RelayConfig.DATABASE_PORT, String.valueOf(leaderLink.port()));
            Map<String, String> b = new HashMap<>(settings);
            b.put(RelayConfig.NAME, "failover-b");
            ChildJvm relayA = ChildJvm.start("relay-a", "dev.outboxbridge.relay.app.RelayMain", List.of(), RelayConfig.toEnvironment(a),
                    logA, "256m");
            ChildJvm relayB = null;
            try {
                await().atMost(TIMEOUT).until(() -> line(logA, "is the leader for slot").isPresent());
                relayB = ChildJvm.start("relay-b", "dev.outboxbridge.relay.app.RelayMain", List.of(), RelayConfig.toEnvironment(b), logB,
                        "256m");
                await().atMost(TIMEOUT).until(() -> line(logB, "is a standby for slot").isPresent());
                writer = new SequenceWriter(db, outbox);
                await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, 200, Duration.ofSeconds(2)).size() >= 200);

                Instant cut = Instant.now();
                leaderLink.blackhole(Duration.ofSeconds(60)); // the leader's database connections hang, nothing is closed
                await().atMost(TIMEOUT).until(() -> line(logB, "is the leader for slot").isPresent());
                Instant tookOver = timestamp(line(logB, "is the leader for slot").orElseThrow());
                Optional<String> fencedLine = line(logA, "lost the lease");
                assertThat(fencedLine).as("the cut-off leader fenced itself; its log:\n%s", read(logA)).isPresent();
                Instant fenced = timestamp(fencedLine.get());
                System.out.printf("standbyTakesOverWhenLeaderIsCutOffFromPostgres: old leader fenced %d ms after the cut,"
                        + " standby led %d ms after it%n", Duration.between(cut, fenced).toMillis(),
                        Duration.between(cut, tookOver).toMillis());
                assertThat(fenced).as("the old leader stopped publishing before the standby started").isBefore(tookOver);
                assertThat(relayA.waitFor(Duration.ofSeconds(60))).as("the fenced relay exits").isTrue();
                assertThat(relayA.exitValue()).as("exit code of the fenced relay (its supervisor restarts it as a standby)").isEqualTo(1);

                int before = writer.committedCount();
                await().atMost(TIMEOUT).until(() -> kafka.readAll(topic, before, Duration.ofSeconds(2)).size() >= before);
                List<UUID> all = writer.stop();
                List<ConsumerRecord<byte[], byte[]>> records = kafka.readAll(topic, all.size(), TIMEOUT);
                assertThat(ids(records)).as("lost").containsAll(all);
                assertThat(new HashSet<>(ids(records))).as("phantoms").hasSameSizeAs(new HashSet<>(all));
                SequenceWriter.assertFirstOccurrencesInOrder(records);
            } finally {
                if (writer != null) {
                    writer.close();
                }
                leaderLink.heal();
                relayA.kill();
                if (relayB != null) {
                    relayB.terminate(Duration.ofSeconds(40));
                }
                for (Path log : List.of(logA, logB)) {
                    if (Files.exists(log)) {
                        Files.copy(log, Path.of("target", "RelayFailoverIT-" + log.getFileName()),
                                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                RelayRole.dropQuietly(db, role);
            }
        }
    }

    private static List<UUID> ids(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().map(r -> UUID.fromString(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8)))
                .toList();
    }

    private static Optional<String> line(Path log, String text) throws Exception {
        return Files.exists(log) ? Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> l.contains(text)).findFirst()
                : Optional.empty();
    }

    private static String read(Path log) throws Exception {
        return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no log)";
    }

    private static Instant timestamp(String logLine) {
        return OffsetDateTime.parse(logLine.substring(0, logLine.indexOf(' '))).toInstant();
    }
}
