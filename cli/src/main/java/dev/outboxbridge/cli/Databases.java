package dev.outboxbridge.cli;

import dev.outboxbridge.relay.RelayConfig;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/** Connections to the relay's database (as the relay's user) and to the consumers' inbox database. */
final class Databases {

    static final String APPLICATION_NAME = "outbox-cli";

    private Databases() {
    }

    static Connection relay(RelayConfig config) {
        Properties props = new Properties();
        props.setProperty("user", config.databaseUser());
        props.setProperty("password", config.databasePassword().value());
        return connect(config.jdbcUrl(), props, "the relay's database (" + RelayConfig.DATABASE_HOSTNAME + ", "
                + RelayConfig.DATABASE_PORT + ", " + RelayConfig.DATABASE_DBNAME + ")", RelayConfig.DATABASE_USER + " and "
                + RelayConfig.DATABASE_PASSWORD);
    }

    static Connection inbox(InboxSettings settings) {
        Properties props = new Properties();
        if (!settings.databaseUser().isEmpty()) {
            props.setProperty("user", settings.databaseUser());
        }
        if (!settings.databasePassword().isEmpty()) {
            props.setProperty("password", settings.databasePassword());
        }
        return connect(settings.databaseUrl(), props, "the inbox database (inbox setting " + InboxSettings.DATABASE_URL + ")",
                "inbox settings " + InboxSettings.DATABASE_USER + " and " + InboxSettings.DATABASE_PASSWORD);
    }

    private static Connection connect(String url, Properties props, String what, String credentials) {
        props.setProperty("connectTimeout", "10");
        props.setProperty("ApplicationName", APPLICATION_NAME);
        try {
            Connection c = DriverManager.getConnection(url, props);
            c.setAutoCommit(true);
            return c;
        } catch (SQLException e) {
            String state = e.getSQLState() == null ? "" : e.getSQLState();
            String where = url.replaceAll("(?i)password=[^&]*", "password=***");
            if (state.equals("28P01") || state.equals("28000")) {
                throw CliException.config("PostgreSQL at " + where + " refused the credentials (SQLState " + state + "): " + Output.clause(e.getMessage())
                        + ". Fix: check " + credentials);
            }
            if (state.equals("3D000")) {
                throw CliException.config("PostgreSQL at " + where + ": " + Output.clause(e.getMessage()) + ". Fix: check " + what);
            }
            throw CliException.unreachable("Cannot connect to PostgreSQL at " + where + " (SQLState " + state + "): " + Output.clause(e.getMessage())
                    + ". Fix: check " + what + " and that PostgreSQL is running", e);
        }
    }

    static int serverVersion(Connection c) throws SQLException {
        try (var s = c.createStatement(); var rs = s.executeQuery("SHOW server_version_num")) {
            rs.next();
            return Integer.parseInt(rs.getString(1).trim());
        }
    }
}
