package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.relay.RelayConfig;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code status}: the slot, the lag, who leads, the last published event and the backlog. */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = {"The relay's slot (active, retained WAL, confirmed position, lag in bytes and time), the leader and"
                + " standbys, the stored position, the last published event and an estimate of the backlog.",
                "Exits 1 when the slot is missing or lost, or a threshold given is exceeded."})
final class StatusCommand extends CliCommand {

    @Option(names = "--max-lag-bytes", paramLabel = "BYTES", description = "Exit 1 when the slot's lag (WAL not yet confirmed) is larger.")
    Long maxLagBytes;

    @Option(names = "--max-lag-seconds", paramLabel = "SECONDS",
            description = "Exit 1 when the oldest unpublished event (estimated from the outbox table) or the walsender's flush lag is older.")
    Long maxLagSeconds;

    @Option(names = "--require-leader", description = "Exit 1 when no relay holds the lease (ha.enabled) or streams the slot.")
    boolean requireLeader;

    Clock clock = Clock.systemUTC();

    @Override
    int run(Output out) throws Exception {
        RelayConfig config = relay();
        ObjectNode data = out.object();
        data.put("relay", config.name());
        data.put("database", config.jdbcUrl());
        ArrayNode problems = out.array();
        Instant now = clock.instant();
        Optional<ObjectNode> slot;
        try (Connection c = Databases.relay(config)) {
            slot = RelayFacts.slot(c, config, out);
            if (slot.isEmpty()) {
                problems.add("replication slot '" + config.slotName() + "' does not exist: events committed now are not published."
                        + " Fix: outbox-cli slot create (or start the relay with " + RelayConfig.SLOT_CREATE + "=true)");
                ObjectNode missing = out.object();
                missing.put("name", config.slotName());
                missing.put("exists", false);
                data.set("slot", missing);
            } else {
                ObjectNode s = slot.get();
                s.put("exists", true);
                data.set("slot", s);
                if ("lost".equals(s.path("walStatus").asText())) {
                    problems.add("slot '" + config.slotName() + "' was invalidated (wal_status=lost): see docs/relay-operations.md,"
                            + " 'A slot that PostgreSQL invalidated or that was dropped'");
                } else if ("unreserved".equals(s.path("walStatus").asText())) {
                    problems.add("slot '" + config.slotName() + "' is about to be invalidated (wal_status=unreserved): the relay is"
                            + " too far behind; raise max_slot_wal_keep_size or fix the lag");
                }
                if (s.get("activePid").isInt()) {
                    RelayFacts.walsender(c, s.get("activePid").asInt(), out).ifPresent(w -> data.set("walsender", w));
                }
            }
            ObjectNode lease = RelayFacts.lease(c, config, out);
            data.set("lease", lease);
            boolean leading = config.getBoolean(RelayConfig.HA_ENABLED) ? !lease.get("leader").isNull()
                    : slot.map(s -> s.path("active").asBoolean()).orElse(false);
            if (requireLeader && !leading) {
                problems.add(config.getBoolean(RelayConfig.HA_ENABLED) ? "no relay holds the lease of slot '" + config.slotName() + "'"
                        : "no relay streams slot '" + config.slotName() + "'");
            }
            try (KafkaAccess kafka = KafkaAccess.ofRelay(config, timeout())) {
                data.set("position", RelayFacts.position(kafka, config, out));
                ObjectNode newest = RelayFacts.newestRecord(kafka, RelayFacts.relayTopics(kafka, config), out);
                if (newest == null) {
                    data.putNull("lastPublished");
                } else {
                    data.set("lastPublished", newest);
                }
            }
            data.set("backlog", backlog(c, config, data, now, out));
        }
        ObjectNode lag = out.object();
        JsonNode lagBytes = data.path("slot").path("lagBytes");
        lag.set("bytes", lagBytes.isMissingNode() ? null : lagBytes);
        Double seconds = lagSeconds(data);
        if (seconds == null) {
            lag.putNull("seconds");
        } else {
            lag.put("seconds", seconds);
        }
        data.set("lag", lag);
        if (maxLagBytes != null && lagBytes.isNumber() && lagBytes.asLong() > maxLagBytes) {
            problems.add("lag " + lagBytes.asLong() + " bytes > --max-lag-bytes " + maxLagBytes);
        }
        if (maxLagSeconds != null && seconds != null && seconds > maxLagSeconds) {
            problems.add(String.format("lag %.1f s > --max-lag-seconds %d", seconds, maxLagSeconds));
        }
        data.set("problems", problems);
        out.emit(data, w -> human(w, data));
        return problems.isEmpty() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
    }

    /** The larger of the oldest unpublished event's age (from the outbox table) and the walsender's flush lag. */
    private static Double lagSeconds(ObjectNode data) {
        Double result = null;
        JsonNode oldest = data.path("backlog").path("oldestAgeSeconds");
        if (oldest.isNumber()) {
            result = oldest.asDouble();
        }
        JsonNode flush = data.path("walsender").path("flushLagSeconds");
        if (flush.isNumber()) {
            result = result == null ? flush.asDouble() : Math.max(result, flush.asDouble());
        }
        if (result == null && data.path("backlog").path("events").isNumber()) {
            result = 0.0; // the outbox table holds no row newer than what was published
        }
        return result;
    }

