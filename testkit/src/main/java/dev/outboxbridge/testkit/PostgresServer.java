package dev.outboxbridge.testkit;

import java.time.Duration;

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

    /**
     * Whether {@link #restartImmediately(Duration)} works: true for the embedded server the testkit
     * started, false for an external one ({@code OUTBOX_TEST_PG_HOST}) and for a container
     * ({@code OUTBOX_TEST_SERVERS=testcontainers}).
     */
    boolean canRestart();

    /**
     * Crash-restarts the server as {@code pg_ctl stop -m immediate} followed by {@code pg_ctl start}
     * does: every backend is killed at once without a shutdown checkpoint (open transactions are
     * lost, a COMMIT in flight fails on the client with its outcome unknown, walsenders drop their
     * clients), nothing listens for {@code downtime}, then the server starts on the same port with
     * the same data directory and settings and runs crash recovery. Committed transactions and
     * replication slots survive; a slot's position may move back to what its last checkpoint saved.
     *
     * <p>Returns once the server accepts connections again. It affects every database of the server,
     * so only tests that run alone on it (the default: one test at a time per JVM) should use it.
     *
     * @param downtime how long the server stays down, zero for an immediate start
     * @return how long the server was unavailable: the stop, the downtime, the start and crash recovery
     * @throws UnsupportedOperationException for an external server or a container; check {@link #canRestart()}
     * @throws IllegalStateException if a step fails; the message names the log to read
     */
    Duration restartImmediately(Duration downtime);
}
