package dev.outboxbridge.spring;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Key material generated at test time with the JDK's {@code keytool} (nothing committed), PKCS12 stores sharing one
 * password (given through keytool's environment, never its command line): a broker key pair with a self-signed
 * certificate for {@code localhost} and {@code 127.0.0.1}, a trust store holding that certificate, and a client key
 * pair.
 */
record TestCertificates(Path brokerKeystore, Path truststore, Path clientKeystore, String password) {

    private static final String PASSWORD_VARIABLE = "OUTBOX_TEST_STORE_PASSWORD";

    static TestCertificates generate(Path dir, String password) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path broker = dir.resolve("broker.p12");
        Path brokerCert = dir.resolve("broker.crt");
        Path truststore = dir.resolve("truststore.p12");
        Path client = dir.resolve("client.p12");
        keytool(dir, password, "-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-validity",
                "2", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-keystore", broker.toString());
        keytool(dir, password, "-exportcert", "-rfc", "-alias", "broker", "-keystore", broker.toString(), "-file",
                brokerCert.toString());
        keytool(dir, password, "-importcert", "-noprompt", "-alias", "broker", "-file", brokerCert.toString(), "-keystore",
                truststore.toString());
        keytool(dir, password, "-genkeypair", "-alias", "client", "-keyalg", "EC", "-groupname", "secp256r1", "-validity",
                "2", "-dname", "CN=shop", "-keystore", client.toString());
        return new TestCertificates(broker, truststore, client, password);
    }

    private static void keytool(Path dir, String password, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"));
        command.addAll(List.of(args));
        command.addAll(List.of("-storetype", "PKCS12", "-storepass:env", PASSWORD_VARIABLE));
        Path log = dir.resolve("keytool.log");
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put(PASSWORD_VARIABLE, password);
        Process p = pb.start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw new IllegalStateException("keytool " + args[0] + " did not finish within 60 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("keytool " + String.join(" ", args) + " failed with exit code " + p.exitValue()
                    + ": " + Files.readString(log, StandardCharsets.UTF_8));
        }
    }

    @Override
    public String toString() {
        return "TestCertificates[" + brokerKeystore + ", " + truststore + ", " + clientKeystore + ", password=[hidden]]";
    }
}
