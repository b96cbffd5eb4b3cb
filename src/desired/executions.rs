//! Names of Step Functions executions: deterministic, so a restarted operator that lost
//! track of a run finds it again by name (StartExecution with a used name and the same
//! input is idempotent) instead of starting it twice.

use jiff::Timestamp;

use super::fingerprint::{fingerprint, sanitise};

/// Step Functions: execution names are 1-80 characters of `[A-Za-z0-9_-]` (the operator
/// keeps to ASCII so CloudWatch metrics work).
pub const MAX_LEN: usize = 80;
/// Prefix of executions started by a new `spec.run.trigger` value.
pub const TRIGGER_PREFIX: &str = "trigger";
/// Prefix of executions started by the schedule.
pub const SCHEDULE_PREFIX: &str = "schedule";
/// Hex characters of the hash (64 bits): collisions between an object's runs are
/// vanishingly unlikely.
const HASH_LEN: usize = 16;
/// Characters of the sanitised trigger kept for readability.
const TRIGGER_READABLE_LEN: usize = 32;

/// `trigger-<sequence>-<sanitised trigger, ≤ 32>-<hash16>`, the hash over (UID, sequence,
/// trigger): a new object (new UID) with the same trigger gets a new execution, and so
/// does a trigger given again later (1 → 2 → 1), whose run has a new sequence number.
pub fn execution_name_for_trigger(uid: &str, sequence: u64, trigger: &str) -> String {
    let sequence = sequence.to_string();
    let hash = fingerprint(&[uid, TRIGGER_PREFIX, &sequence, trigger], HASH_LEN);
    let readable = sanitise(trigger);
    let readable = readable[..readable.len().min(TRIGGER_READABLE_LEN)].trim_end_matches('-');
    if readable.is_empty() {
        format!("{TRIGGER_PREFIX}-{sequence}-{hash}")
    } else {
        format!("{TRIGGER_PREFIX}-{sequence}-{readable}-{hash}")
    }
}

/// `schedule-<YYYYMMDDTHHMMZ>-<hash16>`, the hash over (UID, the scheduled time to the
/// nanosecond, in UTC).
pub fn execution_name_for_schedule(uid: &str, scheduled_time: Timestamp) -> String {
    let exact = scheduled_time.to_string();
    let hash = fingerprint(&[uid, SCHEDULE_PREFIX, &exact], HASH_LEN);
    let minute = sanitise(&scheduled_time.strftime("%Y%m%dT%H%MZ").to_string());
    format!("{SCHEDULE_PREFIX}-{minute}-{hash}")
}

/// Whether `name` is a valid execution name.
pub fn is_valid_execution_name(name: &str) -> bool {
    (1..=MAX_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "8c1f0d6e-1d3a-4f59-9a59-2f2b0b6f6a01";

    #[test]
    fn trigger_names_are_readable_and_deterministic() {
        let name = execution_name_for_trigger(UID, 1, "1");
        assert!(name.starts_with("trigger-1-1-"), "{name}");
        assert_eq!(name.len(), "trigger-1-1-".len() + 16);
        assert_eq!(name, execution_name_for_trigger(UID, 1, "1"));
        assert_ne!(name, execution_name_for_trigger(UID, 1, "2"));
        assert_ne!(name, execution_name_for_trigger("another-uid", 1, "1"));
        assert!(is_valid_execution_name(&name));
    }

    #[test]
    fn a_trigger_given_again_later_gets_a_new_name() {
        // 1 → 2 → 1: the third run is the third, not the first again.
        let first = execution_name_for_trigger(UID, 1, "1");
        let again = execution_name_for_trigger(UID, 3, "1");
        assert_ne!(first, again);
        assert!(again.starts_with("trigger-3-1-"), "{again}");
    }

    #[test]
    fn unreadable_or_long_triggers_still_make_valid_names() {
        let sha = "9fceb02d0ae598e95dc970b74767f19372d61af8";
        let name = execution_name_for_trigger(UID, 7, &format!("release/{sha}-and-more-text"));
        assert!(
            name.starts_with("trigger-7-release-9fceb02d0ae598e95dc970b7-"),
            "{name}"
        );
        assert!(is_valid_execution_name(&name), "{name}");
        let name = execution_name_for_trigger(UID, u64::MAX, &"x".repeat(300));
        assert!(is_valid_execution_name(&name), "{name}");
        let name = execution_name_for_trigger(UID, 1, "🚀");
        assert!(
            name.starts_with("trigger-1-") && name.len() == "trigger-1-".len() + 16,
            "{name}"
        );
        // Sanitising alone would make these equal; the hash does not.
        assert_ne!(
            execution_name_for_trigger(UID, 1, "a.b"),
            execution_name_for_trigger(UID, 1, "a-b")
        );
    }

    #[test]
    fn schedule_names_carry_the_minute() {
        let t: Timestamp = "2026-11-25T02:00:00Z".parse().unwrap();
        let name = execution_name_for_schedule(UID, t);
        assert!(name.starts_with("schedule-20261125T0200Z-"), "{name}");
        assert!(is_valid_execution_name(&name));
        assert_eq!(name, execution_name_for_schedule(UID, t));
        let later: Timestamp = "2026-11-25T02:00:30Z".parse().unwrap();
        assert_ne!(name, execution_name_for_schedule(UID, later));
        assert_ne!(name, execution_name_for_schedule("other", t));
    }

    #[test]
    fn trigger_and_schedule_never_share_a_name() {
        let t: Timestamp = "2026-11-25T02:00:00Z".parse().unwrap();
        assert_ne!(
            execution_name_for_schedule(UID, t),
            execution_name_for_trigger(UID, 1, &t.to_string())
        );
    }

    #[test]
    fn validity_check() {
        assert!(!is_valid_execution_name(""));
        assert!(!is_valid_execution_name(&"a".repeat(81)));
        assert!(!is_valid_execution_name("a b"));
        assert!(is_valid_execution_name(&"a".repeat(80)));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn trigger_names_are_always_valid(uid in ".{0,100}", trigger in ".{0,1000}") {
                let name = execution_name_for_trigger(&uid, 1, &trigger);
                prop_assert!(is_valid_execution_name(&name), "{name}");
            }

            #[test]
            fn distinct_triggers_give_distinct_names(uid in "[a-f0-9-]{36}", a in ".{0,100}", b in ".{0,100}") {
                prop_assume!(a != b);
                prop_assert_ne!(execution_name_for_trigger(&uid, 1, &a), execution_name_for_trigger(&uid, 1, &b));
            }

            #[test]
            fn schedule_names_are_always_valid(uid in ".{0,100}", seconds in Timestamp::MIN.as_second()..=Timestamp::MAX.as_second()) {
                let t = Timestamp::from_second(seconds).unwrap();
                let name = execution_name_for_schedule(&uid, t);
                prop_assert!(is_valid_execution_name(&name), "{name}");
            }

            #[test]
            fn distinct_times_give_distinct_names(uid in "[a-f0-9-]{36}", a in 0i64..4_102_444_800, b in 0i64..4_102_444_800) {
                prop_assume!(a != b);
                let (ta, tb) = (Timestamp::from_second(a).unwrap(), Timestamp::from_second(b).unwrap());
                prop_assert_ne!(execution_name_for_schedule(&uid, ta), execution_name_for_schedule(&uid, tb));
            }
        }

        #[test]
        fn huge_trigger_does_not_panic() {
            let name =
                execution_name_for_trigger(&"u".repeat(1 << 20), u64::MAX, &"ß-".repeat(1 << 20));
            assert!(is_valid_execution_name(&name));
        }
    }
}
