package dev.outboxbridge.testkit;

/**
 * A running PostgreSQL server with {@code wal_level=logical}, shared by the tests of a JVM.
 *
 * <p>Obtain it from {@link TestServers#postgres()} or as a parameter of a test that uses
 * {@link OutboxBridgeExtension}. Tests should not use the admin database directly: each test gets
 * its own database from {@link #createDatabase(String)}.
 */
public interface PostgresServer {

    /** Host name clients connect to, for example {@code localhost}. */
    String host();

    /** TCP port of the server. */
    int port();

    /** A superuser (or a user with CREATEDB and REPLICATION) the testkit connects as. */
    String adminUser();

    /** Password of {@link #adminUser()}; empty when the server needs none. */
    String adminPassword();

    /**
     * The JDBC URL of a database of this server, {@code jdbc:postgresql://host:port/database},
     * without credentials.
     */
    String jdbcUrl(String database);

    /**
     * Creates an empty database named {@code <prefix>_<unique suffix>} (the prefix lower-cased and
     * reduced to {@code [a-z0-9_]}) and returns it. The caller owns it: {@link TestDatabase#close()}
     * drops it again.
     *
     * @throws IllegalStateException if the database cannot be created
     */
    TestDatabase createDatabase(String namePrefix);
}
