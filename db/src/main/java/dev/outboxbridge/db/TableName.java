package dev.outboxbridge.db;

import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A validated, schema-qualified PostgreSQL table name that comes from configuration.
 *
 * <p>Only plain identifiers are accepted (letters, digits, underscore, not starting with a digit,
 * at most 63 bytes, PostgreSQL's limit), so a name can never smuggle SQL into a statement. The
 * name is folded to lower case, as PostgreSQL does for unquoted identifiers, and always rendered
 * quoted.
 */
public final class TableName {

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,62}");

    private final String schema;
    private final String table;

    private TableName(String schema, String table) {
        this.schema = schema;
        this.table = table;
    }

    /**
     * Parses {@code table} or {@code schema.table}; the schema defaults to {@code public}.
     *
     * @throws IllegalArgumentException naming the value and the rule it breaks
     */
    public static TableName parse(String qualifiedName) {
        if (qualifiedName == null || qualifiedName.isBlank()) {
            throw new IllegalArgumentException("Table name is empty: give 'table' or 'schema.table', e.g. 'public.outbox_event'");
        }
        String[] parts = qualifiedName.trim().split("\\.", -1);
        if (parts.length > 2) {
            throw new IllegalArgumentException("Invalid table name '" + qualifiedName
                    + "': give 'table' or 'schema.table' (at most one dot)");
        }
        String schema = parts.length == 2 ? parts[0] : "public";
        String table = parts[parts.length - 1];
        requireIdentifier(schema, "schema", qualifiedName);
        requireIdentifier(table, "table", qualifiedName);
        return new TableName(schema.toLowerCase(Locale.ROOT), table.toLowerCase(Locale.ROOT));
    }

    /** Validates a single identifier (slot, publication, role name...) and returns it lower-cased. */
    public static String identifier(String value, String what) {
        requireIdentifier(value, what, value);
        return value.toLowerCase(Locale.ROOT);
    }

    private static void requireIdentifier(String part, String what, String whole) {
        if (part == null || !IDENTIFIER.matcher(part).matches()) {
            throw new IllegalArgumentException("Invalid " + what + " name '" + part + "' in '" + whole
                    + "': use 1-63 letters, digits or underscores, not starting with a digit");
        }
    }

    /** Double-quotes an identifier already validated by this class. */
    public static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    public String schema() {
        return schema;
    }

    public String table() {
        return table;
    }

    /** {@code "schema"."table"}, safe to splice into SQL. */
    public String quoted() {
        return quote(schema) + '.' + quote(table);
    }

    /** {@code schema.table}, as Debezium's {@code table.include.list} expects. */
    @Override
    public String toString() {
        return schema + '.' + table;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TableName other && schema.equals(other.schema) && table.equals(other.table);
    }

    @Override
    public int hashCode() {
        return Objects.hash(schema, table);
    }
}
