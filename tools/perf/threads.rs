//! Per-thread CPU, so the tool's own share is not charged to the library: every thread of the
//! process is read from `/proc/self/task/<tid>/schedstat` (nanoseconds on a CPU, nanoseconds
//! runnable but waiting for one, times it was put on one) and `comm` (its name), and grouped:
//!
//! - **sender**: the library's sender thread (`ringkafka-sender`; librdkafka's `rdk:*` threads);
//! - **app**: the sending threads (`perf-send-N`): the pacer, building records, and `send()`
//!   itself, which is library code running on the caller's thread;
//! - **mock**: the embedded mock cluster (`mock-*`), which stands in for a broker;
//! - **tool**: the rest (the main thread printing progress, the driver thread).
//!
//! A thread's counters vanish from `/proc` when it exits, and the sending threads exit before
//! the summary: each calls [`note_exit`] last, which keeps its final counters.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// One thread's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Nanoseconds on a CPU.
    pub run_ns: u64,
    /// Nanoseconds runnable, waiting for a CPU (the scheduler's queueing delay).
    pub wait_ns: u64,
    /// Times the thread was put on a CPU.
    pub slices: u64,
}

impl Counters {
    fn minus(self, o: Counters) -> Counters {
        Counters {
            run_ns: self.run_ns.saturating_sub(o.run_ns),
            wait_ns: self.wait_ns.saturating_sub(o.wait_ns),
            slices: self.slices.saturating_sub(o.slices),
        }
    }
    fn plus(self, o: Counters) -> Counters {
        Counters {
            run_ns: self.run_ns + o.run_ns,
            wait_ns: self.wait_ns + o.wait_ns,
            slices: self.slices + o.slices,
        }
    }
}

/// Which part of the process a thread belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Sender,
    App,
    Mock,
    Tool,
}

impl Group {
    pub fn of(name: &str) -> Group {
        // `comm` is cut to 15 bytes: "ringkafka-sender" reads "ringkafka-sende".
        if name.starts_with("ringkafka-sende") || name.starts_with("rdk:") {
            Group::Sender
        } else if name.starts_with("perf-send") {
            Group::App
        } else if name.starts_with("mock-") {
            Group::Mock
        } else {
            Group::Tool
        }
    }
}

/// Every live thread's counters, by thread id, with its name.
pub type Snapshot = HashMap<u32, (String, Counters)>;

/// The counters of every live thread of this process (empty if `/proc` cannot be read).
pub fn snapshot() -> Snapshot {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let path = e.path();
        let Some(c) = std::fs::read_to_string(path.join("schedstat")).ok().and_then(|s| parse_schedstat(&s))
        else {
            continue;
        };
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim_end().to_string();
        out.insert(tid, (name, c));
    }
    out
}

/// The calling thread's counters.
pub fn current() -> Option<Counters> {
    parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

fn parse_schedstat(s: &str) -> Option<Counters> {
    let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some(Counters { run_ns: f.next()??, wait_ns: f.next()??, slices: f.next()?? })
}

/// Final counters of threads that have exited, by thread id.
static EXITED: Mutex<Vec<(u32, String, Counters)>> = Mutex::new(Vec::new());

/// Called by a thread as the last thing it does: keeps its counters for [`split`].
pub fn note_exit() {
    let Some(c) = current() else { return };
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().and_then(|f| f.to_str()).and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default().trim_end().to_string();
    EXITED.lock().unwrap_or_else(|e| e.into_inner()).push((tid, name, c));
}

/// CPU by group over an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Split {
    pub sender: Counters,
    pub app: Counters,
    pub mock: Counters,
    pub tool: Counters,
}

impl Split {
    fn add(&mut self, g: Group, c: Counters) {
        let slot = match g {
            Group::Sender => &mut self.sender,
            Group::App => &mut self.app,
            Group::Mock => &mut self.mock,
            Group::Tool => &mut self.tool,
        };
        *slot = slot.plus(c);
    }
}

/// CPU by group from `since` (a [`snapshot`], or `None` for the process's start) until now:
/// live threads as they are now, exited ones as they left.
pub fn split(since: Option<&Snapshot>) -> Split {
    let mut now: Snapshot = snapshot();
    for (tid, name, c) in EXITED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        now.entry(*tid).or_insert_with(|| (name.clone(), *c));
    }
    let mut s = Split::default();
    for (tid, (name, c)) in &now {
        let before = since.and_then(|b| b.get(tid)).map_or(Counters::default(), |(_, c)| *c);
        s.add(Group::of(name), c.minus(before));
    }
    s
}

impl fmt::Display for Split {
    /// `CPU s (s waiting for a CPU, times put on one): sender …, app …, mock …, tool ….`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |c: Counters| {
            format!("{:.2} ({:.2}, {})", c.run_ns as f64 / 1e9, c.wait_ns as f64 / 1e9, c.slices)
        };
        write!(
            f,
            "CPU s (s waiting for a CPU, times put on one): sender {}, app {}, mock {}, tool {}.",
            s(self.sender),
            s(self.app),
            s(self.mock),
            s(self.tool)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_grouped_by_name() {
        assert_eq!(Group::of("ringkafka-sende"), Group::Sender);
        assert_eq!(Group::of("rdk:broker1"), Group::Sender);
        assert_eq!(Group::of("perf-send-0"), Group::App);
        assert_eq!(Group::of("mock-conn-0"), Group::Mock);
        assert_eq!(Group::of("ringkafka-perf"), Group::Tool);
    }

    #[test]
    fn schedstat_parses_and_a_busy_thread_is_counted_once_after_it_exits() {
        assert_eq!(parse_schedstat("123 45 6\n"), Some(Counters { run_ns: 123, wait_ns: 45, slices: 6 }));
        assert_eq!(parse_schedstat("1 2"), None);
        let before = snapshot();
        assert!(!before.is_empty(), "/proc/self/task is readable");
        std::thread::Builder::new()
            .name("perf-send-9".into())
            .spawn(|| {
                // Busy until this thread has had 30 ms of CPU (however long that takes).
                while current().expect("own schedstat").run_ns < 30_000_000 {
                    std::hint::spin_loop();
                }
                note_exit();
            })
            .unwrap()
            .join()
            .unwrap();
        let s = split(Some(&before));
        assert!(s.app.run_ns >= 30_000_000, "the exited thread's 30 ms are kept: {s:?}");
    }
}
