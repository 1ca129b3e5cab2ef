package dev.outboxbridge.testkit;

/** The environment variables that switch the testkit to external servers or to containers. */
final class Environment {

    /** Which provider starts the servers: {@link Servers}. */
    static final String SERVERS = "OUTBOX_TEST_SERVERS";
    /** The PostgreSQL image of the Testcontainers provider. */
    static final String PG_IMAGE = "OUTBOX_TEST_PG_IMAGE";
    /** The Kafka image of the Testcontainers provider. */
    static final String KAFKA_IMAGE = "OUTBOX_TEST_KAFKA_IMAGE";

    static final String PG_HOST = "OUTBOX_TEST_PG_HOST";
    static final String PG_PORT = "OUTBOX_TEST_PG_PORT";
    static final String PG_USER = "OUTBOX_TEST_PG_USER";
    static final String PG_PASSWORD = "OUTBOX_TEST_PG_PASSWORD";
    static final String PG_DATABASE = "OUTBOX_TEST_PG_DATABASE";
    static final String KAFKA_BOOTSTRAP_SERVERS = "OUTBOX_TEST_KAFKA_BOOTSTRAP_SERVERS";

    private Environment() {
    }

    /** The providers {@link #SERVERS} chooses between. */
    enum Servers {
        /** Started by the testkit in the JVM's own process tree (the default), or external ones. */
        EMBEDDED,
        /** Docker containers started through Testcontainers. */
        TESTCONTAINERS;

        /** The value as written in the variable. */
        String value() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The provider chosen by {@link #SERVERS}; {@link Servers#EMBEDDED} when it is unset or blank. */
    static Servers servers() {
        return servers(get(SERVERS));
    }

    /** Parses a value of {@link #SERVERS} (null: unset). */
    static Servers servers(String value) {
        if (value == null) {
            return Servers.EMBEDDED;
        }
        for (Servers s : Servers.values()) {
            if (s.value().equalsIgnoreCase(value.trim())) {
                return s;
            }
        }
        throw new IllegalStateException(SERVERS + " must be 'embedded' (the default) or 'testcontainers', but is '" + value
                + "'. Fix: set it to one of them, or unset it.");
    }

    /** The variable's value, or null when it is unset or blank. */
    static String get(String name) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? null : value.trim();
    }

    /** The variable's value, or the default when it is unset or blank. */
    static String get(String name, String defaultValue) {
        String value = get(name);
        return value == null ? defaultValue : value;
    }

    /** The variable as a TCP port, or the default when it is unset or blank. */
    static int port(String name, int defaultValue) {
        String value = get(name);
        if (value == null) {
            return defaultValue;
        }
        try {
            int port = Integer.parseInt(value);
            if (port < 1 || port > 65535) {
                throw new NumberFormatException("out of range");
            }
            return port;
        } catch (NumberFormatException e) {
            throw new IllegalStateException(name + " must be a TCP port number (1-65535), but is '" + value + "'", e);
        }
    }
}
