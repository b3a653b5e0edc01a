//! `ringkafka-perf` end to end: the binary against its embedded mock cluster, one short run per
//! feature, checking what a user sees (output lines, files, exit status). The report test opens
//! the page in a real headless Chromium and fails, never skips, when Chromium is missing
//! (`apt-get install chromium`; scripts/test.sh installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn perf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringkafka-perf"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ringkafka-perf")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and expects success, returning stdout.
fn ok(args: &[&str]) -> String {
    let out = perf(args);
    assert!(
        out.status.success(),
        "ringkafka-perf {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A number after `"key":` in a JSON line.
fn field(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("no {key} in {json}")) + pat.len();
    let end = json[at..].find([',', '}']).map_or(json.len(), |e| at + e);
    json[at..end].parse().unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

fn last_json(stdout: &str) -> String {
    stdout.lines().rfind(|l| l.starts_with('{')).expect("a JSON line").to_string()
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("rk-perf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, f: &str) -> String {
        self.0.join(f).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_readme_command_prints_javas_summary_line() {
    let out = ok(&["--num-records", "2000", "--record-size", "100"]);
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("2000 records sent, "), "{out}");
    assert!(last.contains(" ms 99.9th."), "{out}");
}

#[test]
fn a_duration_bounds_the_run_and_the_summary_counts_what_was_sent() {
    let out = ok(&["--duration", "1s", "--throughput", "400", "--record-size", "10", "--json"]);
    let j = last_json(&out);
    // 400/s for 1 s: records due at 0, 2.5 ms, … 997.5 ms.
    assert_eq!(field(&j, "records"), 400.0, "{j}");
    assert_eq!(field(&j, "ok"), 400.0, "{j}");
}

#[test]
fn a_schedule_alone_sets_the_runs_length_and_rates() {
    // 200/s for 1 s, then a ramp to 600/s over 1 s: 200 + 400 records.
    let out = ok(&["--throughput-schedule", "200:1s,200..600:1s", "--record-size", "10", "--json"]);
    let j = last_json(&out);
    let records = field(&j, "records");
    assert!((599.0..=601.0).contains(&records), "{j}");
    assert!(field(&j, "secs") >= 1.9, "{j}");
}

#[test]
fn several_producers_share_the_records_across_topics_with_zipf_keys() {
    let out = ok(&[
        "--num-records",
        "3000",
        "--record-size",
        "50",
        "--topics",
        "a,b,c",
        "--producers",
        "2",
        "--keys",
        "100",
        "--key-distribution",
        "zipf",
        "--zipf-exponent",
        "1.1",
        "--random-seed",
        "7",
        "--print-metrics",
    ]);
    assert!(out.contains("3000 records sent,"), "{out}");
    for i in 0..2 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("producer-metrics:records-sent:{{client-id=ringkafka-{i}}}")))
            .unwrap_or_else(|| panic!("no records-sent line for producer {i}:\n{out}"));
        assert!(line.ends_with(": 1500"), "{line}");
    }
}

#[test]
fn random_bytes_ratio_sets_how_well_batches_compress() {
    let bytes_sent = |ratio: &str| {
        let out = ok(&[
            "--num-records",
            "2000",
            "--record-size",
            "1000",
            "--random-bytes-ratio",
            ratio,
            "--producer-props",
            "compression.type=lz4",
            "linger.ms=20",
            "--print-metrics",
            "--quiet",
        ]);
        let line = out.lines().find(|l| l.starts_with("producer-metrics:bytes-sent:")).expect("bytes-sent");
        line.rsplit(": ").next().unwrap().trim().parse::<f64>().unwrap()
    };
    let (zeros, random) = (bytes_sent("0"), bytes_sent("1"));
    // 2 MB of values: random ones do not compress, zeros all but vanish.
    assert!(random > 1_900_000.0, "random values compress? {random}");
    assert!(zeros * 10.0 < random, "zeros {zeros} vs random {random}");
}

#[test]
fn payload_file_values_and_sequence_payloads_still_work() {
    let s = Scratch::new("payload");
    let file = s.path("payloads.txt");
    std::fs::write(&file, "alpha|beta|gamma").unwrap();
    let out = ok(&["--num-records", "300", "--payload-file", &file, "--payload-delimiter", "|", "--json"]);
    assert_eq!(field(&last_json(&out), "ok"), 300.0);
    let out = ok(&["--num-records", "300", "--record-size", "16", "--payload", "seq", "--json"]);
    assert_eq!(field(&last_json(&out), "ok"), 300.0);
}

