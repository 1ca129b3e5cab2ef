package dev.outboxbridge.testsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.outboxbridge.db.FaultHook;
import dev.outboxbridge.db.FaultPoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Arming, counting and firing of fault points, with the halt replaced by a recorder (a real halt would end the test JVM). */
class FaultPointsTest {

    @TempDir
    Path dir;

    private final List<Integer> halts = new ArrayList<>();

    /** Stands in for Runtime.halt: records the status and, like a halt, lets nothing after it run. */
    private static final class Halted extends RuntimeException {
        Halted() {
            super(null, null, false, false);
        }
    }

    private FaultPoints points(String spec, Path file) {
        return new FaultPoints(spec, file, status -> {
            halts.add(status);
            throw new Halted();
        }, "test");
    }

    private boolean hit(FaultPoints points, FaultPoint point) {
        try {
            points.hit(point);
            return false;
        } catch (Halted e) {
            return true;
        }
    }

    @Test
    void parsesPointsWithAndWithoutCounts() {
        assertThat(FaultPoints.parse("relay.after-ack@3, inbox.before-db-commit\nrelay.after-send@1", "test"))
                .isEqualTo(Map.of(FaultPoint.RELAY_AFTER_ACK, 3L, FaultPoint.INBOX_BEFORE_DB_COMMIT, 1L, FaultPoint.RELAY_AFTER_SEND, 1L));
        assertThat(FaultPoints.parse("  ", "test")).isEmpty();
    }

    @Test
    void unknownPointOrBadCountIsRefusedNamingTheKnownPoints() {
        assertThatThrownBy(() -> FaultPoints.parse("relay.after-akc@2", "OUTBOX_FAULTPOINTS"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Unknown fault point 'relay.after-akc' in OUTBOX_FAULTPOINTS")
                .hasMessageContaining("relay.after-ack").hasMessageContaining("inbox.after-offset-commit");
        assertThatThrownBy(() -> FaultPoints.parse("relay.after-ack@0", "test")).hasMessageContaining("n >= 1");
        assertThatThrownBy(() -> FaultPoints.parse("relay.after-ack@x", "test")).hasMessageContaining("relay.after-ack@3");
        assertThatThrownBy(() -> FaultPoints.arm(dir.resolve("f"), FaultPoint.RELAY_AFTER_ACK, 0)).hasMessageContaining(">= 1");
    }

    @Test
    void firesAtTheNthHitOfTheArmedPointOnlyWithTheHaltStatus() {
        FaultPoints points = points("relay.after-ack@3", null);
        assertThat(hit(points, FaultPoint.RELAY_AFTER_SEND)).isFalse();
        assertThat(hit(points, FaultPoint.RELAY_AFTER_ACK)).isFalse();
        assertThat(hit(points, FaultPoint.RELAY_AFTER_SEND)).isFalse();
        assertThat(hit(points, FaultPoint.RELAY_AFTER_ACK)).isFalse();
        assertThat(halts).isEmpty();
        assertThat(hit(points, FaultPoint.RELAY_AFTER_ACK)).isTrue();
        assertThat(halts).containsExactly(FaultPoints.HALT_STATUS);
        assertThat(hit(points, FaultPoint.RELAY_AFTER_ACK)).as("fires once").isFalse();
    }

    @Test
    void theFirstArmedPointToReachItsCountFires() {
        FaultPoints points = points("inbox.after-db-commit@2,inbox.before-offset-commit@1", null);
        assertThat(hit(points, FaultPoint.INBOX_AFTER_DB_COMMIT)).isFalse();
        assertThat(hit(points, FaultPoint.INBOX_BEFORE_OFFSET_COMMIT)).isTrue();
        assertThat(hit(points, FaultPoint.INBOX_AFTER_DB_COMMIT)).as("all disarmed after firing").isFalse();
    }

    @Test
    void aFileArmsARunningProcessAtItsNextHitAndIsDeletedWhenFiring() throws Exception {
        Path file = dir.resolve("relay.faultpoints");
        FaultPoints points = points(null, file);
        assertThat(hit(points, FaultPoint.RELAY_AFTER_POSITION_FLUSH)).as("no file: nothing armed").isFalse();

        FaultPoints.arm(file, FaultPoint.RELAY_AFTER_POSITION_FLUSH, 2);
        assertThat(hit(points, FaultPoint.RELAY_AFTER_POSITION_FLUSH)).as("read at once: first hit of 2").isFalse();
        assertThat(hit(points, FaultPoint.RELAY_AFTER_POSITION_FLUSH)).isTrue();
        assertThat(file).as("deleted so that the restarted process is not armed").doesNotExist();
        assertThat(dir.resolve("relay.faultpoints.tmp")).doesNotExist();
    }

    @Test
    void deletingTheFileDisarmsAndRewritingArmsAgain() {
        Path file = dir.resolve("consumer.faultpoints");
        FaultPoints.arm(file, FaultPoint.INBOX_BEFORE_DB_COMMIT, 2);
        FaultPoints points = points(null, file);
        assertThat(hit(points, FaultPoint.INBOX_BEFORE_DB_COMMIT)).isFalse();
        FaultPoints.disarm(file);
        assertThat(hit(points, FaultPoint.INBOX_BEFORE_DB_COMMIT)).as("disarmed").isFalse();
        FaultPoints.arm(file, FaultPoint.INBOX_BEFORE_DB_COMMIT, 1);
        assertThat(hit(points, FaultPoint.INBOX_BEFORE_DB_COMMIT)).isTrue();
        assertThat(halts).containsExactly(FaultPoints.HALT_STATUS);
    }

    @Test
    void anInvalidFileArmsNothingAndAStartupSpecSurvivesAMissingFile() throws Exception {
        Path file = dir.resolve("bad.faultpoints");
        Files.writeString(file, "relay.nowhere@1");
        FaultPoints bad = points(null, file);
        assertThat(hit(bad, FaultPoint.RELAY_AFTER_ACK)).isFalse();

        FaultPoints both = points("relay.after-send@1", dir.resolve("missing.faultpoints"));
        assertThat(hit(both, FaultPoint.RELAY_AFTER_SEND)).isTrue();
    }

    @Test
    void isTheHookFaultPointsFindOnTheClasspathAndDoesNothingWhenNotEnabled() {
        assertThat(ServiceLoader.load(FaultHook.class).findFirst()).get().isInstanceOf(FaultPoints.class);
        FaultPoints unset = new FaultPoints(); // this test JVM sets neither the environment variables nor the properties
        for (FaultPoint p : FaultPoint.values()) {
            unset.reached(p);
            p.reached();
        }
    }
}
