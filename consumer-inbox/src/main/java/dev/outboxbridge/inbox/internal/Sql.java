package dev.outboxbridge.inbox.internal;

import dev.outboxbridge.db.SchemaCheck;
import dev.outboxbridge.db.TableName;

/** The SQL of one inbox consumer, built once from the configured table names. */
final class Sql {

    final String insertInbox;
    final String insertInboxBatch;
    final String deleteInboxRows;
    final String insertInboxOrRevive;
    final String insertDeadLettered;
    final String selectInboxRow;
    final String insertParkedKey;
    final String insertParkedEvent;
    final String selectParkedKeysOfPartition;
    final String selectDueKeys;
    final String selectHead;
    final String deleteParkedEvent;
    final String deleteKeyIfEmpty;
    final String resetAttempts;
    final String recordFailure;
    final String markKeyDeadLettered;
    final String lockKey;
    final String deleteHead;
    final String redriveKey;
    final String countParkedKeys;
    final String deleteExpired;

    Sql(TableName inbox) {
        String in = inbox.quoted();
        String keys = TableName.parse(inbox.schema() + "." + SchemaCheck.INBOX_PARKED_KEY_TABLE).quoted();
        String events = TableName.parse(inbox.schema() + "." + SchemaCheck.INBOX_PARKED_EVENT_TABLE).quoted();
        String inboxColumns = " (consumer_name, event_id, topic, kafka_partition, kafka_offset, processed_at, status)";
        insertInbox = "INSERT INTO " + in + inboxColumns + " VALUES (?, ?, ?, ?, ?, ?, 'APPLIED') ON CONFLICT DO NOTHING";
        insertInboxBatch = "INSERT INTO " + in + inboxColumns + " SELECT ?, u.id, ?, ?, u.off, ?, 'APPLIED'"
                + " FROM unnest(?::uuid[], ?::bigint[]) WITH ORDINALITY AS u(id, off, ord) ORDER BY u.ord"
                + " ON CONFLICT DO NOTHING RETURNING event_id";
        deleteInboxRows = "DELETE FROM " + in + " WHERE consumer_name = ? AND event_id = ANY (?::uuid[])";
        insertInboxOrRevive = "INSERT INTO " + in + inboxColumns + " VALUES (?, ?, ?, ?, ?, ?, 'APPLIED')"
                + " ON CONFLICT (consumer_name, event_id) DO UPDATE SET status = 'APPLIED', processed_at = EXCLUDED.processed_at"
                + " WHERE " + in + ".status = 'DEAD_LETTERED'";
        insertDeadLettered = "INSERT INTO " + in + inboxColumns + " VALUES (?, ?, ?, ?, ?, ?, 'DEAD_LETTERED')"
                + " ON CONFLICT DO NOTHING";
        selectInboxRow = "SELECT 1 FROM " + in + " WHERE consumer_name = ? AND event_id = ?";
        insertParkedKey = "INSERT INTO " + keys + " (consumer_name, topic, record_key, kafka_partition, status, attempts,"
                + " next_attempt_at, last_error, parked_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                + " ON CONFLICT (consumer_name, topic, record_key) DO UPDATE SET status = EXCLUDED.status,"
                + " attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,"
                + " last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at";
        insertParkedEvent = "INSERT INTO " + events + " (consumer_name, event_id, topic, record_key, kafka_partition,"
                + " kafka_offset, event_type, aggregate_type, payload, header_names, header_values, committed_at, parked_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
        selectParkedKeysOfPartition = "SELECT record_key FROM " + keys
                + " WHERE consumer_name = ? AND topic = ? AND kafka_partition = ?";
        selectDueKeys = "SELECT topic, record_key, kafka_partition, attempts FROM " + keys
                + " WHERE consumer_name = ? AND status = 'RETRYING' AND next_attempt_at <= ? ORDER BY next_attempt_at";
        selectHead = "SELECT event_id, event_type, aggregate_type, payload, header_names, header_values, kafka_partition,"
                + " kafka_offset, committed_at FROM " + events
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ? ORDER BY seq LIMIT 1";
        deleteParkedEvent = "DELETE FROM " + events + " WHERE consumer_name = ? AND event_id = ?";
        deleteKeyIfEmpty = "DELETE FROM " + keys + " k WHERE consumer_name = ? AND topic = ? AND record_key = ?"
                + " AND NOT EXISTS (SELECT 1 FROM " + events + " e WHERE e.consumer_name = k.consumer_name"
                + " AND e.topic = k.topic AND e.record_key = k.record_key)";
        resetAttempts = "UPDATE " + keys + " SET attempts = 0, last_error = NULL, updated_at = ?"
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ?";
        recordFailure = "UPDATE " + keys + " SET attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ?"
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ? AND status = 'RETRYING'";
        markKeyDeadLettered = "UPDATE " + keys + " SET status = 'DEAD_LETTERED', attempts = ?, next_attempt_at = NULL,"
                + " last_error = ?, updated_at = ? WHERE consumer_name = ? AND topic = ? AND record_key = ?";
        lockKey = "SELECT status FROM " + keys + " WHERE consumer_name = ? AND topic = ? AND record_key = ? FOR UPDATE";
        deleteHead = "DELETE FROM " + events + " WHERE consumer_name = ? AND event_id = (SELECT event_id FROM " + events
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ? ORDER BY seq LIMIT 1)";
        redriveKey = "UPDATE " + keys + " SET status = 'RETRYING', attempts = 0, next_attempt_at = ?, updated_at = ?"
                + " WHERE consumer_name = ? AND topic = ? AND record_key = ?";
        countParkedKeys = "SELECT count(*) FROM " + keys + " WHERE consumer_name = ?";
        deleteExpired = "DELETE FROM " + in + " WHERE (consumer_name, event_id) IN (SELECT consumer_name, event_id FROM "
                + in + " WHERE consumer_name = ? AND processed_at < ? ORDER BY processed_at LIMIT ?"
                + " FOR UPDATE SKIP LOCKED)";
    }
}
