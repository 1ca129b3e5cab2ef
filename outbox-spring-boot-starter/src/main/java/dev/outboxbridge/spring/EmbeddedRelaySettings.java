package dev.outboxbridge.spring;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.relay.RelayConfig;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiPredicate;

/**
 * The settings of the embedded relay ({@link RelayConfig} keys), from {@code outbox.relay.*} over what the
 * application already configures: the database of its {@code DataSource}, Kafka's {@code spring.kafka.*}
 * connection settings, the outbox's {@code outbox.*}. Refuses, naming both settings and the fix, what it cannot
 * decide without guessing: a value given twice, a DataSource URL it cannot read, and an outbox table, topic prefix
 * or record limit given to the relay that differs from the outbox's (the writer and the relay must agree). One
 * default differs from the relay library's: {@code restart.enabled} is true unless given ({@code outbox.relay.restart.enabled}
 * or {@code outbox.relay.properties.restart.enabled}), since no supervisor restarts an embedded relay.
 * Everything else is checked by {@link RelayConfig#of} itself.
 */
final class EmbeddedRelaySettings {

    /** JDBC URL parameters that change how PostgreSQL is reached; the relay's connections would not carry them. */
    private static final Set<String> CONNECTION_PARAMETERS = Set.of("ssl", "sslmode", "sslcert", "sslkey", "sslrootcert",
            "sslpassword", "sslfactory", "sslhostnameverifier", "gsslib", "kerberosservername",
            "jaasapplicationname", "socketfactory");

    private EmbeddedRelaySettings() {
    }

    /**
     * The database the application's DataSource connects to, as the embedded relay sees it.
     *
     * @param jdbcUrl the DataSource's JDBC URL (may be null: unknown)
     * @param username its user (may be null)
     * @param password its password (may be null)
     * @param source where these come from, for messages (e.g. {@code spring.datasource.url})
     */
    record DataSourceAddress(String jdbcUrl, String username, String password, String source) {
    }

    /**
     * @param kafka the {@code spring.kafka.*} settings of the relay's producer, Kafka client names
     *        ({@code bootstrap.servers}, {@code security.protocol}, {@code ssl.*}, {@code sasl.*})
     */
    static Map<String, String> resolve(RelayProperties relay, OutboxProperties outbox, DataSourceAddress dataSource,
            Map<String, String> kafka) {
        Map<String, String> explicit = new LinkedHashMap<>(relay.getProperties());
        typed(explicit, "outbox.relay.name", relay.getName(), RelayConfig.NAME);
        typed(explicit, "outbox.relay.slot-name", relay.getSlotName(), RelayConfig.SLOT_NAME);
        typed(explicit, "outbox.relay.publication-name", relay.getPublicationName(), RelayConfig.PUBLICATION_NAME);
        RelayProperties.Database db = relay.getDatabase();
        typed(explicit, "outbox.relay.database.host", db.getHost(), RelayConfig.DATABASE_HOSTNAME);
        typed(explicit, "outbox.relay.database.port", db.getPort() == null ? null : db.getPort().toString(),
                RelayConfig.DATABASE_PORT);
        typed(explicit, "outbox.relay.database.name", db.getName(), RelayConfig.DATABASE_DBNAME);
        typed(explicit, "outbox.relay.database.username", db.getUsername(), RelayConfig.DATABASE_USER);
        typed(explicit, "outbox.relay.database.password", db.getPassword(), RelayConfig.DATABASE_PASSWORD);
        Boolean restart = relay.getRestart().getEnabled();
        typed(explicit, "outbox.relay.restart.enabled", restart == null ? null : restart.toString(), RelayConfig.RESTART_ENABLED);

        if (explicit.containsKey(RelayConfig.HTTP_PORT)) {
            throw new IllegalStateException("outbox.relay.properties." + RelayConfig.HTTP_PORT + " is the port of the sidecar's"
                    + " operations endpoints; the embedded relay opens none (its health is the outboxRelay contributor, its"
                    + " metrics are in the application's MeterRegistry). Fix: remove it");
        }
        Map<String, String> settings = new LinkedHashMap<>();
        database(settings, explicit, dataSource);
        kafka.forEach((key, value) -> settings.put(key.equals("bootstrap.servers") ? RelayConfig.KAFKA_BOOTSTRAP_SERVERS
                : RelayConfig.PRODUCER_PREFIX + key, value));
        settings.putAll(explicit); // outbox.relay.* wins over what was taken from the application
        // no supervisor restarts an embedded relay: it restarts itself unless the user said otherwise (never overwritten)
        settings.putIfAbsent(RelayConfig.RESTART_ENABLED, "true");
        if (!settings.containsKey(RelayConfig.KAFKA_BOOTSTRAP_SERVERS)) {
            throw new IllegalStateException("The embedded relay (outbox.relay.enabled=true) has no Kafka to publish to."
                    + " Fix: set spring.kafka.bootstrap-servers, or outbox.relay.properties.kafka.bootstrap.servers");
        }
        agree(settings, RelayConfig.OUTBOX_TABLE, "outbox.table", outbox.getTable(), OutboxConfig.DEFAULT_TABLE,
                (a, b) -> sameTable(a, b));
        agree(settings, RelayConfig.TOPIC_PREFIX, "outbox.topic-prefix", outbox.getTopicPrefix(),
                OutboxConfig.DEFAULT_TOPIC_PREFIX, String::equals);
        agree(settings, RelayConfig.MAX_RECORD_BYTES, "outbox.max-record-bytes",
                outbox.getMaxRecordBytes() == null ? null : outbox.getMaxRecordBytes().toString(),
                String.valueOf(OutboxConfig.DEFAULT_MAX_RECORD_BYTES), (a, b) -> a.trim().equals(b.trim()));
        return settings;
    }

