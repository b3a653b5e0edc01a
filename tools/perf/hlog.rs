//! HdrHistogram interval logs (`--hdr-log FILE`, `.hlog`) and `ringkafka-perf merge`.
//!
//! The format is HdrHistogram's own (its Java `HistogramLogWriter`, version 1.3): a `StartTime`
//! and `BaseTime` header, then one line per reporting interval, `start,length,max,histogram`,
//! the histogram compressed (V2 + deflate) in base64. Values are **nanoseconds**, the unit
//! HdrHistogram's tools assume (`HistogramLogProcessor` prints them as milliseconds), and the
//! max column is in milliseconds. The lines are written with the `hdrhistogram` crate's
//! interval-log writer, read back with its parser and deserializer.
//!
//! Latencies are measured in microseconds (`Stats`); a log's histograms are scaled to
//! nanoseconds on the way out and back to microseconds on the way in.

use std::io::Write;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, IntervalLogWriterBuilder, LogEntry};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::stats::{new_histogram, Interval};

/// The legend line Java's writer puts under the header (its reader skips it).
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// A histogram of microseconds as one of nanoseconds (each value times 1000). Each bucket moves
/// as its middle value, so a round trip stays within the histograms' precision (0.1 %).
fn to_nanos(us: &Histogram<u64>) -> Histogram<u64> {
    let mut ns = Histogram::new_with_bounds(1000, 3_600_000_000_000, 3).expect("valid histogram bounds");
    for v in us.iter_recorded() {
        ns.saturating_record_n(us.median_equivalent(v.value_iterated_to()) * 1000, v.count_at_value());
    }
    ns
}

/// A histogram of nanoseconds as one of microseconds.
pub fn to_micros(ns: &Histogram<u64>) -> Histogram<u64> {
    let mut us = new_histogram();
    for v in ns.iter_recorded() {
        us.saturating_record_n(
            (ns.median_equivalent(v.value_iterated_to()) / 1000).max(1),
            v.count_at_value(),
        );
    }
    us
}

/// Writes the intervals of a run as they end.
pub struct HlogWriter {
    out: std::io::BufWriter<std::fs::File>,
    ser: V2DeflateSerializer,
}

impl HlogWriter {
    /// Creates `path` and writes the header; `start` is the run's start (its BaseTime: interval
    /// timestamps are seconds since then).
    pub fn create(path: &str, start: SystemTime, comment: &str) -> Result<Self, String> {
        let file = std::fs::File::create(path).map_err(|e| format!("cannot create --hdr-log {path}: {e}"))?;
        let mut w = HlogWriter { out: std::io::BufWriter::new(file), ser: V2DeflateSerializer::new() };
        let mut header = Vec::new();
        IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut header, &mut w.ser)
            .map_err(|e| e.to_string())?;
        header.extend_from_slice(LEGEND.as_bytes());
        w.write(&header).map_err(|e| format!("--hdr-log {path}: {e}"))?;
        Ok(w)
    }

    /// Appends one interval.
    pub fn write_interval(&mut self, iv: &Interval) -> Result<(), String> {
        let mut line = Vec::new();
        let start = Duration::from_secs_f64(iv.start_s);
        let length = Duration::from_secs_f64(iv.progress.secs);
        IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut line, &mut self.ser)
            .map_err(|e| e.to_string())?
            .write_histogram(&to_nanos(&iv.hist), start, length, None)
            .map_err(|e| format!("{e:?}"))?;
        // The writer repeats the divisor's header comment; the header has it once.
        let text = String::from_utf8_lossy(&line);
        let interval: String =
            text.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
        self.write(interval.as_bytes()).map_err(|e| e.to_string())
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.out.flush()
    }
}

/// One interval read back from a log.
#[derive(Debug, Clone)]
pub struct LoggedInterval {
    /// Seconds since the epoch at which it started (BaseTime + its timestamp; just the timestamp
    /// in a log without BaseTime, which HdrHistogram's tools read as seconds since the epoch too).
    pub start: f64,
    pub secs: f64,
    /// Its latencies in microseconds.
    pub hist: Histogram<u64>,
}

/// Reads every interval of a log.
pub fn read(path: &str) -> Result<Vec<LoggedInterval>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut base = 0.0;
    let mut out = Vec::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| format!("{path}: not an HdrHistogram interval log ({e:?})"))? {
            LogEntry::BaseTime(t) => base = t.as_secs_f64(),
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(iv) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(iv.encoded_histogram())
                    .map_err(|e| format!("{path}: an interval's histogram is not base64: {e}"))?;
                let ns: Histogram<u64> = de
                    .deserialize(&mut &raw[..])
                    .map_err(|e| format!("{path}: an interval's histogram does not decode: {e:?}"))?;
                out.push(LoggedInterval {
                    start: base + iv.start_timestamp().as_secs_f64(),
                    secs: iv.duration().as_secs_f64(),
                    hist: to_micros(&ns),
                });
            }
        }
    }
    Ok(out)
}

