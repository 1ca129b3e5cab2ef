package dev.outboxbridge.testsupport;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.testkit.TestDatabase;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.LoggerFactory;

/**
 * Applies the shipped least-privilege script {@code dev/outboxbridge/db/security/outbox-relay-role.sql}
 * (written for psql) over JDBC, so the demo, the fault run and the relay's tests run the relay
 * exactly as the docs tell operators to: a role with LOGIN and REPLICATION and SELECT on the outbox
 * table only, and a publication created by the table's owner.
 */
public final class RelayRole {

    public static final String SCRIPT = "dev/outboxbridge/db/security/outbox-relay-role.sql";
    // Relay setting keys (RelayConfig's constants; this module cannot depend on the relay, whose tests use it)
    private static final String OUTBOX_TABLE = "outbox.table";
    private static final String PUBLICATION_NAME = "publication.name";
    private static final String PUBLICATION_CREATE = "publication.create";
    private static final String DATABASE_USER = "database.user";
    private static final String DATABASE_PASSWORD = "database.password";
    private static final Pattern VARIABLE = Pattern.compile(":(\"|')([a-z_]+)\\1");

    private RelayRole() {
    }

    /** Runs the script as the connection's user (the table owner or a superuser). */
    public static void create(Connection owner, String role, String password, TableName outboxTable, String publication)
            throws SQLException {
        Map<String, String> vars = Map.of("relay_role", TableName.identifier(role, "role"), "relay_password", password,
                "outbox_schema", outboxTable.schema(), "outbox_table", outboxTable.table(),
                "publication", TableName.identifier(publication, "publication"));
        try (Statement s = owner.createStatement()) {
            for (String statement : statements(vars)) {
                if (statement.endsWith("\\gexec")) {
                    List<String> generated = new ArrayList<>();
                    try (ResultSet rs = s.executeQuery(statement.substring(0, statement.length() - "\\gexec".length()))) {
                        while (rs.next()) {
                            generated.add(rs.getString(1));
                        }
                    }
                    for (String g : generated) {
                        s.execute(g);
                    }
                } else {
                    s.execute(statement);
                }
            }
        }
    }

    /**
     * Creates a least-privilege role and the publication in {@code shop} and points the relay
     * settings at them ({@code database.user}, {@code database.password}, {@code publication.name},
     * {@code publication.create=false}).
     *
     * @return the role name, to drop with {@link #dropQuietly}
     */
    public static String provision(TestDatabase shop, Map<String, String> relaySettings) throws SQLException {
        return provision(shop.dataSource(), shop.uniqueName("relay"), relaySettings);
    }

    /**
     * As {@link #provision(TestDatabase, Map)}, in the database {@code shop} connects to (for example one reached
     * through a host list), with the role named {@code role}.
     *
     * @return the role name, to drop with {@link #dropQuietly(javax.sql.DataSource, String)}
     */
    public static String provision(javax.sql.DataSource shop, String role, Map<String, String> relaySettings) throws SQLException {
        String password = UUID.randomUUID().toString();
        String publication = relaySettings.get(PUBLICATION_NAME);
        try (Connection owner = shop.getConnection()) {
            create(owner, role, password, TableName.parse(relaySettings.getOrDefault(OUTBOX_TABLE,
                    "public.outbox_event")), publication);
        }
        relaySettings.put(DATABASE_USER, role);
        relaySettings.put(DATABASE_PASSWORD, password);
        relaySettings.put(PUBLICATION_CREATE, "false");
        return role;
    }

    /** Drops the role in {@code shop}; logs instead of throwing (cleanup). */
    public static void dropQuietly(TestDatabase shop, String role) {
        dropQuietly(shop.dataSource(), role);
    }

    /** Drops the role in the database {@code shop} connects to; logs instead of throwing (cleanup). */
    public static void dropQuietly(javax.sql.DataSource shop, String role) {
        try (Connection c = shop.getConnection()) {
            drop(c, role);
        } catch (SQLException e) {
            LoggerFactory.getLogger(RelayRole.class).warn("Could not drop role {}: {}", role, e.getMessage());
        }
    }

    /** Drops the role (its grants live in databases the tests drop; run before dropping them to be safe). */
    public static void drop(Connection owner, String role) throws SQLException {
        try (Statement s = owner.createStatement()) {
            s.execute("DROP OWNED BY " + TableName.quote(TableName.identifier(role, "role")));
            s.execute("DROP ROLE IF EXISTS " + TableName.quote(TableName.identifier(role, "role")));
        }
    }

    static List<String> statements(Map<String, String> vars) {
        String text;
        try (InputStream in = RelayRole.class.getClassLoader().getResourceAsStream(SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException("Script " + SCRIPT + " is not on the classpath (outbox-db jar)");
            }
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read " + SCRIPT, e);
        }
        List<String> statements = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : text.split("\n")) {
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("--")) {
                continue;
            }
            current.append(substitute(trimmed, vars)).append(' ');
            if (trimmed.endsWith(";") || trimmed.endsWith("\\gexec")) {
                String st = current.toString().strip();
                statements.add(st.endsWith(";") ? st.substring(0, st.length() - 1) : st);
                current.setLength(0);
            }
        }
        return statements;
    }

    private static String substitute(String line, Map<String, String> vars) {
        Matcher m = VARIABLE.matcher(line);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String value = vars.get(m.group(2));
            if (value == null) {
                throw new IllegalArgumentException("No value for psql variable " + m.group(2) + " of " + SCRIPT);
            }
            String replacement = "\"".equals(m.group(1)) ? TableName.quote(value) : "'" + value.replace("'", "''") + "'";
            m.appendReplacement(sb, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(sb);
        return sb.toString();
    }
}
