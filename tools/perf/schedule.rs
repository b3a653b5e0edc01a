//! Rates over time: `--throughput` (one rate) and `--throughput-schedule` (steps and ramps), and
//! the durations they are written with.
//!
//! A schedule is a list of segments, each a rate held for a time (`5000:30s`) or a linear ramp
//! from one rate to another (`1000..20000:1m`); after the last segment its final rate holds. The
//! pacer asks the inverse question, "when is the k-th record due?", which [`Schedule::time_of`]
//! answers exactly: the number of records due by time t is the integral of the rate, piecewise
//! linear or quadratic in t, so its inverse has a closed form in each segment.

use std::time::Duration;

/// One piece of a schedule: `from` records/s rising (or falling) linearly to `to` over `secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub secs: f64,
    pub from: f64,
    pub to: f64,
}

impl Segment {
    /// Records due over the whole segment.
    fn records(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.secs
    }

    /// Seconds into the segment at which `x` records (`0 <= x <= records()`) are due: the root
    /// of `from·τ + (to − from)/(2·secs)·τ² = x`, in the form that is stable for flat segments
    /// (`to == from`) and ramps from zero alike.
    fn time_of(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let a = (self.to - self.from) / (2.0 * self.secs);
        let disc = (self.from * self.from + 4.0 * a * x).max(0.0);
        let denom = self.from + disc.sqrt();
        if denom <= 0.0 {
            return self.secs;
        }
        (2.0 * x / denom).min(self.secs)
    }
}

/// Records per second over time, from the run's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// The rate after the last segment (the last segment's `to`, or the one rate).
    tail: f64,
}

impl Schedule {
    /// One rate for the whole run (`--throughput`).
    pub fn constant(rate: f64) -> Self {
        Schedule { segments: Vec::new(), tail: rate }
    }

    /// Parses `--throughput-schedule`: comma-separated segments, each `RATE:DURATION` (a step)
    /// or `FROM..TO:DURATION` (a linear ramp). Rates are records/s over all threads, zero or
    /// more; the last one must be positive, since it holds once the schedule has run out.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (rates, dur) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}` is not RATE:DURATION or FROM..TO:DURATION"))?;
            let secs = parse_duration(dur).map_err(|e| format!("`{part}`: {e}"))?.as_secs_f64();
            if secs <= 0.0 {
                return Err(format!("`{part}`: the duration must be positive"));
            }
            let rate = |r: &str| -> Result<f64, String> {
                match r.trim().parse::<f64>() {
                    Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
                    _ => Err(format!("`{part}`: `{r}` is not a rate (records/s, 0 or more)")),
                }
            };
            let (from, to) = match rates.split_once("..") {
                Some((a, b)) => (rate(a)?, rate(b)?),
                None => {
                    let r = rate(rates)?;
                    (r, r)
                }
            };
            segments.push(Segment { secs, from, to });
        }
        let tail = segments.last().map_or(0.0, |s| s.to);
        if tail <= 0.0 {
            return Err("the last rate must be positive: it holds once the schedule has run out".into());
        }
        Ok(Schedule { segments, tail })
    }

    /// The schedule with every rate multiplied by `f` (a sending thread's share).
    pub fn scaled(&self, f: f64) -> Self {
        let seg = |s: &Segment| Segment { secs: s.secs, from: s.from * f, to: s.to * f };
        Schedule { segments: self.segments.iter().map(seg).collect(), tail: self.tail * f }
    }

    /// The segments' total length (zero for a constant rate).
    pub fn length(&self) -> Duration {
        Duration::from_secs_f64(self.segments.iter().map(|s| s.secs).sum())
    }

    /// The rate `secs` into the run.
    pub fn rate_at(&self, secs: f64) -> f64 {
        let mut t0 = 0.0;
        for s in &self.segments {
            if secs < t0 + s.secs {
                return s.from + (s.to - s.from) * (secs - t0) / s.secs;
            }
            t0 += s.secs;
        }
        self.tail
    }

    /// Seconds from the start at which `x` records are due. `cursor` remembers the segment the
    /// last answer fell in (a pacer asks for ever larger `x`), so each answer costs O(1).
    pub fn time_of(&self, x: f64, cursor: &mut Cursor) -> f64 {
        while let Some(s) = self.segments.get(cursor.segment) {
            let n = s.records();
            if x < cursor.records + n {
                return cursor.secs + s.time_of(x - cursor.records);
            }
            cursor.records += n;
            cursor.secs += s.secs;
            cursor.segment += 1;
        }
        cursor.secs + (x - cursor.records) / self.tail
    }
}

