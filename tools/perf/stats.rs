//! Outcome accounting: a latency histogram over the whole run, a window for the 5-second progress
//! lines, ok/err counts and the first errors; and the output formats (Java's lines, or JSON).
//!
//! Outcomes are recorded by the client's delivery thread (ringkafka's sender thread, librdkafka's
//! polling thread), so the one lock is almost never contended: the main thread takes it once per
//! progress line, and sending threads only when `send` itself refuses a record.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::threads;

/// How many error messages are kept.
pub const KEEP_ERRORS: usize = 5;

/// Shared outcome accounting. One instance lives for the whole run (leaked to `&'static`, so
/// callbacks capture a plain reference rather than cloning an `Arc` per record).
#[derive(Debug)]
pub struct Stats {
    inner: Mutex<Inner>,
    run_start: Instant,
    /// With `--warmup-records`: when the steady state began (the intended send time of the
    /// first record after the warm-up), the process CPU seconds then, and every thread's.
    steady: OnceLock<(Instant, Option<f64>, threads::Snapshot)>,
    /// Records the sending threads handed to the client (added as each thread ends).
    sent: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    /// Microseconds from the intended send time to the acknowledgement, successes only (as Java).
    hist: Histogram<u64>,
    ok: u64,
    err: u64,
    ok_bytes: u64,
    errors: Vec<String>,
    window: Window,
    /// Successes meant to be sent once the steady state began (see `Stats::steady`).
    steady_hist: Histogram<u64>,
    steady_ok: u64,
    steady_bytes: u64,
    /// From the `send` call, and the pacer's lateness: the whole run's, the steady state's.
    paced: [Paced; 2],
}

/// For clients that report how late the pacer let each record go (`record_ok_paced`): the
/// latency from the `send` call (the intended time plus that lateness), and the lateness.
#[derive(Debug)]
struct Paced {
    call: Histogram<u64>,
    late: Histogram<u64>,
}

impl Paced {
    fn new() -> Self {
        Paced { call: new_histogram(), late: new_histogram() }
    }
}

/// Percentiles of one distribution, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lat {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Lat {
    fn of(h: &Histogram<u64>) -> Option<Lat> {
        (!h.is_empty()).then(|| Lat {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

impl Display for Lat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        write!(
            f,
            "{:.3} ms 50th, {:.3} ms 99th, {:.3} ms 99.9th, {:.3} ms max",
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

#[derive(Debug, Clone)]
struct Window {
    start: Instant,
    count: u64,
    bytes: u64,
    err: u64,
    lat_sum_us: u64,
    lat_max_us: u64,
    /// The window's latencies, for its percentiles, the `--hdr-log` and the `--report`.
    hist: Histogram<u64>,
}

impl Window {
    fn new(start: Instant) -> Self {
        Window { start, count: 0, bytes: 0, err: 0, lat_sum_us: 0, lat_max_us: 0, hist: new_histogram() }
    }
}

/// A latency histogram in microseconds, 1 µs to an hour at three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// One reporting interval: the progress line's numbers and the latencies behind them.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Seconds from the run's start to the interval's start.
    pub start_s: f64,
    pub progress: Progress,
    /// Records that failed in the interval.
    pub err: u64,
    /// Latencies (µs) of the records acknowledged in the interval.
    pub hist: Histogram<u64>,
}

impl Interval {
    /// One JSON object per interval (`--interval-json`): where it ends (`t_s`, seconds since
    /// the start), its length and its numbers.
    pub fn json(&self) -> String {
        let p = &self.progress;
        let q = |x| if self.hist.is_empty() { 0 } else { self.hist.value_at_quantile(x) };
        let avg = if self.hist.is_empty() { 0.0 } else { self.hist.mean() };
        format!(
            "{{\"t_s\":{:.3},\"secs\":{:.3},\"records\":{},\"err\":{},\"rec_per_s\":{:.1},\"mb_per_s\":{:.3},\
             \"lat_us_avg\":{:.1},\"lat_us_p50\":{},\"lat_us_p95\":{},\"lat_us_p99\":{},\"lat_us_p999\":{},\
             \"lat_us_max\":{}}}",
            self.start_s + p.secs,
            p.secs,
            p.records,
            self.err,
            per_sec(p.records as f64, p.secs),
            per_sec(p.bytes as f64 / MB, p.secs),
            avg,
            q(0.50),
            q(0.95),
            q(0.99),
            q(0.999),
            self.hist.max(),
        )
    }
}

/// One progress line's worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub records: u64,
    pub secs: f64,
    pub bytes: u64,
    pub avg_ms: f64,
    pub max_ms: f64,
}

impl Display for Progress {
    /// Java's progress line: `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.records,
            per_sec(self.records as f64, self.secs),
            per_sec(self.bytes as f64 / MB, self.secs),
            self.avg_ms,
            self.max_ms
        )
    }
}

