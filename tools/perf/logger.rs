//! The clients' log lines on stderr: ringkafka's `log` warnings (retries, reconnects, a broker
//! gone), and those of librdkafka and confluent-kafka, which the `rdkafka` crate and
//! confluent-kafka also send through `log`. Without a logger a user sees nothing during an outage.
//!
//! Each line carries the seconds since the run started, to set it beside the progress lines:
//! `[  12.345s WARN  ringkafka::engine] …`. A level filter only (`--log-level`, `--quiet`):
//! this is all the tool needs, so it is a few lines here rather than a dependency.

use std::io::Write;
use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    start: Instant,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // While a progress bar is up, its line is cleared first (the next redraw restores it).
        let line = format!(
            "{}{}",
            crate::progress::before_log_line(),
            format_line(self.start.elapsed().as_secs_f64(), record)
        );
        // One write per line, so lines from several threads do not interleave; a failed write
        // to stderr has nowhere to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn format_line(secs: f64, record: &Record<'_>) -> String {
    format!("[{secs:9.3}s {:<5} {}] {}\n", record.level(), record.target(), record.args())
}

/// Installs the logger (once per process; a second call changes only the level).
pub fn init(level: LevelFilter, start: Instant) {
    // Lives as long as the process. `set_logger` fails only if a logger is already installed.
    let _ = log::set_logger(Box::leak(Box::new(StderrLogger { start })));
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_time_level_target_and_message() {
        let line = format_line(
            12.3456,
            &Record::builder()
                .level(log::Level::Warn)
                .target("ringkafka::engine")
                .args(format_args!("retrying {} records", 3))
                .build(),
        );
        assert_eq!(line, "[   12.346s WARN  ringkafka::engine] retrying 3 records\n");
    }
}