/// Where in a [`Schedule`] the last [`Schedule::time_of`] answer fell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cursor {
    segment: usize,
    /// Records due before that segment.
    records: f64,
    /// Seconds before that segment.
    secs: f64,
}

/// A duration as people write it: `90` or `90s`, `500ms`, `2m`, `1h`, `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 90s, 500ms, 2m, 1h)"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(format!("`{s}`: unknown unit `{u}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is not a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_constant_rate_spaces_records_evenly() {
        let s = Schedule::constant(1000.0);
        let mut c = Cursor::default();
        assert!(close(s.time_of(0.0, &mut c), 0.0));
        assert!(close(s.time_of(10.0, &mut c), 0.010));
        assert_eq!(s.length(), Duration::ZERO);
    }

    #[test]
    fn steps_hold_each_rate_for_its_time_then_the_last_one() {
        let s = Schedule::parse("100:2s,1000:1s").unwrap();
        let mut c = Cursor::default();
        // 200 records in the first 2 s, then 1000 in the next second, then 1000/s on.
        assert!(close(s.time_of(100.0, &mut c), 1.0));
        assert!(close(s.time_of(200.0, &mut c), 2.0));
        assert!(close(s.time_of(700.0, &mut c), 2.5));
        assert!(close(s.time_of(1200.0, &mut c), 3.0));
        assert!(close(s.time_of(2200.0, &mut c), 4.0));
        assert_eq!(s.length(), Duration::from_secs(3));
        assert_eq!(s.rate_at(0.5), 100.0);
        assert_eq!(s.rate_at(2.5), 1000.0);
        assert_eq!(s.rate_at(60.0), 1000.0);
    }

    #[test]
    fn a_ramp_is_due_on_the_integral_of_its_rate() {
        // 0 -> 1000 records/s over 10 s: x(t) = 50 t², 5000 records in all.
        let s = Schedule::parse("0..1000:10s").unwrap();
        let mut c = Cursor::default();
        assert!(close(s.time_of(50.0, &mut c), 1.0));
        assert!(close(s.time_of(1250.0, &mut c), 5.0));
        assert!(close(s.time_of(5000.0, &mut c), 10.0));
        assert!(close(s.time_of(6000.0, &mut c), 11.0), "then 1000/s");
        assert!(close(s.rate_at(2.5), 250.0));
        // Down: 1000 -> 500 over 2 s is 1500 records; x(t) = 1000 t - 125 t².
        let d = Schedule::parse("1000..500:2s").unwrap();
        let mut c = Cursor::default();
        assert!(close(d.time_of(875.0, &mut c), 1.0));
        assert!(close(d.time_of(1500.0, &mut c), 2.0));
    }

    #[test]
    fn scaling_splits_the_rate_between_threads() {
        let s = Schedule::parse("100:1s,0..200:1s").unwrap().scaled(0.5);
        let mut c = Cursor::default();
        assert!(close(s.time_of(50.0, &mut c), 1.0));
        assert!(close(s.rate_at(1.5), 50.0));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        assert!(Schedule::parse("100").unwrap_err().contains("RATE:DURATION"));
        assert!(Schedule::parse("100:0s").unwrap_err().contains("positive"));
        assert!(Schedule::parse("-5:1s").unwrap_err().contains("rate"));
        assert!(Schedule::parse("x..5:1s").unwrap_err().contains("rate"));
        assert!(Schedule::parse("100:1s,0:1s").unwrap_err().contains("last rate"));
        assert!(Schedule::parse("100:1q").is_err());
        assert!(Schedule::parse("0:1s,10:1s").is_ok(), "a pause in the middle is fine");
    }
}
