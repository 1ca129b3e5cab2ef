package dev.outboxbridge.relay.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Key material generated at test time with the JDK's {@code keytool} (nothing is committed): a
 * throwaway certificate authority, a broker key pair whose certificate that CA signed for
 * {@code localhost} and {@code 127.0.0.1}, and PKCS12 stores. Every store has the same password,
 * given to {@code keytool} through its environment, never on its command line.
 *
 * @param brokerKeystore the broker's private key with its certificate chain (broker, CA)
 * @param truststore the CA's certificate only: what clients need to trust the broker
 * @param untrustedTruststore the certificate of another CA, which did not sign the broker's
 * @param password of all three stores
 */
record ThrowawayPki(Path brokerKeystore, Path truststore, Path untrustedTruststore, String password) {

    private static final String PASSWORD_VARIABLE = "OUTBOX_TEST_STORE_PASSWORD";
    private static final long KEYTOOL_TIMEOUT_SECONDS = 60;

    /** Generates everything in {@code dir} (about a dozen keytool runs, a few seconds). */
    static ThrowawayPki generate(Path dir, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Keytool keytool = new Keytool(dir, password);
        Path ca = dir.resolve("ca.p12");
        Path caCert = dir.resolve("ca.crt");
        Path broker = dir.resolve("broker.p12");
        Path csr = dir.resolve("broker.csr");
        Path brokerCert = dir.resolve("broker.crt");
        Path truststore = dir.resolve("truststore.p12");
        keytool.run("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=Outbox Bridge throwaway test CA", "-ext", "bc:c", "-keystore", ca.toString());
        keytool.run("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-file", caCert.toString());
        keytool.run("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=localhost", "-keystore", broker.toString());
        keytool.run("-certreq", "-alias", "broker", "-keystore", broker.toString(), "-file", csr.toString());
        keytool.run("-gencert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-infile", csr.toString(),
                "-outfile", brokerCert.toString(), "-validity", "2",
                "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-ext", "EKU=serverAuth");
        // the CA first, so that the signed certificate is installed as a chain (broker, CA) under the key
        keytool.run("-importcert", "-noprompt", "-alias", "ca", "-file", caCert.toString(), "-keystore", broker.toString());
        keytool.run("-importcert", "-alias", "broker", "-file", brokerCert.toString(), "-keystore", broker.toString());
        keytool.run("-importcert", "-noprompt", "-alias", "ca", "-file", caCert.toString(), "-keystore", truststore.toString());

        Path otherCa = dir.resolve("other-ca.p12");
        Path otherCaCert = dir.resolve("other-ca.crt");
        Path untrusted = dir.resolve("untrusted-truststore.p12");
        keytool.run("-genkeypair", "-alias", "other-ca", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=Some other CA", "-ext", "bc:c", "-keystore", otherCa.toString());
        keytool.run("-exportcert", "-rfc", "-alias", "other-ca", "-keystore", otherCa.toString(), "-file", otherCaCert.toString());
        keytool.run("-importcert", "-noprompt", "-alias", "other-ca", "-file", otherCaCert.toString(), "-keystore",
                untrusted.toString());
        return new ThrowawayPki(broker, truststore, untrusted, password);
    }

    @Override
    public String toString() {
        return "ThrowawayPki[brokerKeystore=" + brokerKeystore + ", truststore=" + truststore + ", password=[hidden]]";
    }

    /** Runs {@code ${java.home}/bin/keytool}, PKCS12 stores, the password from the environment. */
    private record Keytool(Path dir, String password) {

        void run(String... args) throws IOException, InterruptedException {
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
            // a dozen short-lived JVMs: start-up time is all that counts (halves the run time)
            command.addAll(List.of("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-XX:-UsePerfData"));
            command.addAll(List.of(args));
            command.addAll(List.of("-storetype", "PKCS12", "-storepass:env", PASSWORD_VARIABLE));
            Path log = dir.resolve("keytool.log");
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            pb.environment().put(PASSWORD_VARIABLE, password);
            Process p = pb.start();
            if (!p.waitFor(KEYTOOL_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new IllegalStateException("keytool " + args[0] + " did not finish within " + KEYTOOL_TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("keytool " + String.join(" ", args) + " failed with exit code " + p.exitValue()
                        + ": " + Files.readString(log, StandardCharsets.UTF_8));
            }
        }
    }
}