#[test]
fn interval_json_lines_add_up_to_the_summary() {
    let out = ok(&[
        "--duration",
        "1200ms",
        "--throughput",
        "500",
        "--record-size",
        "10",
        "--reporting-interval",
        "300",
        "--interval-json",
        "-",
        "--json",
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("{\"t_s\":")).collect();
    assert!(lines.len() >= 4, "{out}");
    let sum: f64 = lines.iter().map(|l| field(l, "records")).sum();
    let summary = last_json(&out);
    assert!(!summary.starts_with("{\"t_s\""), "the summary comes last: {out}");
    assert_eq!(sum, field(&summary, "ok"), "{out}");
    for l in &lines {
        for k in ["secs", "rec_per_s", "lat_us_p50", "lat_us_p99", "lat_us_p999", "lat_us_max", "err"] {
            field(l, k);
        }
    }
}

#[test]
fn progress_on_a_pipe_is_plain_lines() {
    let out = perf(&[
        "--duration",
        "1s",
        "--throughput",
        "300",
        "--record-size",
        "10",
        "--reporting-interval",
        "250",
    ]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.lines().filter(|l| l.starts_with("progress: ")).count() >= 3, "{err}");
    assert!(!err.contains('\r') && !err.contains('\x1b'), "no terminal control on a pipe: {err:?}");
    // Java's lines stay on stdout.
    assert!(text(&out.stdout).lines().filter(|l| l.contains("records sent,")).count() >= 4);
    let quiet = perf(&[
        "--num-records",
        "10",
        "--record-size",
        "10",
        "--progress",
        "off",
        "--reporting-interval",
        "100",
    ]);
    assert!(!text(&quiet.stderr).contains("progress: "));
}

#[test]
fn hdr_logs_of_two_runs_merge_into_one_result() {
    let s = Scratch::new("merge");
    let (a, b) = (s.path("a.hlog"), s.path("b.hlog"));
    ok(&[
        "--num-records",
        "1000",
        "--record-size",
        "10",
        "--throughput",
        "2000",
        "--hdr-log",
        &a,
        "--reporting-interval",
        "200",
    ]);
    ok(&["--num-records", "2000", "--record-size", "10", "--hdr-log", &b]);
    let log = std::fs::read_to_string(&a).unwrap();
    assert!(log.contains("#[BaseTime: ") && log.contains(",HISTF"), "{log}");
    let j = ok(&["merge", "--json", &a, &b]);
    assert_eq!(field(&j, "files"), 2.0, "{j}");
    assert_eq!(field(&j, "ok"), 3000.0, "every record of both runs: {j}");
    assert!(field(&j, "lat_us_p999") >= field(&j, "lat_us_p50"));
    let report = s.path("merged.html");
    let t = ok(&["merge", &a, &b, "--report", &report]);
    assert!(t.starts_with("2 logs, ") && t.contains("3000 records acknowledged"), "{t}");
    assert!(t.contains("ms 99.99th"), "{t}");
    assert_eq!(std::fs::read_to_string(&report).unwrap().matches("<svg").count(), 3);
}

#[test]
fn merge_refuses_a_file_that_is_not_a_log() {
    let s = Scratch::new("notlog");
    let f = s.path("x.hlog");
    std::fs::write(&f, "hello\n").unwrap();
    let out = perf(&["merge", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not an HdrHistogram interval log"), "{}", text(&out.stderr));
    let out = perf(&["merge"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_flags_are_usage_errors_and_help_lists_the_new_ones() {
    let out = perf(&["--duration", "1s", "--record-size", "10", "--key-distribution", "zipf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs --keys"), "{}", text(&out.stderr));
    let help = ok(&["--help"]);
    for f in [
        "--key-distribution",
        "--keys",
        "--zipf-exponent",
        "--random-bytes-ratio",
        "--payload-pool",
        "--duration",
        "--throughput-schedule",
        "--topics",
        "--topic-count",
        "--producers",
        "--hdr-log",
        "--interval-json",
        "--print-metrics",
        "--report",
        "--progress",
        "--reporting-interval",
        "--random-seed",
        "merge",
    ] {
        assert!(help.contains(f), "--help does not list {f}");
    }
}

/// Opens `page` in headless Chromium and returns the screenshot's RGB pixels.
fn screenshot(page: &Path, dir: &Scratch) -> Vec<[u8; 3]> {
    let png = dir.path("shot.png");
    let profile = dir.path("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={profile}"),
            &format!("--screenshot={png}"),
            "--window-size=1200,1600",
            &format!("file://{}", page.display()),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}); install it: apt-get install chromium"));
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    let decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).expect("the screenshot")));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    assert_eq!((info.width, info.height), (1200, 1600));
    buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect()
}

#[test]
fn the_report_renders_in_a_headless_browser() {
    let s = Scratch::new("report");
    let report = s.path("report.html");
    ok(&[
        "--duration",
        "2s",
        "--throughput-schedule",
        "500:1s,500..1500:1s",
        "--record-size",
        "20",
        "--keys",
        "10",
        "--key-distribution",
        "uniform",
        "--reporting-interval",
        "250",
        "--report",
        &report,
    ]);
    let pixels = screenshot(Path::new(&report), &s);
    let first = pixels[0];
    assert!(pixels.iter().any(|p| *p != first), "a blank page");
    let mut colours: Vec<[u8; 3]> = pixels.clone();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 20, "text and charts draw many colours, got {}", colours.len());
    // The throughput line (the report's THROUGHPUT colour, 3 px wide) is drawn.
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) < 12);
    let line = pixels.iter().filter(|p| near(p, [31, 119, 180])).count();
    assert!(line > 300, "the throughput line: {line} pixels");
}
