package dev.outboxbridge.spring;

import dev.outboxbridge.outbox.Outbox;
import dev.outboxbridge.outbox.OutboxConfig;
import dev.outboxbridge.spring.payload.PayloadCodec;
import java.time.Clock;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

/**
 * The outbox: an {@link Outbox} from the {@code outbox.*} properties and a {@link SpringOutbox} that
 * appends in the current Spring-managed transaction of the application's {@code DataSource}, serializing typed
 * payloads with the {@link PayloadCodec} bean (see {@link PayloadCodecAutoConfiguration}) and adding the CloudEvents
 * headers when {@code outbox.cloudevents.enabled=true}. All are passive (nothing connects or starts) and back off
 * when the application defines its own.
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
        config.deleteInTransaction(properties.isDeleteInTransaction());
        return Outbox.create(config.build());
    }

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnSingleCandidate(DataSource.class)
    SpringOutbox springOutbox(Outbox outbox, DataSource dataSource, ObjectProvider<PayloadCodec> codec,
            ObjectProvider<CloudEventsHeaders> cloudEvents, ObjectProvider<AppendObserver> observer) {
        // the observer: OutboxObservationAutoConfiguration's tracing, when the application has Micrometer's Observation
        return SpringOutbox.builder(outbox, dataSource).payloadCodec(codec.getIfAvailable())
                .cloudEvents(cloudEvents.getIfAvailable())
                .observer(observer.getIfAvailable(() -> AppendObserver.NONE)).build();
    }

    /**
     * The CloudEvents headers of every append ({@code outbox.cloudevents.*}); refuses the start without a valid
     * {@code outbox.cloudevents.source}. {@code ce_time} comes from the application's {@code Clock} bean, if any.
     */
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnBooleanProperty("outbox.cloudevents.enabled")
    CloudEventsHeaders outboxCloudEventsHeaders(OutboxProperties properties, ObjectProvider<Clock> clock) {
        return CloudEventsHeaders.binaryMode(properties.getCloudevents().getSource(),
                clock.getIfAvailable(Clock::systemUTC));
    }
}
