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

    SpringOutboxImpl(Outbox outbox, DataSource dataSource, AppendHeaders headers) {
        this.outbox = Objects.requireNonNull(outbox, "outbox");
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.headers = Objects.requireNonNull(headers, "headers");
    }

    @Override
    public UUID append(OutboxEvent event) {
        OutboxEvent complete = headers.complete(event);
        return onTransactionalConnection(connection -> outbox.append(connection, complete));
    }

    @Override
    public List<UUID> appendAll(List<OutboxEvent> events) {
        List<OutboxEvent> complete = Objects.requireNonNull(events, "events").stream().map(headers::complete).toList();
        return onTransactionalConnection(connection -> outbox.appendAll(connection, complete));
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
