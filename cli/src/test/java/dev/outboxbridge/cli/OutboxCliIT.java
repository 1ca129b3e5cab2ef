package dev.outboxbridge.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.outboxbridge.inbox.FatalEventException;
import dev.outboxbridge.inbox.InboxConsumer;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.outbox.OutboxEvent;
import dev.outboxbridge.relay.Relay;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelaySettings;
import dev.outboxbridge.testkit.OutboxBridgeExtension;
import dev.outboxbridge.testkit.TestDatabase;
import dev.outboxbridge.testkit.TestKafka;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command of the operator CLI against a real PostgreSQL, a real Kafka broker, real relays and a real inbox
 * consumer; the CLI runs in-process through picocli with captured output, and once as the runnable jar.
 */
@ExtendWith(OutboxBridgeExtension.class)
class OutboxCliIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path dir;

    private static Outbox outbox(String prefix) {
        return Outbox.create(OutboxConfig.builder().topicPrefix(prefix).build());
    }

    private static UUID append(TestDatabase db, Outbox outbox, String key, String type, String payload) throws Exception {
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            UUID id = outbox.append(c, OutboxEvent.of("order", key, type, payload));
            c.commit();
            return id;
        }
    }

    private static List<String> texts(JsonNode array, String field) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(field.isEmpty() ? n.asText() : n.path(field).asText()));
        return out;
    }

    @Test
    void statusReportsTheSlotTheLeaderAndItsStandbyThePositionAndTheBacklog(TestDatabase db, TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String topic = prefix + "order";
        kafka.createTopic(topic, 3);
        Map<String, String> settings = RelaySettings.of(db, kafka, prefix);
        settings.put(RelayConfig.HA_LEASE_MS, "1000");
        Map<String, String> a = new HashMap<>(settings);
        a.put(RelayConfig.NAME, "relay-a");
        Map<String, String> b = new HashMap<>(settings);
        b.put(RelayConfig.NAME, "relay-b");
        Cli cli = Cli.withFiles(dir, settings, Map.of());
        Outbox outbox = outbox(prefix);
        List<UUID> ids = new ArrayList<>();
        try (Relay ra = Relay.create(RelayConfig.of(a)); Relay rb = Relay.create(RelayConfig.of(b))) {
            ra.start();
            rb.start();
            for (int i = 0; i < 3; i++) {
                ids.add(append(db, outbox, "o-1", "Placed", "{\"n\":" + i + "}"));
            }
            await().atMost(WAIT).until(() -> kafka.readAll(topic, 3, WAIT).size() >= 3);
            Cli.Result r = await().atMost(WAIT).until(() -> cli.run("status", "--json"),
                    x -> x.json().path("position").path("stored").isObject() && x.json().path("lease").path("leader").isObject()
                            && ids.get(2).toString().equals(x.json().path("lastPublished").path("eventId").asText()));
            String leader = ra.state() == Relay.State.RUNNING ? "relay-a" : "relay-b";
            String standby = leader.equals("relay-a") ? "relay-b" : "relay-a";
            JsonNode s = r.json();
            assertThat(r.code()).as(r.toString()).isZero();
            assertThat(s.at("/slot/exists").asBoolean()).isTrue();
            assertThat(s.at("/slot/active").asBoolean()).isTrue();
            assertThat(s.at("/slot/plugin").asText()).isEqualTo("pgoutput");
            assertThat(s.at("/slot/lagBytes").isNumber()).isTrue();
            assertThat(s.at("/lease/leader/relay").asText()).isEqualTo(leader);
            assertThat(texts(s.at("/lease/standbys"), "relay")).contains(standby).doesNotContain(leader);
            assertThat(s.at("/position/stored/lsn").asText()).matches("[0-9A-F]+/[0-9A-F]+");
            assertThat(s.at("/lastPublished/topic").asText()).isEqualTo(topic);
            assertThat(s.at("/lastPublished/key").asText()).isEqualTo("o-1");
            assertThat(s.at("/backlog/events").asLong()).isZero();
            assertThat(s.at("/problems")).isEmpty();

            Cli.Result human = cli.run("status");
            assertThat(human.code()).isZero();
            assertThat(human.out()).contains("leader        " + leader).contains("standbys      " + standby).contains(ids.get(2).toString())
                    .contains("OK");
        }
        // no relay runs now: two events wait in the outbox table
        append(db, outbox, "o-2", "Placed", "{}");
        append(db, outbox, "o-3", "Placed", "{}");
        Cli.Result behind = await().atMost(WAIT).until(() -> cli.run("status", "--json", "--max-lag-bytes", "0", "--require-leader"),
                x -> !x.json().at("/slot/active").asBoolean());
        assertThat(behind.code()).as(behind.toString()).isEqualTo(OutboxCli.EXIT_PROBLEM);
        assertThat(behind.json().at("/backlog/events").asLong()).isEqualTo(2);
        assertThat(behind.json().at("/lease/leader").isNull()).isTrue();
        assertThat(texts(behind.json().at("/problems"), "")).anyMatch(p -> p.contains("--max-lag-bytes"))
                .anyMatch(p -> p.contains("no relay holds the lease"));
        assertThat(behind.json().at("/lag/seconds").asDouble()).isGreaterThanOrEqualTo(0.0);

        // the runnable jar, configured by the relay's environment variables alone
        JsonNode fromJar = runJar(RelayConfig.toEnvironment(settings), "status", "--json");
        assertThat(fromJar.at("/backlog/events").asLong()).isEqualTo(2);
        assertThat(fromJar.at("/slot/name").asText()).isEqualTo(settings.get(RelayConfig.SLOT_NAME));
    }

    @Test
    void traceFollowsAnEventThatWasParkedDeadLetteredAndRedriven(TestDatabase db, TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String topic = prefix + "order";
        kafka.createTopic(topic, 2);
        String consumer = kafka.topic("billing");
        kafka.createTopic(consumer + ".dlt", 1);
        Map<String, String> settings = RelaySettings.of(db, kafka, prefix);
        settings.put(RelayConfig.HA_ENABLED, "false");
        Map<String, String> inboxSettings = Map.of("database.url", db.jdbcUrl(), "database.user", db.user(),
                "database.password", db.password() == null ? "" : db.password(), "consumers", consumer);
        Cli cli = Cli.withFiles(dir, settings, inboxSettings);
        Outbox outbox = outbox(prefix);
        AtomicBoolean fixed = new AtomicBoolean();
        try (Relay relay = Relay.create(RelayConfig.of(settings));
                InboxConsumer inbox = InboxConsumer.builder().consumerName(consumer)
                        .kafkaProperties(Map.of("bootstrap.servers", kafka.bootstrapServers())).topics(List.of(topic))
                        .dataSource(db.dataSource()).parkedKeyCheckInterval(Duration.ofMillis(50))
                        .handler((event, tx) -> {
                            if (!fixed.get() && new String(event.payload(), StandardCharsets.UTF_8).startsWith("poison")) {
                                throw new FatalEventException("cannot bill event " + event.id() + ": no price list");
                            }
                        }).build()) {
            relay.start(); // the slot exists from here on: what is committed now is published
            inbox.start();
            UUID ok1 = append(db, outbox, "o-1", "Placed", "fine");
            UUID poison1 = append(db, outbox, "o-1", "Paid", "poison-1");
            UUID after1 = append(db, outbox, "o-1", "Shipped", "fine");
            UUID poison2 = append(db, outbox, "o-2", "Paid", "poison-2");
            UUID after2 = append(db, outbox, "o-2", "Shipped", "fine");
            Cli.Result parked = await().atMost(WAIT).until(() -> cli.run("parked", "list", "--json"),
                    x -> x.json().path("count").asInt() == 2 && texts(x.json().get("keys"), "status").stream().allMatch("DEAD_LETTERED"::equals)
                            && texts(x.json().get("keys"), "waitingEvents").stream().allMatch("2"::equals)); // the head and the event behind it
            assertThat(parked.code()).isZero();
            assertThat(texts(parked.json().get("keys"), "key")).containsExactlyInAnyOrder("o-1", "o-2");
            assertThat(cli.run("parked", "list", "--max-keys", "0").code()).isEqualTo(OutboxCli.EXIT_PROBLEM);

            // the dead-lettered event: its row, its record (in the partition its key hashes to), its status and its dead letter
            Cli.Result trace = cli.run("trace", poison1.toString(), "--json");
            assertThat(trace.code()).as(trace.toString()).isEqualTo(OutboxCli.EXIT_PROBLEM);
            JsonNode t = trace.json();
            assertThat(t.at("/outboxRow/key").asText()).isEqualTo("o-1");
            assertThat(t.at("/kafka")).hasSize(1);
            assertThat(t.at("/kafka/0/topic").asText()).isEqualTo(topic);
            assertThat(t.at("/kafka/0/partition").asInt()).isEqualTo(Utils.toPositive(Utils.murmur2("o-1".getBytes(StandardCharsets.UTF_8))) % 2);
            assertThat(t.at("/consumers/0/consumer").asText()).isEqualTo(consumer);
            assertThat(t.at("/consumers/0/status").asText()).isEqualTo("DEAD_LETTERED");
            assertThat(t.at("/consumers/0/parked/head").asBoolean()).isTrue();
            assertThat(t.at("/consumers/0/deadLetters/0/reason").asText()).isEqualTo("handler-fatal");
            assertThat(t.at("/consumers/0/deadLetters/0/topic").asText()).isEqualTo(consumer + ".dlt");
            Cli.Result waiting = cli.run("trace", after1.toString(), "--json");
            assertThat(waiting.json().at("/consumers/0/status").asText()).isEqualTo("PARKED");
            assertThat(waiting.json().at("/consumers/0/parked/head").asBoolean()).isFalse();
            assertThat(cli.run("trace", ok1.toString(), "--json").code()).isZero();

            Cli.Result show = cli.run("parked", "show", "o-1", "--json");
            assertThat(show.code()).isZero();
            assertThat(texts(show.json().get("events"), "eventId")).containsExactly(poison1.toString(), after1.toString());
            assertThat(show.json().get("lastError").asText()).contains("no price list");
            assertThat(cli.run("parked", "show", "o-1").out()).contains("outbox-cli parked redrive o-1");

            Cli.Result letters = cli.run("dead-letters", "list", "--json");
            assertThat(letters.code()).isZero();
            assertThat(texts(letters.json().get("deadLetters"), "eventId")).containsExactlyInAnyOrder(poison1.toString(), poison2.toString());
            assertThat(texts(letters.json().get("deadLetters"), "now")).containsOnly("key parked, waiting for a redrive");
            long offset2 = 0;
            for (JsonNode n : letters.json().get("deadLetters")) {
                if (n.get("eventId").asText().equals(poison2.toString())) {
                    offset2 = n.get("offset").asLong();
                }
            }
            Cli.Result letter = cli.run("dead-letters", "show", String.valueOf(offset2), "--json");
            assertThat(letter.code()).isZero();
            assertThat(letter.json().get("reason").asText()).isEqualTo("handler-fatal");
            assertThat(letter.json().get("payload").asText()).isEqualTo("poison-2");
            assertThat(letter.json().get("originalTopic").asText()).isEqualTo(topic);
            assertThat(letter.json().at("/headers/outbox.dlt.consumer").asText()).isEqualTo(consumer);
            assertThat(cli.run("dead-letters", "show", String.valueOf(offset2)).out()).contains("handler-fatal").contains("poison-2");

            // the cause is fixed: o-1 is redriven (its head runs again), o-2's poison is skipped from its dead letter
            fixed.set(true);
            Cli.Result redrive = cli.run("parked", "redrive", "o-1");
            assertThat(redrive.code()).as(redrive.toString()).isZero();
            assertThat(redrive.out()).contains("Redriven key o-1").contains("RETRY_DEAD_LETTERED");
            Cli.Result skip = cli.run("dead-letters", "redrive", String.valueOf(offset2), "--skip", "--json");
            assertThat(skip.code()).as(skip.toString()).isZero();
            assertThat(skip.json().get("key").asText()).isEqualTo("o-2");
            assertThat(skip.json().get("mode").asText()).isEqualTo("SKIP_DEAD_LETTERED");

            Cli.Result redriven = await().atMost(WAIT).until(() -> cli.run("trace", poison1.toString(), "--json"), x -> x.code() == 0);
            assertThat(redriven.json().at("/consumers/0/status").asText()).isEqualTo("APPLIED");
            assertThat(redriven.json().at("/consumers/0/deadLetters")).as("the dead letter stays as history").hasSize(1);
            assertThat(cli.run("trace", poison1.toString()).out()).contains("APPLIED").contains("dead letter " + consumer + ".dlt");
            await().atMost(WAIT).until(() -> cli.run("trace", after2.toString()).code() == 0);
            Cli.Result skipped = cli.run("trace", poison2.toString(), "--json");
            assertThat(skipped.code()).isEqualTo(OutboxCli.EXIT_PROBLEM);
            assertThat(skipped.json().at("/consumers/0/status").asText()).isEqualTo("DEAD_LETTERED");
            assertThat(skipped.json().at("/consumers/0/parked").isMissingNode()).isTrue();
            await().atMost(WAIT).until(() -> cli.run("parked", "list", "--max-keys", "0").code() == 0);
            assertThat(texts(cli.run("dead-letters", "list", "--json").json().get("deadLetters"), "now"))
                    .containsExactlyInAnyOrder("applied (redriven)", "skipped (stays dead-lettered)");
            assertThat(cli.run("dead-letters", "list").out()).contains("applied (redriven)").contains("skipped (stays dead-lettered)");
            assertThat(cli.run("parked", "redrive", "o-1").code()).as("nothing parked any more").isEqualTo(OutboxCli.EXIT_PROBLEM);
            // a row removed from the outbox table is found from its key, or by reading the latest records of every topic
            db.count("WITH d AS (DELETE FROM outbox_event WHERE id = ? RETURNING 1) SELECT count(*) FROM d", ok1);
            Cli.Result byKey = cli.run("trace", ok1.toString(), "--topic", topic, "--key", "o-1", "--json");
            assertThat(byKey.code()).as(byKey.toString()).isZero();
            assertThat(byKey.json().get("outboxRow").isNull()).isTrue();
            assertThat(byKey.json().at("/kafka/0/key").asText()).isEqualTo("o-1");
            assertThat(cli.run("trace", ok1.toString(), "--json").json().at("/kafka/0/offset").asLong())
                    .isEqualTo(byKey.json().at("/kafka/0/offset").asLong());
            assertThat(cli.run("trace", ok1.toString(), "--topic", topic, "--since", "PT1H", "--json").json().at("/kafka/0/offset").asLong())
                    .isEqualTo(byKey.json().at("/kafka/0/offset").asLong());
        }
    }

    @Test
    void slotIsCreatedAheadOfTheRelayCheckedAndDroppedOnlyWhenConfirmed(TestDatabase db, TestKafka kafka) throws Exception {
        String prefix = kafka.prefix() + "outbox.event.";
        String topic = prefix + "order";
        kafka.createTopic(topic, 1);
        Map<String, String> settings = RelaySettings.of(db, kafka, prefix);
        settings.put(RelayConfig.HA_ENABLED, "false");
        String slot = settings.get(RelayConfig.SLOT_NAME);
        Cli cli = Cli.withFiles(dir, settings, Map.of());

        Cli.Result missing = cli.run("slot", "check", "--json");
        assertThat(missing.code()).isEqualTo(OutboxCli.EXIT_PROBLEM);
        assertThat(missing.json().get("slot").isNull()).isTrue();
        assertThat(missing.json().at("/publication/state").asText()).isEqualTo("missing");

        Cli.Result created = cli.run("slot", "create");
        assertThat(created.code()).as(created.toString()).isZero();
        assertThat(created.out()).contains("Created slot " + slot + " (pgoutput, failover=true)")
                .contains("created for public.outbox_event");
        Cli.Result again = cli.run("slot", "create", "--json");
        assertThat(again.code()).isZero();
        assertThat(again.json().get("created").asBoolean()).isFalse();
        assertThat(again.json().at("/slot/plugin").asText()).isEqualTo("pgoutput");
        assertThat(again.json().at("/slot/failover").asBoolean()).as("PostgreSQL 17: a failover slot").isTrue();
        assertThat(again.json().at("/publication/state").asText()).startsWith("covers");
        Cli.Result check = cli.run("slot", "check", "--require-failover", "--json");
        assertThat(check.code()).as(check.toString()).isZero();
        assertThat(check.json().at("/slot/failover").asBoolean()).isTrue();
        assertThat(check.json().at("/slot/synced").asBoolean()).as("on the primary").isFalse();
        assertThat(check.json().at("/publication/state").asText()).startsWith("covers");
        assertThat(cli.run("slot", "check").out()).contains("failover     yes");

        // first deployment: the service writes before the relay runs; the slot holds the event for it
        UUID early = append(db, outbox(prefix), "o-1", "Placed", "{}");
        try (Relay relay = Relay.create(RelayConfig.of(settings))) {
            relay.start();
            await().atMost(WAIT).until(() -> kafka.readAll(topic, 1, WAIT).stream()
                    .anyMatch(r -> early.toString().equals(new String(r.headers().lastHeader("id").value(), StandardCharsets.UTF_8))));
            Cli.Result busy = cli.run("slot", "drop", "--yes");
            assertThat(busy.code()).as(busy.toString()).isEqualTo(OutboxCli.EXIT_REFUSED);
            assertThat(busy.err()).contains("stop every relay");
        }
        await().atMost(WAIT).until(() -> db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ? AND active", slot) == 0);
        Cli.Result notConfirmed = cli.runWithInput("not-the-slot\n", "slot", "drop");
        assertThat(notConfirmed.code()).isEqualTo(OutboxCli.EXIT_REFUSED);
        assertThat(notConfirmed.err()).contains("Type the slot name").contains("Not confirmed");
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot)).isEqualTo(1);
        Cli.Result dropped = cli.runWithInput(slot + "\n", "slot", "drop", "--json");
        assertThat(dropped.code()).as(dropped.toString()).isZero();
        assertThat(dropped.json().get("dropped").asBoolean()).isTrue();
        assertThat(db.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?", slot)).isZero();
        assertThat(cli.run("slot", "drop", "--yes").code()).isEqualTo(OutboxCli.EXIT_PROBLEM);
        assertThat(cli.run("slot", "check").code()).isEqualTo(OutboxCli.EXIT_PROBLEM);
    }

    @Test
    void badUsageAndConfigurationExitWithTwoAndUnreachableServersWithThree(TestDatabase db, TestKafka kafka) throws Exception {
        Cli bare = new Cli(List.of(), Map.of());
        Cli.Result noConfig = bare.run("status", "--json");
        assertThat(noConfig.code()).isEqualTo(OutboxCli.EXIT_USAGE);
        assertThat(noConfig.err()).contains("database.hostname").contains("Fix: give the relay's own properties file with --config");
        assertThat(noConfig.json().get("exitCode").asInt()).isEqualTo(OutboxCli.EXIT_USAGE);
        assertThat(bare.run().code()).isEqualTo(OutboxCli.EXIT_USAGE);
        assertThat(bare.run("parked", "list").err()).contains("database.url");

        Map<String, String> settings = RelaySettings.of(db, kafka, kafka.prefix() + "outbox.event.");
        Map<String, String> typo = new HashMap<>(settings);
        typo.put("slot.nmae", "x");
        Cli.Result unknown = Cli.withFiles(dir, typo, Map.of()).run("status");
        assertThat(unknown.code()).isEqualTo(OutboxCli.EXIT_USAGE);
        assertThat(unknown.err()).contains("Unknown relay setting 'slot.nmae'");

        Cli cli = Cli.withFiles(dir, settings, Map.of());
        Cli.Result notAnId = cli.run("trace", "order-42");
        assertThat(notAnId.code()).isEqualTo(OutboxCli.EXIT_USAGE);
        assertThat(notAnId.err()).contains("not an event id");

        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Map<String, String> down = new HashMap<>(settings);
        down.put(RelayConfig.DATABASE_PORT, String.valueOf(closedPort));
        Cli.Result unreachable = Cli.withFiles(dir, down, Map.of()).run("status");
        assertThat(unreachable.code()).isEqualTo(OutboxCli.EXIT_UNREACHABLE);
        assertThat(unreachable.err()).contains("Cannot connect to PostgreSQL").contains("Fix:");

        Map<String, String> noKafka = new HashMap<>(settings);
        noKafka.put(RelayConfig.KAFKA_BOOTSTRAP_SERVERS, "localhost:" + closedPort);
        Cli.Result kafkaDown = Cli.withFiles(dir, noKafka, Map.of()).run("status", "--timeout", "2");
        assertThat(kafkaDown.code()).as(kafkaDown.toString()).isEqualTo(OutboxCli.EXIT_UNREACHABLE);
        assertThat(kafkaDown.err()).contains("Kafka at localhost:" + closedPort).contains("Fix:");
        Cli.Result dltDown = Cli.withFiles(dir, settings, Map.of("kafka.bootstrap.servers", "localhost:" + closedPort))
                .run("dead-letters", "list", "--consumer", "billing", "--timeout", "2", "--json");
        assertThat(dltDown.code()).as(dltDown.toString()).isEqualTo(OutboxCli.EXIT_UNREACHABLE);
        assertThat(dltDown.json().get("error").asText()).contains("inbox setting kafka.bootstrap.servers");
        assertThat(cli.run("status", "--timeout", "0").code()).isEqualTo(OutboxCli.EXIT_USAGE);

        Map<String, String> wrongPassword = new HashMap<>(settings);
        wrongPassword.put(RelayConfig.DATABASE_USER, "no_such_role");
        Cli.Result refused = Cli.withFiles(dir, wrongPassword, Map.of()).run("slot", "check");
        assertThat(refused.code()).as(refused.toString()).isIn(OutboxCli.EXIT_USAGE);
        assertThat(refused.err()).contains("database.user");
    }

    /** Runs the packaged jar ({@code target/outbox-cli-*.jar} with its {@code lib/}) as an operator would. */
    private JsonNode runJar(Map<String, String> environment, String... args) throws Exception {
        Path jar;
        try (Stream<Path> files = Files.list(Path.of("target"))) {
            jar = files.filter(p -> p.getFileName().toString().matches("outbox-cli-[0-9].*\\.jar")
                    && !p.getFileName().toString().contains("tests")).findFirst()
                    .orElseThrow(() -> new AssertionError("no runnable jar in target/: run the package phase first"));
        }
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                jar.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectError(dir.resolve("jar.err").toFile());
        pb.environment().putAll(environment);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String text = new String(out, StandardCharsets.UTF_8);
        System.out.println("outbox-cli (jar) " + String.join(" ", args) + " -> exit " + p.exitValue() + "\n" + text
                + readQuietly(dir.resolve("jar.err")));
        assertThat(p.exitValue()).isZero();
        return MAPPER.readTree(text);
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }
}
