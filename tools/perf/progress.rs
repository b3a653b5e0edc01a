//! Progress while a run goes on (`--progress`): a bar redrawn in place on a terminal, plain
//! lines when stderr is a pipe or a file (a log then reads line by line, with no control
//! characters). Either goes to stderr; the per-interval lines of Java's tool stay on stdout.
//!
//! While the bar is up, the logger clears it before writing a line (the next redraw restores it),
//! so log lines and the bar do not run into each other.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar if stderr is a terminal, else lines.
    Auto,
    Bar,
    Lines,
    Off,
}

/// Whether the bar is on screen (the logger clears the line first then).
static BAR_SHOWN: AtomicBool = AtomicBool::new(false);

/// Clears the terminal line (carriage return, erase line).
const CLEAR: &str = "\r\x1b[2K";

/// What the logger writes before a line: the bar's clearing while it is up.
pub fn before_log_line() -> &'static str {
    if BAR_SHOWN.load(Ordering::Relaxed) {
        CLEAR
    } else {
        ""
    }
}

impl Mode {
    /// `Auto` decided by whether stderr is a terminal.
    pub fn resolve(self, stderr_is_terminal: bool) -> Mode {
        match self {
            Mode::Auto if stderr_is_terminal => Mode::Bar,
            Mode::Auto => Mode::Lines,
            m => m,
        }
    }

    /// `Auto` decided for this process.
    pub fn for_this_process(self) -> Mode {
        self.resolve(std::io::stderr().is_terminal())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Records with an outcome.
    pub done: u64,
    /// `--num-records`, if given.
    pub total: Option<u64>,
    pub elapsed: Duration,
    /// `--duration` (or the schedule's length), if the run has one.
    pub duration: Option<Duration>,
}

impl Snapshot {
    /// How far along the run is, 0 to 1 (the further of records and time when both bound it).
    pub fn fraction(&self) -> Option<f64> {
        let by_records = self.total.map(|t| if t == 0 { 1.0 } else { self.done as f64 / t as f64 });
        let by_time = self.duration.map(|d| self.elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9));
        match (by_records, by_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
        .map(|f| f.clamp(0.0, 1.0))
    }

    fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.done as f64 / s
        } else {
            0.0
        }
    }

    /// Seconds left, at the rate so far.
    fn eta(&self) -> Option<f64> {
        let f = self.fraction()?;
        (f > 0.0).then(|| self.elapsed.as_secs_f64() * (1.0 - f) / f)
    }

    fn records(&self) -> String {
        match self.total {
            Some(t) => format!("{}/{} records", self.done, t),
            None => format!("{} records", self.done),
        }
    }

    /// The bar, one terminal line: `[#####.....]  45.0%  450000/1000000 records  …`.
    pub fn bar(&self) -> String {
        const W: usize = 30;
        let f = self.fraction();
        let filled = f.map_or(0, |f| (f * W as f64).round() as usize);
        let mut s = format!(
            "[{}{}] {:>6}  {}  {:.0} records/sec  {:.0}s",
            "#".repeat(filled),
            ".".repeat(W - filled),
            f.map_or("".to_string(), |f| format!("{:.1}%", f * 100.0)),
            self.records(),
            self.rate(),
            self.elapsed.as_secs_f64()
        );
        if let Some(eta) = self.eta() {
            s.push_str(&format!("  ETA {eta:.0}s"));
        }
        s
    }

    /// The same as a plain line.
    pub fn line(&self) -> String {
        let mut s = "progress: ".to_string();
        if let Some(f) = self.fraction() {
            s.push_str(&format!("{:.1}% done, ", f * 100.0));
        }
        s.push_str(&format!(
            "{} acknowledged or failed, {:.0} records/sec, {:.1} s elapsed",
            self.records(),
            self.rate(),
            self.elapsed.as_secs_f64()
        ));
        if let Some(eta) = self.eta() {
            s.push_str(&format!(", about {eta:.0} s left"));
        }
        s
    }
}

/// Draws the bar (`Mode::Bar`) or a line (`Mode::Lines`) on stderr.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        Progress { mode: mode.for_this_process() }
    }

    /// How often [`Progress::tick`] wants to be called.
    pub fn tick_every(&self) -> Option<Duration> {
        (self.mode == Mode::Bar).then_some(Duration::from_millis(250))
    }

    /// Redraws the bar.
    pub fn tick(&self, s: &Snapshot) {
        if self.mode == Mode::Bar {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "{CLEAR}{}", s.bar());
            let _ = e.flush();
            BAR_SHOWN.store(true, Ordering::Relaxed);
        }
    }

    /// A reporting interval ended: prints Java's progress line (on stdout, or on stderr with
    /// `--json`, whose stdout is the summary) and the progress (a line, or the bar redrawn
    /// below it).
    pub fn interval(&self, java_line: &str, on_stderr: bool, s: &Snapshot) {
        if self.mode == Mode::Bar {
            self.clear();
        }
        if on_stderr {
            eprintln!("{java_line}");
        } else {
            println!("{java_line}");
        }
        match self.mode {
            Mode::Bar => self.tick(s),
            Mode::Lines => eprintln!("{}", s.line()),
            _ => {}
        }
    }

    /// Takes the bar off the screen (before the summary).
    pub fn clear(&self) {
        if BAR_SHOWN.swap(false, Ordering::Relaxed) {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "{CLEAR}");
            let _ = e.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(done: u64, total: Option<u64>, secs: u64, duration: Option<u64>) -> Snapshot {
        Snapshot {
            done,
            total,
            elapsed: Duration::from_secs(secs),
            duration: duration.map(Duration::from_secs),
        }
    }

    #[test]
    fn auto_is_a_bar_on_a_terminal_and_lines_on_a_pipe() {
        assert_eq!(Mode::Auto.resolve(true), Mode::Bar);
        assert_eq!(Mode::Auto.resolve(false), Mode::Lines);
        assert_eq!(Mode::Lines.resolve(true), Mode::Lines);
        assert_eq!(Mode::Off.resolve(true), Mode::Off);
    }

    #[test]
    fn the_bar_fills_with_the_records_done() {
        let b = snap(250, Some(1000), 5, None).bar();
        assert!(
            b.starts_with("[########......................]  25.0%  250/1000 records  50 records/sec  5s"),
            "{b}"
        );
        assert!(b.ends_with("ETA 15s"), "{b}");
        assert!(!b.contains('\n'));
    }

    #[test]
    fn with_a_duration_time_is_the_measure() {
        let s = snap(500, None, 15, Some(60));
        assert_eq!(s.fraction(), Some(0.25));
        let l = s.line();
        assert_eq!(
            l,
            "progress: 25.0% done, 500 records acknowledged or failed, 33 records/sec, 15.0 s elapsed, about 45 s left"
        );
        assert!(!l.contains('\r') && !l.contains('\x1b'), "plain text");
        // Both bounds: whichever is further.
        assert_eq!(snap(900, Some(1000), 15, Some(60)).fraction(), Some(0.9));
        assert_eq!(snap(5, None, 0, None).fraction(), None);
    }
}
