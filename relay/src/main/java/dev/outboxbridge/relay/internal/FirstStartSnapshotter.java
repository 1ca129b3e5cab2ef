package dev.outboxbridge.relay.internal;

import dev.outboxbridge.db.TableName;
import io.debezium.bean.StandardBeanNames;
import io.debezium.bean.spi.BeanRegistry;
import io.debezium.bean.spi.BeanRegistryAware;
import io.debezium.jdbc.JdbcConnection;
import io.debezium.pipeline.spi.OffsetContext;
import io.debezium.pipeline.spi.Offsets;
import io.debezium.spi.snapshot.Snapshotter;
import java.sql.SQLException;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's Debezium snapshotter ({@code snapshot.mode=custom}, name {@value #NAME}), used when
 * {@code first.start.snapshot=true}: on a first start the rows already in the outbox table are published, then the stream
 * continues. Not API: Debezium finds it through {@code META-INF/services}.
 *
 * <p>Debezium asks it once per engine start, after it read the stored position and before it creates a missing slot:
 * <ul>
 * <li>no stored position, no slot: snapshot. Debezium creates the slot with an exported snapshot and reads the table in
 * that snapshot, so the snapshot and the stream meet exactly at the slot's creation point (no gap, no duplicate).</li>
 * <li>no stored position, the slot exists (pre-created by an operator, or created by a first start that stopped before it
 * stored a position): no snapshot can be consistent with that slot. The table is read as it is now and the stream resumes
 * from the slot's confirmed position, so nothing is lost; rows committed after the slot's creation are published twice.</li>
 * <li>a stored position of an unfinished snapshot: the snapshot is taken again (at least once); with the slot already
 * there, Debezium first streams from the stored position up to now ("catch-up"), then reads the table.</li>
 * <li>a stored position of a finished snapshot (or of a relay that never snapshotted): no snapshot; a position behind
 * the slot still stops the relay ({@code offset.mismatch.strategy=trust_offset}).</li>
 * </ul>
 *
 * <p>The snapshot reads the rows in commit order ({@link EngineProperties#snapshotSelect}). Before any snapshot,
 * {@link SnapshotOrderCheck} refuses rows without a commit time (the preflight checked already when the slot did not
 * exist; this covers a slot without a stored position and an unfinished snapshot).
 */
public final class FirstStartSnapshotter implements Snapshotter, BeanRegistryAware {

    /** The name {@code snapshot.mode.custom.name} selects. */
    public static final String NAME = "outbox-bridge-first-start";
    private static final Logger LOG = LoggerFactory.getLogger(FirstStartSnapshotter.class);

    private BeanRegistry beans;
    private String slot;
    private TableName table;
    private boolean slotExisted;
    private boolean noPosition; // no stored position
    private boolean snapshotAgain; // the stored position is one of an unfinished snapshot
    private boolean warned;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public void injectBeanRegistry(BeanRegistry beanRegistry) {
        this.beans = beanRegistry;
    }

    @Override
    public void configure(Map<String, ?> properties) {
        slot = String.valueOf(properties.get("slot.name"));
        table = TableName.parse(String.valueOf(properties.get("table.include.list")));
        // Debezium asks the snapshotter before it creates a missing slot: what the slot looks like now decides whether the
        // snapshot can be the slot's exported one
        Offsets<?, ?> offsets = beans.lookupByName(StandardBeanNames.OFFSETS, Offsets.class);
        OffsetContext stored = offsets == null ? null : offsets.getTheOnlyOffset();
        snapshotAgain = stored != null && stored.isInitialSnapshotRunning();
        noPosition = stored == null;
        JdbcConnection jdbc = beans.lookupByName(StandardBeanNames.JDBC_CONNECTION, JdbcConnection.class);
        try {
            slotExisted = jdbc.prepareQueryAndMap("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?",
                    ps -> ps.setString(1, slot), rs -> rs.next() && rs.getLong(1) > 0);
        } catch (SQLException e) {
            throw new IllegalStateException("Could not look up replication slot '" + slot + "': " + e.getMessage(), e);
        }
        if (noPosition || snapshotAgain) {
            // a snapshot follows: the preflight checked when the slot did not exist; a slot without a stored position, or
            // an unfinished snapshot, is checked here. A snapshot that cannot be in commit order is refused, never taken
            try {
                SnapshotOrderCheck.check(jdbc.connection(), table);
            } catch (SQLException e) {
                throw new IllegalStateException("Could not check the commit times of the rows in " + table
                        + " before the first-start snapshot: " + e.getMessage(), e);
            }
        }
    }

    @Override
    public boolean shouldSnapshotData(boolean offsetExists, boolean snapshotInProgress) {
        if (snapshotInProgress) {
            // Debezium asks twice (its start-up check, then the snapshot itself): say it once
            if (!warned) {
                warned = true;
                LOG.warn("The previous run stopped during the first-start snapshot of the outbox table: taking it again (events it"
                        + " published already are published again)");
            }
            return true;
        }
        if (offsetExists) {
            return false; // a finished first start, or a position stored before this setting existed
        }
        if (slotExisted) {
            LOG.warn("Replication slot '{}' exists but the relay has no stored position (the slot was created ahead of the relay,"
                    + " or a first start stopped before storing one): no snapshot can be consistent with it. Publishing the rows in"
                    + " the outbox table as they are now, then streaming from the slot's confirmed position: nothing is lost, and rows"
                    + " committed after the slot was created are published twice (consumers deduplicate by event id).", slot);
        } else {
            LOG.info("First start: replication slot '{}' is created with an exported snapshot; the rows already in the outbox table"
                    + " are published first, then the inserts committed after the slot's creation", slot);
        }
        return true;
    }

    @Override
    public boolean shouldSnapshotSchema(boolean offsetExists, boolean snapshotInProgress) {
        return false; // the Postgres connector keeps no schema history
    }

    @Override
    public boolean shouldStream() {
        return true;
    }

    @Override
    public boolean shouldSnapshotOnSchemaError() {
        return false;
    }

    @Override
    public boolean shouldSnapshotOnDataError() {
        return false;
    }

    /**
     * True (Debezium's default) unless a snapshot is taken with a slot that already existed: then stream from where the
     * slot (or the stored position) stands, not from the moment of the snapshot, so that nothing committed between the
     * two is skipped. Never false without a snapshot: with a stored position Debezium would then "catch up" (stream up to
     * now, then take an empty snapshot and resume from the slot) on every restart, instead of simply resuming.
     */
    @Override
    public boolean shouldStreamEventsStartingFromSnapshot() {
        return !(slotExisted && (noPosition || snapshotAgain));
    }
}
