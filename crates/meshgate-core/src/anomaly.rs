//! Unusual-read alerts (issue 17): the statistics that decide whether a read pushes a
//! principal's volume for the day far above its own habits, or reads sensitive-classified
//! columns at a volume it never has. Pure: the server feeds the reads of the audit log in time
//! order to a [`Detector`] and turns each [`Finding`] into an alert; nothing here reads the
//! log, writes alerts or suspends credentials.
//!
//! How it decides:
//!
//! - **Series.** Each principal has one series over all its reads and one per table or file
//!   product it reads. A series is cut into buckets (a day by default, aligned on UTC
//!   midnight); a bucket holds its totals of rows, bytes, reads, and rows of the reads that
//!   touched sensitive columns. The current bucket is a running total; the closed ones are the
//!   baseline, computed once when the bucket opens.
//! - **Quiet days do not count as zeros.** The baseline is the last `history` buckets in which
//!   the series had at least one read, none older than `max_age` buckets. Most principals do
//!   not read every day (weekends, weekly reports, occasional users): counting their quiet days
//!   as zeros would make the median of an occasional reader 0 and every day it works an
//!   outlier. The question asked is "is this a usual volume for a day on which this principal
//!   reads?"; a principal that starts reading on more days, each of them ordinary, is not
//!   flagged.
//! - **Robust, on the logarithm.** Read volumes are heavy-tailed and vary by factors rather
//!   than by amounts, so the baseline of rows, bytes and reads is the median and the median
//!   absolute deviation (MAD) of ln(1 + volume). A bucket alerts once its running total goes
//!   above exp(median + `threshold` × scale) − 1, where scale = max(1.4826 × MAD,
//!   `min_scale`): 1.4826 × MAD estimates a standard deviation, and `min_scale` keeps a
//!   constant baseline (MAD 0) from alerting on ordinary jitter (with the defaults a constant
//!   volume alerts above about 9.5 times itself, so a rerun or a catch-up day does not).
//! - **Above its own highest day.** The threshold is also at least `max_factor` times the
//!   highest bucket of the baseline: a principal whose volume is bimodal (most days aggregates,
//!   some days an extract) has a narrow MAD, but its big days are in its history.
//! - **Floors.** The threshold is never below an absolute floor per measure, so a principal
//!   that reads 20 rows a day does not alert for 2,000.
//! - **Minimum history.** Rows, bytes and reads alert only once the series has `min_history`
//!   buckets in its baseline.
//! - **Sensitive volume never seen.** The rows of reads that touched sensitive columns alert,
//!   once the principal's own series (over all its reads) has the minimum history, above the
//!   largest of: `floor_sensitive_rows`; `sensitive_factor` times the highest such bucket the
//!   series ever had; for a table's series, the highest such bucket of the principal over all
//!   its tables (so a principal that reads sensitive columns by habit may start on another
//!   table); and, when the series has `min_history` buckets with sensitive rows, the robust
//!   threshold above over those buckets. A principal that never read sensitive columns alerts
//!   on its first day above the floor.
//! - **Once per bucket.** A series alerts at most once per measure per bucket; later reads of
//!   the same bucket that stay above do not repeat it. The principal's series and its table's
//!   can both alert on the same read: they are different findings.
//!
//! What it cannot see (benchmark B13, `bench/B13.md`): a spike that stays within what a
//! principal's own bursty history already holds (an analyst whose days range over three orders
//! of magnitude reading 5x or 50x its median day), a principal reading on more days than it
//! used to, and anything before a series has its minimum history.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::lifecycle::string_enum;

/// One read, as the audit log records it (SQL query, rows API read, Delta Sharing download,
/// file download).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub at: DateTime<Utc>,
    pub principal: Uuid,
    /// The table (e.g. "sales.orders.orders") or file product read; None when unknown.
    pub table: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    /// Whether the read touched columns classified sensitive (tags pii / confidential /
    /// restricted).
    pub sensitive: bool,
}

string_enum!(
    /// What a finding measured: the rows, bytes or number of reads of a bucket, or the rows of
    /// its reads that touched sensitive columns.
    Measure {
        Rows => "rows",
        Bytes => "bytes",
        Reads => "reads",
        SensitiveRows => "sensitive_rows",
    }
);

