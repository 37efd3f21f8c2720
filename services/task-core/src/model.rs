//! The task model: what a client asks for ([`TaskSpec`]), what travels on the queue
//! ([`TaskMessage`]) and what the store keeps ([`Task`]).
//!
//! Values are closed enums, so a task that parsed is a task that can run, and metric labels built
//! from them stay bounded.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::queue::TraceId;

/// What a task burns: CPU time or memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cpu,
    Ram,
}

/// How hard a task works (threads for cpu, megabytes for ram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Intensity {
    Light,
    Average,
    Intense,
}

/// Where a task is in its life.
///
/// `queued -> running -> succeeded`; a failed attempt goes to `retrying` (the message is back on
/// the queue) and then `running` again, until the receive limit moves the message to the
/// dead-letter queue: `dead_lettered`. A redrive makes a dead-lettered task `queued` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Retrying,
    Succeeded,
    DeadLettered,
}

macro_rules! str_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in a stable order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire name, as in JSON and metric labels.
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}`; expected one of: {}",
                        $what,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}

str_enum!(Kind, "kind", { Cpu => "cpu", Ram => "ram" });
str_enum!(Intensity, "intensity", { Light => "light", Average => "average", Intense => "intense" });
str_enum!(Status, "status", {
    Queued => "queued",
    Running => "running",
    Retrying => "retrying",
    Succeeded => "succeeded",
    DeadLettered => "dead_lettered",
});

impl Status {
    /// A task in a terminal status does not change again (except a dead-lettered task that an
    /// operator redrives).
    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::DeadLettered)
    }
}

/// A client input that cannot become a task; `field` names the offending JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a client asks for: a validated kind, intensity and failure chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskSpec {
    pub kind: Kind,
    pub intensity: Intensity,
    /// The chance, in percent, that each attempt fails.
    #[schema(maximum = 100)]
    pub fail_percent: u8,
}

impl TaskSpec {
    /// # Errors
    /// [`ValidationError`] on `fail_percent` when it is above 100.
    pub fn new(
        kind: Kind,
        intensity: Intensity,
        fail_percent: u8,
    ) -> Result<Self, ValidationError> {
        if fail_percent > 100 {
            return Err(ValidationError::new(
                "fail_percent",
                format!("must be between 0 and 100, got {fail_percent}"),
            ));
        }
        Ok(Self {
            kind,
            intensity,
            fail_percent,
        })
    }
}

/// The body of a queue message: the task id and its spec. Everything else lives in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMessage {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: TaskSpec,
}

impl TaskMessage {
    pub fn to_body(&self) -> String {
        // Serialising plain enums and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// # Errors
    /// The message body is not a task (a poison message); the caller dead-letters it.
    pub fn from_body(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// A point in time, kept as Unix milliseconds and shown as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, utoipa::ToSchema)]
#[serde(from = "i64")]
#[schema(value_type = String, format = DateTime)]
pub struct Millis(pub i64);

impl From<i64> for Millis {
    fn from(ms: i64) -> Self {
        Millis(ms)
    }
}

impl Millis {
    pub fn now() -> Self {
        Millis(crate::clock::now_ms())
    }

    /// The RFC 3339 form in UTC, with the milliseconds but no trailing zeros
    /// (`2026-12-01T22:14:05.12Z`), written into `buf`; empty outside the years 0-9999, which the
    /// format cannot show. Every task in every response shows two of these: going through the
    /// `time` crate (a date-time value, a formatter, a new `String`) cost ~0.5 us per accepted
    /// request in a profile of the API.
    fn write_rfc3339(self, buf: &mut [u8; RFC3339_LEN]) -> &str {
        let (days, ms_of_day) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return "";
        }
        let (secs, ms) = (ms_of_day / 1000, ms_of_day % 1000);
        let mut at = 0;
        let mut put = |digits: usize, value: i64, then: u8| {
            for i in (0..digits).rev() {
                buf[at + i] = b'0' + (value / 10_i64.pow((digits - 1 - i) as u32) % 10) as u8;
            }
            at += digits;
            buf[at] = then;
            at += 1;
        };
        put(4, year, b'-');
        put(2, month, b'-');
        put(2, day, b'T');
        put(2, secs / 3600, b':');
        put(2, secs / 60 % 60, b':');
        let len = if ms == 0 {
            put(2, secs % 60, b'Z');
            20
        } else {
            put(2, secs % 60, b'.');
            let digits = if ms % 100 == 0 {
                1
            } else if ms % 10 == 0 {
                2
            } else {
                3
            };
            put(digits, ms / 10_i64.pow(3 - digits as u32), b'Z');
            21 + digits
        };
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&buf[..len]).unwrap_or_default()
    }
}

/// The longest RFC 3339 form [`Millis`] writes: `9999-12-31T23:59:59.999Z`.
const RFC3339_LEN: usize = 24;

/// Year, month and day of the proleptic Gregorian calendar for days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, which counts in 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The RFC 3339 form (see [`Millis::write_rfc3339`]).
impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0; RFC3339_LEN];
        f.write_str(self.write_rfc3339(&mut buf))
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RFC3339_LEN];
        s.serialize_str(self.write_rfc3339(&mut buf))
    }
}

/// Everything the store keeps about one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: Uuid,
    #[serde(flatten)]
    #[schema(inline)]
    pub spec: TaskSpec,
    pub status: Status,
    /// Attempts started so far (a redelivered message counts again: it ran again).
    pub attempts: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Duration of the last attempt, in milliseconds.
    pub duration_ms: Option<u64>,
    pub last_error: Option<String>,
    pub runner_id: Option<String>,
    /// The trace this task's spans belong to (32 hex digits).
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{32}$")]
    pub trace_id: Option<TraceId>,
}

impl Task {
    /// A new task, queued now, with a fresh id. Version 7 UUIDs start with the time, so new ids
    /// land at the end of the store's id index instead of on a random page of it: with a random
    /// v4 id every insert into a large table touched (and wrote back) a different index page.
    /// The random part comes from the thread's generator (`Uuid::now_v7` makes a `getrandom`
    /// system call per id).
    pub fn new(spec: TaskSpec, trace_id: Option<TraceId>) -> Self {
        let now = Millis::now();
        let millis = u64::try_from(now.0).unwrap_or_default();
        Self {
            id: uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid(),
            spec,
            status: Status::Queued,
            attempts: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            last_error: None,
            runner_id: None,
            trace_id,
        }
    }

    pub fn message(&self) -> TaskMessage {
        TaskMessage {
            id: self.id,
            spec: self.spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_wire_names() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), *k);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn unknown_values_name_the_valid_ones() {
        let err = "gpu".parse::<Kind>().unwrap_err();
        assert!(err.contains("cpu, ram"), "{err}");
    }

    #[test]
    fn fail_percent_above_100_names_the_field() {
        let err = TaskSpec::new(Kind::Cpu, Intensity::Light, 101).unwrap_err();
        assert_eq!(err.field, "fail_percent");
    }

    #[test]
    fn message_body_round_trips() {
        let m = TaskMessage {
            id: Uuid::new_v4(),
            spec: TaskSpec::new(Kind::Ram, Intensity::Intense, 30).unwrap(),
        };
        assert_eq!(TaskMessage::from_body(&m.to_body()).unwrap(), m);
    }

    #[test]
    fn new_task_ids_are_version_7_and_carry_their_creation_time() {
        let spec = TaskSpec::new(Kind::Cpu, Intensity::Light, 0).unwrap();
        let (a, b) = (Task::new(spec, None), Task::new(spec, None));
        assert_eq!(a.id.get_version(), Some(uuid::Version::SortRand));
        assert_ne!(a.id, b.id);
        let (secs, nanos) = a.id.get_timestamp().expect("v7 timestamp").to_unix();
        let millis = secs as i64 * 1000 + i64::from(nanos / 1_000_000);
        assert_eq!(millis, a.created_at.0);
    }

    #[test]
    fn millis_formats_as_rfc3339() {
        assert_eq!(Millis(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Millis(1_500).to_string(), "1970-01-01T00:00:01.5Z");
        assert_eq!(
            serde_json::to_string(&Millis(1_796_163_245_120)).unwrap(),
            "\"2026-12-01T22:14:05.12Z\""
        );
    }

    /// The `time` crate's RFC 3339 formatting is the reference: leap days, century years, the
    /// ends of the range the format can show, and a spread of instants between them.
    #[test]
    fn millis_format_matches_the_time_crate() {
        let reference = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        let day = 86_400_000;
        let edges = [
            -62_167_219_200_000,     // 0000-01-01T00:00:00Z
            -62_167_219_200_001,     // the millisecond before: year -1
            253_402_300_799_999,     // 9999-12-31T23:59:59.999Z
            253_402_300_800_000,     // year 10000
            951_782_400_000,         // 2000-02-29 (a leap day of a century year)
            4_107_542_400_000 - day, // 2100-02-28 (2100 is no leap year)
            -1,
            1,
            10,
            100,
            999,
        ];
        let spread = (0..20_000_i64).map(|i| -62_167_219_200_000 + i * 15_854_673_731 + i % 1000);
        for ms in edges.into_iter().chain(spread) {
            assert_eq!(Millis(ms).to_string(), reference(ms), "at {ms} ms");
        }
    }
}
