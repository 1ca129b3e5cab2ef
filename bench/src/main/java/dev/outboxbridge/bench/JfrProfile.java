package dev.outboxbridge.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/**
 * A JFR method-sampling recording (jdk.ExecutionSample every 10 ms) of an interval, summarised:
 * samples by thread group, the hottest top frames overall and, for the threads whose name matches
 * a filter (the publishing pipeline), the hottest top frames and the hottest "first frame in
 * application or Debezium code".
 */
final class JfrProfile implements AutoCloseable {

    private final Recording recording = new Recording();
    private final Path file;

    JfrProfile(Path file) {
        this.file = file;
        recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
        recording.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(20));
        recording.setToDisk(true);
    }

    void start() {
        recording.start();
    }

    /** Stops the recording, writes it to the file and summarises it. */
    Map<String, Object> stop(String threadFilterRegex) throws IOException {
        recording.stop();
        recording.dump(file);
        Map<String, Long> byThread = new HashMap<>();
        Map<String, Long> topFrames = new HashMap<>();
        Map<String, Long> pipelineTop = new HashMap<>();
        Map<String, Long> pipelineApp = new HashMap<>();
        long total = 0;
        long pipeline = 0;
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            if (!"jdk.ExecutionSample".equals(e.getEventType().getName())) {
                continue;
            }
            total++;
            String thread = e.getThread("sampledThread") == null ? "?" : e.getThread("sampledThread").getJavaName();
            String group = CpuAccounting.group(thread == null ? "?" : thread);
            byThread.merge(group, 1L, Long::sum);
            RecordedStackTrace st = e.getStackTrace();
            if (st == null || st.getFrames().isEmpty()) {
                continue;
            }
            String top = frame(st.getFrames().get(0));
            topFrames.merge(top, 1L, Long::sum);
            if (thread != null && thread.matches(threadFilterRegex)) {
                pipeline++;
                pipelineTop.merge(top, 1L, Long::sum);
                pipelineApp.merge(firstApplicationFrame(st.getFrames()), 1L, Long::sum);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("method", "JFR jdk.ExecutionSample every 10 ms on Java threads; file " + file.getFileName());
        out.put("samples", total);
        out.put("samples_by_thread_group", share(byThread, total, 12));
        out.put("hottest_top_frames_all_threads", share(topFrames, total, 12));
        out.put("pipeline_threads_regex", threadFilterRegex);
        out.put("pipeline_samples", pipeline);
        out.put("pipeline_hottest_top_frames", share(pipelineTop, pipeline, 15));
        out.put("pipeline_by_first_debezium_or_app_frame", share(pipelineApp, pipeline, 15));
        return out;
    }

    private static String frame(RecordedFrame f) {
        return f.getMethod().getType().getName() + "." + f.getMethod().getName();
    }

    private static String firstApplicationFrame(List<RecordedFrame> frames) {
        for (RecordedFrame f : frames) {
            String type = f.getMethod().getType().getName();
            if (type.startsWith("io.debezium") || type.startsWith("dev.outboxbridge") || type.startsWith("org.postgresql")
                    || type.startsWith("org.apache.kafka.connect")) {
                return frame(f);
            }
        }
        return frame(frames.get(0));
    }

    private static Map<String, String> share(Map<String, Long> counts, long total, int limit) {
        return counts.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(limit)
                .collect(Collectors.toMap(Map.Entry::getKey,
                        e -> String.format("%.1f%% (%d)", 100.0 * e.getValue() / Math.max(1, total), e.getValue()),
                        (a, b) -> a, LinkedHashMap::new));
    }

    @Override
    public void close() {
        recording.close();
    }
}
