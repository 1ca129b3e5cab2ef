package dev.outboxbridge.outbox;

import dev.outboxbridge.outbox.internal.JsonHeaders;
import dev.outboxbridge.outbox.internal.UuidV7;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

final class OutboxImpl implements Outbox {

    private final OutboxConfig config;
    private final UuidV7 ids;
    private final String insertSql;
    private final String deleteSql;

    OutboxImpl(OutboxConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.ids = new UuidV7(config.clock());
        this.insertSql = "INSERT INTO " + config.table().quoted()
                + " (id, aggregatetype, aggregateid, type, payload, headers) VALUES (?, ?, ?, ?, ?, CAST(? AS jsonb))";
        // retention mode "delete in the same transaction": the WAL keeps the insert for the relay, the table keeps nothing
        this.deleteSql = config.deleteInTransaction() ? "DELETE FROM " + config.table().quoted() + " WHERE id = ANY(?)" : null;
    }

    @Override
    public UUID append(Connection connection, OutboxEvent event) {
        return appendAll(connection, List.of(Objects.requireNonNull(event, "event"))).get(0);
    }

    @Override
    public List<UUID> appendAll(Connection connection, List<OutboxEvent> events) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(events, "events");
        requireTransaction(connection);
        for (OutboxEvent event : events) {
            Validation.validate(event, config);
        }
        List<UUID> result = new ArrayList<>(events.size());
        if (events.isEmpty()) {
            return result;
        }
        try (PreparedStatement ps = connection.prepareStatement(insertSql)) {
            for (OutboxEvent event : events) {
                UUID id = event.id().orElseGet(ids::next);
                result.add(id);
                ps.setObject(1, id);
                ps.setString(2, event.aggregateType());
                ps.setString(3, event.aggregateId());
                ps.setString(4, event.type());
                ps.setBytes(5, event.payloadUnsafe());
                if (event.headers().isEmpty()) {
                    ps.setNull(6, Types.VARCHAR);
                } else {
                    ps.setString(6, JsonHeaders.write(event.headers()));
                }
                if (events.size() > 1) {
                    ps.addBatch();
                }
            }
            if (events.size() > 1) {
                ps.executeBatch();
            } else {
                ps.executeUpdate();
            }
            if (deleteSql != null) {
                delete(connection, result);
            }
        } catch (SQLException e) {
            throw new OutboxException("Could not append " + events.size() + " event(s) to " + config.table()
                    + " (SQLState " + e.getSQLState() + "): " + e.getMessage()
                    + ". The transaction is likely aborted: roll it back.", e);
        }
        return result;
    }

    private void delete(Connection connection, List<UUID> ids) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(deleteSql)) {
            ps.setArray(1, connection.createArrayOf("uuid", ids.toArray()));
            int deleted = ps.executeUpdate();
            if (deleted != ids.size()) {
                // a trigger or rule on the table changed what was inserted: the caller must know before committing
                throw new SQLException("deleted " + deleted + " of the " + ids.size() + " row(s) just inserted");
            }
        }
    }

    private void requireTransaction(Connection connection) {
        boolean autoCommit;
        try {
            autoCommit = connection.getAutoCommit();
        } catch (SQLException e) {
            throw new OutboxException("Could not read the connection's auto-commit mode: " + e.getMessage(), e);
        }
        if (autoCommit) {
            throw new NotInTransactionException("Refusing to append to the outbox on a connection in auto-commit mode:"
                    + " the event would commit on its own, not atomically with your business rows."
                    + " Call connection.setAutoCommit(false) (or run inside your framework's transaction,"
                    + " e.g. DSLContext.transaction(...) or @Transactional) and commit after appending.");
        }
    }

    @Override
    public UUID newEventId() {
        return ids.next();
    }

    @Override
    public OutboxConfig config() {
        return config;
    }
}
