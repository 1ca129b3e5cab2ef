/**
 * The relay's implementation: not API. Nothing here is meant to be used outside the relay and any of it may change
 * in any release. Use {@link dev.outboxbridge.relay.Relay}, {@link dev.outboxbridge.relay.RelayConfig},
 * {@link dev.outboxbridge.relay.RelayException} and {@link dev.outboxbridge.relay.DeadLetterHeaders}.
 *
 * <p>Public here only for the packages that must reach them: {@code RelayRuntime} (the lifecycle behind the
 * {@code Relay} facade), {@code EngineProperties} (the owned-keys table {@code RelayConfig} validates against),
 * {@code KafkaPositionStore} (instantiated by the Debezium engine by its class name) and {@code Preflight} (the
 * start-up checks, also run by tests to create the slot before the first write).
 */
package dev.outboxbridge.relay.internal;
