/**
 * Implementation of the inbox consumer. Not API: classes here are public only so that the API
 * package can reach them, and may change in any release.
 */
package dev.outboxbridge.inbox.internal;
