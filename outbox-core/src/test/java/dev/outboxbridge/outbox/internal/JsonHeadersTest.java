package dev.outboxbridge.outbox.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonHeadersTest {

    @Test
    void escapesQuotesBackslashesAndControlCharacters() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("a\"b", "c\\d");
        h.put("nl", "x\ny\u0001");
        assertThat(JsonHeaders.write(h)).isEqualTo("{\"a\\\"b\":\"c\\\\d\",\"nl\":\"x\\ny\\u0001\"}");
    }

    @Test
    void keepsNonAsciiText() {
        assertThat(JsonHeaders.write(Map.of("trace", "café ☕"))).isEqualTo("{\"trace\":\"café ☕\"}");
    }
}
