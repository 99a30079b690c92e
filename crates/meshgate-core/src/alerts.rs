//! Unusual-read alerts as the mesh keeps them (docs/design/AUDIT.md §Unusual reads): an
//! [`Alert`] is what the detector ([`crate::anomaly`]) found about one read, with the numbers;
//! [`AlertSettings`] are the mesh's tuning of the detector and its response; a [`Suspension`]
//! is a principal whose every token and credential is refused until an admin lifts it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::anomaly::{Finding, Sensitivity};
use crate::lifecycle::string_enum;
use crate::{Error, Result};

string_enum!(
    /// What the mesh does when the detector finds an unusual read: tell (`alert`, the
    /// default), or also suspend the principal (`suspend`).
    AlertResponse {
        Alert => "alert",
        Suspend => "suspend",
    }
);

string_enum!(
    /// Whether someone has looked at an alert.
    AlertStatus {
        Open => "open",
        Acknowledged => "acknowledged",
    }
);

/// One unusual read: who read, what, and every finding the read triggered (a read can push
/// the principal's day and its day on one table over, on rows and bytes alike).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: Uuid,
    /// Who read.
    pub principal_id: Uuid,
    /// The read's audit action (`query.run`, `rows.list`, `sharing.download`,
    /// `file.download`, …) and its position in the audit chain.
    pub read_action: String,
    pub read_pos: i64,
    /// The tables (`domain.product.table`) or file products (`domain.product`) the read
    /// touched.
    pub tables: Vec<String>,
    pub findings: Vec<Finding>,
    /// The findings for people, one line each.
    pub summary: String,
    /// What was done: `suspend` only when the principal was suspended by this alert.
    pub response: AlertResponse,
    pub status: AlertStatus,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub acknowledged_by: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// What the admin who acknowledged it wrote.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A principal refused on every surface (API tokens, credentials, recipient tokens, signed
/// URLs, sign-in) until an admin lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suspension {
    pub principal_id: Uuid,
    /// The alert that suspended it.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub alert_id: Option<Uuid>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The mesh's tuning of the detector and its response, kept in the store and changed with
/// `PATCH /audit/alert-settings` (`meshgate alerts tune`). A field left out keeps its value;
/// the defaults are [`Sensitivity::default`]'s, tuned on benchmark B13.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Whether the detector runs at all.
    pub enabled: bool,
    pub response: AlertResponse,
    /// Robust standard deviations of ln(1 + volume) above the median before a day alerts.
    pub threshold: f64,
    /// The least scale in ln units (a constant volume alerts above e^(threshold × this)).
    pub min_scale: f64,
    /// Days with reads a baseline needs before it alerts.
    pub min_history: u32,
    /// The length of a baseline's bucket in seconds (a day by default).
    pub bucket_secs: u64,
    /// The most buckets with reads a baseline holds.
    pub history: u32,
    /// How many buckets back a baseline reaches, and how far back the detector re-reads the
    /// log when it starts.
    pub max_age: u32,
    pub floor_rows: u64,
    pub floor_bytes: u64,
    pub floor_reads: u64,
    /// Rows, bytes and reads alert only above this factor times the highest bucket of the
    /// baseline.
    pub max_factor: f64,
    pub sensitive_factor: f64,
    pub floor_sensitive_rows: u64,
}

impl Default for AlertSettings {
    fn default() -> AlertSettings {
        AlertSettings::from_sensitivity(&Sensitivity::default(), AlertResponse::Alert)
    }
}

impl AlertSettings {
    fn from_sensitivity(s: &Sensitivity, response: AlertResponse) -> AlertSettings {
        AlertSettings {
            enabled: true,
            response,
            threshold: s.threshold,
            min_scale: s.min_scale,
            min_history: s.min_history,
            bucket_secs: u64::try_from(s.bucket.num_seconds()).unwrap_or(86_400),
            history: s.history,
            max_age: s.max_age,
            floor_rows: s.floor_rows,
            floor_bytes: s.floor_bytes,
            floor_reads: s.floor_reads,
            max_factor: s.max_factor,
            sensitive_factor: s.sensitive_factor,
            floor_sensitive_rows: s.floor_sensitive_rows,
        }
    }

    /// The detector's settings.
    pub fn sensitivity(&self) -> Sensitivity {
        Sensitivity {
            threshold: self.threshold,
            min_scale: self.min_scale,
            min_history: self.min_history,
            bucket: TimeDelta::seconds(i64::try_from(self.bucket_secs).unwrap_or(86_400)),
            history: self.history,
            max_age: self.max_age,
            floor_rows: self.floor_rows,
            floor_bytes: self.floor_bytes,
            floor_reads: self.floor_reads,
            max_factor: self.max_factor,
            sensitive_factor: self.sensitive_factor,
            floor_sensitive_rows: self.floor_sensitive_rows,
        }
    }

    /// How far back the baselines reach: what the detector re-reads when it starts.
    pub fn horizon(&self) -> TimeDelta {
        TimeDelta::seconds(
            i64::try_from(self.bucket_secs.saturating_mul(u64::from(self.max_age) + 1))
                .unwrap_or(i64::MAX / 2),
        )
    }

    /// Refuses settings the detector cannot run with sensibly; says which field and why.
    pub fn check(&self) -> Result<()> {
        let finite_positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "`{name}` must be a number above 0 (got {v})"
                )))
            }
        };
        finite_positive("threshold", self.threshold)?;
        finite_positive("min_scale", self.min_scale)?;
        finite_positive("max_factor", self.max_factor)?;
        finite_positive("sensitive_factor", self.sensitive_factor)?;
        if !(1..=31_622_400).contains(&self.bucket_secs) {
            return Err(Error::invalid(
                "`bucket_secs` must be between 1 and 31622400 (a year)",
            ));
        }
        if self.history == 0 || self.history > 1_000 {
            return Err(Error::invalid("`history` must be between 1 and 1000"));
        }
        if self.max_age == 0 || self.max_age > 3_660 {
            return Err(Error::invalid("`max_age` must be between 1 and 3660"));
        }
        if self.min_history > self.history {
            return Err(Error::invalid(format!(
                "`min_history` ({}) cannot be above `history` ({}): no baseline would ever alert",
                self.min_history, self.history
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_detectors_and_round_trip() {
        let s = AlertSettings::default();
        assert_eq!(s.sensitivity(), Sensitivity::default());
        assert_eq!(s.response, AlertResponse::Alert);
        assert!(s.enabled);
        s.check().unwrap();
        // A partial document keeps the rest at their defaults.
        let partial: AlertSettings =
            serde_json::from_str(r#"{"response": "suspend", "threshold": 6}"#).unwrap();
        assert_eq!(partial.response, AlertResponse::Suspend);
        assert_eq!(partial.threshold, 6.0);
        assert_eq!(partial.floor_rows, s.floor_rows);
        assert!(serde_json::from_str::<AlertSettings>(r#"{"treshold": 6}"#).is_err());
    }

    #[test]
    fn settings_that_cannot_run_are_named() {
        let bad = |f: fn(&mut AlertSettings)| {
            let mut s = AlertSettings::default();
            f(&mut s);
            s.check().unwrap_err().to_string()
        };
        assert!(bad(|s| s.threshold = 0.0).contains("threshold"));
        assert!(bad(|s| s.threshold = f64::NAN).contains("threshold"));
        assert!(bad(|s| s.bucket_secs = 0).contains("bucket_secs"));
        assert!(bad(|s| s.min_history = 40).contains("min_history"));
        assert!(bad(|s| s.history = 0).contains("history"));
    }
}
