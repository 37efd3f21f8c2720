//! DORA performance levels from the 2024 Accelerate State of DevOps report's clusters. The
//! reading of each threshold is written down in docs/dora.md.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low = 1,
    Medium = 2,
    High = 3,
    Elite = 4,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Elite => "elite",
        }
    }
}

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;
const WEEK: f64 = 7.0 * DAY;
const MONTH: f64 = 30.0 * DAY;

/// Elite: on demand (at least daily); high: at least weekly; medium: at least monthly.
pub fn deployment_frequency(per_day: f64) -> Level {
    if per_day >= 1.0 {
        Level::Elite
    } else if per_day >= 1.0 / 7.0 {
        Level::High
    } else if per_day >= 1.0 / 30.0 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// Elite: under a day; high: under a week; medium: under a month.
pub fn lead_time(seconds: f64) -> Level {
    under(seconds, DAY, WEEK, MONTH)
}

/// Elite: at most 5 %; high: at most 20 %; medium: under 40 %; low: 40 % and more.
pub fn change_failure_rate(ratio: f64) -> Level {
    if ratio <= 0.05 {
        Level::Elite
    } else if ratio <= 0.20 {
        Level::High
    } else if ratio < 0.40 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// Elite: under an hour; high: under a day; medium: under a week.
pub fn recovery_time(seconds: f64) -> Level {
    under(seconds, HOUR, DAY, WEEK)
}

fn under(value: f64, elite: f64, high: f64, medium: f64) -> Level {
    if value < elite {
        Level::Elite
    } else if value < high {
        Level::High
    } else if value < medium {
        Level::Medium
    } else {
        Level::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_fall_where_the_report_puts_them() {
        assert_eq!(deployment_frequency(1.0), Level::Elite);
        assert_eq!(deployment_frequency(0.99), Level::High);
        assert_eq!(deployment_frequency(1.0 / 7.0), Level::High);
        assert_eq!(deployment_frequency(1.0 / 8.0), Level::Medium);
        assert_eq!(deployment_frequency(1.0 / 31.0), Level::Low);
        assert_eq!(lead_time(DAY - 1.0), Level::Elite);
        assert_eq!(lead_time(DAY), Level::High);
        assert_eq!(lead_time(MONTH), Level::Low);
        assert_eq!(change_failure_rate(0.05), Level::Elite);
        assert_eq!(change_failure_rate(0.2), Level::High);
        assert_eq!(change_failure_rate(0.39), Level::Medium);
        assert_eq!(change_failure_rate(0.4), Level::Low);
        assert_eq!(recovery_time(HOUR - 1.0), Level::Elite);
        assert_eq!(recovery_time(6.0 * DAY), Level::Medium);
        assert_eq!(recovery_time(WEEK), Level::Low);
    }
}
