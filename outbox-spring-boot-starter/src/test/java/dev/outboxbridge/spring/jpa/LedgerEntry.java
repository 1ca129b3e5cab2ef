package dev.outboxbridge.spring.jpa;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.util.UUID;
import org.springframework.data.domain.Persistable;

/**
 * The business row an inbox handler of SpringInboxJpaIT writes through a Spring Data repository: always new, so
 * {@code save} persists it and Hibernate inserts it at the next flush (a unique {@code ref} is checked only then).
 */
@Entity
@Table(name = "ledger")
public class LedgerEntry implements Persistable<UUID> {

    @Id
    @Column(name = "event_id")
    private UUID eventId;

    @Column(name = "order_key")
    private String orderKey;

    private int seq;

    private String ref;

    protected LedgerEntry() {
    }

    public LedgerEntry(UUID eventId, String orderKey, int seq, String ref) {
        this.eventId = eventId;
        this.orderKey = orderKey;
        this.seq = seq;
        this.ref = ref;
    }

    @Override
    public UUID getId() {
        return eventId;
    }

    @Override
    public boolean isNew() {
        return true;
    }
}
