package dev.outboxbridge.spring;

import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundleKey;
import org.springframework.boot.ssl.SslOptions;
import org.springframework.boot.ssl.SslStoreBundle;

/**
 * An SSL bundle ({@code spring.ssl.bundle.*}, chosen by {@code spring.kafka.ssl.bundle}) as Kafka client settings
 * of type string: the key store as {@code ssl.keystore.type=PEM} with the private key (PKCS#8) and its certificate
 * chain, the trust store as {@code ssl.truststore.type=PEM} with its certificates, and the bundle's protocol,
 * enabled protocols and cipher suites. Strings, not the bundle object Spring Kafka hands to its own
 * {@code SslBundleSslEngineFactory}: every client of the inbox consumers (consumer, dead-letter producer, admin)
 * and of the relay (producer, position store, admin) takes only Kafka's own settings, and the relay takes strings
 * only. A bundle that cannot be written so (a key that cannot be exported, several keys and no alias) is refused
 * with the reason and the fix; nothing is dropped silently.
 */
final class SslBundleKafkaSettings {

    private SslBundleKafkaSettings() {
    }

    /**
     * @param setting the property that chose the bundle, for messages (e.g. {@code spring.kafka.ssl.bundle})
     * @param name the bundle's name
     */
    static Map<String, String> of(String setting, String name, SslBundle bundle) {
        String where = setting + "=" + name;
        Map<String, String> settings = new LinkedHashMap<>();
        SslStoreBundle stores = bundle.getStores();
        KeyStore keyStore = stores == null ? null : stores.getKeyStore();
        KeyStore trustStore = stores == null ? null : stores.getTrustStore();
        try {
            if (keyStore != null) {
                keyEntry(where, name, keyStore, bundle.getKey(), stores.getKeyStorePassword(), settings);
            }
            if (trustStore != null) {
                List<String> certificates = new ArrayList<>();
                for (String alias : Collections.list(trustStore.aliases())) {
                    Certificate certificate = trustStore.getCertificate(alias);
                    if (certificate != null) {
                        certificates.add(pem("CERTIFICATE", certificate.getEncoded()));
                    }
                }
                if (certificates.isEmpty()) {
                    throw new IllegalStateException(where + ": the bundle's trust store holds no certificate. Fix: give the"
                            + " bundle the CA certificates of the brokers (spring.ssl.bundle.*." + name + ".truststore)");
                }
                settings.put("ssl.truststore.type", "PEM");
                settings.put("ssl.truststore.certificates", String.join("\n", certificates));
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(where + ": the bundle's stores cannot be read as Kafka client settings (" + e
                    + "). Fix: check the bundle's stores and passwords, or configure Kafka's TLS with spring.kafka.ssl.*"
                    + " instead of a bundle", e);
        }
        SslOptions options = bundle.getOptions();
        if (options != null) {
            if (options.getEnabledProtocols() != null && options.getEnabledProtocols().length > 0) {
                settings.put("ssl.enabled.protocols", String.join(",", options.getEnabledProtocols()));
            }
            if (options.getCiphers() != null && options.getCiphers().length > 0) {
                settings.put("ssl.cipher.suites", String.join(",", options.getCiphers()));
            }
        }
        if (bundle.getProtocol() != null && !bundle.getProtocol().isBlank()) {
            settings.put("ssl.protocol", bundle.getProtocol());
        }
        return settings;
    }

    private static void keyEntry(String where, String name, KeyStore keyStore, SslBundleKey key, String storePassword,
            Map<String, String> settings) throws GeneralSecurityException {
        String alias = key == null ? null : key.getAlias();
        if (alias == null) {
            List<String> keyAliases = new ArrayList<>();
            for (String a : Collections.list(keyStore.aliases())) {
                if (keyStore.isKeyEntry(a)) {
                    keyAliases.add(a);
                }
            }
            if (keyAliases.size() != 1) {
                throw new IllegalStateException(where + ": the bundle's key store holds " + (keyAliases.isEmpty()
                        ? "no private key" : keyAliases.size() + " private keys " + keyAliases) + ". Fix: "
                        + (keyAliases.isEmpty() ? "give the bundle the client's key and certificate, or leave its"
                                + " keystore out when the brokers do not ask for client certificates"
                                : "choose one with spring.ssl.bundle.*." + name + ".key.alias"));
            }
            alias = keyAliases.get(0);
        }
        String password = key != null && key.getPassword() != null ? key.getPassword() : storePassword;
        Key privateKey = keyStore.getKey(alias, password == null ? new char[0] : password.toCharArray());
        if (!(privateKey instanceof PrivateKey) || privateKey.getEncoded() == null
                || !"PKCS#8".equalsIgnoreCase(privateKey.getFormat())) {
            throw new IllegalStateException(where + ": the key '" + alias + "' of the bundle cannot be exported as a"
                    + " PKCS#8 private key (" + (privateKey == null ? "no such key" : privateKey.getAlgorithm() + ", format "
                            + privateKey.getFormat()) + "), and Kafka clients take a key only as a store file or as PEM."
                    + " Fix: configure the client key with spring.kafka.ssl.key-store-location (or key-store-key) instead"
                    + " of a bundle");
        }
        Certificate[] chain = keyStore.getCertificateChain(alias);
        if (chain == null || chain.length == 0) {
            throw new IllegalStateException(where + ": the key '" + alias + "' of the bundle has no certificate chain."
                    + " Fix: add the client certificate to the bundle's key store");
        }
        List<String> certificates = new ArrayList<>();
        for (Certificate certificate : chain) {
            certificates.add(pem("CERTIFICATE", certificate.getEncoded()));
        }
        settings.put("ssl.keystore.type", "PEM");
        settings.put("ssl.keystore.key", pem("PRIVATE KEY", privateKey.getEncoded()));
        settings.put("ssl.keystore.certificate.chain", String.join("\n", certificates));
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----";
    }

    /**
     * Puts the bundle's settings into {@code settings}, refusing when TLS stores are set there already (e.g. in
     * {@code spring.kafka.properties}): the bundle would silently replace them.
     */
    static void apply(Map<String, Object> settings, String setting, String name, SslBundle bundle) {
        Map<String, String> fromBundle = of(setting, name, bundle);
        for (String key : settings.keySet()) {
            if ((key.startsWith("ssl.keystore.") || key.startsWith("ssl.truststore.") || key.equals("ssl.key.password")
                    || key.equals("ssl.engine.factory.class")) && settings.get(key) != null) {
                throw new IllegalStateException(setting + "=" + name + " and the Kafka setting " + key + " both configure"
                        + " the TLS stores. Fix: keep one of them (remove " + key + " from spring.kafka.properties, or"
                        + " remove " + setting + ")");
            }
        }
        settings.putAll(fromBundle);
    }
}
