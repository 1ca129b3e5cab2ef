package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import org.postgresql.core.BaseConnection;
import org.postgresql.util.HostSpec;

/**
 * The relay on a host list ({@value RelayConfig#DATABASE_HOSTNAME} = {@code host1,host2:5433}). The relay's own JDBC
 * connections reach the primary through pgjdbc's multi-host URL ({@code targetServerType=primary}); Debezium's engine
 * takes one host only (its {@code database.hostname} validator refuses a list) and reconnects to that host by itself.
 * So at start-up the relay resolves which listed host is the primary and hands the engine that one
 * ({@link #engineConfig}); the slot monitor, connecting through the list, notices when the primary is another host (a
 * promotion) and stops the relay, whose supervisor starts it again against the new primary: it resumes there from the
 * synchronized failover slot, or refuses to when the slot is not there.
 */
final class PrimaryHost {

    private PrimaryHost() {
    }

    /** {@code host:port} of the server a connection reached. */
    static String of(Connection c) throws SQLException {
        HostSpec spec = c.unwrap(BaseConnection.class).getQueryExecutor().getHostSpec();
        return spec.getHost() + ":" + spec.getPort();
    }

    /** The settings for the engine: with a host list, the one host ({@code host:port}) that is the primary now. */
    static RelayConfig engineConfig(RelayConfig config, String primary) {
        if (!config.hasHostList() || primary == null) {
            return config;
        }
        int colon = primary.lastIndexOf(':');
        String host = primary.substring(0, colon);
        Map<String, String> settings = new HashMap<>(config.originalsStrings());
        settings.put(RelayConfig.DATABASE_HOSTNAME, host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
        settings.put(RelayConfig.DATABASE_PORT, primary.substring(colon + 1));
        return RelayConfig.of(settings);
    }
}
