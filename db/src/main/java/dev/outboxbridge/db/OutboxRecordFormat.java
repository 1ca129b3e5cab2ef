package dev.outboxbridge.db;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The wire format of an outbox event on Kafka, declared once for the writer (outbox-core), the relay and the
 * inbox consumer: the topic an outbox row goes to, the headers the relay sets from the row's columns, and the
 * bound on a record's size.
 *
 * <p>A row of the outbox table becomes a record with topic = {@code topicPrefix + aggregatetype} (default prefix
 * {@value #DEFAULT_TOPIC_PREFIX}, as Debezium's Outbox Event Router), key = {@code aggregateid}, value =
 * {@code payload}, headers {@value #HEADER_ID} (event id), {@value #HEADER_EVENT_TYPE} and
 * {@value #HEADER_AGGREGATE_TYPE} (UTF-8 strings), followed by the row's own headers, and timestamp = the commit
 * time of the writing transaction.
 */
public final class OutboxRecordFormat {

    /** Header holding the event id (a UUID). */
    public static final String HEADER_ID = "id";
    /** Header holding the event type (the row's {@code type}). */
    public static final String HEADER_EVENT_TYPE = "eventType";
    /** Header holding the aggregate type (the row's {@code aggregatetype}). */
    public static final String HEADER_AGGREGATE_TYPE = "aggregateType";
    /** Headers the relay sets from the outbox columns; a row's own headers may not use these names. */
    public static final Set<String> RESERVED_HEADERS = Set.of(HEADER_ID, HEADER_EVENT_TYPE, HEADER_AGGREGATE_TYPE);

    /** Default topic prefix: topic = prefix + aggregate type, as Debezium's Outbox Event Router. */
    public static final String DEFAULT_TOPIC_PREFIX = "outbox.event.";
    /** Kafka's limit on a topic name's length. */
    public static final int MAX_TOPIC_LENGTH = 249;
    /** Longest topic prefix accepted, leaving room for the aggregate type. */
    public static final int MAX_TOPIC_PREFIX_LENGTH = 200;
    /** The characters Kafka allows in a topic name. */
    public static final String TOPIC_CHARS_RULE = "ASCII letters, digits, '.', '_' and '-'";
    /**
     * Default bound on payload + key + headers: 1,000,000 bytes, below Kafka's default {@code max.request.size}
     * (1,048,576) and the broker's {@code message.max.bytes} (1,048,588), so the relay can always publish what the
     * writer accepted.
     */
    public static final int DEFAULT_MAX_RECORD_BYTES = 1_000_000;
    /** Smallest {@code max.record.bytes} (writer and relay) accepted. */
    public static final int MIN_MAX_RECORD_BYTES = 1024;
    /** Allowance for a record's framing and the relay's fixed headers in {@link #estimatedRecordBytes}. */
    public static final int RECORD_OVERHEAD_BYTES = 64;

    private static final Pattern TOPIC_CHARS = Pattern.compile("[a-zA-Z0-9._-]*");

    private OutboxRecordFormat() {
    }

    /** The topic an event of {@code aggregateType} goes to. */
    public static String topic(String topicPrefix, String aggregateType) {
        return topicPrefix + aggregateType;
    }

    /** True when {@code s} contains only the characters Kafka allows in a topic name (the empty string too). */
    public static boolean hasLegalTopicChars(String s) {
        return s != null && TOPIC_CHARS.matcher(s).matches();
    }

    /**
     * Why Kafka would refuse {@code topic} as a topic name, or empty when it is valid: 1 to {@value #MAX_TOPIC_LENGTH}
     * of {@value #TOPIC_CHARS_RULE}, and not {@code .} or {@code ..}.
     */
    public static Optional<String> topicNameProblem(String topic) {
        if (topic == null || topic.isEmpty()) {
            return Optional.of("a topic name is 1 to " + MAX_TOPIC_LENGTH + " characters; it is empty");
        }
        if (!hasLegalTopicChars(topic)) {
            return Optional.of("topic names allow only " + TOPIC_CHARS_RULE);
        }
        if (topic.length() > MAX_TOPIC_LENGTH) {
            return Optional.of("topic names are at most " + MAX_TOPIC_LENGTH + " characters; it has " + topic.length());
        }
        if (".".equals(topic) || "..".equals(topic)) {
            return Optional.of("topic names may not be '.' or '..'");
        }
        return Optional.empty();
    }

    /**
     * Why {@code topicPrefix} cannot prefix topic names, or empty when it can: {@value #TOPIC_CHARS_RULE} only (or
     * empty), at most {@value #MAX_TOPIC_PREFIX_LENGTH} characters so an aggregate type fits after it.
     */
    public static Optional<String> topicPrefixProblem(String topicPrefix) {
        if (topicPrefix == null || !hasLegalTopicChars(topicPrefix)) {
            return Optional.of("Kafka topic names allow only " + TOPIC_CHARS_RULE);
        }
        if (topicPrefix.length() > MAX_TOPIC_PREFIX_LENGTH) {
            return Optional.of("keep the prefix at most " + MAX_TOPIC_PREFIX_LENGTH + " characters (it has "
                    + topicPrefix.length() + "), so aggregate types fit in Kafka's " + MAX_TOPIC_LENGTH + "-character topic names");
        }
        return Optional.empty();
    }

    /** True when Kafka accepts {@code topic} as a topic name. */
    public static boolean isValidTopicName(String topic) {
        return topicNameProblem(topic).isEmpty();
    }

    /**
     * The size bound both the writer and the relay check against {@code max.record.bytes}: payload, key, event type,
     * aggregate type, the row's own headers ({@code headerBytes}, names plus values in UTF-8) and a fixed allowance.
     */
    public static long estimatedRecordBytes(long payloadBytes, String aggregateId, String type, String aggregateType,
            long headerBytes) {
        return estimatedRecordBytes(payloadBytes, utf8Length(aggregateId), utf8Length(type), utf8Length(aggregateType),
                headerBytes);
    }

    /** {@link #estimatedRecordBytes(long, String, String, String, long)} from the UTF-8 lengths already at hand. */
    public static long estimatedRecordBytes(long payloadBytes, long aggregateIdBytes, long typeBytes,
            long aggregateTypeBytes, long headerBytes) {
        return payloadBytes + aggregateIdBytes + typeBytes + aggregateTypeBytes + headerBytes + RECORD_OVERHEAD_BYTES;
    }

    private static long utf8Length(String s) {
        return s == null ? 0 : s.getBytes(StandardCharsets.UTF_8).length;
    }
}
