package dev.outboxbridge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.relay.RelayConfig;
import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code slot create|check|drop}: the relay's replication slot and publication, ahead of the relay or after it. */
@Command(name = "slot", mixinStandardHelpOptions = true, description = "The relay's logical replication slot (slot.name) and publication (publication.name).",
        subcommands = {SlotCommand.Create.class, SlotCommand.Check.class, SlotCommand.Drop.class})
final class SlotCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: create, check or drop");
    }

    /** PostgreSQL 17 is the first with failover slots (synchronized to a standby that promotes). */
    static final int FAILOVER_SLOTS_SINCE = 170000;

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create the publication and the slot as the relay would (pgoutput; FOR TABLE outbox.table WITH"
                    + " (publish = 'insert')), before the first deployment, so events committed from now on are published."
                    + " On PostgreSQL 17+ the slot is a failover slot (synchronized to standbys with sync_replication_slots).",
                    "An existing slot is checked, never changed; an existing publication too."})
    static final class Create extends CliCommand {

        @Option(names = "--no-failover", description = "Create a plain slot even on PostgreSQL 17+ (it is then lost when a standby is promoted).")
        boolean noFailover;

        @Override
        int run(Output out) throws Exception {
            RelayConfig config = relay();
            ObjectNode data = out.object();
            List<String> problems = new ArrayList<>();
            try (Connection c = Databases.relay(config)) {
                requireLogicalWal(c, config);
                data.set("publication", ensurePublication(c, config, out, problems));
                Optional<ObjectNode> existing = RelayFacts.slot(c, config, out);
                if (existing.isPresent()) {
                    data.put("created", false);
                    data.set("slot", existing.get());
                    problems.addAll(slotProblems(existing.get(), config));
                } else {
                    boolean failover = !noFailover && Databases.serverVersion(c) >= FAILOVER_SLOTS_SINCE;
                    String sql = failover ? "SELECT lsn::text FROM pg_create_logical_replication_slot(?, 'pgoutput', false, false, true)"
                            : "SELECT lsn::text FROM pg_create_logical_replication_slot(?, 'pgoutput')";
                    try (PreparedStatement ps = c.prepareStatement(sql)) {
                        ps.setString(1, config.slotName());
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            data.put("createdAt", rs.getString(1));
                        }
                    } catch (SQLException e) {
                        throw new CliException(OutboxCli.EXIT_PROBLEM, "Cannot create replication slot '" + config.slotName() + "' (SQLState "
                                + e.getSQLState() + "): " + e.getMessage() + ". Fix: the relay's role needs REPLICATION, and the server"
                                + " free max_replication_slots", e);
                    }
                    data.put("created", true);
                    data.set("slot", RelayFacts.slot(c, config, out).orElseThrow());
                }
            }
            ArrayNode p = data.putArray("problems");
            problems.forEach(p::add);
            out.emit(data, w -> {
                JsonNode s = data.get("slot");
                w.println(data.get("created").asBoolean()
                        ? "Created slot " + s.get("name").asText() + " (pgoutput, failover=" + Output.str(s, "failover") + ") at "
                                + data.get("createdAt").asText() + ": events committed from now on are published when the relay starts."
                        : "Slot " + s.get("name").asText() + " exists (" + s.get("plugin").asText() + ", " + s.get("database").asText()
                                + ", failover=" + Output.str(s, "failover") + "): left unchanged.");
                w.println("Publication " + data.get("publication").get("name").asText() + ": " + data.get("publication").get("state").asText());
                problems.forEach(x -> w.println("PROBLEM: " + x));
            });
            return problems.isEmpty() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Whether the slot and publication are as the relay needs them, whether the slot is a failover slot and,"
                    + " on a standby, synchronized (synced).", "Exits 1 when the slot is missing, lost, not pgoutput on the"
                    + " database, the publication is wrong, or (with --require-failover) not a failover slot."})
    static final class Check extends CliCommand {

        @Option(names = "--require-failover", description = "Exit 1 unless the slot is a failover slot (PostgreSQL 17+).")
        boolean requireFailover;

        @Override
        int run(Output out) throws Exception {
            RelayConfig config = relay();
            ObjectNode data = out.object();
            List<String> problems = new ArrayList<>();
            try (Connection c = Databases.relay(config)) {
                int version = Databases.serverVersion(c);
                data.put("serverVersion", version);
                data.put("walLevel", show(c, "wal_level"));
                if (!"logical".equals(data.get("walLevel").asText())) {
                    problems.add("wal_level=" + data.get("walLevel").asText() + ": set wal_level = logical and restart PostgreSQL");
                }
                data.set("publication", checkPublication(c, config, out, problems));
                Optional<ObjectNode> slot = RelayFacts.slot(c, config, out);
                if (slot.isEmpty()) {
                    problems.add("slot '" + config.slotName() + "' does not exist. Fix: outbox-cli slot create");
                    data.putNull("slot");
                } else {
                    ObjectNode s = slot.get();
                    data.set("slot", s);
                    problems.addAll(slotProblems(s, config));
                    if (version >= FAILOVER_SLOTS_SINCE) {
                        data.put("synchronizedStandbySlots", show(c, "synchronized_standby_slots"));
                        if (requireFailover && !s.get("failover").asBoolean()) {
                            problems.add("slot '" + config.slotName() + "' is not a failover slot: a promoted standby will not have it."
                                    + " Fix: drop it while no relay runs and create it again with outbox-cli slot create (events committed"
                                    + " in between are not published), or accept it");
                        }
                    } else if (requireFailover) {
                        problems.add("PostgreSQL " + version + " has no failover slots (17 or newer has)");
                    }
                }
            }
            ArrayNode p = data.putArray("problems");
            problems.forEach(p::add);
            out.emit(data, w -> {
                int v = data.get("serverVersion").asInt();
                w.printf("PostgreSQL %d.%d, wal_level=%s%n", v / 10000, v % 10000, data.get("walLevel").asText());
                JsonNode pub = data.get("publication");
                w.printf("  publication  %s: %s%n", pub.get("name").asText(), pub.get("state").asText());
                JsonNode s = data.get("slot");
                if (!s.isNull()) {
                    w.printf("  slot         %s: %s on %s, %s, wal_status=%s, confirmed %s%n", s.get("name").asText(), s.get("plugin").asText(),
                            s.get("database").asText(), s.get("active").asBoolean() ? "active" : "inactive", s.get("walStatus").asText(),
                            s.get("confirmedLsn").asText());
                    w.printf("  failover     %s%s%n", s.get("failover").isNull() ? "not supported before PostgreSQL 17"
                            : s.get("failover").asBoolean() ? "yes" : "no", s.get("onStandby").asBoolean()
                                    ? (s.get("synced").asBoolean() ? ", synced from the primary" : ", NOT synced (this is a standby)")
                                    : data.has("synchronizedStandbySlots") ? " (primary; synchronized_standby_slots='"
                                            + data.get("synchronizedStandbySlots").asText() + "')" : "");
                }
                if (problems.isEmpty()) {
                    w.println("  OK");
                }
                problems.forEach(x -> w.println("  PROBLEM: " + x));
            });
            return problems.isEmpty() ? OutboxCli.EXIT_OK : OutboxCli.EXIT_PROBLEM;
        }
    }

    @Command(name = "drop", mixinStandardHelpOptions = true,
            description = {"Drop the slot: PostgreSQL frees the WAL it holds, and events committed until a new slot exists are"
                    + " never published. Refused while a relay streams it. Asks to type the slot name unless --yes."})
    static final class Drop extends CliCommand {

        @Option(names = "--yes", description = "Do not ask for confirmation (scripts).")
        boolean yes;

        @Override
        int run(Output out) throws Exception {
            RelayConfig config = relay();
            String slot = config.slotName();
            ObjectNode data = out.object();
            data.put("slot", slot);
            try (Connection c = Databases.relay(config)) {
                Optional<ObjectNode> s = RelayFacts.slot(c, config, out);
                if (s.isEmpty()) {
                    throw new CliException(OutboxCli.EXIT_PROBLEM, "Replication slot '" + slot + "' does not exist: nothing to drop.");
                }
                if (s.get().get("active").asBoolean()) {
                    throw new CliException(OutboxCli.EXIT_REFUSED, "Replication slot '" + slot + "' is in use by walsender pid "
                            + s.get().get("activePid").asText() + " (a relay is streaming it). Fix: stop every relay of the slot first.");
                }
                if (!yes) {
                    root().err().printf("Dropping slot '%s' (%s retained WAL). Events committed until a new slot exists will never be"
                            + " published.%nType the slot name to confirm: ", slot, Output.bytes(s.get().path("retainedWalBytes").asLong()));
                    root().err().flush();
                    String answer;
                    try {
                        answer = root().in().readLine();
                    } catch (IOException e) {
                        answer = null;
                    }
                    root().err().println();
                    if (answer == null || !answer.trim().equals(slot)) {
                        throw new CliException(OutboxCli.EXIT_REFUSED, "Not confirmed: slot '" + slot + "' kept. Fix: type its name, or pass --yes");
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("SELECT pg_drop_replication_slot(?)")) {
                    ps.setString(1, slot);
                    ps.execute();
                } catch (SQLException e) {
                    throw new CliException("55006".equals(e.getSQLState()) ? OutboxCli.EXIT_REFUSED : OutboxCli.EXIT_PROBLEM,
                            "Cannot drop replication slot '" + slot + "' (SQLState " + e.getSQLState() + "): " + e.getMessage()
                                    + ". Fix: stop every relay of the slot first", e);
                }
            }
            data.put("dropped", true);
            data.put("note", "The relay's stored position for this slot still refers to it: a relay started after a new slot was"
                    + " created stops with 'The stored position is behind replication slot' (see docs/relay-operations.md, 'A slot that"
                    + " lost its history'). The publication " + config.publicationName() + " is kept.");
            out.emit(data, w -> {
                w.println("Dropped slot " + slot + ".");
                w.println(data.get("note").asText());
            });
            return OutboxCli.EXIT_OK;
        }
    }

    static List<String> slotProblems(JsonNode s, RelayConfig config) {
        List<String> problems = new ArrayList<>();
        if (!"pgoutput".equals(s.get("plugin").asText()) || !config.databaseName().equals(s.get("database").asText())) {
            problems.add("slot '" + config.slotName() + "' is for plugin " + s.get("plugin").asText() + " on database "
                    + s.get("database").asText() + "; the relay needs a pgoutput slot on " + config.databaseName() + ". Fix: choose another "
                    + RelayConfig.SLOT_NAME);
        }
        if ("lost".equals(s.get("walStatus").asText())) {
            problems.add("slot '" + config.slotName() + "' was invalidated (wal_status=lost): the relay refuses it; see"
                    + " docs/relay-operations.md, 'A slot that PostgreSQL invalidated or that was dropped'");
        }
        return problems;
    }

    static void requireLogicalWal(Connection c, RelayConfig config) throws SQLException {
        String level = show(c, "wal_level");
        if (!"logical".equals(level)) {
            throw new CliException(OutboxCli.EXIT_PROBLEM, "PostgreSQL at " + config.jdbcUrl() + " runs with wal_level=" + level
                    + "; the relay reads the WAL through logical decoding. Fix: ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL.");
        }
    }

    static String show(Connection c, String setting) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT current_setting('" + setting + "', true)")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** The publication's state, as the relay's start-up check sees it; creates it when missing and publication.create=true. */
    static ObjectNode ensurePublication(Connection c, RelayConfig config, Output out, List<String> problems) throws SQLException {
        ObjectNode pub = checkPublication(c, config, out, problems);
        if ("missing".equals(pub.get("state").asText()) && config.getBoolean(RelayConfig.PUBLICATION_CREATE)) {
            problems.removeIf(p -> p.startsWith("publication '" + config.publicationName() + "' does not exist"));
            TableName table = config.outboxTable();
            try (Statement s = c.createStatement()) {
                s.execute("CREATE PUBLICATION " + TableName.quote(config.publicationName()) + " FOR TABLE " + table.quoted()
                        + " WITH (publish = 'insert')");
            } catch (SQLException e) {
                throw new CliException(OutboxCli.EXIT_PROBLEM, "Cannot create publication '" + config.publicationName() + "' (SQLState "
                        + e.getSQLState() + "): " + e.getMessage() + ". Fix: run as the owner of " + table + ", or create it as the owner"
                        + " (db/security/outbox-relay-role.sql) and set " + RelayConfig.PUBLICATION_CREATE + "=false", e);
            }
            pub.put("state", "created for " + table + " (inserts only)");
        }
        return pub;
    }

    static ObjectNode checkPublication(Connection c, RelayConfig config, Output out, List<String> problems) throws SQLException {
        String name = config.publicationName();
        TableName table = config.outboxTable();
        ObjectNode pub = out.object();
        pub.put("name", name);
        Boolean inserts = null;
        boolean allTables = false;
        try (PreparedStatement ps = c.prepareStatement("SELECT pubinsert, puballtables FROM pg_publication WHERE pubname = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    inserts = rs.getBoolean(1);
                    allTables = rs.getBoolean(2);
                }
            }
        }
        if (inserts == null) {
            pub.put("state", "missing");
            problems.add("publication '" + name + "' does not exist. Fix: outbox-cli slot create (with " + RelayConfig.PUBLICATION_CREATE
                    + "=true), or CREATE PUBLICATION " + name + " FOR TABLE " + table + " WITH (publish = 'insert')");
            return pub;
        }
        List<String> tables = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    tables.add(rs.getString(1) + "." + rs.getString(2));
                }
            }
        }
        if (allTables || !tables.equals(List.of(table.toString())) || !inserts) {
            pub.put("state", "WRONG: covers " + (allTables ? "all tables" : tables) + (inserts ? "" : " without inserts"));
            problems.add("publication '" + name + "' must cover exactly [" + table + "] and publish inserts. Fix: point "
                    + RelayConfig.PUBLICATION_NAME + " at one created with CREATE PUBLICATION <name> FOR TABLE " + table
                    + " WITH (publish = 'insert')");
        } else {
            pub.put("state", "covers " + table + " (inserts)");
        }
        return pub;
    }
}
