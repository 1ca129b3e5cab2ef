package dev.outboxbridge.relay.internal;

import dev.outboxbridge.db.TableName;
import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Before a first-start snapshot: can PostgreSQL put the rows already in the outbox table in commit order? The snapshot
 * orders them by their transaction's commit time ({@link EngineProperties#snapshotSelect}), which PostgreSQL records
 * only with {@code track_commit_timestamp=on}, and only for transactions committed after it was turned on. A snapshot
 * that would have to guess the order of some rows is refused with the fix, never taken in another order: the
 * transaction-id order is commit order only when every writer of an aggregate takes its lock before its transaction's
 * first write, which a transaction updating several aggregates does not (it can take its id, then wait for another
 * aggregate's lock held by a transaction with a later id).
 *
 * <p>An empty table needs nothing (the common first deployment, and {@code deleteInTransaction}).
 */
final class SnapshotOrderCheck {

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotOrderCheck.class);

    private SnapshotOrderCheck() {
    }

    /**
     * Checks the rows the snapshot would read now.
     *
     * @throws RelayException when rows are there whose commit order PostgreSQL did not record
     */
    static void check(Connection c, TableName table) throws SQLException {
        boolean tracked;
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW track_commit_timestamp")) {
            rs.next();
            tracked = "on".equals(rs.getString(1));
        }
        if (!tracked) {
            long rows;
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM (SELECT 1 FROM " + table.quoted() + " LIMIT 1) AS any_row")) {
                rs.next();
                rows = rs.getLong(1);
            }
            if (rows > 0) {
                throw new RelayException("The first-start snapshot (" + RelayConfig.FIRST_START_SNAPSHOT + "=true) would publish the"
                        + " rows already in " + table + " (committed before the relay's slot exists) in commit order per aggregate,"
                        + " which PostgreSQL records only with track_commit_timestamp=on; it is off on this server, so their order is"
                        + " unknown and the relay does not guess it. Fix: if these rows were published already (another relay or"
                        + " slot), or you publish them yourself, set " + RelayConfig.FIRST_START_SNAPSHOT + "=false; otherwise see"
                        + " docs/first-deployment.md#rows-without-a-commit-time. For the next deployments set track_commit_timestamp"
                        + " = on in postgresql.conf and restart PostgreSQL before the service writes.");
            }
            LOG.info("track_commit_timestamp is off, but {} is empty: the first-start snapshot has nothing to order", table);
            return;
        }
        long untimed;
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT count(*) FROM " + table.quoted() + " WHERE pg_xact_commit_timestamp(xmin) IS NULL")) {
            rs.next();
            untimed = rs.getLong(1);
        }
        if (untimed > 0) {
            throw new RelayException("The first-start snapshot (" + RelayConfig.FIRST_START_SNAPSHOT + "=true) would publish the"
                    + " rows already in " + table + " in commit order per aggregate, but " + untimed + " of them have no commit time"
                    + " (committed before track_commit_timestamp was turned on), so their order is unknown and the relay does not"
                    + " guess it. Fix: if these rows were published already, or you publish them yourself, set "
                    + RelayConfig.FIRST_START_SNAPSHOT + "=false; otherwise see docs/first-deployment.md#rows-without-a-commit-time"
                    + " (re-insert them in the order they must be published once the slot exists).");
        }
    }
}
