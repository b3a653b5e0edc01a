//! Command-line parsing (by hand: the crate has no CLI dependency) and the Java `.properties`
//! parser for `--producer.config`.

use std::fmt;

/// Which client library drives the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Ringkafka,
    Librdkafka,
}

/// What each record's value holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadKind {
    /// `--record-size`: random upper-case letters generated once (as Java's tool does).
    Random,
    /// `--payload seq`: the 8-byte big-endian record number, then filler.
    Seq,
    /// `--payload-file`: one of the file's entries, chosen at random per record.
    File { path: String, delimiter: String },
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub bootstrap_server: Option<String>,
    pub topic: String,
    pub num_records: u64,
    /// `--warmup-records`: the first N records (of `num_records`) are left out of the
    /// steady-state summary (KIP-1052's option of Java's tool).
    pub warmup_records: u64,
    pub record_size: Option<usize>,
    /// Records per second over all threads; `None` = unlimited (`-1`).
    pub throughput: Option<f64>,
    /// `--producer-props`, in command-line order (applied after `--producer.config`).
    pub producer_props: Vec<(String, String)>,
    pub producer_config: Option<String>,
    pub payload: PayloadKind,
    pub threads: usize,
    pub keys: u64,
    /// Partitions of the topic in the embedded mock cluster (no `--bootstrap-server`).
    pub partitions: i32,
    pub json: bool,
    pub client: Client,
}

/// A usage error: the message, printed with the usage text, exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--help` was asked for.
pub const HELP: &str = "\
ringkafka-perf: a producer load generator mirroring Kafka's kafka-producer-perf-test

USAGE:
    ringkafka-perf [--bootstrap-server HOST:PORT] --num-records N --record-size BYTES [OPTIONS]

Without --bootstrap-server (or bootstrap.servers), an embedded mock cluster on loopback TCP
(ringkafka::mock::MockServer, one broker) is started with the topic created.

Kafka's options:
    --bootstrap-server HOST:PORT   broker to bootstrap from (sets bootstrap.servers)
    --topic T                      topic to produce to (default ringkafka-perf); create it first,
                                   e.g. `tansu topic create --broker tcp://HOST:PORT --partitions 3 T`
    --num-records N                records to send (required)
    --warmup-records N             the first N of them warm up: a second summary (the only one
                                   with --json) leaves them out (default 0)
    --record-size BYTES            value size; values are random upper-case letters made once
    --payload-file FILE            values are the entries of FILE, chosen at random per record
    --payload-delimiter D          entry separator in --payload-file (default \\n)
    --throughput N                 records/s over all threads, -1 = unlimited (default -1);
                                   latency is then measured from each record's scheduled time
    --producer-props k=v ...       producer properties (Java names); several after one flag,
                                   or the flag repeated; they override --producer.config
    --producer.config FILE         a Java .properties file of producer properties

ringkafka's options:
    --threads N                    application threads sending, records split evenly (default 1)
    --partitions N                 partitions of the topic in the embedded mock (default 3)
    --keys K                       key `key-{i % K}` for record i; 0 = null keys (default 0)
    --payload seq                  each value starts with its 8-byte big-endian record number
                                   0..N-1, then filler (needs --record-size >= 8)
    --json                         print the summary as one JSON line
    --client ringkafka|librdkafka  client library (librdkafka needs --features librdkafka)
    --list-properties              the producer properties: key, default, what it does
    -h, --help                     this text

Exit status: 0 all records acknowledged, 1 some failed (first errors on stderr), 2 usage.";

