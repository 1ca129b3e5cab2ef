package dev.outboxbridge.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ChartFactory;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** PNG charts with JFreeChart (headless). */
final class Charts {

    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0x7f7f7f)};

    private Charts() {
    }

    /** Horizontal bars, one per entry, labelled with the value. */
    static void bars(Path file, String title, String valueAxis, Map<String, Number> values, Map<String, Integer> colorOf)
            throws IOException {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        values.forEach((k, v) -> data.addValue(v, "value", k));
        JFreeChart chart = ChartFactory.createBarChart(title, null, valueAxis, data, PlotOrientation.HORIZONTAL, false, false, false);
        chart.getTitle().setFont(new Font("SansSerif", Font.BOLD, 15));
        CategoryPlot plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        List<String> keys = List.copyOf(values.keySet());
        BarRenderer renderer = new BarRenderer() {
            @Override
            public java.awt.Paint getItemPaint(int row, int column) {
                Integer c = colorOf.get(keys.get(column));
                return COLORS[(c == null ? 6 : c) % COLORS.length];
            }
        };
        renderer.setBarPainter(new StandardBarPainter());
        renderer.setShadowVisible(false);
        renderer.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}", new java.text.DecimalFormat("#,##0")));
        renderer.setDefaultItemLabelsVisible(true);
        renderer.setDefaultPositiveItemLabelPosition(new org.jfree.chart.labels.ItemLabelPosition(
                org.jfree.chart.labels.ItemLabelAnchor.OUTSIDE3, org.jfree.chart.ui.TextAnchor.CENTER_LEFT));
        renderer.setMaximumBarWidth(0.12);
        plot.setRenderer(renderer);
        ((NumberAxis) plot.getRangeAxis()).setUpperMargin(0.15);
        plot.getDomainAxis().setMaximumCategoryLabelWidthRatio(0.42f);
        plot.getDomainAxis().setMaximumCategoryLabelLines(2);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, Math.max(300, 70 + 45 * values.size()));
    }

    /**
     * Latency percentile curves: x = 1/(1-percentile) on a log axis (2 = p50, 10 = p90, 100 = p99,
     * 1000 = p99.9), y = milliseconds.
     */
    static void percentiles(Path file, String title, Map<String, List<double[]>> curves) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        curves.forEach((name, curve) -> {
            XYSeries s = new XYSeries(name, false);
            for (double[] point : curve) {
                double p = Math.min(point[0], 99.99);
                if (p >= 1) {
                    s.add(1 / (1 - p / 100), point[1]);
                }
            }
            data.addSeries(s);
        });
        JFreeChart chart = ChartFactory.createXYLineChart(title, "percentile", "commit → Kafka ack (ms)", data, PlotOrientation.VERTICAL,
                true, false, false);
        chart.getTitle().setFont(new Font("SansSerif", Font.BOLD, 15));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        LogAxis x = new LogAxis("percentile (log scale)") {
            @Override
            public java.util.List<org.jfree.chart.axis.ValueTick> refreshTicks(java.awt.Graphics2D g2, org.jfree.chart.axis.AxisState state,
                    java.awt.geom.Rectangle2D dataArea, org.jfree.chart.ui.RectangleEdge edge) {
                java.util.List<org.jfree.chart.axis.ValueTick> ticks = new java.util.ArrayList<>();
                double[] at = {1.0 / 0.9, 2, 10, 100, 1000, 10000};
                String[] label = {"10%", "50%", "90%", "99%", "99.9%", "99.99%"};
                for (int i = 0; i < at.length; i++) {
                    if (at[i] >= getLowerBound() && at[i] <= getUpperBound()) {
                        ticks.add(new org.jfree.chart.axis.NumberTick(at[i], label[i], org.jfree.chart.ui.TextAnchor.TOP_CENTER,
                                org.jfree.chart.ui.TextAnchor.CENTER, 0));
                    }
                }
                return ticks;
            }
        };
        x.setLowerBound(1.0);
        x.setUpperBound(14_000);
        plot.setDomainAxis(x);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < curves.size(); i++) {
            r.setSeriesPaint(i, COLORS[i % COLORS.length]);
            r.setSeriesStroke(i, new BasicStroke(2.2f));
        }
        plot.setRenderer(r);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 520);
    }

    /** Lines over time (seconds on x). */
    static void lines(Path file, String title, String yAxis, Map<String, List<double[]>> series) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        series.forEach((name, points) -> {
            XYSeries s = new XYSeries(name, false);
            points.forEach(p -> s.add(p[0], p[1]));
            data.addSeries(s);
        });
        JFreeChart chart = ChartFactory.createXYLineChart(title, "seconds", yAxis, data, PlotOrientation.VERTICAL, true, false, false);
        chart.getTitle().setFont(new Font("SansSerif", Font.BOLD, 15));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < series.size(); i++) {
            r.setSeriesPaint(i, COLORS[i % COLORS.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
        }
        plot.setRenderer(r);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 900, 480);
    }
}