/// The combined result of several logs.
#[derive(Debug, Clone)]
pub struct Merged {
    pub files: usize,
    pub intervals: usize,
    /// Every latency of every log (µs).
    pub hist: Histogram<u64>,
    /// From the earliest interval's start to the latest one's end, seconds.
    pub secs: f64,
    /// The logs on one time axis, for the report.
    pub timeline: Vec<Step>,
}

/// One step of the merged timeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// Seconds since the earliest interval's start.
    pub start: f64,
    pub secs: f64,
    /// Records acknowledged in the step: each interval's count shared among the steps it
    /// overlaps, in proportion (logs whose intervals do not line up still sum to a smooth rate).
    pub records: f64,
    /// The latencies of the intervals whose middle falls in the step.
    pub hist: Histogram<u64>,
}

/// Merges the intervals of several logs into one distribution and one timeline, in steps of the
/// logs' usual (median) interval length.
pub fn merge(logs: &[Vec<LoggedInterval>]) -> Merged {
    let all: Vec<&LoggedInterval> = logs.iter().flatten().collect();
    let mut hist = new_histogram();
    for iv in &all {
        hist.add(&iv.hist).expect("same bounds");
    }
    let t0 = all.iter().map(|i| i.start).fold(f64::INFINITY, f64::min);
    let t1 = all.iter().map(|i| i.start + i.secs).fold(f64::NEG_INFINITY, f64::max);
    let mut lengths: Vec<f64> = all.iter().map(|i| i.secs).filter(|s| *s > 0.0).collect();
    lengths.sort_by(f64::total_cmp);
    let mut timeline = Vec::new();
    if let Some(&step) = lengths.get(lengths.len() / 2) {
        let n = ((t1 - t0) / step).ceil().max(1.0) as usize;
        timeline = (0..n)
            .map(|b| {
                let start = b as f64 * step;
                Step { start, secs: step.min(t1 - t0 - start), records: 0.0, hist: new_histogram() }
            })
            .collect();
        for iv in &all {
            let (s, e) = (iv.start - t0, iv.start - t0 + iv.secs);
            let count = iv.hist.len() as f64;
            if iv.secs > 0.0 {
                let first = ((s / step) as usize).min(n - 1);
                let last = ((e / step).ceil() as usize).clamp(first + 1, n);
                for st in &mut timeline[first..last] {
                    let overlap = (e.min(st.start + step) - s.max(st.start)).max(0.0);
                    st.records += count * overlap / iv.secs;
                }
            } else {
                timeline[((s / step) as usize).min(n - 1)].records += count;
            }
            let mid = (((s + e) / 2.0 / step) as usize).min(n - 1);
            timeline[mid].hist.add(&iv.hist).expect("same bounds");
        }
    }
    Merged {
        files: logs.len(),
        intervals: all.len(),
        hist,
        secs: if all.is_empty() { 0.0 } else { t1 - t0 },
        timeline,
    }
}

/// `ringkafka-perf merge`'s text: what was merged and the combined percentiles.
pub fn merged_text(m: &Merged) -> String {
    let h = &m.hist;
    let ms = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
    let rate = if m.secs > 0.0 { h.len() as f64 / m.secs } else { 0.0 };
    format!(
        "{} logs, {} intervals: {} records acknowledged over {:.1} s ({:.1} records/sec).\n\
         Latency: {:.3} ms avg, {:.3} ms 50th, {:.3} ms 90th, {:.3} ms 95th, {:.3} ms 99th, \
         {:.3} ms 99.9th, {:.3} ms 99.99th, {:.3} ms max.",
        m.files,
        m.intervals,
        h.len(),
        m.secs,
        rate,
        if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        ms(0.5),
        ms(0.9),
        ms(0.95),
        ms(0.99),
        ms(0.999),
        ms(0.9999),
        h.max() as f64 / 1000.0,
    )
}

