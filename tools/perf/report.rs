//! `--report FILE`: one self-contained HTML page (no script, no external file) with a summary
//! table and three SVG charts drawn with `plotters`: throughput over time, the p50/p99/p99.9
//! latencies over time, and the latency percentile spectrum (HdrHistogram's plot: latency
//! against the percentile on a log scale of `1/(1-p)`, so 99 %, 99.9 %, 99.99 % are evenly
//! spaced).

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Series colours (tab10); the headless-browser test looks for the throughput line's.
pub const THROUGHPUT: RGBColor = RGBColor(31, 119, 180);
const P50: RGBColor = RGBColor(255, 127, 14);
const P99: RGBColor = RGBColor(44, 160, 44);
const P999: RGBColor = RGBColor(214, 39, 40);

const WIDTH: u32 = 960;
const HEIGHT: u32 = 360;

/// What a report shows.
#[derive(Debug)]
pub struct Report<'a> {
    pub title: String,
    /// Lines under the title (the command line, the clients, …).
    pub notes: Vec<String>,
    /// The summary table's rows.
    pub summary: Vec<(String, String)>,
    /// The run over time, interval by interval.
    pub timeline: Vec<Point<'a>>,
    /// Every latency of the run (µs).
    pub hist: &'a Histogram<u64>,
}

/// One interval of the timeline.
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    /// Seconds since the run's start.
    pub start: f64,
    pub secs: f64,
    /// Records acknowledged in it.
    pub records: f64,
    /// Their latencies (µs).
    pub hist: &'a Histogram<u64>,
}

type Drawn = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the report failed: {e:?}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page.
pub fn html(r: &Report<'_>) -> Result<String, String> {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str(&format!("<title>{}</title>", escape(&r.title)));
    page.push_str(
        "<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}\
         table{border-collapse:collapse;margin:12px 0}td{padding:2px 12px;border-bottom:1px solid #ddd}\
         td:last-child{text-align:right;font-variant-numeric:tabular-nums}code{font-size:90%}\
         .chart{margin:16px 0}</style></head><body>\n",
    );
    page.push_str(&format!("<h1>{}</h1>\n", escape(&r.title)));
    for n in &r.notes {
        page.push_str(&format!("<p><code>{}</code></p>\n", escape(n)));
    }
    page.push_str("<table>\n");
    for (k, v) in &r.summary {
        page.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>\n", escape(k), escape(v)));
    }
    page.push_str("</table>\n");
    for svg in [throughput_svg(r)?, latency_svg(r)?, spectrum_svg(r.hist)?] {
        page.push_str("<div class=\"chart\">");
        page.push_str(&svg);
        page.push_str("</div>\n");
    }
    page.push_str("</body></html>\n");
    Ok(page)
}

fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn end_of(r: &Report<'_>) -> f64 {
    r.timeline.iter().map(|p| p.start + p.secs).fold(1.0, f64::max)
}

/// The intervals drawn over time, each at its middle: all but a run's last, partial one when it
/// is short (a few records over a few milliseconds make a spike, not a trend; the spectrum and
/// the summary still count them).
fn drawn<'a>(r: &'a Report<'_>) -> impl Iterator<Item = (f64, Point<'a>)> + 'a {
    let longest = r.timeline.iter().map(|p| p.secs).fold(0.0, f64::max);
    r.timeline
        .iter()
        .filter(move |p| p.secs >= longest / 4.0 && p.secs > 0.0)
        .map(|p| (p.start + p.secs / 2.0, *p))
}

/// Records acknowledged per second, per interval.
fn throughput_svg(r: &Report<'_>) -> Result<String, String> {
    let points: Vec<(f64, f64)> = drawn(r).map(|(t, p)| (t, p.records / p.secs)).collect();
    let top = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Throughput (records acknowledged per second)", ("sans-serif", 20))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end_of(r), 0.0..top)
            .map_err(err)?;
        chart.configure_mesh().x_desc("seconds").y_desc("records/s").draw().map_err(err)?;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), THROUGHPUT.stroke_width(3)))
            .map_err(err)?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, THROUGHPUT.filled()))).map_err(err)?;
        Ok(())
    })
}

