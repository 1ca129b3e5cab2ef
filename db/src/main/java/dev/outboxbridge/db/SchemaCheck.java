package dev.outboxbridge.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Checks that the outbox or inbox table exists with the columns the library needs, and says what is
 * missing. The library never creates tables at run time: the migrations of this module do.
 */
public final class SchemaCheck {

    /** Column name to PostgreSQL type name (as {@code pg_type.typname}) of the outbox table. */
    public static final Map<String, String> OUTBOX_COLUMNS = columns(
            "id", "uuid", "aggregatetype", "varchar", "aggregateid", "varchar",
            "type", "varchar", "payload", "bytea", "headers", "jsonb");

    /** Column name to PostgreSQL type name of the inbox table. */
    public static final Map<String, String> INBOX_COLUMNS = columns(
            "consumer_name", "varchar", "event_id", "uuid", "topic", "varchar",
            "kafka_partition", "int4", "kafka_offset", "int8", "processed_at", "timestamptz",
            "status", "varchar");

    /** Name of the parked-key table, in the schema of the inbox table. */
    public static final String INBOX_PARKED_KEY_TABLE = "inbox_parked_key";

    /** Name of the parked-event table, in the schema of the inbox table. */
    public static final String INBOX_PARKED_EVENT_TABLE = "inbox_parked_event";

    /** Column name to PostgreSQL type name of the parked-key table. */
    public static final Map<String, String> INBOX_PARKED_KEY_COLUMNS = columns(
            "consumer_name", "varchar", "topic", "varchar", "record_key", "text", "kafka_partition", "int4",
            "status", "varchar", "attempts", "int4", "next_attempt_at", "timestamptz", "last_error", "text",
            "parked_at", "timestamptz", "updated_at", "timestamptz");

    /** Column name to PostgreSQL type name of the parked-event table. */
    public static final Map<String, String> INBOX_PARKED_EVENT_COLUMNS = columns(
            "consumer_name", "varchar", "event_id", "uuid", "seq", "int8", "topic", "varchar", "record_key", "text",
            "kafka_partition", "int4", "kafka_offset", "int8", "event_type", "text", "aggregate_type", "text",
            "payload", "bytea", "header_names", "_text", "header_values", "_text", "committed_at", "timestamptz",
            "parked_at", "timestamptz");

    private SchemaCheck() {
    }

    /** Throws {@link SchemaMismatchException} unless {@code table} is an outbox table. */
    public static void requireOutboxTable(Connection connection, TableName table) throws SQLException {
        require(connection, table, OUTBOX_COLUMNS, "outbox", OutboxBridgeMigrations.OUTBOX_LOCATION);
    }

    /**
     * Throws {@link SchemaMismatchException} unless {@code table} is an inbox table and its schema
     * holds the parked-key and parked-event tables ({@value #INBOX_PARKED_KEY_TABLE},
     * {@value #INBOX_PARKED_EVENT_TABLE}).
     */
    public static void requireInboxTable(Connection connection, TableName table) throws SQLException {
        require(connection, table, INBOX_COLUMNS, "inbox", OutboxBridgeMigrations.INBOX_LOCATION);
        require(connection, TableName.parse(table.schema() + "." + INBOX_PARKED_KEY_TABLE), INBOX_PARKED_KEY_COLUMNS,
                "inbox", OutboxBridgeMigrations.INBOX_LOCATION);
        require(connection, TableName.parse(table.schema() + "." + INBOX_PARKED_EVENT_TABLE),
                INBOX_PARKED_EVENT_COLUMNS, "inbox", OutboxBridgeMigrations.INBOX_LOCATION);
    }

    private static void require(Connection connection, TableName table, Map<String, String> expected,
            String kind, String location) throws SQLException {
        Map<String, String> actual = new LinkedHashMap<>();
        try (PreparedStatement ps = connection.prepareStatement(
                "SELECT a.attname, t.typname FROM pg_attribute a"
                        + " JOIN pg_class c ON c.oid = a.attrelid"
                        + " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        + " JOIN pg_type t ON t.oid = a.atttypid"
                        + " WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')"
                        + " AND a.attnum > 0 AND NOT a.attisdropped")) {
            ps.setString(1, table.schema());
            ps.setString(2, table.table());
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    actual.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        String fix = "run the " + kind + " migrations (classpath:" + location
                + ", e.g. OutboxBridgeMigrations." + kind + "(dataSource).migrate()) or point the configuration at the right table";
        if (actual.isEmpty()) {
            throw new SchemaMismatchException("The " + kind + " table " + table + " does not exist in database '"
                    + catalog(connection) + "': " + fix);
        }
        List<String> problems = new ArrayList<>();
        expected.forEach((column, type) -> {
            String found = actual.get(column);
            if (found == null) {
                problems.add("column '" + column + "' (" + type + ") is missing");
            } else if (!found.equals(type)) {
                problems.add("column '" + column + "' is " + found + ", expected " + type);
            }
        });
        if (!problems.isEmpty()) {
            throw new SchemaMismatchException("The " + kind + " table " + table + " does not match what Outbox Bridge needs: "
                    + String.join("; ", problems) + ". Fix: " + fix);
        }
    }

    private static String catalog(Connection connection) {
        try {
            return connection.getCatalog();
        } catch (SQLException e) {
            return "?";
        }
    }

    private static Map<String, String> columns(String... pairs) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put(pairs[i].toLowerCase(Locale.ROOT), pairs[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(map);
    }
}
