package dev.outboxbridge.inbox.internal;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class InboxSettingsTest {

    @Test
    void settingLeftUnsetIsNamed() {
        assertThatThrownBy(() -> InboxSettings.builder().consumerName("billing").topics(List.of("t")).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("kafkaProperties was not set");
    }

    @Test
    void exactlyOneOfTopicsAndTopicPattern() {
        assertThatThrownBy(() -> InboxSettings.builder().consumerName("billing").build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("exactly one of topics and topicPattern");
        assertThatThrownBy(() -> InboxSettings.builder().consumerName("billing").topics(List.of("t"))
                .topicPattern(Pattern.compile("t.*")).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("exactly one of topics and topicPattern");
    }
}