/// p50, p99 and p99.9 per interval, milliseconds on a log scale.
fn latency_svg(r: &Report<'_>) -> Result<String, String> {
    let series: Vec<(&str, f64, RGBColor)> =
        vec![("p50", 0.5, P50), ("p99", 0.99, P99), ("p99.9", 0.999, P999)];
    let pts = |q: f64| -> Vec<(f64, f64)> {
        drawn(r)
            .filter(|(_, p)| !p.hist.is_empty())
            .map(|(t, p)| (t, p.hist.value_at_quantile(q) as f64 / 1000.0))
            .collect()
    };
    let all: Vec<f64> = series.iter().flat_map(|(_, q, _)| pts(*q)).map(|p| p.1).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).clamp(0.001, 1.0) / 2.0;
    let hi = all.iter().copied().fold(lo * 10.0, f64::max) * 2.0;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency over time (send to acknowledgement)", ("sans-serif", 20))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end_of(r), (lo..hi).log_scale())
            .map_err(err)?;
        chart.configure_mesh().x_desc("seconds").y_desc("ms").draw().map_err(err)?;
        for (name, q, color) in series {
            chart
                .draw_series(LineSeries::new(pts(q), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// The percentile spectrum of the whole run.
fn spectrum_svg(h: &Histogram<u64>) -> Result<String, String> {
    // x = 1 / (1 - p): 1 at 0 %, 10 at 90 %, 100 at 99 %, … up to what the count supports.
    let decades = (h.len().max(1) as f64).log10().ceil().clamp(2.0, 6.0);
    let x_max = 10f64.powf(decades);
    let steps = 400;
    let points: Vec<(f64, f64)> = if h.is_empty() {
        Vec::new()
    } else {
        (0..=steps)
            .map(|i| {
                let x = 10f64.powf(decades * i as f64 / steps as f64);
                (x, h.value_at_quantile(1.0 - 1.0 / x) as f64 / 1000.0)
            })
            .collect()
    };
    let top = points.iter().map(|p| p.1).fold(0.001, f64::max) * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency by percentile (whole run)", ("sans-serif", 20))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d((1.0..x_max).log_scale(), 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_label_formatter(&|x| percentile_label(*x))
            .draw()
            .map_err(err)?;
        chart.draw_series(LineSeries::new(points, P999.stroke_width(2))).map_err(err)?;
        Ok(())
    })
}

/// `1/(1-p)` as a percentile label: 1 → 0%, 10 → 90%, 1000 → 99.9%.
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as usize).saturating_sub(2);
    format!("{p:.digits$}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_read_as_nines() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
    }

    #[test]
    fn the_page_is_self_contained_with_three_charts() {
        let mut h = crate::stats::new_histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let r = Report {
            title: "t <&>".into(),
            notes: vec!["ringkafka-perf --num-records 1".into()],
            summary: vec![("records".into(), "10000".into())],
            timeline: vec![
                Point { start: 0.0, secs: 1.0, records: 10_000.0, hist: &h },
                Point { start: 1.0, secs: 1.0, records: 10_000.0, hist: &h },
            ],
            hist: &h,
        };
        let page = html(&r).unwrap();
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(page.contains("<title>t &lt;&amp;&gt;</title>"));
        assert!(page.contains("99.9%"), "the spectrum's axis");
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
        assert!(page.contains("#1F77B4") || page.to_lowercase().contains("#1f77b4"), "the throughput line");
    }

    #[test]
    fn an_empty_run_still_draws() {
        let h = crate::stats::new_histogram();
        let r = Report { title: "x".into(), notes: vec![], summary: vec![], timeline: vec![], hist: &h };
        assert_eq!(html(&r).unwrap().matches("<svg").count(), 3);
    }
}