/// The final numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub ok: u64,
    pub err: u64,
    pub secs: f64,
    pub ok_bytes: u64,
    pub lat_us_avg: f64,
    pub lat_us_p50: u64,
    pub lat_us_p95: u64,
    pub lat_us_p99: u64,
    pub lat_us_p999: u64,
    pub lat_us_max: u64,
    pub cpu_s: Option<f64>,
    /// The CPU by thread group (see `threads`), set by the caller.
    pub threads: Option<threads::Split>,
    /// Latency from the `send` call (without the pacer's lateness), for clients that report it.
    pub call: Option<Lat>,
    /// How late the pacer let records go, for clients that report it.
    pub late: Option<Lat>,
    /// The sender threads' parks, wake-ups and produce requests over the same records, for
    /// clients that count them (set by the caller).
    pub sender: Option<(u64, u64, u64)>,
    pub errors: Vec<String>,
}

/// Java's tool divides by 1024 * 1024.
const MB: f64 = 1024.0 * 1024.0;

fn per_sec(x: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        x / secs
    } else {
        0.0
    }
}

impl Stats {
    pub fn new(start: Instant) -> Self {
        let hist = new_histogram;
        Stats {
            inner: Mutex::new(Inner {
                hist: hist(),
                ok: 0,
                err: 0,
                ok_bytes: 0,
                errors: Vec::new(),
                window: Window::new(start),
                steady_hist: hist(),
                steady_ok: 0,
                steady_bytes: 0,
                paced: [Paced::new(), Paced::new()],
            }),
            run_start: start,
            steady: OnceLock::new(),
            sent: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The warm-up is over: records meant to be sent from `at` on make the steady state.
    pub fn start_steady_state(&self, at: Instant) {
        let _ = self.steady.set((at, cpu_seconds(), threads::snapshot()));
    }

    /// The CPU by thread group over the steady state (`steady`) or the whole run.
    pub fn thread_split(&self, steady: bool) -> threads::Split {
        let since = if steady { self.steady.get().map(|(_, _, s)| s) } else { None };
        threads::split(since)
    }

    /// A record meant to be sent at `intended` was acknowledged now.
    #[inline]
    pub fn record_ok(&self, intended: Instant, bytes: usize) {
        self.record_ok_at(intended, Instant::now(), None, bytes);
    }

    fn record_ok_at(&self, intended: Instant, now: Instant, late: Option<Duration>, bytes: usize) {
        self.record_ok_n_at(intended, now, late, bytes, 1);
    }

    /// `n` records of `bytes` each, meant to be sent at `intended`, were acknowledged now (one
    /// histogram update: for a client that learns outcomes a batch at a time).
    pub fn record_ok_n(&self, intended: Instant, bytes: usize, n: u64) {
        self.record_ok_n_at(intended, Instant::now(), None, bytes, n);
    }

    /// `t` as nanoseconds since the run's start (for a callback that must stay small).
    pub fn offset_ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.run_start).as_nanos().min(u64::MAX as u128) as u64
    }

    /// A record meant to be sent at [`offset_ns`](Self::offset_ns) `slot`, which the pacer let
    /// go `late_ns` after that, was acknowledged now.
    #[inline]
    pub fn record_ok_paced(&self, slot: u64, late_ns: u32, bytes: usize) {
        let intended = self.run_start + Duration::from_nanos(slot);
        self.record_ok_at(intended, Instant::now(), Some(Duration::from_nanos(late_ns.into())), bytes);
    }

