package dev.outboxbridge.outbox.internal;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.UUID;

/**
 * UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Within one millisecond
 * the 12-bit {@code rand_a} field is a counter started at a random value (RFC 9562 method 1), so
 * ids from one generator sort in creation order. Internal API.
 */
public final class UuidV7 {

    private final Clock clock;
    private final SecureRandom random = new SecureRandom();
    private long lastMillis = -1;
    private int counter;

    public UuidV7(Clock clock) {
        this.clock = clock;
    }

    public UUID next() {
        long millis;
        int seq;
        synchronized (this) {
            millis = clock.millis();
            if (millis <= lastMillis) {
                millis = lastMillis; // clock went back or same ms: stay monotonic
                counter++;
                if (counter > 0xFFF) { // counter exhausted: borrow the next millisecond
                    millis = ++lastMillis;
                    counter = random.nextInt(0x800);
                }
            } else {
                lastMillis = millis;
                counter = random.nextInt(0x800); // leave room to count up
            }
            seq = counter;
        }
        long msb = (millis & 0xFFFF_FFFF_FFFFL) << 16 | 0x7000L | (seq & 0xFFF);
        long lsb = (random.nextLong() & 0x3FFF_FFFF_FFFF_FFFFL) | 0x8000_0000_0000_0000L;
        return new UUID(msb, lsb);
    }

    /** The Unix milliseconds encoded in a UUIDv7. */
    public static long millis(UUID uuid) {
        return uuid.getMostSignificantBits() >>> 16;
    }
}
