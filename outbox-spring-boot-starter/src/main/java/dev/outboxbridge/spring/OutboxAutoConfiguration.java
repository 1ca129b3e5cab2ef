package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

/**
 * The outbox: an {@link Outbox} from the {@code outbox.*} properties and a {@link SpringOutbox} that
 * appends in the current Spring-managed transaction of the application's {@code DataSource}. Both are
 * passive (nothing connects or starts) and back off when the application defines its own.
 */
@AutoConfiguration(afterName = {
        "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
        "org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration" })
@ConditionalOnClass(Outbox.class)
@EnableConfigurationProperties(OutboxProperties.class)
public class OutboxAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    Outbox outbox(OutboxProperties properties) {
        OutboxConfig.Builder config = OutboxConfig.builder();
        if (properties.getTable() != null) {
            config.table(properties.getTable());
        }
        if (properties.getTopicPrefix() != null) {
            config.topicPrefix(properties.getTopicPrefix());
        }
        if (properties.getMaxRecordBytes() != null) {
            config.maxRecordBytes(properties.getMaxRecordBytes());
        }
        return Outbox.create(config.build());
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnSingleCandidate(DataSource.class)
    SpringOutbox springOutbox(Outbox outbox, DataSource dataSource, ObjectProvider<AppendObserver> observer) {
        // the observer: OutboxObservationAutoConfiguration's tracing, when the application has Micrometer's Observation
        return new SpringOutboxImpl(outbox, dataSource, observer.getIfAvailable(() -> AppendObserver.NONE));
    }
}