    fn record_ok_n_at(&self, intended: Instant, now: Instant, late: Option<Duration>, bytes: usize, n: u64) {
        let micros = |d: Duration| d.as_micros().min(u64::MAX as u128) as u64;
        let us = micros(now.saturating_duration_since(intended));
        let steady = self.steady.get().is_some_and(|(s, _, _)| intended >= *s);
        let bytes = bytes as u64 * n;
        let mut g = self.lock();
        g.hist.saturating_record_n(us, n);
        g.ok += n;
        g.ok_bytes += bytes;
        if steady {
            g.steady_hist.saturating_record_n(us, n);
            g.steady_ok += n;
            g.steady_bytes += bytes;
        }
        if let Some(late) = late {
            let call = micros(now.saturating_duration_since(intended + late));
            for p in if steady { &mut g.paced[..] } else { &mut g.paced[..1] } {
                p.call.saturating_record(call);
                p.late.saturating_record(micros(late));
            }
        }
        let w = &mut g.window;
        w.count += n;
        w.bytes += bytes;
        w.lat_sum_us += us * n;
        w.lat_max_us = w.lat_max_us.max(us);
        w.hist.saturating_record_n(us, n);
    }

    /// `n` records acknowledged with no latency known (`--api forget`: the client learns only
    /// counts), `steady` of them in the steady state.
    pub fn record_untimed(&self, n: u64, bytes: u64, steady: u64, steady_bytes: u64) {
        let mut g = self.lock();
        g.ok += n;
        g.ok_bytes += bytes;
        g.steady_ok += steady;
        g.steady_bytes += steady_bytes;
        g.window.count += n;
        g.window.bytes += bytes;
    }

    /// A record failed (refused by `send`, or its outcome was an error). The message is only
    /// formatted while fewer than [`KEEP_ERRORS`] are kept.
    pub fn record_err(&self, e: &dyn Display) {
        let mut g = self.lock();
        g.err += 1;
        g.window.err += 1;
        if g.errors.len() < KEEP_ERRORS {
            let msg = e.to_string();
            g.errors.push(msg);
        }
    }

    /// Outcomes so far (ok + err).
    pub fn completed(&self) -> u64 {
        let g = self.lock();
        g.ok + g.err
    }

    /// A sending thread handed `n` more records to the client.
    pub fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Records handed to the client by the threads that have ended.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The whole run's latency histogram (µs) so far.
    pub fn histogram(&self) -> Histogram<u64> {
        self.lock().hist.clone()
    }

    /// The window since the last call, and a new window from `now`.
    pub fn take_window(&self, now: Instant) -> Interval {
        let fresh = Window::new(now);
        let w = std::mem::replace(&mut self.lock().window, fresh);
        Interval {
            start_s: w.start.saturating_duration_since(self.run_start).as_secs_f64(),
            progress: Progress {
                records: w.count,
                secs: now.saturating_duration_since(w.start).as_secs_f64(),
                bytes: w.bytes,
                avg_ms: if w.count > 0 { w.lat_sum_us as f64 / w.count as f64 / 1000.0 } else { 0.0 },
                max_ms: w.lat_max_us as f64 / 1000.0,
            },
            err: w.err,
            hist: w.hist,
        }
    }

    /// The final numbers for `records` requested over `elapsed`.
    pub fn summary(&self, records: u64, elapsed: Duration, cpu_s: Option<f64>) -> Summary {
        let g = self.lock();
        let mut s =
            Self::summarize(&g.hist, records, g.ok, g.err, g.ok_bytes, elapsed, cpu_s, g.errors.clone());
        (s.call, s.late) = (Lat::of(&g.paced[0].call), Lat::of(&g.paced[0].late));
        s
    }

    /// The steady state's numbers (`None` without a warm-up): the records meant to be sent
    /// after it began, over the time from then to the end of the run (`elapsed` after its
    /// start), and the CPU used in that time. Failures are the whole run's: none is forgiven.
    pub fn steady_summary(&self, records: u64, elapsed: Duration, cpu_s: Option<f64>) -> Option<Summary> {
        let (at, cpu_then) = self.steady.get().map(|(a, c, _)| (*a, *c))?;
        let secs = (self.run_start + elapsed).saturating_duration_since(at);
        let cpu = cpu_s.zip(cpu_then).map(|(end, then)| end - then);
        let g = self.lock();
        let mut s = Self::summarize(
            &g.steady_hist,
            records,
            g.steady_ok,
            g.err,
            g.steady_bytes,
            secs,
            cpu,
            g.errors.clone(),
        );
        (s.call, s.late) = (Lat::of(&g.paced[1].call), Lat::of(&g.paced[1].late));
        Some(s)
    }

