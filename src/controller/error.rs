//! Errors of the controller, and the one place they become condition reasons.

use std::time::Duration;

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
}

/// Why an object is not Ready: a CamelCase reason for the condition, a
/// message naming the field or the AWS resource, whether a human must act
/// (Stalled), and when to look again.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
    /// True when retrying cannot help until the spec or AWS is changed by someone.
    pub stalled: bool,
    /// When to retry by itself; `None` waits for a change of the object.
    pub retry: Option<Duration>,
}

impl Problem {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            reason,
            message: message.into(),
            stalled: true,
            retry: None,
        }
    }

    /// A resource under our name that is not ours: a human must act (delete
    /// it, or annotate to adopt), so Stalled — but looked at again now and then,
    /// since the fix may happen in AWS, not on this object.
    pub fn conflict(message: impl Into<String>) -> Problem {
        Problem {
            reason: "OwnershipConflict",
            message: message.into(),
            stalled: true,
            retry: Some(Duration::from_secs(60)),
        }
    }

    pub fn transient(reason: &'static str, message: impl Into<String>, retry: Duration) -> Problem {
        Problem {
            reason,
            message: message.into(),
            stalled: false,
            retry: Some(retry),
        }
    }

    /// An AWS failure while working on `resource` (e.g. "SNS topic bn-x").
    pub fn aws(resource: &str, err: &AwsError) -> Problem {
        let message = format!("{resource}: {err}");
        match err.kind {
            ErrorKind::Throttled => {
                Problem::transient("AwsThrottled", message, Duration::from_secs(5))
            }
            // Stalled (a human must grant it) but looked at again: the fix
            // happens in IAM, not on this object.
            ErrorKind::AccessDenied => Problem {
                reason: "AwsAccessDenied",
                message,
                stalled: true,
                retry: Some(Duration::from_secs(30)),
            },
            ErrorKind::InvalidInput => Problem {
                reason: "AwsRejected",
                message,
                stalled: true,
                retry: Some(Duration::from_secs(300)),
            },
            ErrorKind::Conflict => {
                Problem::transient("AwsConflict", message, Duration::from_secs(5))
            }
            // Found missing (or taken) between two calls of one pass: a
            // concurrent change, looked at again.
            ErrorKind::NotFound => {
                Problem::transient("AwsNotFound", message, Duration::from_secs(5))
            }
            ErrorKind::AlreadyExists => {
                Problem::transient("AwsAlreadyExists", message, Duration::from_secs(5))
            }
            ErrorKind::Transient => {
                Problem::transient("AwsUnavailable", message, Duration::from_secs(5))
            }
            // An AccessGrant's role cannot be assumed: its trust policy, its
            // external ID or the operator's own permission must change.
            ErrorKind::Credentials => Problem {
                reason: "AssumeRoleFailed",
                message,
                stalled: true,
                retry: Some(Duration::from_secs(30)),
            },
            ErrorKind::Other => Problem::transient("AwsError", message, Duration::from_secs(5)),
        }
    }
}
