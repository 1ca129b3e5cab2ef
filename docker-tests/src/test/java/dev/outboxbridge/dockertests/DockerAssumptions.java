package dev.outboxbridge.dockertests;

import static org.junit.jupiter.api.Assumptions.abort;

import com.github.dockerjava.api.exception.NotFoundException;
import dev.outboxbridge.testkit.DockerServers;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;

/**
 * Skips (aborts) a test when it cannot run here: the testkit's Docker provider is not chosen, no
 * Docker engine is reachable, or Docker lacks one of the images. These tests never pull: on a
 * machine without a registry a pull hangs, and the relay image exists only where it was built.
 */
final class DockerAssumptions {

    private static final Logger LOG = LoggerFactory.getLogger(DockerAssumptions.class);
    /** The relay image (failsafe passes {@code outbox.docker.relay.image} from the pom). */
    static final String RELAY_IMAGE = System.getProperty("outbox.docker.relay.image", "outbox-bridge/relay:0.1.0-SNAPSHOT");

    private DockerAssumptions() {
    }

    /**
     * Aborts the test unless Docker runs and has the testkit's images and {@code moreImages}. Call it
     * from {@code @BeforeEach}: an abort there reports each test as skipped with the reason (an abort
     * in {@code @BeforeAll} leaves no trace in the Surefire/Failsafe report).
     */
    static void assumeDockerWithImages(String... moreImages) {
        Optional<String> unavailable = DockerServers.unavailableReason();
        if (unavailable.isPresent()) {
            skip(unavailable.get());
        }
        List<String> images = new ArrayList<>(List.of(DockerServers.postgresImage(), DockerServers.kafkaImage()));
        images.addAll(List.of(moreImages));
        List<String> missing = new ArrayList<>();
        for (String image : images) {
            try {
                DockerClientFactory.instance().client().inspectImageCmd(image).exec();
            } catch (NotFoundException e) {
                missing.add(image);
            }
        }
        if (!missing.isEmpty()) {
            skip("Docker has no image " + String.join(", ", missing) + ". Fix: build the images with"
                    + " docker/build-images.sh (after ./mvnw install), or pull them and pass their names"
                    + " (-Doutbox.docker.pg.image=..., -Doutbox.docker.kafka.image=..., -Doutbox.docker.relay.image=...).");
        }
    }

    /** Logs the reason (the build output shows it) and aborts the test: reported as skipped, with the reason. */
    private static void skip(String reason) {
        LOG.warn("Docker tests skipped: {}", reason);
        abort("Docker tests skipped: " + reason);
    }
}