    #[allow(clippy::too_many_arguments)]
    fn summarize(
        h: &Histogram<u64>,
        records: u64,
        ok: u64,
        err: u64,
        ok_bytes: u64,
        elapsed: Duration,
        cpu_s: Option<f64>,
        errors: Vec<String>,
    ) -> Summary {
        let q = |x| if h.is_empty() { 0 } else { h.value_at_quantile(x) };
        Summary {
            records,
            ok,
            err,
            secs: elapsed.as_secs_f64(),
            ok_bytes,
            lat_us_avg: if h.is_empty() { 0.0 } else { h.mean() },
            lat_us_p50: q(0.50),
            lat_us_p95: q(0.95),
            lat_us_p99: q(0.99),
            lat_us_p999: q(0.999),
            lat_us_max: h.max(),
            cpu_s,
            threads: None,
            call: None,
            late: None,
            sender: None,
            errors,
        }
    }
}

impl Summary {
    pub fn rec_per_s(&self) -> f64 {
        per_sec(self.ok as f64, self.secs)
    }

    pub fn mb_per_s(&self) -> f64 {
        per_sec(self.ok_bytes as f64 / MB, self.secs)
    }

    /// Java's final line, with latencies in ms to µs precision, plus our error and CPU counts.
    pub fn java_line(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut s = format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.3} ms avg latency, {:.3} ms max latency, \
             {:.3} ms 50th, {:.3} ms 95th, {:.3} ms 99th, {:.3} ms 99.9th.",
            self.ok,
            self.rec_per_s(),
            self.mb_per_s(),
            self.lat_us_avg / 1000.0,
            ms(self.lat_us_max),
            ms(self.lat_us_p50),
            ms(self.lat_us_p95),
            ms(self.lat_us_p99),
            ms(self.lat_us_p999),
        );
        if self.err > 0 {
            s.push_str(&format!(" {} records failed.", self.err));
        }
        if let Some(c) = self.cpu_s {
            s.push_str(&format!(" {c:.2} s CPU."));
        }
        s
    }

    /// Our lines after Java's: the latency from the `send` call and the pacer's lateness, the
    /// sender's parks and wake-ups, and the CPU by thread group (each where known).
    pub fn detail_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let (Some(call), Some(late)) = (&self.call, &self.late) {
            lines.push(format!("  From the send call: {call}. The pacer's lateness: {late}."));
        }
        if let Some((parks, wakeups, requests)) = self.sender {
            let per = |n: u64| if self.ok > 0 { n as f64 / self.ok as f64 } else { 0.0 };
            lines.push(format!(
                "  Sender: {parks} parks ({:.3} per record), {wakeups} wake-ups by send ({:.3} per record), \
                 {requests} produce requests ({:.3} per record).",
                per(parks),
                per(wakeups),
                per(requests)
            ));
        }
        if let Some(t) = &self.threads {
            lines.push(format!("  {t}"));
        }
        lines
    }

    /// One JSON object with exactly the documented keys (`cpu_s` is `null` if unreadable).
    pub fn json(&self) -> String {
        let f = |x: f64| if x.is_finite() { format!("{x:.3}") } else { "null".to_string() };
        let lat =
            |l: &Option<Lat>, f: fn(&Lat) -> u64| l.as_ref().map_or("null".to_string(), |l| f(l).to_string());
        let group = |ns: fn(&threads::Split) -> u64| {
            self.threads.as_ref().map_or("null".to_string(), |t| format!("{:.3}", ns(t) as f64 / 1e9))
        };
        format!(
            "{{\"records\":{},\"ok\":{},\"err\":{},\"secs\":{},\"rec_per_s\":{},\"mb_per_s\":{},\
             \"lat_us_p50\":{},\"lat_us_p95\":{},\"lat_us_p99\":{},\"lat_us_p999\":{},\"lat_us_max\":{},\
             \"cpu_s\":{},\"cpu_sender_s\":{},\"cpu_app_s\":{},\"cpu_mock_s\":{},\"cpu_tool_s\":{},\
             \"wait_sender_s\":{},\"wait_app_s\":{},\"wait_mock_s\":{},\
             \"call_us_p50\":{},\"call_us_p99\":{},\"call_us_p999\":{},\"call_us_max\":{},\
             \"late_us_p50\":{},\"late_us_p99\":{},\"late_us_p999\":{},\"late_us_max\":{},\
             \"sender_parks\":{},\"sender_wakeups\":{},\"requests\":{}}}",
            self.records,
            self.ok,
            self.err,
            f(self.secs),
            f(self.rec_per_s()),
            f(self.mb_per_s()),
            self.lat_us_p50,
            self.lat_us_p95,
            self.lat_us_p99,
            self.lat_us_p999,
            self.lat_us_max,
            self.cpu_s.map_or("null".to_string(), f),
            group(|t| t.sender.run_ns),
            group(|t| t.app.run_ns),
            group(|t| t.mock.run_ns),
            group(|t| t.tool.run_ns),
            group(|t| t.sender.wait_ns),
            group(|t| t.app.wait_ns),
            group(|t| t.mock.wait_ns),
            lat(&self.call, |l| l.p50),
            lat(&self.call, |l| l.p99),
            lat(&self.call, |l| l.p999),
            lat(&self.call, |l| l.max),
            lat(&self.late, |l| l.p50),
            lat(&self.late, |l| l.p99),
            lat(&self.late, |l| l.p999),
            lat(&self.late, |l| l.max),
            self.sender.map_or("null".to_string(), |(p, _, _)| p.to_string()),
            self.sender.map_or("null".to_string(), |(_, w, _)| w.to_string()),
            self.sender.map_or("null".to_string(), |(_, _, r)| r.to_string()),
        )
    }
}

