package dev.outboxbridge.demo;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import dev.outboxbridge.db.TableName;
import dev.outboxbridge.testsupport.RelayRole;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.postgresql.ds.PGSimpleDataSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The migrations step of {@code docker-compose.yml}: creates the databases that do not exist yet and applies the shipped
 * Flyway migrations ({@link OutboxBridgeMigrations}): the outbox table to the {@code --outbox} databases, the inbox tables
 * to the {@code --inbox} databases; with {@code --relay-role}, the relay's least-privilege role and the publication
 * ({@code db/.../security/outbox-relay-role.sql}) in the first {@code --outbox} database. Idempotent: applied
 * migrations are skipped, an existing role is kept. The server comes from the same variables as the testkit's external
 * server: {@code OUTBOX_TEST_PG_HOST}, {@code _PORT}, {@code _USER}, {@code _PASSWORD}.
 */
@Command(name = "outbox-migrate", mixinStandardHelpOptions = true, version = "outbox-migrate 0.1.0",
        description = "Creates the databases if missing and applies the Outbox Bridge migrations (outbox and inbox tables).")
public final class MigrateMain implements Callable<Integer> {

    @Option(names = "--outbox", split = ",", paramLabel = "DATABASE", description = "Databases that get the outbox table.")
    List<String> outbox = List.of();

    @Option(names = "--inbox", split = ",", paramLabel = "DATABASE", description = "Databases that get the inbox tables.")
    List<String> inbox = List.of();

    @Option(names = "--relay-role", paramLabel = "ROLE",
            description = "Also create this least-privilege relay role (password: OUTBOX_RELAY_ROLE_PASSWORD) and the publication"
                    + " in the first --outbox database; run the relays with publication.create=false.")
    String relayRole;

    @Option(names = "--publication", defaultValue = "outbox_bridge_pub",
            description = "The publication created with --relay-role (default: ${DEFAULT-VALUE}).")
    String publication;

    @Option(names = "--outbox-table", defaultValue = "public.outbox_event",
            description = "The outbox table the --relay-role may read (default: ${DEFAULT-VALUE}).")
    String outboxTable;

    public static void main(String[] args) {
        System.exit(new CommandLine(new MigrateMain()).execute(args));
    }

    @Override
    public Integer call() throws SQLException {
        String host = System.getenv("OUTBOX_TEST_PG_HOST");
        String user = System.getenv("OUTBOX_TEST_PG_USER");
        if (host == null || host.isBlank() || user == null || user.isBlank()) {
            System.err.println("outbox-migrate: OUTBOX_TEST_PG_HOST and OUTBOX_TEST_PG_USER must name the server and a user that may"
                    + " create databases. Fix: set them (and OUTBOX_TEST_PG_PORT, OUTBOX_TEST_PG_PASSWORD).");
            return 2;
        }
        int port = Integer.parseInt(System.getenv().getOrDefault("OUTBOX_TEST_PG_PORT", "5432"));
        String password = System.getenv().getOrDefault("OUTBOX_TEST_PG_PASSWORD", "");
        Function<String, PGSimpleDataSource> database = name -> {
            PGSimpleDataSource ds = new PGSimpleDataSource();
            ds.setServerNames(new String[] {host});
            ds.setPortNumbers(new int[] {port});
            ds.setDatabaseName(name);
            ds.setUser(user);
            ds.setPassword(password);
            ds.setApplicationName("outbox-migrate");
            return ds;
        };
        String rolePassword = System.getenv("OUTBOX_RELAY_ROLE_PASSWORD");
        if (relayRole != null && (outbox.isEmpty() || rolePassword == null || rolePassword.isEmpty())) {
            System.err.println("outbox-migrate: --relay-role needs an --outbox database and the role's password in"
                    + " OUTBOX_RELAY_ROLE_PASSWORD. Fix: set both.");
            return 2;
        }
        DataSource admin = database.apply("postgres");
        for (String name : outbox) {
            migrate(admin, database.apply(name), name, "outbox", OutboxBridgeMigrations.outbox(database.apply(name)));
        }
        for (String name : inbox) {
            migrate(admin, database.apply(name), name, "inbox", OutboxBridgeMigrations.inbox(database.apply(name)));
        }
        if (relayRole != null) {
            createRelayRole(database.apply(outbox.get(0)), outbox.get(0), rolePassword);
        }
        return 0;
    }

    private void createRelayRole(DataSource db, String name, String password) throws SQLException {
        try (Connection c = db.getConnection()) {
            try (PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_roles WHERE rolname = ?")) {
                exists.setString(1, relayRole);
                try (ResultSet rs = exists.executeQuery()) {
                    if (rs.next()) {
                        System.out.printf("outbox-migrate: relay role %s exists; kept as it is%n", relayRole);
                        return;
                    }
                }
            }
            c.setAutoCommit(false);
            RelayRole.create(c, relayRole, password, TableName.parse(outboxTable), publication);
            c.commit();
        }
        System.out.printf("outbox-migrate: created relay role %s (LOGIN, REPLICATION, SELECT on %s) and publication %s in database %s%n",
                relayRole, outboxTable, publication, name);
    }

    private static void migrate(DataSource admin, DataSource db, String name, String what, Flyway flyway) throws SQLException {
        createIfMissing(admin, name);
        int applied = flyway.migrate().migrationsExecuted;
        System.out.printf("outbox-migrate: %s migrations on database %s: %d applied, now at version %s%n", what, name, applied,
                flyway.info().current() == null ? "none" : flyway.info().current().getVersion());
    }

    private static void createIfMissing(DataSource admin, String name) throws SQLException {
        try (Connection c = admin.getConnection();
                PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
            exists.setString(1, name);
            try (ResultSet rs = exists.executeQuery()) {
                if (rs.next()) {
                    return;
                }
            }
            try (Statement s = c.createStatement()) {
                s.execute("CREATE DATABASE \"" + name.replace("\"", "\"\"") + "\"");
            }
            System.out.printf("outbox-migrate: created database %s%n", name);
        }
    }
}
