package dev.outboxbridge.spring;

import dev.outboxbridge.spring.payload.JacksonPayloadCodec;
import dev.outboxbridge.spring.payload.PayloadCodec;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import tools.jackson.databind.json.JsonMapper;

/**
 * The default {@link PayloadCodec} of typed appends and typed {@link InboxListener} methods: JSON with Jackson 3
 * ({@link JacksonPayloadCodec}) on the application's {@code JsonMapper} bean (Boot's, configured by
 * {@code spring.jackson.*}; the {@code @Primary} one of several, else the start fails naming them), or on a default
 * one when the context has none. Only with Jackson 3 on the class path; a {@code PayloadCodec} bean of the
 * application replaces it.
 */
@AutoConfiguration(afterName = "org.springframework.boot.jackson.autoconfigure.JacksonAutoConfiguration")
@ConditionalOnClass(name = "tools.jackson.databind.json.JsonMapper")
public class PayloadCodecAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    PayloadCodec outboxPayloadCodec(ObjectProvider<JsonMapper> mapper) {
        return new JacksonPayloadCodec(mapper.getIfAvailable(() -> JsonMapper.builder().build()));
    }
}
