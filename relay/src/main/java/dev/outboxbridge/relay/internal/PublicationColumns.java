package dev.outboxbridge.relay.internal;

import dev.outboxbridge.relay.RelayConfig;
import dev.outboxbridge.relay.RelayException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The publication's column list (PostgreSQL 15+): the relay publishes only the columns it reads, so the walsender sends
 * and Debezium decodes nothing else of a row: not {@code created_at} (a {@code timestamptz} that Debezium parses and
 * re-formats for every event), nor columns a user added to the outbox table. On PostgreSQL 14 and older a publication
 * has no column list and every column is published (the fallback). A publication the relay did not create is used as it
 * is, but one whose column list lacks a column the relay reads is refused at start-up.
 */
final class PublicationColumns {

    /** The columns the relay reads from a streamed row, in table order ({@code created_at} only from a snapshot's SELECT). */
    static final List<String> READ = List.of("id", "aggregatetype", "aggregateid", "type", "payload", "headers");

    /** Column lists of publications came with PostgreSQL 15. */
    static final int SINCE_MAJOR_VERSION = 15;

    private PublicationColumns() {
    }

    /** Whether this server supports a publication column list. */
    static boolean supported(Connection c) throws SQLException {
        return c.getMetaData().getDatabaseMajorVersion() >= SINCE_MAJOR_VERSION;
    }

    /** The column list for {@code CREATE PUBLICATION ... FOR TABLE t <list>}: " (id, ...)" or "" when not supported. */
    static String forCreate(Connection c) throws SQLException {
        return supported(c) ? " (" + String.join(", ", READ) + ")" : "";
    }

    /**
     * Refuses a publication whose column list leaves out a column the relay reads: each of its events would stop the relay
     * as malformed. A publication without a column list (or a server before 15) passes.
     */
    static void check(Connection c, String publication, String table) throws SQLException {
        if (!supported(c)) {
            return;
        }
        List<String> published = null;
        try (PreparedStatement ps = c.prepareStatement("SELECT attnames::text[] FROM pg_publication_tables WHERE pubname = ?")) {
            ps.setString(1, publication);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next() && rs.getArray(1) != null) {
                    published = List.of((String[]) rs.getArray(1).getArray());
                }
            }
        }
        if (published == null) {
            return;
        }
        List<String> missing = new ArrayList<>(READ);
        missing.removeAll(published);
        if (!missing.isEmpty()) {
            throw new RelayException("Publication '" + publication + "' publishes the columns " + published + " of " + table
                    + " but not " + missing + ", which the relay reads. Fix: ALTER PUBLICATION " + publication + " SET TABLE " + table
                    + " (" + String.join(", ", READ) + "); or point " + RelayConfig.PUBLICATION_NAME
                    + " at a publication that publishes these columns");
        }
    }
}
