package dev.outboxbridge.inbox.internal;

/** A parked key: the record key of a topic, the partition it lives in, and the failed attempts of its head. */
record ParkedKey(String topic, String key, int partition, int attempts) {
}
