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
mod tests;
