//! When `spec.run.schedule` fires: Kubernetes CronJob semantics as a pure
//! function of `now`.
//!
//! The schedule is a 5-field cron expression (minute hour day-of-month month
//! day-of-week; names such as `MON` and `JAN`, ranges, lists, `*/n`, and the
//! macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
//! `@midnight`, `@hourly`), evaluated on the wall clock of `spec.run.timeZone`.
//! When both day fields are restricted a day matching either one fires, as in
//! Vixie cron and CronJob.
//!
//! Daylight saving time follows Vixie cron (what `croner` implements):
//! - a time the clock skips (spring forward) runs once, at the first instant
//!   after the gap, if the schedule names one minute and one hour (`30 2 * * *`
//!   runs at 03:00); schedules with a wildcard, range, list or step in the
//!   minute or hour simply have no run in the gap;
//! - a time the clock repeats (fall back) runs once, at the earlier instant,
//!   for a one-minute-one-hour schedule; other schedules run at every real
//!   instant they match, so `0 * * * *` keeps firing every real hour.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Without a last schedule time or a creation time, only a time this close
/// to `now` fires (CronJob's behaviour for a fresh object).
const FRESH_WINDOW: SignedDuration = SignedDuration::from_mins(1);

const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// What the controller does with the schedule at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The scheduled time to run now: the latest one in `(last, now]`,
    /// unless it is older than `startingDeadlineSeconds`.
    pub due: Option<Timestamp>,
    /// The first scheduled time strictly after `now`.
    pub next: Option<Timestamp>,
}

/// Why a schedule cannot be evaluated. Messages are written to follow
/// `"spec.run.schedule: "`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{cron:?} has {fields} fields; a schedule has 5 (minute hour day-of-month month day-of-week){hint}", hint = if *fields > 5 { ", seconds and years are not supported" } else { "" })]
    FieldCount { cron: String, fields: usize },
    #[error("{0:?}: a time zone cannot be set in the schedule, use spec.run.timeZone")]
    TimeZoneInSchedule(String),
    #[error(
        "{0:?} is not a supported macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
    )]
    UnknownMacro(String),
    #[error("{cron:?} is not a valid cron expression: {reason}")]
    InvalidCron { cron: String, reason: String },
    #[error("{0:?} matches no date (such as 30 February), so it never runs")]
    NeverFires(String),
    #[error(
        "unknown time zone {0:?} in spec.run.timeZone: use an IANA name such as \"UTC\" or \"Europe/Berlin\""
    )]
    UnknownTimeZone(String),
}

/// Checks that `cron` parses as a 5-field schedule that fires at least once
/// and that `time_zone` is a known IANA zone.
pub fn validate(cron: &str, time_zone: &str) -> Result<(), ScheduleError> {
    let schedule = Schedule::parse(cron, time_zone)?;
    schedule.check_fires(cron)
}

/// Decides whether a scheduled run is due at `now`, like a CronJob.
///
/// `last_schedule_time` is the latest scheduled time already handled (RFC
/// 3339, from the status; unparsable counts as absent). Without it the
/// object's `created` time is the lower bound, and without both only a time
/// within the last minute fires. At most one run is due after downtime: the
/// latest scheduled time, unless `now` is more than
/// `starting_deadline_seconds` past it.
pub fn decide(
    cron: &str,
    time_zone: &str,
    last_schedule_time: Option<&str>,
    created: Option<Timestamp>,
    starting_deadline_seconds: Option<i64>,
    now: Timestamp,
) -> Result<Decision, ScheduleError> {
    let schedule = Schedule::parse(cron, time_zone)?;
    let next = schedule.first_after(now);
    let last = last_schedule_time.and_then(|t| t.parse::<Timestamp>().ok());
    let lower = last
        .or(created)
        .unwrap_or_else(|| now.checked_sub(FRESH_WINDOW).unwrap_or(Timestamp::MIN));

    let Some(latest) = schedule.latest_at_or_before(now).filter(|t| *t > lower) else {
        if next.is_none() {
            // Rare: either the expression never fires or `now` is outside the
            // years the cron crate searches; only the first is the user's error.
            schedule.check_fires(cron)?;
        }
        return Ok(Decision { due: None, next });
    };

    // CronJob starts a run exactly at the deadline; only later is too late.
    let too_late = starting_deadline_seconds
        .is_some_and(|d| now.duration_since(latest) > SignedDuration::from_secs(d));
    Ok(Decision {
        due: (!too_late).then_some(latest),
        next,
    })
}

