//! Tests of the unusual-read detector.

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