/// Process CPU time (user + system, all threads) in seconds, from `/proc/self/stat` fields 14
/// and 15 (`utime`, `stime`). They are in clock ticks of `USER_HZ`, which Linux always reports
/// to user space as 100 Hz; we assume 100 rather than call `sysconf(_SC_CLK_TCK)`, which would
/// need `unsafe` (not allowed outside `src/io`). `None` if the file cannot be read or parsed.
pub fn cpu_seconds() -> Option<f64> {
    parse_proc_stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

const USER_HZ: f64 = 100.0;

fn parse_proc_stat_cpu(stat: &str) -> Option<f64> {
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After comm: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_cpu_fields_are_found_after_comm() {
        let line = "1234 (my (odd) prog) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_proc_stat_cpu(line), Some(2.0));
        assert_eq!(parse_proc_stat_cpu("garbage"), None);
        assert!(cpu_seconds().is_some());
    }

    #[test]
    fn json_has_exactly_the_documented_keys() {
        let t0 = Instant::now();
        let s = Stats::new(t0);
        s.record_ok_at(t0, t0 + Duration::from_micros(1500), None, 100);
        s.record_ok_at(t0, t0 + Duration::from_micros(500), None, 100);
        s.record_err(&"boom");
        let sum = s.summary(3, Duration::from_secs(2), Some(0.5));
        let j = sum.json();
        let keys: Vec<&str> = j
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
            .collect();
        assert_eq!(
            keys,
            [
                "records",
                "ok",
                "err",
                "secs",
                "rec_per_s",
                "mb_per_s",
                "lat_us_p50",
                "lat_us_p95",
                "lat_us_p99",
                "lat_us_p999",
                "lat_us_max",
                "cpu_s",
                "cpu_sender_s",
                "cpu_app_s",
                "cpu_mock_s",
                "cpu_tool_s",
                "wait_sender_s",
                "wait_app_s",
                "wait_mock_s",
                "call_us_p50",
                "call_us_p99",
                "call_us_p999",
                "call_us_max",
                "late_us_p50",
                "late_us_p99",
                "late_us_p999",
                "late_us_max",
                "sender_parks",
                "sender_wakeups",
                "requests"
            ]
        );
        assert!(j.contains("\"records\":3,\"ok\":2,\"err\":1,\"secs\":2.000,\"rec_per_s\":1.000"));
        assert!(j.contains("\"cpu_s\":0.500,\"cpu_sender_s\":null"));
        assert_eq!(sum.errors, vec!["boom".to_string()]);
    }

    #[test]
    fn only_the_first_errors_are_kept() {
        let s = Stats::new(Instant::now());
        for i in 0..10 {
            s.record_err(&i);
        }
        let sum = s.summary(10, Duration::from_secs(1), None);
        assert_eq!(sum.err, 10);
        assert_eq!(sum.errors.len(), KEEP_ERRORS);
        assert!(sum.json().contains("\"cpu_s\":null,"));
    }

    #[test]
    fn window_resets_and_formats_like_java() {
        let t0 = Instant::now();
        let s = Stats::new(t0);
        s.record_ok_at(t0, t0 + Duration::from_millis(2), None, 1024 * 1024);
        s.record_ok_at(t0, t0 + Duration::from_millis(4), None, 1024 * 1024);
        s.record_err(&"x");
        let w = s.take_window(t0 + Duration::from_secs(2));
        assert_eq!(
            w.progress.to_string(),
            "2 records sent, 1.0 records/sec (1.00 MB/sec), 3.0 ms avg latency, 4.0 ms max latency."
        );
        assert_eq!((w.err, w.hist.len(), w.start_s), (1, 2, 0.0));
        let next = s.take_window(t0 + Duration::from_secs(3));
        assert_eq!((next.progress.records, next.err, next.hist.len()), (0, 0, 0));
        assert_eq!(next.start_s, 2.0);
        assert_eq!(s.completed(), 3);
    }

    #[test]
    fn interval_json_has_the_windows_percentiles() {
        let t0 = Instant::now();
        let s = Stats::new(t0);
        for ms in [1, 2, 3, 4] {
            s.record_ok_at(t0, t0 + Duration::from_millis(ms), None, 1000);
        }
        let j = s.take_window(t0 + Duration::from_secs(2)).json();
        assert!(
            j.starts_with("{\"t_s\":2.000,\"secs\":2.000,\"records\":4,\"err\":0,\"rec_per_s\":2.0,"),
            "{j}"
        );
        assert!(j.contains("\"lat_us_p50\":2000,"), "{j}");
        assert!(j.contains("\"lat_us_max\":4001}") || j.contains("\"lat_us_max\":4000}"), "{j}");
    }

    #[test]
    fn the_steady_state_leaves_out_records_meant_for_the_warm_up() {
        let t0 = Instant::now();
        let s = Stats::new(t0);
        let ms = Duration::from_millis;
        // A warm-up record acknowledged late, after the steady state began: left out.
        s.record_ok_at(t0, t0 + ms(50), None, 10);
        assert!(s.steady_summary(2, ms(100), None).is_none(), "no warm-up, no steady state");
        s.start_steady_state(t0 + ms(40));
        s.record_ok_at(t0 + ms(30), t0 + ms(60), None, 10);
        s.record_ok_at(t0 + ms(40), t0 + ms(42), None, 10);
        s.record_ok_at(t0 + ms(50), t0 + ms(51), None, 10);
        s.record_err(&"lost");
        let whole = s.summary(5, ms(90), Some(3.0));
        assert_eq!((whole.ok, whole.err), (4, 1));
        assert!(whole.lat_us_max >= 49_900, "the whole run keeps the warm-up's 50 ms");
        let steady = s.steady_summary(2, ms(90), Some(3.0)).unwrap();
        assert_eq!((steady.records, steady.ok, steady.err), (2, 2, 1));
        assert!(steady.lat_us_max < 2_100, "only the 2 ms and 1 ms records: {}", steady.lat_us_max);
        assert!((steady.secs - 0.050).abs() < 1e-9, "from the steady state's start to the end");
        assert!(steady.cpu_s.is_some_and(|c| c <= 3.0 && c > 2.0), "the CPU since the steady state began");
    }

    #[test]
    fn empty_run_does_not_divide_by_zero() {
        let sum = Stats::new(Instant::now()).summary(0, Duration::ZERO, None);
        assert!(sum.java_line().starts_with("0 records sent, 0.0 records/sec"));
        assert!(!sum.json().contains("NaN"));
    }
}