impl Measure {
    fn index(self) -> usize {
        match self {
            Measure::Rows => 0,
            Measure::Bytes => 1,
            Measure::Reads => 2,
            Measure::SensitiveRows => 3,
        }
    }
}

/// How sensitive the detector is. `Default` gives the values tuned on benchmark B13
/// (`bench/B13.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// How far above the baseline's median a bucket must go to alert, in robust standard
    /// deviations (1.4826 × MAD) of ln(1 + volume).
    pub threshold: f64,
    /// The least scale, in ln units, so a constant baseline (MAD 0) does not alert on jitter:
    /// a constant volume alerts above exp(`threshold` × `min_scale`) times itself.
    pub min_scale: f64,
    /// Buckets with reads a series needs in its baseline before it alerts.
    pub min_history: u32,
    /// The length of a bucket (aligned on multiples of it since the Unix epoch, UTC).
    pub bucket: TimeDelta,
    /// The most buckets with reads a baseline holds (the latest ones).
    pub history: u32,
    /// How old, in buckets, a bucket may be and still count; a series with no read for this
    /// long is forgotten by [`Detector::prune`].
    pub max_age: u32,
    /// No alert on rows at or below this many rows in a bucket.
    pub floor_rows: u64,
    /// No alert on bytes at or below this many bytes in a bucket.
    pub floor_bytes: u64,
    /// No alert on the number of reads at or below this many reads in a bucket.
    pub floor_reads: u64,
    /// Rows, bytes and reads alert only above this factor times the highest bucket of the
    /// baseline: a principal that had such a day in its history is not unusual for having
    /// another.
    pub max_factor: f64,
    /// Sensitive rows alert above this factor times the highest bucket of them the series had.
    pub sensitive_factor: f64,
    /// No alert on sensitive rows at or below this many in a bucket.
    pub floor_sensitive_rows: u64,
}

impl Default for Sensitivity {
    /// Tuned on B13's generated traffic (seeds 1–12, not the reported one) for at most one
    /// false alert per 1,000 principal-days.
    fn default() -> Sensitivity {
        Sensitivity {
            // 4.5 robust deviations: 4 doubled the false alerts, 5 lost catches.
            threshold: 4.5,
            // A constant volume alerts above e^(4.5 × 0.5) ≈ 9.5 times itself: reruns (2x) and
            // a week's backfill (7x) of a batch job do not, a 20x dump does.
            min_scale: 0.5,
            // A weekly reporter has 5 buckets after a month; 4 added false alerts, 6 lost a
            // tenth of the catches.
            min_history: 5,
            bucket: TimeDelta::days(1),
            // About six weeks of an analyst's working days.
            history: 28,
            max_age: 90,
            floor_rows: 30_000,
            floor_bytes: 100_000_000,
            floor_reads: 50,
            max_factor: 3.0,
            sensitive_factor: 3.0,
            // Low: a principal that never read sensitive columns reading 5,000 rows of them is
            // worth a look (2,000 cost little more in B13).
            floor_sensitive_rows: 5_000,
        }
    }
}

impl Sensitivity {
    fn floor(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Rows => self.floor_rows,
            Measure::Bytes => self.floor_bytes,
            Measure::Reads => self.floor_reads,
            Measure::SensitiveRows => self.floor_sensitive_rows,
        }
    }
}

/// What triggered an alert, with the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub principal: Uuid,
    /// Some for a finding of a per-(principal, table) series, None for the principal's own.
    pub table: Option<String>,
    pub measure: Measure,
    /// The start of the current bucket.
    pub window_start: DateTime<Utc>,
    /// The time of the read that pushed the bucket over.
    pub at: DateTime<Utc>,
    /// The current bucket's running total.
    pub observed: f64,
    /// The median of the baseline's buckets.
    pub median: f64,
    /// The median absolute deviation of the baseline's buckets (of the volumes, for people;
    /// the threshold is computed on their logarithms).
    pub mad: f64,
    /// The highest bucket of the baseline (for sensitive rows: of the series ever).
    pub max: f64,
    /// The value above which it alerts.
    pub threshold: f64,
    /// The number of past buckets (with reads) in the baseline.
    pub history: u32,
}

