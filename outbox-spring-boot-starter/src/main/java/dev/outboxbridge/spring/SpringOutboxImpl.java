package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.NotInTransactionException;
import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxEvent;
import java.sql.Connection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Function;
import javax.sql.DataSource;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.transaction.support.TransactionSynchronizationManager;

final class SpringOutboxImpl implements SpringOutbox {

    private final Outbox outbox;
    private final DataSource dataSource;
    private final AppendHeaders headers;
    private final AppendObserver observer;

    /**
     * @param headers completes each event before the insert (typed payloads, CloudEvents headers)
     * @param observer observes each append and may add headers (the trace context) to its completed events
     */
    SpringOutboxImpl(Outbox outbox, DataSource dataSource, AppendHeaders headers, AppendObserver observer) {
        this.outbox = Objects.requireNonNull(outbox, "outbox");
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.headers = Objects.requireNonNull(headers, "headers");
        this.observer = Objects.requireNonNull(observer, "observer");
    }

    @Override
    public UUID append(OutboxEvent event) {
        OutboxEvent complete = headers.complete(Objects.requireNonNull(event, "event"));
        return observer.observe(List.of(complete),
                observed -> onTransactionalConnection(connection -> outbox.append(connection, observed.get(0))));
    }

    @Override
    public List<UUID> appendAll(List<OutboxEvent> events) {
        List<OutboxEvent> complete = Objects.requireNonNull(events, "events").stream().map(headers::complete).toList();
        return observer.observe(complete,
                observed -> onTransactionalConnection(connection -> outbox.appendAll(connection, observed)));
    }

    @Override
    public UUID append(String aggregateType, String aggregateId, String eventType, Object payload,
            Map<String, String> extraHeaders) {
        return append(headers.typed(aggregateType, aggregateId, eventType, payload, extraHeaders));
    }

    @Override
    public Outbox outbox() {
        return outbox;
    }

    private <T> T onTransactionalConnection(Function<Connection, T> append) {
        if (!TransactionSynchronizationManager.isActualTransactionActive()) {
            throw new NotInTransactionException("Refusing to append to the outbox: no Spring-managed transaction is "
                    + "active on thread '" + Thread.currentThread().getName() + "', so the event would commit on its "
                    + "own, apart from your business rows. Fix: append from a @Transactional method of a Spring bean "
                    + "(called through the bean, not from the same class), or inside TransactionTemplate.execute(...)");
        }
        if (TransactionSynchronizationManager.getResource(dataSource) == null) {
            // DataSourceUtils would open and bind a second, auto-commit connection here: refuse instead
            throw new NotInTransactionException("Refusing to append to the outbox: the active Spring transaction "
                    + "does not manage the outbox's DataSource (" + dataSource.getClass().getName() + "), so the event "
                    + "would not commit with it. Fix: run the transaction with a transaction manager of this "
                    + "DataSource (JdbcTransactionManager / DataSourceTransactionManager, or JpaTransactionManager "
                    + "over it), or give the outbox the DataSource your transaction uses");
        }
        Connection connection = DataSourceUtils.getConnection(dataSource);
        try {
            return append.apply(connection);
        } finally {
            DataSourceUtils.releaseConnection(connection, dataSource);
        }
    }

    @Override
    public String toString() {
        return "SpringOutbox{table=" + outbox.config().table() + '}';
    }
}