/// A parsed expression and the zone whose wall clock it reads.
struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

impl Schedule {
    fn parse(cron: &str, time_zone: &str) -> Result<Self, ScheduleError> {
        let trimmed = cron.trim();
        let upper = trimmed.to_ascii_uppercase();
        if upper.starts_with("TZ=") || upper.starts_with("CRON_TZ=") {
            return Err(ScheduleError::TimeZoneInSchedule(cron.to_string()));
        }
        let expression = if trimmed.starts_with('@') {
            MACROS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(trimmed))
                .map(|(_, expression)| *expression)
                .ok_or_else(|| ScheduleError::UnknownMacro(cron.to_string()))?
        } else {
            let fields = trimmed.split_whitespace().count();
            if fields != 5 {
                return Err(ScheduleError::FieldCount {
                    cron: cron.to_string(),
                    fields,
                });
            }
            trimmed
        };
        let parsed = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| ScheduleError::InvalidCron {
                cron: cron.to_string(),
                reason: e.to_string(),
            })?;
        // "UTC" needs no database; anything else comes from the bundled one.
        let zone = if time_zone == "UTC" {
            TimeZone::UTC
        } else {
            TimeZone::get(time_zone)
                .map_err(|_| ScheduleError::UnknownTimeZone(time_zone.to_string()))?
        };
        Ok(Self { cron: parsed, zone })
    }

    /// Any valid date comes round within 28 years of 1970 (the calendar's
    /// leap and weekday cycle), well inside the crate's search limit.
    fn check_fires(&self, cron: &str) -> Result<(), ScheduleError> {
        match self.first_after(Timestamp::UNIX_EPOCH) {
            Some(_) => Ok(()),
            None => Err(ScheduleError::NeverFires(cron.to_string())),
        }
    }

    fn first_after(&self, at: Timestamp) -> Option<Timestamp> {
        let zoned = at.to_zoned(self.zone.clone());
        let found = self.cron.find_next_occurrence(&zoned, false).ok()?;
        Some(found.timestamp()).filter(|t| *t > at)
    }

    fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let zoned = at.to_zoned(self.zone.clone());
        let found = self.cron.find_previous_occurrence(&zoned, true).ok()?;
        // Never hand out a future time, whatever the crate returns.
        Some(found.timestamp()).filter(|t| *t <= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next_after(cron: &str, zone: &str, now: &str) -> Timestamp {
        decide(cron, zone, None, None, None, ts(now))
            .unwrap()
            .next
            .unwrap()
    }

    /// The scheduled instants from `from` (exclusive), in UTC.
    fn series(cron: &str, zone: &str, from: &str, count: usize) -> Vec<String> {
        let mut at = ts(from);
        let mut out = Vec::new();
        for _ in 0..count {
            at = decide(cron, zone, None, None, None, at)
                .unwrap()
                .next
                .unwrap();
            out.push(at.to_string());
        }
        out
    }

    #[test]
    fn hourly_fires_the_latest_hour_once() {
        let now = ts("2025-01-15T10:20:00Z");
        let d = decide(
            "0 * * * *",
            "UTC",
            Some("2025-01-15T09:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(
            d,
            Decision {
                due: Some(ts("2025-01-15T10:00:00Z")),
                next: Some(ts("2025-01-15T11:00:00Z")),
            }
        );
        // Once handled, the same hour is not due again.
        let d = decide(
            "0 * * * *",
            "UTC",
            Some("2025-01-15T10:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(ts("2025-01-15T11:00:00Z")));
    }

    #[test]
    fn daily_at_its_exact_time_and_next_day() {
        let now = ts("2025-01-15T02:00:00Z");
        let d = decide(
            "0 2 * * *",
            "UTC",
            None,
            Some(ts("2025-01-14T12:00:00Z")),
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, Some(now));
        assert_eq!(d.next, Some(ts("2025-01-16T02:00:00Z")));
        // A nanosecond earlier it is not yet due, and is the next time.
        let before = ts("2025-01-15T01:59:59.999999999Z");
        let d = decide(
            "0 2 * * *",
            "UTC",
            None,
            Some(ts("2025-01-14T12:00:00Z")),
            None,
            before,
        )
        .unwrap();
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(now));
    }

    #[test]
    fn evaluates_on_the_zone_wall_clock() {
        assert_eq!(
            next_after("0 2 * * *", "Europe/Berlin", "2025-01-15T12:00:00Z"),
            ts("2025-01-16T01:00:00Z")
        );
        assert_eq!(
            next_after("0 2 * * *", "Europe/Berlin", "2025-07-15T12:00:00Z"),
            ts("2025-07-16T00:00:00Z")
        );
        assert_eq!(
            next_after("0 9 * * *", "Asia/Kolkata", "2025-07-15T12:00:00Z"),
            ts("2025-07-16T03:30:00Z")
        );
    }

    #[test]
    fn names_steps_lists_and_macros() {
        // 2025-01-15 is a Wednesday.
        let now = "2025-01-15T12:00:00Z";
        assert_eq!(
            next_after("0 9 * * MON", "UTC", now),
            ts("2025-01-20T09:00:00Z")
        );
        assert_eq!(
            next_after("0 9 * JAN-MAR mon-fri", "UTC", now),
            ts("2025-01-16T09:00:00Z")
        );
        assert_eq!(
            next_after("*/20 * * * *", "UTC", now),
            ts("2025-01-15T12:20:00Z")
        );
        assert_eq!(
            next_after("5,50 12 * * *", "UTC", now),
            ts("2025-01-15T12:05:00Z")
        );
        assert_eq!(
            next_after("0 0 1 */3 *", "UTC", now),
            ts("2025-04-01T00:00:00Z")
        );
        assert_eq!(next_after("@daily", "UTC", now), ts("2025-01-16T00:00:00Z"));
        assert_eq!(
            next_after("@midnight", "UTC", now),
            ts("2025-01-16T00:00:00Z")
        );
        assert_eq!(
            next_after("@hourly", "UTC", now),
            ts("2025-01-15T13:00:00Z")
        );
        assert_eq!(
            next_after("@weekly", "UTC", now),
            ts("2025-01-19T00:00:00Z")
        );
        assert_eq!(
            next_after("@monthly", "UTC", now),
            ts("2025-02-01T00:00:00Z")
        );
        assert_eq!(
            next_after("@yearly", "UTC", now),
            ts("2026-01-01T00:00:00Z")
        );
        // Day of month and day of week both restricted: either one matches.
        assert_eq!(
            next_after("0 0 13 * FRI", "UTC", now),
            ts("2025-01-17T00:00:00Z")
        );
    }

    #[test]
    fn the_31st_skips_shorter_months() {
        assert_eq!(
            series("0 0 31 * *", "UTC", "2025-01-31T00:00:00Z", 4),
            [
                "2025-03-31T00:00:00Z",
                "2025-05-31T00:00:00Z",
                "2025-07-31T00:00:00Z",
                "2025-08-31T00:00:00Z",
            ]
        );
    }

    #[test]
    fn the_29th_of_february_only_in_leap_years() {
        assert_eq!(
            series("0 0 29 2 *", "UTC", "2023-06-01T00:00:00Z", 3),
            [
                "2024-02-29T00:00:00Z",
                "2028-02-29T00:00:00Z",
                "2032-02-29T00:00:00Z",
            ]
        );
        // The leap day after four years of downtime: one run, nothing skipped.
        let d = decide(
            "0 0 29 2 *",
            "UTC",
            Some("2024-02-29T00:00:00Z"),
            None,
            None,
            ts("2028-03-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2028-02-29T00:00:00Z")));
    }

    #[test]
    fn spring_forward_new_york_runs_the_skipped_time_once_after_the_gap() {
        // 2025-03-09 02:00 EST jumps to 03:00 EDT: 02:30 does not exist.
        assert_eq!(
            series("30 2 * * *", "America/New_York", "2025-03-08T00:00:00Z", 3),
            [
                "2025-03-08T07:30:00Z", // 02:30 EST
                "2025-03-09T07:00:00Z", // 03:00 EDT, first instant after the gap
                "2025-03-10T06:30:00Z", // 02:30 EDT
            ]
        );
        let d = decide(
            "30 2 * * *",
            "America/New_York",
            Some("2025-03-08T07:30:00Z"),
            None,
            None,
            ts("2025-03-09T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-03-09T07:00:00Z")));
        assert_eq!(d.next, Some(ts("2025-03-10T06:30:00Z")));
        // A stepped minute field has no run in the gap at all.
        assert_eq!(
            next_after("*/30 2 * * *", "America/New_York", "2025-03-09T06:00:00Z"),
            ts("2025-03-10T06:00:00Z")
        );
    }

    #[test]
    fn spring_forward_berlin() {
        // 2025-03-30 02:00 CET jumps to 03:00 CEST.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z", 3),
            [
                "2025-03-29T01:30:00Z", // 02:30 CET
                "2025-03-30T01:00:00Z", // 03:00 CEST
                "2025-03-31T00:30:00Z", // 02:30 CEST
            ]
        );
    }

    #[test]
    fn fall_back_new_york_runs_a_repeated_time_once() {
        // 2025-11-02 02:00 EDT falls back to 01:00 EST: 01:30 happens twice.
        assert_eq!(
            series("30 1 * * *", "America/New_York", "2025-11-01T00:00:00Z", 3),
            [
                "2025-11-01T05:30:00Z", // 01:30 EDT
                "2025-11-02T05:30:00Z", // 01:30 EDT, the earlier instant only
                "2025-11-03T06:30:00Z", // 01:30 EST
            ]
        );
        // Handled at the first 01:30: the second one is not due.
        let d = decide(
            "30 1 * * *",
            "America/New_York",
            Some("2025-11-02T05:30:00Z"),
            None,
            None,
            ts("2025-11-02T06:45:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(ts("2025-11-03T06:30:00Z")));
        // An every-30-minutes schedule keeps firing every real half hour.
        assert_eq!(
            series(
                "*/30 * * * *",
                "America/New_York",
                "2025-11-02T04:45:00Z",
                5
            ),
            [
                "2025-11-02T05:00:00Z", // 01:00 EDT
                "2025-11-02T05:30:00Z", // 01:30 EDT
                "2025-11-02T06:00:00Z", // 01:00 EST
                "2025-11-02T06:30:00Z", // 01:30 EST
                "2025-11-02T07:00:00Z", // 02:00 EST
            ]
        );
        // Counting back across the repeated hour sees each instant once.
        let d = decide(
            "*/30 * * * *",
            "America/New_York",
            Some("2025-11-02T04:00:00Z"),
            None,
            None,
            ts("2025-11-02T07:10:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-11-02T07:00:00Z")));
    }

    #[test]
    fn fall_back_berlin() {
        // 2025-10-26 03:00 CEST falls back to 02:00 CET: 02:30 happens twice.
        assert_eq!(
            series("30 2 * * *", "Europe/Berlin", "2025-10-25T00:00:00Z", 3),
            [
                "2025-10-25T00:30:00Z", // 02:30 CEST
                "2025-10-26T00:30:00Z", // 02:30 CEST, the earlier instant only
                "2025-10-27T01:30:00Z", // 02:30 CET
            ]
        );
        // Down across the whole repeated hour: still one run, nothing skipped.
        let d = decide(
            "30 2 * * *",
            "Europe/Berlin",
            Some("2025-10-25T00:30:00Z"),
            None,
            None,
            ts("2025-10-26T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-10-26T00:30:00Z")));
    }

    #[test]
    fn missed_window_without_deadline_catches_up_once() {
        let d = decide(
            "0 2 * * *",
            "UTC",
            Some("2025-01-10T02:00:00Z"),
            None,
            None,
            ts("2025-01-15T03:00:00Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-01-15T02:00:00Z")));
    }

    #[test]
    fn missed_window_with_deadline() {
        let run = |deadline| {
            decide(
                "0 2 * * *",
                "UTC",
                Some("2025-01-10T02:00:00Z"),
                None,
                Some(deadline),
                ts("2025-01-15T03:00:00Z"),
            )
            .unwrap()
        };
        // An hour late with a 10-minute deadline: nothing runs, five missed.
        let d = run(600);
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(ts("2025-01-16T02:00:00Z")));
        // Exactly at the deadline still runs, as in CronJob.
        let d = run(3600);
        assert_eq!(d.due, Some(ts("2025-01-15T02:00:00Z")));
        let d = run(3599);
        assert_eq!(d.due, None);
    }

    #[test]
    fn long_downtime_runs_once_and_caps_the_count() {
        // A year of an every-minute schedule: one run, and the count stops.
        let now = ts("2025-06-01T12:34:56Z");
        let d = decide(
            "* * * * *",
            "UTC",
            Some("2024-06-01T00:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-06-01T12:34:00Z")));
        assert_eq!(d.next, Some(ts("2025-06-01T12:35:00Z")));
        let d = decide(
            "* * * * *",
            "UTC",
            Some("2024-06-01T00:00:00Z"),
            None,
            Some(10),
            now,
        )
        .unwrap();
        assert_eq!(d.due, None);
    }

    #[test]
    fn creation_time_bounds_the_first_run() {
        let now = ts("2025-01-15T10:30:00Z");
        // Created after the latest time: nothing to catch up.
        let d = decide(
            "0 * * * *",
            "UTC",
            None,
            Some(ts("2025-01-15T10:05:00Z")),
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(ts("2025-01-15T11:00:00Z")));
        // Created before it: that time runs, the earlier ones count as missed.
        let d = decide(
            "0 * * * *",
            "UTC",
            None,
            Some(ts("2025-01-15T07:55:00Z")),
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-01-15T10:00:00Z")));
        // Created exactly at a scheduled time: that time is not after creation.
        let d = decide(
            "0 * * * *",
            "UTC",
            None,
            Some(ts("2025-01-15T10:00:00Z")),
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, None);
    }

    #[test]
    fn without_last_or_creation_only_the_last_minute_counts() {
        let d = decide(
            "0 * * * *",
            "UTC",
            None,
            None,
            None,
            ts("2025-01-15T10:00:30Z"),
        )
        .unwrap();
        assert_eq!(d.due, Some(ts("2025-01-15T10:00:00Z")));
        let d = decide(
            "0 * * * *",
            "UTC",
            None,
            None,
            None,
            ts("2025-01-15T10:01:30Z"),
        )
        .unwrap();
        assert_eq!(d.due, None);
    }

    #[test]
    fn garbage_last_schedule_time_is_ignored() {
        let now = ts("2025-01-15T10:30:00Z");
        for garbage in ["yesterday", "", "2025-13-45T99:00:00Z", "\u{0}"] {
            let d = decide(
                "0 * * * *",
                "UTC",
                Some(garbage),
                Some(ts("2025-01-15T09:30:00Z")),
                None,
                now,
            )
            .unwrap();
            assert_eq!(d.due, Some(ts("2025-01-15T10:00:00Z")), "{garbage:?}");
        }
    }

    #[test]
    fn last_schedule_time_in_the_future_runs_nothing() {
        let now = ts("2025-01-15T10:30:00Z");
        let d = decide(
            "0 * * * *",
            "UTC",
            Some("2025-01-15T12:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(d.due, None);
        assert_eq!(d.next, Some(ts("2025-01-15T11:00:00Z")));
    }

    #[test]
    fn invalid_cron_is_rejected_with_a_reason() {
        let err = |cron: &str| validate(cron, "UTC").unwrap_err();
        assert!(matches!(
            err("0 0 2 * * *"),
            ScheduleError::FieldCount { fields: 6, .. }
        ));
        assert!(
            err("0 0 2 * * * 2025")
                .to_string()
                .contains("seconds and years are not supported")
        );
        assert!(matches!(
            err("0 2 * *"),
            ScheduleError::FieldCount { fields: 4, .. }
        ));
        assert!(matches!(
            err(""),
            ScheduleError::FieldCount { fields: 0, .. }
        ));
        assert!(matches!(
            err("61 * * * *"),
            ScheduleError::InvalidCron { .. }
        ));
        assert!(matches!(
            err("0 25 * * *"),
            ScheduleError::InvalidCron { .. }
        ));
        assert!(matches!(
            err("every day at two"),
            ScheduleError::FieldCount { .. }
        ));
        assert!(matches!(
            err("a b c d e"),
            ScheduleError::InvalidCron { .. }
        ));
        assert!(matches!(
            err("0 0 * FOO *"),
            ScheduleError::InvalidCron { .. }
        ));
        assert!(matches!(err("@every 5m"), ScheduleError::UnknownMacro(_)));
        assert!(matches!(
            err("@fortnightly"),
            ScheduleError::UnknownMacro(_)
        ));
        assert!(matches!(
            err("CRON_TZ=UTC 0 2 * * *"),
            ScheduleError::TimeZoneInSchedule(_)
        ));
        assert!(matches!(
            err("TZ=Europe/Berlin 0 2 * * *"),
            ScheduleError::TimeZoneInSchedule(_)
        ));
        assert_eq!(
            err("0 0 30 2 *").to_string(),
            "\"0 0 30 2 *\" matches no date (such as 30 February), so it never runs"
        );
        assert_eq!(
            err("0 0 2 * * *").to_string(),
            "\"0 0 2 * * *\" has 6 fields; a schedule has 5 (minute hour day-of-month month day-of-week), seconds and years are not supported"
        );
        // decide reports the same errors.
        let now = ts("2025-01-15T10:30:00Z");
        assert!(matches!(
            decide("61 * * * *", "UTC", None, None, None, now),
            Err(ScheduleError::InvalidCron { .. })
        ));
        assert!(matches!(
            decide("0 0 31 4 *", "UTC", None, None, None, now),
            Err(ScheduleError::NeverFires(_))
        ));
    }

    #[test]
    fn valid_schedules_pass_validation() {
        for cron in [
            "0 2 * * *",
            " */5 * * * * ",
            "0 9-17 * * 1-5",
            "0 0 1,15 * *",
            "@daily",
            "@HOURLY",
        ] {
            assert_eq!(validate(cron, "UTC"), Ok(()), "{cron:?}");
        }
        for zone in [
            "UTC",
            "Etc/UTC",
            "America/New_York",
            "Europe/Berlin",
            "Asia/Kolkata",
        ] {
            assert_eq!(validate("0 2 * * *", zone), Ok(()), "{zone:?}");
        }
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        for zone in ["Mars/Olympus_Mons", "", "Local", "EST+5"] {
            assert_eq!(
                validate("0 2 * * *", zone),
                Err(ScheduleError::UnknownTimeZone(zone.to_string())),
                "{zone:?}"
            );
        }
        assert_eq!(
            ScheduleError::UnknownTimeZone("Mars/Olympus_Mons".into()).to_string(),
            "unknown time zone \"Mars/Olympus_Mons\" in spec.run.timeZone: use an IANA name such as \"UTC\" or \"Europe/Berlin\""
        );
        assert!(matches!(
            decide(
                "0 2 * * *",
                "Nowhere",
                None,
                None,
                None,
                ts("2025-01-15T10:30:00Z")
            ),
            Err(ScheduleError::UnknownTimeZone(_))
        ));
    }

    fn cron_strategy() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["*", "0", "59", "*/5", "15,45", "0-10/3"]),
            prop::sample::select(vec!["*", "0", "2", "23", "*/6", "9-17", "1,2,3"]),
            prop::sample::select(vec!["*", "1", "15", "29", "31", "*/10", "L"]),
            prop::sample::select(vec!["*", "1", "FEB", "*/3", "JAN-MAR", "4,6,9,11"]),
            prop::sample::select(vec!["*", "MON", "1-5", "0", "SAT,SUN", "7"]),
        )
            .prop_map(|(mi, h, dom, mo, dow)| format!("{mi} {h} {dom} {mo} {dow}"))
    }

    fn zone_strategy() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "UTC",
            "America/New_York",
            "Europe/Berlin",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/Santiago",
        ])
    }

    proptest! {
        #[test]
        fn due_is_in_the_past_and_next_in_the_future(
            cron in cron_strategy(),
            zone in zone_strategy(),
            // 1970 to 2100, with sub-second noise.
            now_s in 0i64..4_102_444_800,
            now_ns in 0i32..1_000_000_000,
            last_ago in prop::option::of(-3_600i64..40_000_000),
            last_garbage in any::<bool>(),
            created_ago in prop::option::of(-3_600i64..40_000_000),
            deadline in prop::option::of(any::<i64>()),
        ) {
            let now = Timestamp::new(now_s, now_ns).unwrap();
            let last = last_ago.map(|ago| {
                if last_garbage { "not a time".to_string() } else { Timestamp::from_second(now_s - ago).unwrap().to_string() }
            });
            let created = created_ago.map(|ago| Timestamp::from_second(now_s - ago).unwrap());
            match decide(&cron, zone, last.as_deref(), created, deadline, now) {
                Ok(d) => {
                    let lower = last
                        .as_deref()
                        .and_then(|l| l.parse::<Timestamp>().ok())
                        .or(created)
                        .unwrap_or(now - SignedDuration::from_mins(1));
                    if let Some(due) = d.due {
                        prop_assert!(due <= now && due > lower, "{due} not in ({lower}, {now}]");
                    }
                    let next = d.next;
                    prop_assert!(next.is_some(), "a schedule that fires has a next time before 2130");
                    prop_assert!(next.is_some_and(|n| n > now));
                }
                Err(e) => prop_assert!(matches!(e, ScheduleError::NeverFires(_)), "{e}"),
            }
        }

        #[test]
        fn decide_never_panics(
            cron in "[0-9*/,A-Z@?LW# -]{0,24}",
            zone in prop_oneof![zone_strategy().prop_map(String::from), "[A-Za-z/_+-]{0,16}"],
            last in prop::option::of(".{0,30}"),
            created in prop::option::of(Timestamp::MIN.as_second()..=Timestamp::MAX.as_second()),
            now in Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(),
            deadline in prop::option::of(any::<i64>()),
        ) {
            let created = created.map(|s| Timestamp::from_second(s).unwrap());
            let now = Timestamp::from_second(now).unwrap();
            if let Ok(d) = decide(&cron, &zone, last.as_deref(), created, deadline, now) {
                prop_assert!(d.due.is_none_or(|t| t <= now));
                prop_assert!(d.next.is_none_or(|t| t > now));
            }
            let _ = validate(&cron, &zone);
        }
    }
}