    /**
     * Outbox rows written after the last published event: rows are kept in the outbox table unless a retention removes
     * them, and the record timestamp is the commit time (created_at is at most that), so this counts what the relay has
     * not published yet, give or take the transactions in flight at that instant.
     */
    private static ObjectNode backlog(Connection c, RelayConfig config, ObjectNode data, Instant now, Output out) throws Exception {
        ObjectNode b = out.object();
        Instant since = null;
        JsonNode last = data.path("lastPublished").path("timestamp");
        if (last.isTextual()) {
            since = Instant.parse(last.asText());
        }
        JsonNode stored = data.path("position").path("stored").path("committedAt");
        if (stored.isTextual()) {
            Instant s = Instant.parse(stored.asText());
            since = since == null || s.isAfter(since) ? s : since;
        }
        b.put("since", since == null ? null : since.toString());
        String sql = "SELECT count(*), min(created_at) FROM " + config.outboxTable().quoted() + (since == null ? "" : " WHERE created_at > ?");
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (since != null) {
                ps.setTimestamp(1, Timestamp.from(since));
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                b.put("events", rs.getLong(1));
                Timestamp oldest = rs.getTimestamp(2);
                if (oldest == null) {
                    b.putNull("oldest");
                    b.putNull("oldestAgeSeconds");
                } else {
                    b.put("oldest", oldest.toInstant().toString());
                    b.put("oldestAgeSeconds", Math.max(0, Duration.between(oldest.toInstant(), now).toMillis() / 1000.0));
                }
            }
        } catch (java.sql.SQLException e) {
            b.putNull("events");
            b.put("unavailable", "cannot read " + config.outboxTable() + ": " + e.getMessage());
        }
        return b;
    }

    private static void human(PrintWriter w, ObjectNode d) {
        JsonNode s = d.get("slot");
        w.printf("Relay %s on %s%n", d.get("relay").asText(), d.get("database").asText());
        if (!s.path("exists").asBoolean()) {
            w.printf("  slot          %s: MISSING%n", s.get("name").asText());
        } else {
            w.printf("  slot          %s (%s, %s) %s, wal_status=%s%s%n", s.get("name").asText(), s.get("plugin").asText(),
                    s.get("database").asText(), s.get("active").asBoolean() ? "active (pid " + s.get("activePid").asText() + ")"
                            : "INACTIVE" + (s.path("inactiveSince").isTextual() ? " since " + s.get("inactiveSince").asText() : ""),
                    s.get("walStatus").asText(), s.path("failover").isBoolean()
                            ? ", failover=" + s.get("failover").asBoolean() + (s.get("synced").asBoolean() ? " (synced)" : "") : "");
            w.printf("  position      confirmed %s, current %s%n", s.get("confirmedLsn").asText(), s.get("currentLsn").asText());
            w.printf("  retained WAL  %s%n", s.get("retainedWalBytes").isNumber() ? Output.bytes(s.get("retainedWalBytes").asLong()) : "-");
        }
        JsonNode lag = d.get("lag");
        w.printf("  lag           %s, %s%n", lag.path("bytes").isNumber() ? Output.bytes(lag.get("bytes").asLong()) + " of WAL" : "- bytes",
                lag.path("seconds").isNumber() ? Output.duration(Duration.ofMillis((long) (lag.get("seconds").asDouble() * 1000))) : "time unknown");
        JsonNode lease = d.get("lease");
        if (lease.get("haEnabled").asBoolean()) {
            JsonNode leader = lease.get("leader");
            w.printf("  leader        %s%n", leader.isNull() ? "NONE (no relay holds the lease " + lease.get("advisoryLock").asText() + ")"
                    : leader.get("relay").asText() + " (pid " + leader.get("pid").asText() + ", " + Output.str(leader, "clientAddress")
                            + ", since " + leader.get("since").asText() + ")");
            StringBuilder standbys = new StringBuilder();
            lease.get("standbys").forEach(sb -> standbys.append(standbys.length() == 0 ? "" : ", ").append(sb.get("relay").asText())
                    .append(" (pid ").append(sb.get("pid").asText()).append(")"));
            w.printf("  standbys      %s%n", standbys.length() == 0 ? "none" : standbys);
        } else {
            w.printf("  leader        ha.enabled=false: the relay streaming the slot publishes%n");
        }
        JsonNode pos = d.get("position");
        JsonNode stored = pos.get("stored");
        w.printf("  stored        %s%n", "file".equals(pos.get("storage").asText()) ? "in file " + pos.get("file").asText() + " (not read)"
                : stored.isNull() ? "nothing yet in " + pos.get("topic").asText()
                        : "LSN " + Output.str(stored, "lsn") + ", transaction " + Output.str(stored, "txId") + " committed at "
                                + Output.str(stored, "committedAt") + " (" + pos.get("topic").asText() + ")");
        JsonNode lp = d.get("lastPublished");
        w.printf("  last event    %s%n", lp.isNull() ? "none in the relay's topics" : lp.get("eventId").asText() + " " + Output.str(lp, "eventType")
                + " key " + Output.str(lp, "key") + " -> " + lp.get("topic").asText() + "/" + lp.get("partition").asText() + "@"
                + lp.get("offset").asText() + " at " + lp.get("timestamp").asText());
        JsonNode b = d.get("backlog");
        w.printf("  backlog       %s%n", b.get("events").isNull() ? Output.str(b, "unavailable")
                : "~" + b.get("events").asText() + " events in the outbox table newer than the last published one"
                        + (b.path("oldest").isTextual() ? " (oldest " + b.get("oldest").asText() + ")" : ""));
        if (d.get("problems").isEmpty()) {
            w.println("  OK");
        } else {
            d.get("problems").forEach(p -> w.println("  PROBLEM: " + p.asText()));
        }
    }
}
