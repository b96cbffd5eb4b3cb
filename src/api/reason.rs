//! Every reason the operator writes, in conditions and in Events: one enum.
//! Its class says how the operator treats it (Stalled or retrying), which
//! Event type a user sees, and when it is looked at again; its spelling is
//! the condition reason, the Event reason and the metric label alike. No
//! reason is ever read back from text.

use std::fmt;
use std::time::Duration;

/// How a reason is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Something done, or going as it should: a Normal Event.
    Progress,
    /// A routine wait on AWS's own pace (IAM propagating, a compute
    /// environment not yet VALID, Batch deleting): Reconciling, a Normal
    /// Event, looked at again soon.
    Waiting,
    /// A failure the operator retries by itself: Reconciling, a Warning.
    Retrying,
    /// A human must act: Stalled, a Warning.
    Stalled,
    /// Not a problem of the object but worth a look (a run failed, drift
    /// was put back, a job waits for capacity): a Warning.
    Notice,
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident => $class:ident, $retry:expr;)*) => {
        /// A condition or Event reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $name,)*
        }

        impl Reason {
            /// Every reason, for docs and tests.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// The reason as written in conditions, Events and metrics.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name),)*
                }
            }

            /// How the operator treats it.
            pub fn class(self) -> Class {
                match self {
                    $(Reason::$name => Class::$class,)*
                }
            }

            /// When the operator looks again by itself; `None` waits for a
            /// change of the object (or of what it watches).
            pub fn retry(self) -> Option<Duration> {
                match self {
                    $(Reason::$name => $retry,)*
                }
            }
        }
    };
}

const fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

reasons! {
    // ---- progress ----
    /// Ready: the AWS resources match the spec.
    Reconciled => Progress, None;
    Created => Progress, None;
    Adopted => Progress, None;
    Updated => Progress, None;
    Deleted => Progress, None;
    Retained => Progress, None;
    /// A stored message published as written (`status.literalMessages`).
    LiteralMessage => Progress, None;
    RunStarted => Progress, None;
    RunSucceeded => Progress, None;
    /// RunSucceeded=Unknown: a new trigger's run has not started yet.
    Pending => Progress, None;
    /// RunSucceeded=Unknown: the execution is running.
    Running => Progress, None;
    /// RunSucceeded=True.
    Succeeded => Progress, None;

    // ---- routine waits ----
    /// Step Functions cannot yet assume a role IAM just created.
    RolePropagating => Waiting, secs(5);
    ComputeEnvironmentNotReady => Waiting, secs(5);
    JobQueueNotReady => Waiting, secs(5);
    /// Deleting: the job queue must go before its compute environment.
    DeletingJobQueue => Waiting, secs(5);
    /// Deleting: AWS Batch is disabling or deleting a resource.
    DeletionInProgress => Waiting, secs(5);

    // ---- retried failures ----
    ReferenceNotFound => Retrying, secs(10);
    AccessUnknown => Retrying, secs(10);
    AwsThrottled => Retrying, secs(5);
    AwsConflict => Retrying, secs(5);
    AwsNotFound => Retrying, secs(5);
    AwsAlreadyExists => Retrying, secs(5);
    AwsUnavailable => Retrying, secs(5);
    AwsError => Retrying, secs(5);

    // ---- a human must act ----
    InvalidSpec => Stalled, None;
    InvalidSchedule => Stalled, None;
    InvalidName => Stalled, None;
    InvalidAccount => Stalled, None;
    NoRegion => Stalled, None;
    RegionChanged => Stalled, None;
    CrossAccountReference => Stalled, None;
    RegionMismatch => Stalled, None;
    ComputeEnvironmentInvalid => Stalled, None;
    AccountChanged => Stalled, None;
    AccessNotGranted => Stalled, None;
    AccessAmbiguous => Stalled, None;
    ReferenceNotGranted => Stalled, None;
    RoleNotGranted => Stalled, None;
    ManagedNotGranted => Stalled, None;
    RegionNotGranted => Stalled, None;
    OwnedByAnother => Stalled, None;
    /// Rechecked: the fix may happen in AWS, not on this object.
    OwnershipConflict => Stalled, secs(60);
    /// Rechecked: the fix happens in IAM.
    AwsAccessDenied => Stalled, secs(30);
    /// Rechecked now and then: what the spec references may be fixed.
    AwsRejected => Stalled, secs(300);
    /// Rechecked: the fix happens in the role's trust policy.
    AssumeRoleFailed => Stalled, secs(30);

    // ---- notices ----
    DriftCorrected => Notice, None;
    RunFailed => Notice, None;
    /// A run's job has waited RUNNABLE for long: no capacity places it.
    JobRunnable => Notice, None;
    /// RunSucceeded=False: the Batch job failed; the failure was published.
    JobFailed => Notice, None;
    /// RunSucceeded=False: the execution FAILED; nothing was published.
    ExecutionFailed => Notice, None;
    TimedOut => Notice, None;
    Aborted => Notice, None;
}

impl Reason {
    /// Whether a human must act.
    pub fn stalled(self) -> bool {
        self.class() == Class::Stalled
    }

    /// A routine wait: no Event (the Reconciling condition says it), logged at info.
    pub fn routine(self) -> bool {
        self.class() == Class::Waiting
    }

    /// Whether a user sees it as a Warning.
    pub fn warning(self) -> bool {
        matches!(
            self.class(),
            Class::Retrying | Class::Stalled | Class::Notice
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A stored condition's reason against a typed one.
impl PartialEq<Reason> for String {
    fn eq(&self, other: &Reason) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_camel_case_and_its_class_fits_its_retry() {
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(
                s.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{s}"
            );
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
            match r.class() {
                // A wait or a retried failure always comes back by itself.
                Class::Waiting | Class::Retrying => assert!(r.retry().is_some(), "{s}"),
                Class::Progress | Class::Notice => assert!(r.retry().is_none(), "{s}"),
                Class::Stalled => {}
            }
        }
    }

    #[test]
    fn every_reason_is_documented() {
        let reference = include_str!("../../docs/reference.md");
        for r in Reason::ALL {
            assert!(
                reference.contains(&format!("`{r}`")),
                "{r} is not in docs/reference.md"
            );
        }
    }

    #[test]
    fn routine_waits_are_normal_and_problems_are_warnings() {
        for r in [Reason::RolePropagating, Reason::ComputeEnvironmentNotReady] {
            assert!(r.routine() && !r.warning() && !r.stalled(), "{r}");
        }
        assert!(Reason::AwsAccessDenied.stalled() && Reason::AwsAccessDenied.warning());
        assert!(!Reason::AwsThrottled.stalled() && Reason::AwsThrottled.warning());
    }
}
