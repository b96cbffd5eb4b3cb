//! Errors of the controller, and the one place they become condition reasons.

use std::time::Duration;

use crate::api::reason::Reason;
use crate::aws::{AwsError, ErrorKind};

/// Failures that abort a reconcile: the API server could not be reached or
/// refused a write. Everything else becomes a [`Problem`] in status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("object {0} has no namespace")]
    NoNamespace(String),
    #[error("{0}")]
    Deletion(Problem),
    /// Not a failure: AWS Batch deletes queues and compute environments
    /// asynchronously, and the finalizer stays until they are gone. An `Err`
    /// only because the finalizer helper removes the finalizer on `Ok`.
    #[error("{0}")]
    DeletionPending(Problem),
}

impl Error {
    /// The wait for AWS's own asynchronous deletion, if that is all this is.
    pub fn deletion_pending(&self) -> Option<&Problem> {
        match self {
            Error::DeletionPending(p) => Some(p),
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::CleanupFailed(Error::DeletionPending(p)) => {
                    Some(p)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The finalizer patch was judged against an older copy of the object
    /// than the API server's: another trigger reconciled the object from the
    /// cache before the watch delivered the version our own finalizer patch
    /// made (its `test` operation fails: 422, or 409), or after the object
    /// was gone (404). The watch event of the newer version reconciles it
    /// again, so this is not a failure.
    pub fn stale_read(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        let Error::Finalizer(e) = self else {
            return false;
        };
        match e.as_ref() {
            F::AddFinalizer(kube::Error::Api(s)) => matches!(s.code, 409 | 422),
            F::RemoveFinalizer(kube::Error::Api(s)) => matches!(s.code, 404 | 409 | 422),
            _ => false,
        }
    }
}

/// Why an object is not Ready: a typed reason (its class says whether a
/// human must act, and when to look again), and a message naming the field
/// or the AWS resource.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Problem {
    pub reason: Reason,
    pub message: String,
    /// When to retry by itself; `None` waits for a change of the object.
    pub retry: Option<Duration>,
}

impl Problem {
    /// A problem looked at again when its reason says.
    pub fn new(reason: Reason, message: impl Into<String>) -> Problem {
        Problem {
            reason,
            message: message.into(),
            retry: reason.retry(),
        }
    }

    /// Looked at again after `retry` instead of the reason's own interval.
    pub fn after(self, retry: Duration) -> Problem {
        Problem {
            retry: Some(retry),
            ..self
        }
    }

    /// True when retrying cannot help until the spec or AWS is changed by someone.
    pub fn stalled(&self) -> bool {
        self.reason.stalled()
    }

    /// A resource under our name that is not ours: a human must act (delete
    /// it, or annotate to adopt), so Stalled — but looked at again now and then,
    /// since the fix may happen in AWS, not on this object.
    pub fn conflict(message: impl Into<String>) -> Problem {
        Problem::new(Reason::OwnershipConflict, message)
    }

    /// An AWS failure while working on `resource` (e.g. "SNS topic bn-x").
    pub fn aws(resource: &str, err: &AwsError) -> Problem {
        let reason = match err.kind {
            ErrorKind::Throttled => Reason::AwsThrottled,
            // Stalled (a human must grant it) but looked at again: the fix
            // happens in IAM, not on this object.
            ErrorKind::AccessDenied => Reason::AwsAccessDenied,
            ErrorKind::InvalidInput => Reason::AwsRejected,
            ErrorKind::Conflict => Reason::AwsConflict,
            // Found missing (or taken) between two calls of one pass: a
            // concurrent change, looked at again.
            ErrorKind::NotFound => Reason::AwsNotFound,
            ErrorKind::AlreadyExists => Reason::AwsAlreadyExists,
            ErrorKind::Transient => Reason::AwsUnavailable,
            // An AccessGrant's role cannot be assumed: its trust policy, its
            // external ID or the operator's own permission must change.
            ErrorKind::Credentials => Reason::AssumeRoleFailed,
            ErrorKind::Other => Reason::AwsError,
        };
        Problem::new(reason, format!("{resource}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(kind: ErrorKind) -> AwsError {
        AwsError {
            service: "sns",
            operation: "CreateTopic",
            kind,
            code: Some("Code".into()),
            message: "said AWS".into(),
        }
    }

    #[test]
    fn an_aws_failure_names_the_resource_and_the_call() {
        let p = Problem::aws("SNS topic bn-x", &aws(ErrorKind::InvalidInput));
        assert_eq!(p.reason, Reason::AwsRejected);
        assert_eq!(p.message, "SNS topic bn-x: sns CreateTopic: Code: said AWS");
        assert!(p.stalled(), "AWS refused the input: a human must act");
    }

    #[test]
    fn every_aws_error_kind_has_its_reason_and_class() {
        let cases = [
            (ErrorKind::Throttled, Reason::AwsThrottled, false),
            (ErrorKind::AccessDenied, Reason::AwsAccessDenied, true),
            (ErrorKind::Conflict, Reason::AwsConflict, false),
            (ErrorKind::NotFound, Reason::AwsNotFound, false),
            (ErrorKind::Transient, Reason::AwsUnavailable, false),
            (ErrorKind::Credentials, Reason::AssumeRoleFailed, true),
        ];
        for (kind, reason, stalled) in cases {
            let p = Problem::aws("x", &aws(kind));
            assert_eq!((p.reason, p.stalled()), (reason, stalled), "{kind:?}");
            assert!(p.retry.is_some(), "{kind:?} is looked at again by itself");
        }
    }

    #[test]
    fn after_overrides_only_the_retry() {
        let p =
            Problem::new(Reason::RolePropagating, "IAM role bn-x").after(Duration::from_secs(5));
        assert_eq!(p.retry, Some(Duration::from_secs(5)));
        assert_eq!(p.reason, Reason::RolePropagating);
        assert!(!p.stalled());
    }

    #[test]
    fn a_wait_for_batchs_own_deletion_is_found_also_inside_the_finalizer() {
        let p = Problem::new(Reason::DeletionInProgress, "job queue bn-q is DELETING");
        let pending = Error::DeletionPending(p.clone());
        assert_eq!(pending.deletion_pending(), Some(&p));
        let wrapped = Error::Finalizer(Box::new(kube::runtime::finalizer::Error::CleanupFailed(
            Error::DeletionPending(p.clone()),
        )));
        assert_eq!(wrapped.deletion_pending(), Some(&p));
        assert_eq!(Error::Deletion(p).deletion_pending(), None, "a failure");
        assert_eq!(Error::NoNamespace("x".into()).deletion_pending(), None);
    }
}