impl Finding {
    /// One line for people, e.g. "rows today 1,200,000 vs median 3,000 (MAD 400) over 27
    /// active days; threshold 28,472", "rows of sales.orders.orders today …",
    /// "sensitive_rows today 6,000 where it never read sensitive columns in 10 active days;
    /// threshold 5,000". "today" is the current bucket.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{}", self.measure);
        if let Some(table) = &self.table {
            let _ = write!(out, " of {table}");
        }
        let _ = write!(out, " today {}", number(self.observed));
        if self.measure == Measure::SensitiveRows {
            if self.max > 0.0 {
                let _ = write!(
                    out,
                    " vs at most {} on any earlier day (median {} over {} active days)",
                    number(self.max),
                    number(self.median),
                    self.history
                );
            } else if self.history > 0 {
                let _ = write!(
                    out,
                    " where it never read sensitive columns in {} active days",
                    self.history
                );
            } else {
                out.push_str(", a first read");
            }
        } else {
            let _ = write!(
                out,
                " vs median {} (MAD {}) over {} active days",
                number(self.median),
                number(self.mad),
                self.history
            );
        }
        let _ = write!(out, "; threshold {}", number(self.threshold));
        out
    }
}

/// A number for people: thousands separated by commas, one decimal below 10 when it has one.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() < 10.0 && value.fract() != 0.0 {
        return format!("{value:.1}");
    }
    let rounded = format!("{:.0}", value.abs());
    let mut out = String::with_capacity(rounded.len() + rounded.len() / 3 + 1);
    if value < 0.0 && rounded != "0" {
        out.push('-');
    }
    let len = rounded.len();
    for (i, c) in rounded.chars().enumerate() {
        if i > 0 && (len - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One bucket's totals, by [`Measure::index`].
#[derive(Debug, Clone, Copy)]
struct Bucket {
    index: i64,
    totals: [u64; 4],
    /// Bit per measure: already alerted in this bucket.
    alerted: u8,
}

impl Bucket {
    fn new(index: i64) -> Bucket {
        Bucket {
            index,
            totals: [0; 4],
            alerted: 0,
        }
    }

    fn add(&mut self, read: &Read) {
        let sensitive = if read.sensitive { read.rows } else { 0 };
        for (total, value) in self
            .totals
            .iter_mut()
            .zip([read.rows, read.bytes, 1, sensitive])
        {
            *total = total.saturating_add(value);
        }
    }
}

/// What the current bucket of a series is compared with, per measure.
#[derive(Debug, Clone, Copy)]
struct Limit {
    median: f64,
    mad: f64,
    max: f64,
    threshold: f64,
}

/// One principal's (or principal and table's) buckets.
#[derive(Debug, Clone, Default)]
struct Series {
    /// Closed buckets with reads, oldest first, at most `history`.
    past: VecDeque<Bucket>,
    current: Option<Bucket>,
    /// The limits of the current bucket, from `past` when it opened.
    limits: [Option<Limit>; 4],
    /// The highest sensitive rows of a closed bucket, over the series' life.
    max_sensitive: u64,
}

impl Series {
    /// Adds `read` (in bucket `index`) to the series; true when it went to the current bucket,
    /// false for a late read (an earlier bucket), which never alerts. `owner` is the
    /// principal's own series when this one is a table's.
    fn add(&mut self, index: i64, read: &Read, s: &Tuned, owner: Option<&Series>) -> bool {
        match self.current {
            Some(ref mut current) if current.index == index => {
                current.add(read);
                true
            }
            Some(current) if current.index > index => {
                self.add_late(index, read, s);
                false
            }
            _ => {
                self.close(s.history);
                self.forget_before(index - s.max_age);
                let mut bucket = Bucket::new(index);
                bucket.add(read);
                self.current = Some(bucket);
                self.limits = self.baseline(s, owner);
                true
            }
        }
    }

    /// A read older than the current bucket: counted in its bucket (for later baselines) if
    /// that bucket is still recent enough to be held.
    fn add_late(&mut self, index: i64, read: &Read, s: &Tuned) {
        let newest = self.current.map_or(index, |c| c.index);
        if index < newest - s.max_age {
            return;
        }
        let at = self.past.partition_point(|b| b.index < index);
        match self.past.get_mut(at) {
            Some(bucket) if bucket.index == index => bucket.add(read),
            _ => {
                let mut bucket = Bucket::new(index);
                bucket.add(read);
                self.past.insert(at, bucket);
                if self.past.len() > s.history {
                    self.past.pop_front();
                }
            }
        }
        if let Some(bucket) = self.past.iter().find(|b| b.index == index) {
            self.max_sensitive = self.max_sensitive.max(bucket.totals[3]);
        }
    }

    /// Moves the current bucket into the baseline, which keeps the latest `history` buckets.
    fn close(&mut self, history: usize) {
        if let Some(current) = self.current.take() {
            self.max_sensitive = self.max_sensitive.max(current.totals[3]);
            self.past.push_back(current);
            while self.past.len() > history {
                self.past.pop_front();
            }
        }
        self.limits = [None; 4];
    }

    /// Drops the closed buckets with an index below `index`.
    fn forget_before(&mut self, index: i64) {
        while self.past.front().is_some_and(|b| b.index < index) {
            self.past.pop_front();
        }
    }

    fn history(&self) -> u32 {
        u32::try_from(self.past.len()).unwrap_or(u32::MAX)
    }

    /// The limits of a new current bucket, from the closed ones (the module documentation).
    fn baseline(&self, s: &Tuned, owner: Option<&Series>) -> [Option<Limit>; 4] {
        let t = &s.sensitivity;
        let mut limits = [None; 4];
        let n = self.past.len();
        let mut values = Vec::with_capacity(n);
        let mut scratch = Vec::with_capacity(n);
        if n >= s.min_history && n > 0 {
            for measure in [Measure::Rows, Measure::Bytes, Measure::Reads] {
                let i = measure.index();
                values.clear();
                values.extend(self.past.iter().map(|b| b.totals[i] as f64));
                let (median, mad, max) = robust(&mut values, &mut scratch);
                let threshold = log_threshold(&mut values, &mut scratch, t)
                    .max(t.max_factor * max)
                    .max(t.floor(measure) as f64);
                limits[i] = Some(Limit {
                    median,
                    mad,
                    max,
                    threshold,
                });
            }
        }
        // Sensitive rows: once the principal has the minimum history, whatever this series has.
        let principal = owner.unwrap_or(self);
        if principal.past.len() >= s.min_history {
            values.clear();
            values.extend(self.past.iter().map(|b| b.totals[3] as f64));
            let (median, mad, _) = robust(&mut values, &mut scratch);
            let max = self.max_sensitive as f64;
            // A table's first sensitive rows alert only above the most the principal ever read
            // in a bucket, so a principal that reads sensitive columns by habit can start on
            // another table; one that never did alerts above the floor.
            let mut threshold = (t.sensitive_factor * max)
                .max(t.floor_sensitive_rows as f64)
                .max(principal.max_sensitive as f64);
            // A series that reads sensitive columns by habit also needs to be unusual for itself,
            // over its buckets with sensitive rows, as rows are.
            values.clear();
            values.extend(
                self.past
                    .iter()
                    .map(|b| b.totals[3] as f64)
                    .filter(|v| *v > 0.0),
            );
            if values.len() >= s.min_history {
                values.sort_unstable_by(f64::total_cmp);
                threshold = threshold.max(log_threshold(&mut values, &mut scratch, t));
            }
            limits[Measure::SensitiveRows.index()] = Some(Limit {
                median,
                mad,
                max,
                threshold,
            });
        }
        limits
    }

    /// The findings of the current bucket after a read, each measure once per bucket.
    fn check(
        &mut self,
        principal: Uuid,
        table: Option<&str>,
        read: &Read,
        s: &Tuned,
        out: &mut Vec<Finding>,
    ) {
        let history = self.history();
        let Some(current) = self.current.as_mut() else {
            return;
        };
        for measure in Measure::ALL {
            let i = measure.index();
            let Some(limit) = self.limits[i] else {
                continue;
            };
            let bit = 1u8 << i;
            let observed = current.totals[i] as f64;
            if current.alerted & bit != 0 || observed <= limit.threshold {
                continue;
            }
            current.alerted |= bit;
            out.push(Finding {
                principal,
                table: table.map(str::to_string),
                measure: *measure,
                window_start: s.start(current.index).unwrap_or(read.at),
                at: read.at,
                observed,
                median: limit.median,
                mad: limit.mad,
                max: limit.max,
                threshold: limit.threshold,
                history,
            });
        }
    }

    fn is_empty(&self) -> bool {
        self.past.is_empty() && self.current.is_none()
    }

    fn buckets(&self) -> usize {
        self.past.len() + usize::from(self.current.is_some())
    }
}

/// The median, the median absolute deviation and the maximum of `values` (sorted in place);
/// zeros when empty.
fn robust(values: &mut [f64], scratch: &mut Vec<f64>) -> (f64, f64, f64) {
    values.sort_unstable_by(f64::total_cmp);
    let median = median_sorted(values);
    scratch.clear();
    scratch.extend(values.iter().map(|v| (v - median).abs()));
    scratch.sort_unstable_by(f64::total_cmp);
    let mad = median_sorted(scratch);
    let max = values.last().copied().unwrap_or(0.0);
    (median, mad, max)
}

/// exp(median + threshold × scale) − 1 over ln(1 + value) of `values` (sorted, as [`robust`]
/// leaves them; taken over in place), with scale = max(1.4826 × MAD, min_scale).
fn log_threshold(values: &mut [f64], scratch: &mut Vec<f64>, t: &Sensitivity) -> f64 {
    for v in values.iter_mut() {
        *v = v.ln_1p();
    }
    let (median, mad, _) = robust(values, scratch);
    let scale = (1.4826 * mad).max(t.min_scale);
    (median + t.threshold * scale).exp_m1()
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A principal's series: over all its reads, and per table or file product.
#[derive(Debug, Clone, Default)]
struct Principal {
    all: Series,
    tables: HashMap<String, Series>,
}

/// [`Sensitivity`] with its lengths as the detector uses them.
#[derive(Debug, Clone)]
struct Tuned {
    sensitivity: Sensitivity,
    bucket_secs: i64,
    history: usize,
    min_history: usize,
    max_age: i64,
}

impl Tuned {
    fn index(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.bucket_secs)
    }

    fn start(&self, index: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(index.checked_mul(self.bucket_secs)?, 0)
    }
}

/// The unusual-read detector: the baselines of every principal it has seen reading.
#[derive(Debug, Clone)]
pub struct Detector {
    tuned: Tuned,
    principals: HashMap<Uuid, Principal>,
}

impl Detector {
    /// A detector with no history. Lengths below their least sensible value are raised to it
    /// (a bucket of at least a second, a history and a maximum age of at least one bucket).
    pub fn new(s: Sensitivity) -> Detector {
        let bucket_secs = s.bucket.num_seconds().max(1);
        let history = usize::try_from(s.history.max(1)).unwrap_or(usize::MAX);
        let min_history = usize::try_from(s.min_history).unwrap_or(usize::MAX);
        let max_age = i64::from(s.max_age.max(1));
        Detector {
            tuned: Tuned {
                sensitivity: s,
                bucket_secs,
                history,
                min_history,
                max_age,
            },
            principals: HashMap::new(),
        }
    }

    /// The settings it runs with.
    pub fn sensitivity(&self) -> &Sensitivity {
        &self.tuned.sensitivity
    }

    /// Feeds one read (calls come in time order); returns the findings this read triggers.
    /// A principal (or principal+table) alerts at most once per measure per bucket: later
    /// reads in the same bucket that stay above do not repeat it. A read older than its
    /// series' current bucket (late in the log) is counted in the baseline but never alerts.
    pub fn observe(&mut self, read: &Read) -> Vec<Finding> {
        let s = &self.tuned;
        let index = s.index(read.at);
        let principal = self.principals.entry(read.principal).or_default();
        let mut out = Vec::new();
        if principal.all.add(index, read, s, None) {
            principal.all.check(read.principal, None, read, s, &mut out);
        }
        if let Some(table) = &read.table {
            let series = match principal.tables.get_mut(table.as_str()) {
                Some(series) => series,
                None => principal.tables.entry(table.clone()).or_default(),
            };
            if series.add(index, read, s, Some(&principal.all)) {
                series.check(read.principal, Some(table), read, s, &mut out);
            }
        }
        out
    }

    /// Forget buckets older than the history (memory stays bounded by principals x tables x
    /// history): closes buckets before `now`'s, drops those more than `max_age` buckets old,
    /// and forgets series (and principals) left with none.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let s = &self.tuned;
        let index = s.index(now);
        let oldest = index - s.max_age;
        let prune_series = |series: &mut Series| {
            if series.current.is_some_and(|c| c.index < index) {
                series.close(s.history);
            }
            series.forget_before(oldest);
        };
        self.principals.retain(|_, principal| {
            prune_series(&mut principal.all);
            principal.tables.retain(|_, series| {
                prune_series(series);
                !series.is_empty()
            });
            !principal.all.is_empty() || !principal.tables.is_empty()
        });
    }

    /// How many principals it holds baselines for.
    pub fn principals(&self) -> usize {
        self.principals.len()
    }

    /// How many buckets it holds, over all series: what its memory grows with.
    pub fn buckets(&self) -> usize {
        self.principals
            .values()
            .map(|p| p.all.buckets() + p.tables.values().map(Series::buckets).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(d: i64, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, hour, 0, 0).unwrap() + TimeDelta::days(d)
    }

    fn read(who: Uuid, d: i64, hour: u32, table: Option<&str>, rows: u64, sensitive: bool) -> Read {
        Read {
            at: day(d, hour),
            principal: who,
            table: table.map(str::to_string),
            rows,
            bytes: rows * 100,
            sensitive,
        }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn measures_have_stable_names() {
        let names: Vec<&str> = Measure::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names, ["rows", "bytes", "reads", "sensitive_rows"]);
        assert_eq!(
            "sensitive_rows".parse::<Measure>().unwrap(),
            Measure::SensitiveRows
        );
    }

    #[test]
    fn nothing_alerts_before_the_minimum_history() {
        let mut d = Detector::new(Sensitivity::default());
        let who = id(1);
        // The first read ever, however large, and then four ordinary days.
        assert!(
            d.observe(&read(who, 0, 9, None, 50_000_000, true))
                .is_empty()
        );
        for n in 1..5 {
            assert!(d.observe(&read(who, n, 9, None, 1_000, false)).is_empty());
        }
        // Five buckets in the baseline now, but the fifth is today's.
        assert!(
            d.observe(&read(who, 5, 9, None, 50_000_000, true))
                .is_empty()
        );
        // Six days of history: now it does.
        let found = d.observe(&read(who, 6, 9, None, 500_000_000, false));
        assert!(
            found.iter().any(|f| f.measure == Measure::Rows),
            "{found:?}"
        );
    }

    /// 27 days of 2,200 to 3,800 rows (median 3,000, MAD 400), then 1,200,000 rows.
    fn spike() -> (Vec<Finding>, Detector) {
        let s = Sensitivity {
            floor_rows: 1_000,
            ..Sensitivity::default()
        };
        let mut d = Detector::new(s);
        let who = id(2);
        for n in 0..27 {
            let rows = [2_200, 2_600, 3_000, 3_400, 3_800][n as usize % 5];
            assert!(d.observe(&read(who, n, 10, None, rows, false)).is_empty());
        }
        assert!(d.observe(&read(who, 27, 8, None, 20_000, false)).is_empty());
        let found = d.observe(&read(who, 27, 9, None, 1_180_000, false));
        (found, d)
    }

    #[test]
    fn a_spike_alerts_with_its_numbers() {
        let (found, _) = spike();
        let rows = found.iter().find(|f| f.measure == Measure::Rows).unwrap();
        assert_eq!(rows.principal, id(2));
        assert_eq!(rows.table, None);
        assert_eq!(rows.window_start, day(27, 0));
        assert_eq!(rows.at, day(27, 9));
        assert_eq!(rows.observed, 1_200_000.0);
        assert_eq!(rows.median, 3_000.0);
        assert_eq!(rows.mad, 400.0);
        assert_eq!(rows.max, 3_800.0);
        assert_eq!(rows.history, 27);
        // The log MAD (0.143) is below min_scale, so the scale is 0.5.
        let expected = (3_001f64.ln() + 4.5 * 0.5).exp_m1();
        assert!(
            (rows.threshold - expected).abs() < 1e-6,
            "{}",
            rows.threshold
        );
        assert_eq!(
            rows.summary(),
            "rows today 1,200,000 vs median 3,000 (MAD 400) over 27 active days; threshold 28,472"
        );
        // Bytes follow the rows; the number of reads (2) stays below its floor.
        assert!(found.iter().any(|f| f.measure == Measure::Bytes));
        assert!(found.iter().all(|f| f.measure != Measure::Reads));
    }

    #[test]
    fn a_series_alerts_once_per_measure_per_bucket() {
        let (found, mut d) = spike();
        assert_eq!(
            found.iter().filter(|f| f.measure == Measure::Rows).count(),
            1
        );
        let who = id(2);
        // Still above, same day: nothing more on rows or bytes.
        assert!(
            d.observe(&read(who, 27, 11, None, 5_000_000, false))
                .is_empty()
        );
        // Another measure of the same bucket still alerts, once: the 51st read of the day goes
        // above the reads floor (50).
        let mut reads = Vec::new();
        for _ in 0..60 {
            reads.extend(d.observe(&read(who, 27, 12, None, 1, false)));
        }
        assert_eq!(reads.len(), 1, "{reads:?}");
        assert_eq!(reads[0].measure, Measure::Reads);
        assert_eq!(reads[0].observed, 51.0);
        // The next bucket starts afresh (its baseline now holds the spike, so it takes more).
        let next = d.observe(&read(who, 28, 9, None, 100_000_000, false));
        assert!(next.iter().any(|f| f.measure == Measure::Rows), "{next:?}");
    }

    #[test]
    fn a_table_series_alerts_besides_the_principal() {
        let mut d = Detector::new(Sensitivity::default());
        let who = id(3);
        for n in 0..10 {
            d.observe(&read(who, n, 9, Some("sales.orders.orders"), 40_000, false));
            d.observe(&read(
                who,
                n,
                10,
                Some("ops.inventory.stock"),
                40_000,
                false,
            ));
        }
        // 2,000,000 rows of stock: the stock series and the principal's both alert.
        let found = d.observe(&read(
            who,
            10,
            9,
            Some("ops.inventory.stock"),
            2_000_000,
            false,
        ));
        let rows: Vec<&Finding> = found
            .iter()
            .filter(|f| f.measure == Measure::Rows)
            .collect();
        assert_eq!(rows.len(), 2, "{found:?}");
        assert_eq!(rows[0].table, None);
        assert_eq!(rows[0].median, 80_000.0);
        assert_eq!(
            rows[1].summary(),
            "rows of ops.inventory.stock today 2,000,000 vs median 40,000 (MAD 0) over 10 active \
             days; threshold 379,518"
        );
    }

    #[test]
    fn sensitive_rows_never_seen_alert() {
        let mut d = Detector::new(Sensitivity::default());
        let never = id(4);
        let habit = id(5);
        for n in 0..10 {
            d.observe(&read(
                never,
                n,
                9,
                Some("sales.orders.orders"),
                20_000,
                false,
            ));
            d.observe(&read(
                habit,
                n,
                9,
                Some("sales.customers.customers"),
                10_000,
                true,
            ));
        }
        // Below the floor: nothing.
        assert!(
            d.observe(&read(
                never,
                10,
                9,
                Some("hr.people.employees"),
                4_000,
                true
            ))
            .is_empty()
        );
        // Above it: the principal's series and the table's.
        let found = d.observe(&read(
            never,
            10,
            10,
            Some("hr.people.employees"),
            2_000,
            true,
        ));
        let sensitive: Vec<&Finding> = found
            .iter()
            .filter(|f| f.measure == Measure::SensitiveRows)
            .collect();
        assert_eq!(sensitive.len(), 2, "{found:?}");
        assert_eq!(sensitive[0].observed, 6_000.0);
        assert_eq!(sensitive[0].threshold, 5_000.0);
        assert_eq!(
            sensitive[0].summary(),
            "sensitive_rows today 6,000 where it never read sensitive columns in 10 active days; \
             threshold 5,000"
        );
        assert_eq!(
            sensitive[1].summary(),
            "sensitive_rows of hr.people.employees today 6,000, a first read; threshold 5,000"
        );
        // The habitual reader: a little more than usual, and another table below its own
        // highest day, say nothing.
        assert!(
            d.observe(&read(
                habit,
                10,
                9,
                Some("sales.customers.customers"),
                12_000,
                true
            ))
            .is_empty()
        );
        assert!(
            d.observe(&read(
                habit,
                11,
                9,
                Some("hr.people.employees"),
                9_000,
                true
            ))
            .is_empty()
        );
        // It reads sensitive columns by habit, so it takes both three times its highest day
        // (36,000) and being unusual for itself: 4.5 robust deviations over its days with
        // sensitive rows, all near 10,000, so the least scale (0.5), about 9.5 times 10,000.
        let found = d.observe(&read(
            habit,
            12,
            9,
            Some("sales.customers.customers"),
            100_000,
            true,
        ));
        let s = found
            .iter()
            .find(|f| f.measure == Measure::SensitiveRows && f.table.is_none())
            .unwrap();
        assert_eq!(s.max, 12_000.0);
        let expected = (10_001f64.ln() + 4.5 * 0.5).exp_m1();
        assert!((s.threshold - expected).abs() < 1e-6, "{}", s.threshold);
        assert_eq!(
            s.summary(),
            "sensitive_rows today 100,000 vs at most 12,000 on any earlier day (median 10,000 over \
             12 active days); threshold 94,886"
        );
    }

    /// A batch job that read 1,000,000 rows every day for 28 days, then `rows`.
    fn constant(rows: u64) -> Vec<Finding> {
        let mut d = Detector::new(Sensitivity::default());
        let job = id(6);
        for n in 0..28 {
            let found = d.observe(&read(
                job,
                n,
                3,
                Some("sales.orders.orders"),
                1_000_000,
                false,
            ));
            assert!(found.is_empty());
        }
        d.observe(&read(job, 28, 3, Some("sales.orders.orders"), rows, false))
    }

    #[test]
    fn a_constant_baseline_does_not_alert_on_jitter() {
        // MAD 0: 10 % more, a rerun (twice) and a week's backfill (7x) stay quiet.
        for rows in [1_100_000, 2_000_000, 7_000_000] {
            let found = constant(rows);
            assert!(found.is_empty(), "{rows}: {found:?}");
        }
        // 20 times is a finding, from both series.
        let found = constant(20_000_000);
        let rows: Vec<&Finding> = found
            .iter()
            .filter(|f| f.measure == Measure::Rows)
            .collect();
        assert_eq!(rows.len(), 2, "{found:?}");
        assert!(rows.iter().all(|f| f.mad == 0.0 && f.median == 1_000_000.0));
    }

    #[test]
    fn quiet_days_do_not_count_as_zeros() {
        let mut d = Detector::new(Sensitivity::default());
        let weekly = id(7);
        // A weekly reader: 40,000 rows every seventh day, nothing in between.
        for week in 0..8 {
            assert!(
                d.observe(&read(weekly, week * 7, 9, None, 40_000, false))
                    .is_empty()
            );
        }
        let found = d.observe(&read(weekly, 56, 9, None, 45_000, false));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_late_read_counts_but_never_alerts() {
        let mut d = Detector::new(Sensitivity::default());
        let who = id(8);
        for n in 0..10 {
            d.observe(&read(who, n, 9, None, 1_000, false));
        }
        assert!(d.observe(&read(who, 10, 9, None, 1_000, false)).is_empty());
        // Yesterday's read arrives after today's: no finding, however large.
        assert!(
            d.observe(&read(who, 9, 23, None, 900_000_000, true))
                .is_empty()
        );
        assert!(
            d.observe(&read(who, 3, 23, None, 900_000_000, true))
                .is_empty()
        );
    }

    #[test]
    fn prune_bounds_memory() {
        let s = Sensitivity::default();
        let (history, max_age) = (s.history as usize, i64::from(s.max_age));
        let mut d = Detector::new(s);
        let tables = ["a.b.one", "a.b.two", "a.b.three"];
        for n in 0..200 {
            for p in 0..20 {
                for t in tables {
                    d.observe(&read(id(100 + p), n, 9, Some(t), 1_000, false));
                }
            }
            d.prune(day(n, 23));
        }
        assert_eq!(d.principals(), 20);
        // Per principal: its own series and three tables, each `history` closed buckets and
        // today's, after 200 days.
        assert_eq!(d.buckets(), 20 * 4 * (history + 1));
        // Half go quiet; once their last read is older than max_age buckets, they are gone.
        for p in 0..10 {
            d.observe(&read(id(100 + p), 200, 9, Some("a.b.one"), 1_000, false));
        }
        d.prune(day(200 + max_age, 12));
        assert_eq!(d.principals(), 10);
        d.prune(day(201 + max_age, 12));
        assert_eq!(d.principals(), 0);
        assert_eq!(d.buckets(), 0);
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(1_000.0), "1,000");
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(-12_345.0), "-12,345");
    }
}
