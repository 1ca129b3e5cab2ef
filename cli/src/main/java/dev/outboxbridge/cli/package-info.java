/**
 * The operator's command line ({@link dev.outboxbridge.cli.OutboxCli}): status, trace, parked keys, dead letters and the
 * replication slot, read with the relay's own configuration ({@code RelayConfig}) and the inbox's public API. An
 * application, not a library: only {@code OutboxCli} (its {@code main}, {@code run} and exit codes) is public; the
 * commands' JSON output is the interface for scripts (docs/operator-guide.md).
 */
package dev.outboxbridge.cli;
