package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.inbox.InboxConsumer.RedriveMode;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dead-letters list|show|redrive}: the consumers' dead-letter topics ({@code <consumer>.dlt} by default). */
@Command(name = "dead-letters", mixinStandardHelpOptions = true,
        description = "Records a consumer sent to its dead-letter topic (default <consumer>.dlt; inbox setting dead.letter.topics).",
        subcommands = {DeadLettersCommand.ListLetters.class, DeadLettersCommand.Show.class, DeadLettersCommand.Redrive.class})
final class DeadLettersCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: list, show or redrive");
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "The latest dead letters of each consumer, with the event's state now when the inbox database is configured.")
    static final class ListLetters extends CliCommand {

        @Option(names = "--consumer", paramLabel = "NAME", description = "A consumer (repeatable; default: inbox setting consumers).")
        List<String> consumers;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "50", description = "At most the last N records per partition (default ${DEFAULT-VALUE}).")
        long limit;

        @Override
        int run(Output out) throws Exception {
            InboxSettings inbox = inbox();
            List<String> names = InboxFacts.consumers(consumers, inbox);
            if (names.isEmpty()) {
                throw CliException.config("No consumer named. Fix: --consumer NAME, or inbox setting " + InboxSettings.CONSUMERS);
            }
            ArrayNode letters = out.array();
            try (KafkaAccess kafka = KafkaAccess.ofInbox(inbox, this)) {
                for (String consumer : names) {
                    String topic = inbox.deadLetterTopic(consumer);
                    List<TopicPartition> tps = kafka.partitions(topic);
                    if (tps.isEmpty()) {
                        throw new CliException(OutboxCli.EXIT_PROBLEM, "The dead-letter topic '" + topic + "' of consumer '" + consumer
                                + "' does not exist. Fix: create it (the consumer waits on a missing one), or set inbox setting "
                                + InboxSettings.DEAD_LETTER_TOPICS + " when the consumer uses another");
                    }
                    Map<TopicPartition, Long> begin = kafka.beginningOffsets(tps);
                    Map<TopicPartition, Long> end = kafka.endOffsets(tps);
                    Map<TopicPartition, Long> starts = new HashMap<>();
                    tps.forEach(tp -> starts.put(tp, Math.max(begin.get(tp), end.get(tp) - limit)));
                    List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
                    kafka.scan(starts, limit, records::add);
                    records.sort(Comparator.comparingLong(ConsumerRecord::timestamp));
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        ObjectNode n = InboxFacts.deadLetter(r, false, out);
                        n.put("consumer", consumer);
                        letters.add(n);
                    }
                }
            }
            if (inbox.hasDatabase()) {
                try (Connection c = Databases.inbox(inbox)) {
                    for (JsonNode n : letters) {
                        String id = n.path("eventId").asText(null);
                        if (id == null) {
                            ((ObjectNode) n).put("now", "bad record: never in the inbox");
                            continue;
                        }
                        JsonNode status = InboxFacts.eventStatus(c, inbox.table(), UUID.fromString(id), List.of(n.get("consumer").asText()), out)
                                .get(0);
                        ((ObjectNode) n).put("now", describe(status));
                    }
                }
            }
            ObjectNode data = out.object();
            data.put("count", letters.size());
            data.set("deadLetters", letters);
            out.emit(data, w -> {
                if (letters.isEmpty()) {
                    w.println("No dead letters for " + String.join(", ", names) + ".");
                    return;
                }
                List<List<String>> rows = new ArrayList<>();
                for (JsonNode n : letters) {
                    rows.add(List.of(n.get("consumer").asText(), n.get("topic").asText() + "/" + n.get("partition").asText() + "@"
                            + n.get("offset").asText(), Output.str(n, "eventId"), Output.str(n, "key"), Output.str(n, "reason"),
                            n.has("now") ? n.get("now").asText() : Output.shorten(Output.str(n, "exceptionMessage"), 80)));
                }
                Output.table(w, List.of("CONSUMER", "DEAD LETTER", "EVENT", "KEY", "REASON", inbox.hasDatabase() ? "NOW" : "ERROR"), rows);
            });
            return OutboxCli.EXIT_OK;
        }

        private static String describe(JsonNode status) {
            String s = status.get("status").asText();
            JsonNode parked = status.get("parked");
            return switch (s) {
                case "DEAD_LETTERED" -> parked != null ? "key parked, waiting for a redrive" : "skipped (stays dead-lettered)";
                case "APPLIED" -> "applied (redriven)";
                case "PARKED" -> "key parked " + Output.str(parked, "keyStatus") + " (redriven, retrying)";
                default -> "not in the inbox";
            };
        }
    }

    /** Options naming one dead letter. */
    static final class Locator {
        @Parameters(index = "0", paramLabel = "OFFSET", description = "The dead letter's offset in the dead-letter topic.")
        long offset;

        @Option(names = "--partition", paramLabel = "N", defaultValue = "0", description = "Its partition (default ${DEFAULT-VALUE}).")
        int partition;

        @Option(names = "--consumer", paramLabel = "NAME", description = "The consumer (default: the one in inbox setting consumers).")
        String consumer;

        String consumer(InboxSettings inbox) {
            if (consumer != null) {
                return consumer;
            }
            if (inbox.consumers().size() == 1) {
                return inbox.consumers().get(0);
            }
            throw CliException.config("Which consumer's dead letter? Fix: --consumer NAME (inbox setting " + InboxSettings.CONSUMERS
                    + " names " + inbox.consumers() + ")");
        }

        ConsumerRecord<byte[], byte[]> read(KafkaAccess kafka, String topic) {
            TopicPartition tp = new TopicPartition(topic, partition);
            if (!kafka.partitions(topic).contains(tp)) {
                throw new CliException(OutboxCli.EXIT_PROBLEM, "No partition " + partition + " in dead-letter topic '" + topic + "'.");
            }
            List<ConsumerRecord<byte[], byte[]>> found = new ArrayList<>();
            kafka.scan(Map.of(tp, offset), 1, found::add);
            if (found.isEmpty() || found.get(0).offset() != offset) {
                throw new CliException(OutboxCli.EXIT_PROBLEM, "No dead letter at offset " + offset + " of " + topic + "/" + partition
                        + " (removed by retention, or not written yet). See outbox-cli dead-letters list.");
            }
            return found.get(0);
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One dead letter: every header, the key and the payload.")
    static final class Show extends CliCommand {

        @CommandLine.Mixin
        Locator locator;

        @Override
        int run(Output out) {
            InboxSettings inbox = inbox();
            String consumer = locator.consumer(inbox);
            ObjectNode n;
            try (KafkaAccess kafka = KafkaAccess.ofInbox(inbox, this)) {
                n = InboxFacts.deadLetter(locator.read(kafka, inbox.deadLetterTopic(consumer)), true, out);
            }
            out.emit(n, w -> {
                w.printf("Dead letter %s/%s@%s of consumer %s, %s%n", n.get("topic").asText(), n.get("partition").asText(), n.get("offset").asText(),
                        Output.str(n, "consumer"), n.get("timestamp").asText());
                w.printf("  event        %s (%s), key %s%n", Output.str(n, "eventId"), Output.str(n, "eventType"), Output.str(n, "key"));
                w.printf("  from         %s/%s@%s%n", Output.str(n, "originalTopic"), Output.str(n, "originalPartition"), Output.str(n, "originalOffset"));
                w.printf("  reason       %s after %s attempts: %s: %s%n", Output.str(n, "reason"), Output.str(n, "attempts"),
                        Output.str(n, "exceptionClass"), Output.str(n, "exceptionMessage"));
                w.println("  headers");
                n.get("headers").fields().forEachRemaining(h -> w.printf("    %s = %s%n", h.getKey(), h.getValue().asText()));
                w.printf("  payload      %s%n", Output.str(n, "payload"));
            });
            return OutboxCli.EXIT_OK;
        }
    }

    @Command(name = "redrive", mixinStandardHelpOptions = true,
            description = "Redrive the parked key of a dead letter through the inbox (as parked redrive): fix the cause first.")
    static final class Redrive extends CliCommand {

        @CommandLine.Mixin
        Locator locator;

        @Option(names = "--skip", description = "Skip the dead-lettered event instead of retrying it (RedriveMode.SKIP_DEAD_LETTERED).")
        boolean skip;

        @Override
        int run(Output out) {
            InboxSettings inbox = inbox();
            String consumer = locator.consumer(inbox);
            ObjectNode letter;
            try (KafkaAccess kafka = KafkaAccess.ofInbox(inbox, this)) {
                letter = InboxFacts.deadLetter(locator.read(kafka, inbox.deadLetterTopic(consumer)), false, out);
            }
            if (letter.path("key").isNull() || letter.path("originalTopic").isNull()) {
                throw new CliException(OutboxCli.EXIT_PROBLEM, "This dead letter has no key or original topic (" + Output.str(letter, "reason")
                        + "): its event cannot be parked, so there is nothing to redrive. Re-publish it if it must be applied.");
            }
            ObjectNode key = out.object();
            key.put("consumer", consumer);
            key.put("topic", letter.get("originalTopic").asText());
            key.put("key", letter.get("key").asText());
            key.put("partition", letter.path("originalPartition").asText());
            ObjectNode data = ParkedCommand.redrive(this, inbox, key, skip ? RedriveMode.SKIP_DEAD_LETTERED : RedriveMode.RETRY_DEAD_LETTERED, out);
            data.set("deadLetter", letter);
            out.emit(data, w -> w.println(data.get("message").asText()));
            return data.get("redriven").asBoolean() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
        }
    }
}
