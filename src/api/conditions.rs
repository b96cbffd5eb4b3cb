//! Condition types and a pure helper to set them the way Kubernetes expects:
//! `lastTransitionTime` moves only when `status` changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::reason::Reason;

/// The AWS resources match the spec (kstatus reads this as "reconcile done").
pub const READY: &str = "Ready";
/// A change is being applied.
pub const RECONCILING: &str = "Reconciling";
/// The operator cannot proceed without a change from the user.
pub const STALLED: &str = "Stalled";
/// The most recent finished run's Batch job succeeded. Kept apart from Ready so that a
/// failed job does not make healthy infrastructure look broken, nor the reverse.
pub const RUN_SUCCEEDED: &str = "RunSucceeded";

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// The status as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// Builds a condition whose `lastTransitionTime` is `now`.
///
/// `reason` must be CamelCase and non-empty (the API server rejects an empty one).
pub fn new_condition(
    type_: &str,
    status: impl Into<ConditionStatus>,
    reason: Reason,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.into().as_str().to_owned(),
        reason: reason.as_str().to_owned(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// Puts `condition` into `conditions`, replacing the one of the same type in place (or
/// appending it). If the status did not change, the old `lastTransitionTime` is kept.
/// Returns whether anything other than that time differs from before.
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            let changed = *existing != condition;
            *existing = condition;
            changed
        }
        None => {
            conditions.push(condition);
            true
        }
    }
}

/// Merges `updates` into `conditions` one by one with [`set_condition`]; returns whether any
/// changed.
pub fn merge_conditions(
    conditions: &mut Vec<Condition>,
    updates: impl IntoIterator<Item = Condition>,
) -> bool {
    updates
        .into_iter()
        .fold(false, |changed, c| set_condition(conditions, c) | changed)
}

/// The condition of type `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn same_status_keeps_transition_time() {
        let mut conditions = vec![new_condition(
            READY,
            true,
            Reason::Reconciled,
            "",
            Some(1),
            at(10),
        )];
        let changed = set_condition(
            &mut conditions,
            new_condition(READY, true, Reason::Reconciled, "", Some(2), at(20)),
        );
        assert!(changed, "observedGeneration changed");
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, at(10));
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn identical_condition_is_not_a_change() {
        let mut conditions = vec![new_condition(
            READY,
            true,
            Reason::Reconciled,
            "ok",
            Some(1),
            at(10),
        )];
        let changed = set_condition(
            &mut conditions,
            new_condition(READY, true, Reason::Reconciled, "ok", Some(1), at(99)),
        );
        assert!(!changed);
        assert_eq!(conditions[0].last_transition_time, at(10));
    }

    #[test]
    fn new_status_moves_transition_time() {
        let mut conditions = vec![new_condition(
            READY,
            true,
            Reason::Reconciled,
            "",
            Some(1),
            at(10),
        )];
        assert!(set_condition(
            &mut conditions,
            new_condition(
                READY,
                ConditionStatus::False,
                Reason::AwsError,
                "boom",
                Some(1),
                at(20)
            ),
        ));
        assert_eq!(conditions[0].last_transition_time, at(20));
        assert_eq!(conditions[0].status, "False");
        assert!(!is_true(&conditions, READY));
    }

    #[test]
    fn merge_appends_new_types_in_order() {
        let mut conditions = vec![new_condition(
            READY,
            true,
            Reason::Reconciled,
            "",
            None,
            at(1),
        )];
        let changed = merge_conditions(
            &mut conditions,
            [
                new_condition(RECONCILING, false, Reason::Reconciled, "", None, at(2)),
                new_condition(READY, true, Reason::Reconciled, "", None, at(2)),
                new_condition(RUN_SUCCEEDED, true, Reason::Succeeded, "", None, at(2)),
            ],
        );
        assert!(changed);
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, RECONCILING, RUN_SUCCEEDED]);
        assert_eq!(
            find_condition(&conditions, READY)
                .unwrap()
                .last_transition_time,
            at(1)
        );
        assert!(is_true(&conditions, RUN_SUCCEEDED));
        assert!(find_condition(&conditions, STALLED).is_none());
    }
}