fn value(
    flag: &str,
    it: &mut std::iter::Peekable<impl Iterator<Item = String>>,
) -> Result<String, UsageError> {
    it.next().ok_or_else(|| UsageError(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, UsageError> {
    v.trim().parse().map_err(|_| UsageError(format!("{flag}: `{v}` is not a valid number")))
}

/// Splits `k=v` (the first `=`).
pub fn split_prop(s: &str) -> Result<(String, String), UsageError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(UsageError(format!("--producer-props: `{s}` is not key=value"))),
    }
}

/// Interprets the escapes Java's tool users type for a delimiter (`\n`, `\t`, `\r`, `\\`).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether `--list-properties` is among the arguments: then the tool prints the producer
/// properties and exits, whatever else is given (checked before [`parse`], which does not know
/// the flag).
pub fn lists_properties(argv: &[String]) -> bool {
    argv.iter().any(|a| a == "--list-properties")
}

/// Parses the arguments after the program name. `Ok(None)` means `--help`.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Option<Args>, UsageError> {
    // `--flag=value` is split into `--flag value`.
    let expanded: Vec<String> = argv
        .into_iter()
        .flat_map(|a| match a.split_once('=') {
            Some((f, v)) if a.starts_with("--") => vec![f.to_string(), v.to_string()],
            _ => vec![a],
        })
        .collect();
    let mut it = expanded.into_iter().peekable();

    let mut bootstrap_server = None;
    let mut topic = "ringkafka-perf".to_string();
    let mut num_records = None;
    let mut warmup_records = 0u64;
    let mut record_size = None;
    let mut throughput = None;
    let mut producer_props = Vec::new();
    let mut producer_config = None;
    let mut payload_file = None;
    let mut delimiter = "\n".to_string();
    let mut seq = false;
    let mut threads = 1usize;
    let mut partitions = 3i32;
    let mut keys = 0u64;
    let mut json = false;
    let mut client = Client::Ringkafka;

    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bootstrap-server" | "--broker-list" => bootstrap_server = Some(value(&flag, &mut it)?),
            "--topic" => topic = value(&flag, &mut it)?,
            "--num-records" => {
                let n: i64 = number(&flag, &value(&flag, &mut it)?)?;
                if n < 0 {
                    return Err(UsageError(format!("--num-records must not be negative, got {n}")));
                }
                num_records = Some(n as u64);
            }
            "--warmup-records" => {
                let n: i64 = number(&flag, &value(&flag, &mut it)?)?;
                if n < 0 {
                    return Err(UsageError(format!("--warmup-records must not be negative, got {n}")));
                }
                warmup_records = n as u64;
            }
            "--record-size" => {
                let n: usize = number(&flag, &value(&flag, &mut it)?)?;
                record_size = Some(n);
            }
            "--throughput" => {
                let t: f64 = number(&flag, &value(&flag, &mut it)?)?;
                throughput = if t < 0.0 {
                    None
                } else if t == 0.0 || !t.is_finite() {
                    return Err(UsageError("--throughput must be positive, or -1 for unlimited".into()));
                } else {
                    Some(t)
                };
            }
            "--producer-props" => {
                producer_props.push(split_prop(&value(&flag, &mut it)?)?);
                while let Some(next) = it.peek() {
                    if next.starts_with("--") {
                        break;
                    }
                    producer_props.push(split_prop(next)?);
                    it.next();
                }
            }
            "--producer.config" => producer_config = Some(value(&flag, &mut it)?),
            "--payload-file" => payload_file = Some(value(&flag, &mut it)?),
            "--payload-delimiter" => delimiter = unescape(&value(&flag, &mut it)?),
            "--payload" => {
                let v = value(&flag, &mut it)?;
                match v.as_str() {
                    "seq" => seq = true,
                    "random" => seq = false,
                    _ => return Err(UsageError(format!("--payload: `{v}` is not `seq` or `random`"))),
                }
            }
            "--threads" => {
                threads = number(&flag, &value(&flag, &mut it)?)?;
                if threads == 0 {
                    return Err(UsageError("--threads must be at least 1".into()));
                }
            }
            "--keys" => keys = number(&flag, &value(&flag, &mut it)?)?,
            "--partitions" => {
                let n: u64 = number(&flag, &value(&flag, &mut it)?)?;
                if n == 0 || n > 100_000 {
                    return Err(UsageError("--partitions must be between 1 and 100000".into()));
                }
                partitions = n as i32;
            }
            "--json" => json = true,
            "--client" => {
                let v = value(&flag, &mut it)?;
                client = match v.as_str() {
                    "ringkafka" => Client::Ringkafka,
                    "librdkafka" | "rdkafka" => Client::Librdkafka,
                    _ => return Err(UsageError(format!("--client: `{v}` is not ringkafka or librdkafka"))),
                };
            }
            other => return Err(UsageError(format!("unknown argument `{other}`"))),
        }
    }

    let num_records = num_records.ok_or_else(|| UsageError("--num-records is required".into()))?;
    if warmup_records > 0 && warmup_records >= num_records {
        return Err(UsageError(format!(
            "--warmup-records ({warmup_records}) must be less than --num-records ({num_records})"
        )));
    }
    let payload = match (payload_file, record_size, seq) {
        (Some(_), Some(_), _) => {
            return Err(UsageError("give either --record-size or --payload-file, not both".into()))
        }
        (Some(_), None, true) => {
            return Err(UsageError("--payload seq needs --record-size, not --payload-file".into()))
        }
        (Some(path), None, false) => {
            if delimiter.is_empty() {
                return Err(UsageError("--payload-delimiter must not be empty".into()));
            }
            PayloadKind::File { path, delimiter }
        }
        (None, None, _) => return Err(UsageError("--record-size or --payload-file is required".into())),
        (None, Some(n), true) if n < 8 => {
            return Err(UsageError(format!("--payload seq needs --record-size of at least 8, got {n}")))
        }
        (None, Some(_), true) => PayloadKind::Seq,
        (None, Some(_), false) => PayloadKind::Random,
    };
    Ok(Some(Args {
        bootstrap_server,
        topic,
        num_records,
        warmup_records,
        record_size,
        throughput,
        producer_props,
        producer_config,
        payload,
        threads,
        keys,
        partitions,
        json,
        client,
    }))
}