    private static void typed(Map<String, String> explicit, String property, String value, String key) {
        if (value == null) {
            return;
        }
        if (explicit.containsKey(key)) {
            throw new IllegalStateException("The embedded relay's " + key + " is given twice: " + property + " and "
                    + "outbox.relay.properties." + key + ". Fix: keep one of them");
        }
        explicit.put(key, value);
    }

    private static void database(Map<String, String> settings, Map<String, String> explicit, DataSourceAddress dataSource) {
        boolean needsUrl = !explicit.containsKey(RelayConfig.DATABASE_HOSTNAME) || !explicit.containsKey(RelayConfig.DATABASE_DBNAME);
        String url = dataSource == null ? null : dataSource.jdbcUrl();
        if (needsUrl) {
            if (url == null) {
                throw new IllegalStateException("The embedded relay (outbox.relay.enabled=true) does not know which"
                        + " PostgreSQL to replicate from: the application's DataSource has no JDBC URL it can read. Fix: set"
                        + " spring.datasource.url=jdbc:postgresql://<host>:<port>/<database>, or outbox.relay.database.host"
                        + " and outbox.relay.database.name");
            }
            PostgresUrl parsed = PostgresUrl.parse(url, dataSource.source());
            settings.put(RelayConfig.DATABASE_HOSTNAME, parsed.host());
            settings.put(RelayConfig.DATABASE_PORT, String.valueOf(parsed.port()));
            settings.put(RelayConfig.DATABASE_DBNAME, parsed.database());
            if (!explicit.containsKey(RelayConfig.DATABASE_USER)) {
                String user = dataSource.username() != null ? dataSource.username() : parsed.user();
                String password = dataSource.password() != null ? dataSource.password() : parsed.password();
                if (user != null) {
                    settings.put(RelayConfig.DATABASE_USER, user);
                    settings.put(RelayConfig.DATABASE_PASSWORD, password == null ? "" : password);
                }
            }
        } else if (!explicit.containsKey(RelayConfig.DATABASE_USER) && dataSource != null && dataSource.username() != null) {
            settings.put(RelayConfig.DATABASE_USER, dataSource.username());
            settings.put(RelayConfig.DATABASE_PASSWORD, dataSource.password() == null ? "" : dataSource.password());
        }
        if (!settings.containsKey(RelayConfig.DATABASE_USER) && !explicit.containsKey(RelayConfig.DATABASE_USER)) {
            throw new IllegalStateException("The embedded relay (outbox.relay.enabled=true) has no PostgreSQL role to"
                    + " replicate as: the application's DataSource names no user. Fix: set spring.datasource.username, or"
                    + " outbox.relay.database.username and outbox.relay.database.password (a role with REPLICATION)");
        }
    }

    /** The relay's value of {@code key} must be the outbox's: taken from it, and refused when given otherwise. */
    private static void agree(Map<String, String> settings, String key, String outboxProperty, String outboxValue,
            String outboxDefault, BiPredicate<String, String> same) {
        String writer = outboxValue != null ? outboxValue : outboxDefault;
        String given = settings.get(key);
        if (given != null && !same.test(given, writer)) {
            throw new IllegalStateException("outbox.relay.properties." + key + "=" + given + " differs from the outbox's "
                    + outboxProperty + " (" + writer + (outboxValue == null ? ", its default" : "") + "): the relay would"
                    + " not publish what the application writes as it expects. Fix: remove outbox.relay.properties." + key
                    + "; the embedded relay takes " + outboxProperty);
        }
        settings.put(key, writer);
    }