/// The same as one JSON object, in the summary's keys where they exist.
pub fn merged_json(m: &Merged) -> String {
    let h = &m.hist;
    let q = |x: f64| if h.is_empty() { 0 } else { h.value_at_quantile(x) };
    let rate = if m.secs > 0.0 { h.len() as f64 / m.secs } else { 0.0 };
    format!(
        "{{\"files\":{},\"intervals\":{},\"ok\":{},\"secs\":{:.3},\"rec_per_s\":{:.3},\"lat_us_avg\":{:.1},\
         \"lat_us_p50\":{},\"lat_us_p90\":{},\"lat_us_p95\":{},\"lat_us_p99\":{},\"lat_us_p999\":{},\
         \"lat_us_p9999\":{},\"lat_us_max\":{}}}",
        m.files,
        m.intervals,
        h.len(),
        m.secs,
        rate,
        if h.is_empty() { 0.0 } else { h.mean() },
        q(0.5),
        q(0.9),
        q(0.95),
        q(0.99),
        q(0.999),
        q(0.9999),
        h.max(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Progress;

    fn interval(start_s: f64, values_us: &[u64]) -> Interval {
        let mut hist = new_histogram();
        for &v in values_us {
            hist.record(v).unwrap();
        }
        Interval {
            start_s,
            progress: Progress {
                records: values_us.len() as u64,
                secs: 1.0,
                bytes: 0,
                avg_ms: 0.0,
                max_ms: 0.0,
            },
            err: 0,
            hist,
        }
    }

    #[test]
    fn a_log_reads_back_what_was_written_in_hdrhistograms_format() {
        let dir = std::env::temp_dir().join(format!("rk-hlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.hlog");
        let path = path.to_str().unwrap();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut w = HlogWriter::create(path, start, "test").unwrap();
        w.write_interval(&interval(0.0, &[100, 200, 300])).unwrap();
        w.write_interval(&interval(1.0, &[1_000, 50_000])).unwrap();
        drop(w);
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));
        // The second interval: 1 s after the base, 1 s long, max 50 ms (in ms), compressed V2.
        assert!(text.lines().any(|l| l.starts_with("1.000,1.000,50.") && l.contains(",HISTF")), "{text}");
        assert_eq!(text.matches("MaxValueDivisor").count(), 1, "{text}");
        let back = read(path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].start, 1_700_000_001.0);
        assert_eq!(back[0].hist.len(), 3);
        let max = back[1].hist.max() as f64;
        assert!((max - 50_000.0).abs() / 50_000.0 < 0.002, "within the precision: {max}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merging_adds_every_logs_latencies() {
        let a = vec![
            LoggedInterval { start: 100.0, secs: 1.0, hist: interval(0.0, &[100; 90]).hist },
            LoggedInterval { start: 101.0, secs: 1.0, hist: interval(0.0, &[100; 10]).hist },
        ];
        let b = vec![
            LoggedInterval { start: 100.5, secs: 1.0, hist: interval(0.0, &[10_000; 99]).hist },
            // A run's short last interval does not shrink the timeline's step.
            LoggedInterval { start: 101.5, secs: 0.01, hist: interval(0.0, &[10_000]).hist },
        ];
        let m = merge(&[a, b]);
        assert_eq!((m.files, m.intervals, m.hist.len()), (2, 4, 200));
        assert_eq!(m.secs, 2.0);
        assert_eq!(m.hist.value_at_quantile(0.25), 100);
        assert!(m.hist.value_at_quantile(0.75) >= 9_990);
        assert_eq!(m.timeline.len(), 2);
        assert_eq!(m.timeline[0].hist.len(), 90);
        assert_eq!(m.timeline[1].hist.len(), 110, "b's intervals are centred in the second second");
        // b's first interval spans both steps: half its records in each.
        assert!((m.timeline[0].records - 139.5).abs() < 1e-9, "{}", m.timeline[0].records);
        assert!((m.timeline[1].records - 60.5).abs() < 1e-9, "{}", m.timeline[1].records);
        let text = merged_text(&m);
        assert!(
            text.starts_with("2 logs, 4 intervals: 200 records acknowledged over 2.0 s (100.0 records/sec).")
        );
        assert!(merged_json(&m).contains("\"ok\":200,"));
    }

    #[test]
    fn a_file_that_is_not_a_log_is_an_error() {
        let path = std::env::temp_dir().join(format!("rk-notlog-{}", std::process::id()));
        std::fs::write(&path, "1.0,1.0,1.0,not-base64!\n").unwrap();
        let e = read(path.to_str().unwrap()).unwrap_err();
        assert!(e.contains("base64") || e.contains("interval log"), "{e}");
        std::fs::remove_file(&path).unwrap();
        assert!(read("/nonexistent/x.hlog").unwrap_err().contains("cannot read"));
    }
}
