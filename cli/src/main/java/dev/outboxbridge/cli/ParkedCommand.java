package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.inbox.InboxConsumer.RedriveMode;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code parked list|show|redrive}: the consumers' parked keys (docs/consumer-failures.md). */
@Command(name = "parked", mixinStandardHelpOptions = true,
        description = "Keys a consumer parked: their head failed (RETRYING) or went to the dead-letter topic (DEAD_LETTERED).",
        subcommands = {ParkedCommand.ListKeys.class, ParkedCommand.Show.class, ParkedCommand.Redrive.class})
final class ParkedCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: list, show or redrive");
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = {"The parked keys, oldest first, with the events waiting behind each.", "Exits 1 with --max-keys when more keys are parked."})
    static final class ListKeys extends CliCommand {

        @Option(names = "--consumer", paramLabel = "NAME", description = "Only this consumer (repeatable; default: inbox setting consumers, else all).")
        List<String> consumers;

        @Option(names = "--max-keys", paramLabel = "N", description = "Exit 1 when more than N keys are parked (0: any parked key is a problem).")
        Integer maxKeys;

        @Override
        int run(Output out) {
            InboxSettings inbox = inbox();
            List<String> names = InboxFacts.consumers(consumers, inbox);
            ArrayNode keys;
            try (Connection c = Databases.inbox(inbox)) {
                keys = InboxFacts.parkedKeys(c, inbox.table(), names, out);
            } catch (java.sql.SQLException e) {
                throw CliException.unreachable("Closing the inbox connection failed: " + e.getMessage(), e);
            }
            ObjectNode data = out.object();
            data.put("consumers", names.isEmpty() ? "all" : String.join(",", names));
            data.put("count", keys.size());
            data.set("keys", keys);
            boolean problem = maxKeys != null && keys.size() > maxKeys;
            data.put("problem", problem ? keys.size() + " parked keys > --max-keys " + maxKeys : null);
            out.emit(data, w -> {
                if (keys.isEmpty()) {
                    w.println("No parked keys" + (names.isEmpty() ? "" : " for " + String.join(", ", names)) + ".");
                } else {
                    List<List<String>> rows = new ArrayList<>();
                    for (JsonNode k : keys) {
                        rows.add(List.of(k.get("consumer").asText(), k.get("topic").asText(), k.get("key").asText(), k.get("status").asText(),
                                k.get("attempts").asText(), k.get("waitingEvents").asText(), k.get("parkedAt").asText(),
                                Output.shorten(Output.str(k, "lastError"), 80)));
                    }
                    Output.table(w, List.of("CONSUMER", "TOPIC", "KEY", "STATUS", "ATTEMPTS", "WAITING", "PARKED AT", "LAST ERROR"), rows);
                }
                if (problem) {
                    w.println("PROBLEM: " + data.get("problem").asText());
                }
            });
            return problem ? OutboxCli.EXIT_PROBLEM : OutboxCli.EXIT_OK;
        }
    }

    /** Options naming one parked key. */
    static final class KeyOptions {
        @Parameters(index = "0", paramLabel = "KEY", description = "The record key (the aggregate id).")
        String key;

        @Option(names = "--topic", paramLabel = "TOPIC", description = "The key's topic (needed when the key is parked in several).")
        String topic;

        @Option(names = "--consumer", paramLabel = "NAME", description = "The consumer (needed when several parked the key).")
        String consumer;

        /** The one parked key matching the options. */
        ObjectNode resolve(Connection c, InboxSettings inbox, Output out) {
            List<String> names = consumer != null ? List.of(consumer) : inbox.consumers();
            List<JsonNode> matches = new ArrayList<>();
            for (JsonNode k : InboxFacts.parkedKeys(c, inbox.table(), names, out)) {
                if (k.get("key").asText().equals(key) && (topic == null || k.get("topic").asText().equals(topic))) {
                    matches.add(k);
                }
            }
            if (matches.isEmpty()) {
                throw new CliException(OutboxCli.EXIT_PROBLEM, "Key '" + key + "' is not parked" + (topic == null ? "" : " in " + topic)
                        + (names.isEmpty() ? "" : " for " + String.join(", ", names)) + ". See outbox-cli parked list.");
            }
            if (matches.size() > 1) {
                List<String> where = matches.stream().map(k -> k.get("consumer").asText() + " " + k.get("topic").asText()).toList();
                throw CliException.config("Key '" + key + "' is parked " + matches.size() + " times: " + where
                        + ". Fix: name one with --consumer and --topic");
            }
            return (ObjectNode) matches.get(0);
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One parked key: its status, last error and the events waiting, head first.")
    static final class Show extends CliCommand {

        @CommandLine.Mixin
        KeyOptions keyOptions;

        @Override
        int run(Output out) throws Exception {
            InboxSettings inbox = inbox();
            ObjectNode k;
            try (Connection c = Databases.inbox(inbox)) {
                k = keyOptions.resolve(c, inbox, out);
                k.set("events", InboxFacts.parkedEvents(c, inbox.table(), k.get("consumer").asText(), k.get("topic").asText(),
                        k.get("key").asText(), out));
            }
            out.emit(k, w -> {
                w.printf("Key %s of %s (partition %s), consumer %s%n", k.get("key").asText(), k.get("topic").asText(), k.get("partition").asText(),
                        k.get("consumer").asText());
                w.printf("  status       %s, %s attempts%s%n", k.get("status").asText(), k.get("attempts").asText(),
                        k.get("nextAttemptAt").isNull() ? "" : ", next attempt at " + k.get("nextAttemptAt").asText());
                w.printf("  parked at    %s (updated %s)%n", k.get("parkedAt").asText(), k.get("updatedAt").asText());
                w.printf("  last error   %s%n", Output.str(k, "lastError"));
                w.printf("  events       %d waiting, in order:%n", k.get("events").size());
                for (JsonNode e : k.get("events")) {
                    w.printf("    %s %-16s offset %-6s %s%n", e.get("eventId").asText(), Output.str(e, "eventType"), e.get("offset").asText(),
                            Output.shorten(Output.str(e, "payload"), 60));
                }
                if ("DEAD_LETTERED".equals(k.get("status").asText())) {
                    w.println("  redrive      outbox-cli parked redrive " + k.get("key").asText() + " --topic " + k.get("topic").asText()
                            + " --consumer " + k.get("consumer").asText() + " [--skip]");
                }
            });
            return OutboxCli.EXIT_OK;
        }
    }

    @Command(name = "redrive", mixinStandardHelpOptions = true,
            description = {"Release a parked key through the inbox (InboxConsumer.redrive): the member that owns its partition applies"
                    + " its events in order within about parkedKeyCheckInterval. Fix the cause first.",
                    "Default: the dead-lettered head runs through the handler again; --skip drops it from the parked events"
                            + " (it stays dead-lettered) and applies the events behind it."})
    static final class Redrive extends CliCommand {

        @CommandLine.Mixin
        KeyOptions keyOptions;

        @Option(names = "--skip", description = "Skip the dead-lettered head event instead of retrying it (RedriveMode.SKIP_DEAD_LETTERED).")
        boolean skip;

        @Override
        int run(Output out) throws Exception {
            InboxSettings inbox = inbox();
            ObjectNode k;
            try (Connection c = Databases.inbox(inbox)) {
                k = keyOptions.resolve(c, inbox, out);
            }
            RedriveMode mode = skip ? RedriveMode.SKIP_DEAD_LETTERED : RedriveMode.RETRY_DEAD_LETTERED;
            ObjectNode data = redrive(this, inbox, k, mode, out);
            out.emit(data, w -> w.println(data.get("message").asText()));
            return data.get("redriven").asBoolean() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
        }
    }

    /** Redrives one parked key ({@code consumer}, {@code topic}, {@code key} of {@code k}) and says what happens next. */
    static ObjectNode redrive(CliCommand command, InboxSettings inbox, JsonNode k, RedriveMode mode, Output out) {
        String bootstrap = inbox.kafka().getOrDefault("bootstrap.servers",
                command.relayConfigured() ? command.relay().bootstrapServers() : "not-contacted:9092");
        String consumer = k.get("consumer").asText();
        String topic = k.get("topic").asText();
        String key = k.get("key").asText();
        boolean done = InboxFacts.redrive(inbox, bootstrap, consumer, topic, key, mode);
        ObjectNode data = out.object();
        data.put("consumer", consumer);
        data.put("topic", topic);
        data.put("key", key);
        data.put("mode", mode.name());
        data.put("redriven", done);
        data.put("message", done ? "Redriven key " + key + " of " + topic + " for " + consumer + " (" + mode + "): the member that owns"
                + " partition " + k.path("partition").asText() + " applies its events in order within about parkedKeyCheckInterval."
                + " Watch it leave outbox-cli parked list."
                : "Key " + key + " of " + topic + " is no longer parked for " + consumer + ": nothing to redrive.");
        return data;
    }
}