    private static boolean sameTable(String a, String b) {
        try {
            return TableName.parse(a).equals(TableName.parse(b));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Host, port, database (and user/password parameters) of a {@code jdbc:postgresql:} URL. */
    record PostgresUrl(String host, int port, String database, String user, String password) {

        static PostgresUrl parse(String url, String source) {
            String prefix = "jdbc:postgresql:";
            if (!url.regionMatches(true, 0, prefix, 0, prefix.length())) {
                throw new IllegalStateException("The embedded relay reads PostgreSQL only, and " + source + " is "
                        + withoutParameters(url) + ". Fix: point spring.datasource.url at the PostgreSQL database holding"
                        + " the outbox table, or set outbox.relay.database.host and outbox.relay.database.name");
            }
            String rest = url.substring(prefix.length());
            String query = "";
            int q = rest.indexOf('?');
            if (q >= 0) {
                query = rest.substring(q + 1);
                rest = rest.substring(0, q);
            }
            String host = "localhost";
            int port = 5432;
            String database;
            if (rest.startsWith("//")) {
                rest = rest.substring(2);
                int slash = rest.indexOf('/');
                String hostPort = slash >= 0 ? rest.substring(0, slash) : rest;
                database = slash >= 0 ? rest.substring(slash + 1) : "";
                if (hostPort.contains(",")) {
                    // a PostgreSQL primary and its standbys: the relay takes the list (database.hostname) and reaches the
                    // primary among them, again after each restart, so it follows a promotion (docs/deployment.md)
                    for (String entry : hostPort.split(",", -1)) {
                        if (entry.isBlank()) {
                            throw new IllegalStateException(source + " has an empty entry in its host list (" + hostPort
                                    + "). Fix: jdbc:postgresql://<host1>:<port1>,<host2>:<port2>/<database>");
                        }
                    }
                    host = hostPort;
                } else if (!hostPort.isEmpty()) {
                    int colon = hostPort.lastIndexOf(':');
                    if (colon > 0 && !hostPort.endsWith("]")) {
                        host = hostPort.substring(0, colon);
                        try {
                            port = Integer.parseInt(hostPort.substring(colon + 1));
                        } catch (NumberFormatException e) {
                            throw new IllegalStateException(source + " has an invalid port '" + hostPort.substring(colon + 1)
                                    + "'. Fix: jdbc:postgresql://<host>:<port>/<database>");
                        }
                    } else {
                        host = hostPort;
                    }
                }
            } else {
                database = rest;
            }
            String user = null;
            String password = null;
            for (String parameter : query.split("&")) {
                int eq = parameter.indexOf('=');
                String name = (eq >= 0 ? parameter.substring(0, eq) : parameter).toLowerCase(Locale.ROOT);
                String value = eq >= 0 ? URLDecoder.decode(parameter.substring(eq + 1), StandardCharsets.UTF_8) : "";
                if (name.equals("user")) {
                    user = value;
                } else if (name.equals("password")) {
                    password = value;
                } else if (name.equals("targetservertype")) {
                    if (!value.equalsIgnoreCase("primary") && !value.equalsIgnoreCase("master")) {
                        throw new IllegalStateException(source + " sets targetServerType=" + value + ", but the relay"
                                + " replicates from the primary only (with several hosts it reaches the primary among them"
                                + " by itself). Fix: give the relay its servers with outbox.relay.database.host (a host list"
                                + " is fine) and outbox.relay.database.name");
                    }
                } else if (CONNECTION_PARAMETERS.contains(name)) {
                    throw new IllegalStateException(source + " sets the connection parameter '" + name + "', which the"
                            + " relay's PostgreSQL connections do not support (they take host, port, database, user and"
                            + " password only, without TLS): taken from this URL, the relay would connect without it. Fix:"
                            + " if the server accepts the relay so, give it explicitly with outbox.relay.database.host, .port"
                            + " and .name; otherwise leave outbox.relay.enabled=false (the relay cannot reach this server yet)");
                }
            }
            database = URLDecoder.decode(database, StandardCharsets.UTF_8);
            if (database.isEmpty()) {
                throw new IllegalStateException(source + " (" + withoutParameters(url) + ") names no database. Fix:"
                        + " jdbc:postgresql://<host>:<port>/<database>, or set outbox.relay.database.name");
            }
            return new PostgresUrl(Objects.requireNonNull(host), port, database, user, password);
        }

        /** The URL without its parameters, which may hold a password: safe for messages. */
        private static String withoutParameters(String url) {
            int q = url.indexOf('?');
            return q >= 0 ? url.substring(0, q) : url;
        }

        @Override
        public String toString() {
            return "PostgresUrl[" + host + ":" + port + "/" + database + "]";
        }
    }
}
