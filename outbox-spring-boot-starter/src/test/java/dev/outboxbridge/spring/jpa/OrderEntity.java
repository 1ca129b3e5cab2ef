package dev.outboxbridge.spring.jpa;

import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** The business row of SpringOutboxJpaIT, written through JPA (Hibernate). */
@Entity
@Table(name = "orders")
public class OrderEntity {

    @Id
    private String id;

    protected OrderEntity() {
    }

    public OrderEntity(String id) {
        this.id = id;
    }

    public String getId() {
        return id;
    }
}
