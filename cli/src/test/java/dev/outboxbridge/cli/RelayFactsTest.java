package dev.outboxbridge.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;

/**
 * The two formulas the CLI shares with the relay's internal package (the relay keeps them package-private) stay equal
 * to the relay's own: the lease's advisory lock key and the stored position's engine name.
 */
class RelayFactsTest {

    @Test
    void theLeaseLockKeyIsTheRelays() throws Exception {
        Method relays = Class.forName("dev.outboxbridge.relay.internal.LeaderLease").getDeclaredMethod("lockKey", String.class, String.class);
        relays.setAccessible(true);
        for (String[] dbSlot : new String[][] {{"shop", "outbox_bridge"}, {"billing", "slot_x"}, {"a", "b"}}) {
            assertThat(RelayFacts.lockKey(dbSlot[0], dbSlot[1])).isEqualTo(relays.invoke(null, dbSlot[0], dbSlot[1]));
        }
    }

    @Test
    void thePositionKeyUsesTheRelaysEngineName() throws Exception {
        Field engineName = Class.forName("dev.outboxbridge.relay.internal.EngineProperties").getDeclaredField("ENGINE_NAME");
        engineName.setAccessible(true);
        assertThat(RelayFacts.ENGINE_NAME).isEqualTo(engineName.get(null));
    }

    @Test
    void lsnsPrintAsPostgresDoes() {
        assertThat(Output.lsn(0x16B374D848L)).isEqualTo("16/B374D848");
        assertThat(Output.lsn(0x1924368L)).isEqualTo("0/1924368");
    }
}