/// Parses Java `.properties` text: `key=value` or `key: value` (or `key value`) lines; `#` and
/// `!` start comments; blank lines are skipped; a trailing `\` continues a line. (Unicode
/// escapes are not interpreted: producer settings have no use for them.)
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if logical.is_empty() {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            start_line = n + 1;
        }
        let continued = line.ends_with('\\') && !line.ends_with("\\\\");
        logical.push_str(if continued { &line[..line.len() - 1] } else { line });
        if continued {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        // As Java: the key ends at the first unescaped `=`, `:` or whitespace; then whitespace
        // and at most one `=` or `:` are skipped.
        let end = entry.find(|c: char| c == '=' || c == ':' || c.is_whitespace()).unwrap_or(entry.len());
        let (k, rest) = entry.split_at(end);
        let rest = rest.trim_start();
        let v = rest.strip_prefix(['=', ':']).unwrap_or(rest);
        if k.is_empty() {
            return Err(format!("line {start_line}: no key in `{entry}`"));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    if !logical.is_empty() {
        return Err(format!("line {start_line}: the file ends inside a continued line"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<Args>, UsageError> {
        parse(s.split_whitespace().map(String::from))
    }

    fn ok(s: &str) -> Args {
        p(s).unwrap().unwrap()
    }

    #[test]
    fn defaults_follow_the_java_tool() {
        let a = ok("--num-records 10 --record-size 100");
        assert_eq!(a.topic, "ringkafka-perf");
        assert_eq!(a.throughput, None);
        assert_eq!(a.threads, 1);
        assert_eq!(a.keys, 0);
        assert_eq!(a.payload, PayloadKind::Random);
        assert_eq!(a.client, Client::Ringkafka);
        assert!(!a.json);
        assert_eq!(a.bootstrap_server, None);
    }

    #[test]
    fn every_flag_is_read() {
        let a = ok("--bootstrap-server 127.0.0.1:9092 --topic t --num-records 200000 --record-size 100 \
                    --throughput 5000 --producer-props linger.ms=5 acks=1 --threads 4 --keys 16 \
                    --payload seq --json --producer.config p.properties --client librdkafka");
        assert_eq!(a.bootstrap_server.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(a.topic, "t");
        assert_eq!(a.num_records, 200_000);
        assert_eq!(a.record_size, Some(100));
        assert_eq!(a.throughput, Some(5000.0));
        assert_eq!(a.producer_props, vec![("linger.ms".into(), "5".into()), ("acks".into(), "1".into())]);
        assert_eq!(a.threads, 4);
        assert_eq!(a.keys, 16);
        assert_eq!(a.payload, PayloadKind::Seq);
        assert!(a.json);
        assert_eq!(a.producer_config.as_deref(), Some("p.properties"));
        assert_eq!(a.client, Client::Librdkafka);
    }

    #[test]
    fn producer_props_may_repeat_and_use_equals_form() {
        let a = ok("--producer-props a=1 --num-records 1 --producer-props=b=x=y --record-size=3");
        assert_eq!(a.producer_props, vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]);
        assert_eq!(a.record_size, Some(3));
    }

    #[test]
    fn warmup_records_must_leave_some_to_measure() {
        assert_eq!(ok("--num-records 10 --record-size 1").warmup_records, 0);
        assert_eq!(ok("--num-records 10 --record-size 1 --warmup-records 3").warmup_records, 3);
        assert!(p("--num-records 10 --record-size 1 --warmup-records 10").is_err());
        assert!(p("--num-records 10 --record-size 1 --warmup-records -1").is_err());
    }

    #[test]
    fn throughput_minus_one_is_unlimited() {
        assert_eq!(ok("--num-records 1 --record-size 1 --throughput -1").throughput, None);
        assert!(p("--num-records 1 --record-size 1 --throughput 0").is_err());
    }

    #[test]
    fn payload_file_and_delimiter() {
        let a = ok("--num-records 1 --payload-file f.txt --payload-delimiter ,");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: ",".into() });
        let a = ok("--num-records 1 --payload-file f.txt");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: "\n".into() });
        let a = ok("--num-records 1 --payload-file f.txt --payload-delimiter \\t");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: "\t".into() });
    }

    #[test]
    fn bad_combinations_are_usage_errors() {
        assert!(p("--record-size 10").is_err(), "num-records missing");
        assert!(p("--num-records 10").is_err(), "no payload source");
        assert!(p("--num-records 10 --record-size 5 --payload-file f").is_err());
        assert!(p("--num-records 10 --record-size 7 --payload seq").is_err());
        assert!(p("--num-records 10 --payload-file f --payload seq").is_err());
        assert!(p("--num-records 10 --record-size 8 --payload bogus").is_err());
        assert!(p("--num-records 10 --record-size 8 --threads 0").is_err());
        assert!(p("--num-records 10 --record-size 8 --client kafka-go").is_err());
        assert!(p("--num-records 10 --record-size 8 --producer-props nokey").is_err());
        assert!(p("--num-records -1 --record-size 8").is_err());
        assert!(p("--num-records x --record-size 8").is_err());
        assert!(p("--num-records 1 --record-size 8 --frobnicate").is_err());
        assert!(p("--num-records 1 --record-size").is_err(), "value missing");
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(p("--help"), Ok(None));
        assert_eq!(p("--num-records 1 -h"), Ok(None));
    }

    #[test]
    fn list_properties_needs_no_other_flag() {
        let argv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(lists_properties(&argv("--list-properties")));
        assert!(lists_properties(&argv("--num-records 1 --list-properties")));
        assert!(!lists_properties(&argv("--num-records 1 --record-size 1")));
    }

    #[test]
    fn properties_file_parses_like_java() {
        let text = "# a comment\n! another\n\nbootstrap.servers=127.0.0.1:9092\n  linger.ms = 5 \n\
                    acks: all\nclient.id my client\nretries=\nbatch.size=16\\\n384\nempty\n";
        let props = parse_properties(text).unwrap();
        assert_eq!(
            props,
            vec![
                ("bootstrap.servers".into(), "127.0.0.1:9092".into()),
                ("linger.ms".into(), "5".into()),
                ("acks".into(), "all".into()),
                ("client.id".into(), "my client".into()),
                ("retries".into(), "".into()),
                ("batch.size".into(), "16384".into()),
                ("empty".into(), "".into()),
            ]
        );
    }

    #[test]
    fn properties_value_keeps_later_separators() {
        let props = parse_properties("a=b=c\nurl=tcp://h:1\nid x:y").unwrap();
        assert_eq!(
            props,
            vec![("a".into(), "b=c".into()), ("url".into(), "tcp://h:1".into()), ("id".into(), "x:y".into())]
        );
    }

    #[test]
    fn properties_errors_name_the_line() {
        assert!(parse_properties("=5").unwrap_err().contains("line 1"));
        assert!(parse_properties("a=1\nb=2\\").unwrap_err().contains("line 2"));
    }

    #[test]
    fn unescape_handles_common_escapes() {
        assert_eq!(unescape("\\n"), "\n");
        assert_eq!(unescape("a\\\\b"), "a\\b");
        assert_eq!(unescape("\\x"), "\\x");
        assert_eq!(unescape("|"), "|");
    }
}
