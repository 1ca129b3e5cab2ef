package dev.outboxbridge.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP proxy between two parties of the system (e.g. relay and PostgreSQL) that injects network
 * faults without corrupting streams: added latency, a bandwidth limit, connection resets (RST), a
 * black hole (nothing passes in either direction, connections stay open, as when packets are
 * dropped and TCP keeps retransmitting) and half-open connections (the server side is gone, the
 * client is not told).
 *
 * <p>Each connection uses two named pump threads; {@link #close()} stops everything.
 */
public final class TcpProxy implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TcpProxy.class);

    private final String name;
    private final String targetHost;
    private final int targetPort;
    private final ServerSocket server;
    private final Thread acceptor;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final AtomicInteger connections = new AtomicInteger();
    private volatile long delayNanos;
    private volatile long bytesPerSecond;
    private volatile long blackholeUntilNanos;
    private volatile boolean closed;

    private TcpProxy(String name, String targetHost, int targetPort) throws IOException {
        this.name = name;
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        this.acceptor = new Thread(this::acceptLoop, "tcp-proxy-" + name + "-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Starts a proxy on a free loopback port forwarding to {@code targetHost:targetPort}. */
    public static TcpProxy start(String name, String targetHost, int targetPort) throws IOException {
        return new TcpProxy(name, targetHost, targetPort);
    }

    public int port() {
        return server.getLocalPort();
    }

    public String name() {
        return name;
    }

    /** Adds {@code delay} before each chunk is forwarded (both directions); zero to remove. */
    public void delay(Duration delay) {
        this.delayNanos = delay.toNanos();
    }

    /** Limits each direction of each connection to {@code bytesPerSecond}; zero to remove. */
    public void bandwidth(long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Nothing passes for {@code duration}; connections stay open and resume afterwards. */
    public void blackhole(Duration duration) {
        this.blackholeUntilNanos = System.nanoTime() + duration.toNanos();
    }

    /** Resets (RST) every open connection; new connections are accepted. */
    public void resetAll() {
        for (Link link : List.copyOf(links)) {
            link.reset();
        }
    }

    /**
     * Makes every open connection half-open: the server side is closed, the client's socket stays
     * open and silent (what it sends is swallowed) until {@code clientTimeout}, then it is closed too.
     */
    public void halfOpenAll(Duration clientTimeout) {
        for (Link link : List.copyOf(links)) {
            link.halfOpen(clientTimeout);
        }
    }

    /** Removes every fault. */
    public void heal() {
        delayNanos = 0;
        bytesPerSecond = 0;
        blackholeUntilNanos = 0;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket upstream = new Socket();
                try {
                    upstream.connect(new InetSocketAddress(targetHost, targetPort), 10_000);
                } catch (IOException e) {
                    reset(client);
                    continue;
                }
                client.setTcpNoDelay(true);
                upstream.setTcpNoDelay(true);
                Link link = new Link(connections.incrementAndGet(), client, upstream);
                links.add(link);
                link.start();
            } catch (IOException e) {
                if (!closed) {
                    LOG.debug("Proxy {} accept failed: {}", name, e.toString());
                }
            }
        }
    }

    private void waitWhileBlackholed() throws InterruptedException {
        long until;
        while ((until = blackholeUntilNanos) > System.nanoTime() && !closed) {
            Thread.sleep(Math.max(1, Math.min(50, (until - System.nanoTime()) / 1_000_000)));
        }
    }

    private static void reset(Socket s) {
        try {
            s.setSoLinger(true, 0); // close with RST
        } catch (SocketException ignored) {
            // already closed
        }
        closeQuietly(s);
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing
        }
        resetAll();
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One proxied connection: two pumps. */
    private final class Link {
        private final Socket client;
        private final Socket upstream;
        private final Thread up;
        private final Thread down;
        private volatile boolean halfOpen;

        Link(int id, Socket client, Socket upstream) {
            this.client = client;
            this.upstream = upstream;
            this.up = new Thread(() -> pump(client, upstream, false), "tcp-proxy-" + name + "-" + id + "-up");
            this.down = new Thread(() -> pump(upstream, client, true), "tcp-proxy-" + name + "-" + id + "-down");
            up.setDaemon(true);
            down.setDaemon(true);
        }

        void start() {
            up.start();
            down.start();
        }

        void reset() {
            TcpProxy.reset(client);
            TcpProxy.reset(upstream);
            links.remove(this);
        }

        void halfOpen(Duration clientTimeout) {
            halfOpen = true;
            TcpProxy.reset(upstream);
            Thread closer = new Thread(() -> {
                try {
                    Thread.sleep(clientTimeout.toMillis());
                } catch (InterruptedException ignored) {
                    // close now
                }
                closeQuietly(client);
                links.remove(this);
            }, "tcp-proxy-" + name + "-half-open-closer");
            closer.setDaemon(true);
            closer.start();
        }

        private void pump(Socket from, Socket to, boolean toClient) {
            byte[] buffer = new byte[16 * 1024];
            try {
                // not try-with-resources: closing a socket's stream closes the socket, which a half-open link must not do
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (halfOpen) {
                        continue; // swallow what the client sends; nothing comes back
                    }
                    waitWhileBlackholed();
                    long d = delayNanos;
                    if (d > 0) {
                        Thread.sleep(d / 1_000_000, (int) (d % 1_000_000));
                    }
                    long bps = bytesPerSecond;
                    if (bps > 0) {
                        Thread.sleep(Math.max(1, n * 1000L / bps));
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // connection closed or reset: the other pump notices
            } finally {
                if (!halfOpen) {
                    closeQuietly(from);
                    closeQuietly(to);
                    links.remove(this);
                }
            }
        }
    }
}
