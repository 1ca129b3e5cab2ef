package dev.outboxbridge.inbox.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.outboxbridge.inbox.DeadLetterHeaders;
import dev.outboxbridge.inbox.InboxEvent;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Sends records to the dead-letter topic with an idempotent {@code acks=all} producer and waits for
 * the acknowledgement, so that the caller commits a dead-lettered record's offset only once the
 * dead-letter topic holds it. Used by the polling thread only; closed by the consumer.
 */
final class DeadLetterPublisher {

    private static final int MAX_MESSAGE_CHARS = 4000;

    private final String consumerName;
    private final String topic;
    private final Producer<byte[], byte[]> producer;
    private final Duration sendTimeout;

    DeadLetterPublisher(String consumerName, String topic, Producer<byte[], byte[]> producer, Duration sendTimeout) {
        this.consumerName = consumerName;
        this.topic = topic;
        this.producer = producer;
        this.sendTimeout = sendTimeout;
    }

    /** Sends a record the inbox cannot deduplicate, as it was read, with the reason. */
    void sendBadRecord(ConsumerRecord<byte[], byte[]> record, Exception reason) throws DeadLetterFailedException {
        RecordHeaders headers = new RecordHeaders();
        for (Header h : record.headers()) {
            headers.add(h);
        }
        addHeaders(headers, record.topic(), record.partition(), record.offset(), null,
                DeadLetterHeaders.REASON_BAD_RECORD, reason, 0);
        send(new ProducerRecord<>(topic, null, record.key(), record.value(), headers), record.topic(),
                record.partition(), record.offset());
    }

    /** Sends an event whose handler failed fatally or too often. */
    void sendEvent(InboxEvent event, boolean fatal, Throwable failure, int attempts) throws DeadLetterFailedException {
        RecordHeaders headers = new RecordHeaders();
        headers.add(InboxEvent.ID_HEADER, event.id().toString().getBytes(UTF_8));
        if (event.eventType() != null) {
            headers.add(InboxEvent.EVENT_TYPE_HEADER, event.eventType().getBytes(UTF_8));
        }
        if (event.aggregateType() != null) {
            headers.add(InboxEvent.AGGREGATE_TYPE_HEADER, event.aggregateType().getBytes(UTF_8));
        }
        for (Map.Entry<String, String> h : event.headers().entrySet()) {
            headers.add(h.getKey(), h.getValue().getBytes(UTF_8));
        }
        addHeaders(headers, event.topic(), event.partition(), event.offset(), event.id().toString(),
                fatal ? DeadLetterHeaders.REASON_HANDLER_FATAL : DeadLetterHeaders.REASON_HANDLER_FAILED, failure,
                attempts);
        byte[] key = event.key() == null ? null : event.key().getBytes(UTF_8);
        send(new ProducerRecord<>(topic, null, key, event.payload(), headers), event.topic(), event.partition(),
                event.offset());
    }

    private void addHeaders(RecordHeaders headers, String originalTopic, int partition, long offset, String eventId,
            String reason, Throwable failure, int attempts) {
        headers.add(DeadLetterHeaders.ORIGINAL_TOPIC, originalTopic.getBytes(UTF_8));
        headers.add(DeadLetterHeaders.ORIGINAL_PARTITION, Integer.toString(partition).getBytes(UTF_8));
        headers.add(DeadLetterHeaders.ORIGINAL_OFFSET, Long.toString(offset).getBytes(UTF_8));
        if (eventId != null) {
            headers.add(DeadLetterHeaders.EVENT_ID, eventId.getBytes(UTF_8));
        }
        headers.add(DeadLetterHeaders.CONSUMER, consumerName.getBytes(UTF_8));
        headers.add(DeadLetterHeaders.REASON, reason.getBytes(UTF_8));
        headers.add(DeadLetterHeaders.EXCEPTION_CLASS, failure.getClass().getName().getBytes(UTF_8));
        String message = String.valueOf(failure.getMessage());
        if (message.length() > MAX_MESSAGE_CHARS) {
            message = message.substring(0, MAX_MESSAGE_CHARS);
        }
        headers.add(DeadLetterHeaders.EXCEPTION_MESSAGE, message.getBytes(UTF_8));
        headers.add(DeadLetterHeaders.ATTEMPTS, Integer.toString(attempts).getBytes(UTF_8));
    }

    private void send(ProducerRecord<byte[], byte[]> record, String originalTopic, int partition, long offset)
            throws DeadLetterFailedException {
        try {
            producer.send(record).get(sendTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failed(originalTopic, partition, offset, e);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            throw failed(originalTopic, partition, offset, e instanceof ExecutionException && e.getCause() != null
                    ? e.getCause() : e);
        }
    }

    private DeadLetterFailedException failed(String originalTopic, int partition, long offset, Throwable cause) {
        return new DeadLetterFailedException("Inbox consumer '" + consumerName + "' could not send the record at "
                + originalTopic + "-" + partition + "@" + offset + " to the dead-letter topic '" + topic + "' ("
                + cause + "); its offset is not committed and it is tried again after a backoff. Fix: check that "
                + "the topic exists and the consumer may write to it", cause);
    }

    /** The dead-letter topic did not acknowledge a record. */
    static final class DeadLetterFailedException extends Exception {
        private static final long serialVersionUID = 1L;

        DeadLetterFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
