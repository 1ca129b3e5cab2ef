package dev.outboxbridge.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/** HdrHistogram summaries and percentile curves, in milliseconds. */
final class Latencies {

    private Latencies() {
    }

    static Histogram newHistogram() {
        return new Histogram(3_600_000L, 3);
    }

    static Map<String, Object> summary(Histogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", h.getTotalCount());
        if (h.getTotalCount() == 0) {
            return m;
        }
        m.put("p50_ms", h.getValueAtPercentile(50));
        m.put("p90_ms", h.getValueAtPercentile(90));
        m.put("p99_ms", h.getValueAtPercentile(99));
        m.put("p99_9_ms", h.getValueAtPercentile(99.9));
        m.put("max_ms", h.getMaxValue());
        m.put("mean_ms", Math.round(h.getMean() * 10) / 10.0);
        List<double[]> curve = new ArrayList<>();
        for (HistogramIterationValue v : h.percentiles(5)) {
            double p = v.getPercentileLevelIteratedTo();
            if (p >= 100.0) {
                break;
            }
            curve.add(new double[] {Math.round(p * 1000) / 1000.0, h.highestEquivalentValue(v.getValueIteratedTo())});
        }
        curve.add(new double[] {100.0, h.getMaxValue()});
        m.put("percentile_curve", curve);
        return m;
    }
}
