//! SDK errors, mapped once into the kinds the controller acts on.

use std::future::Future;
use std::time::Instant;

use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

use crate::metrics::Metrics;

/// What the controller needs to know about a failed AWS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The resource does not exist (deletion counts this as done).
    NotFound,
    /// A create found the name taken: the cue to observe.
    AlreadyExists,
    /// AWS asked us to slow down (the SDK already retried).
    Throttled,
    /// The operator's credentials may not do this.
    AccessDenied,
    /// AWS rejected a parameter: the spec (or something it references) is wrong.
    InvalidInput,
    /// A concurrent change or a resource in use; retry later.
    Conflict,
    /// Network, timeout or 5xx; retry later.
    Transient,
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::Throttled => "Throttled",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Transient => "Transient",
            ErrorKind::Other => "Other",
        }
    }

    /// Worth retrying without a change of spec.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Conflict | ErrorKind::Transient | ErrorKind::Other
        )
    }
}

/// A failed AWS call: which service and operation, what kind, AWS's code and message.
#[derive(Debug, thiserror::Error)]
#[error("{service} {operation}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

pub type Result<T, E = AwsError> = std::result::Result<T, E>;

fn kind_of(code: &str, status: Option<u16>) -> ErrorKind {
    match code {
        "ResourceNotFoundException"
        | "NoSuchEntity"
        | "NotFound"
        | "NotFoundException"
        | "StateMachineDoesNotExist"
        | "ExecutionDoesNotExist" => ErrorKind::NotFound,
        "EntityAlreadyExists"
        | "StateMachineAlreadyExists"
        | "ExecutionAlreadyExists"
        | "ResourceAlreadyExistsException" => ErrorKind::AlreadyExists,
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "Throttled"
        | "RequestLimitExceeded"
        | "ThrottledException" => ErrorKind::Throttled,
        "ConcurrentModification"
        | "ConcurrentModificationException"
        | "ConflictException"
        | "DeleteConflict"
        | "ResourceInUseException" => ErrorKind::Conflict,
        c if c.starts_with("AccessDenied")
            || c == "UnauthorizedOperation"
            || c == "AuthorizationError" =>
        {
            ErrorKind::AccessDenied
        }
        c if c.starts_with("Invalid")
            || c.starts_with("Validation")
            || c == "MalformedPolicyDocument"
            || c == "ClientException"
            || c == "MissingRequiredParameter"
            || c == "LimitExceeded" =>
        {
            ErrorKind::InvalidInput
        }
        _ => match status {
            Some(404) => ErrorKind::NotFound,
            Some(429) => ErrorKind::Throttled,
            Some(s) if s >= 500 => ErrorKind::Transient,
            _ => ErrorKind::Other,
        },
    }
}

/// Maps an SDK error into an [`AwsError`].
pub(crate) fn from_sdk<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, code, message) = match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let code = err.code().map(str::to_string);
            let kind = kind_of(code.as_deref().unwrap_or(""), status);
            let message = err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(0)));
            (kind, code, message)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (
            ErrorKind::Transient,
            None,
            aws_sdk_sfn::error::DisplayErrorContext(&err).to_string(),
        ),
        _ => (
            ErrorKind::Other,
            None,
            aws_sdk_sfn::error::DisplayErrorContext(&err).to_string(),
        ),
    };
    AwsError {
        service,
        operation,
        kind,
        code,
        message,
    }
}

/// Runs one SDK call, counting it by service, operation and outcome.
pub(crate) async fn call<T, E, F>(
    metrics: &Metrics,
    service: &'static str,
    operation: &'static str,
    fut: F,
) -> Result<T>
where
    F: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let result = fut.await.map_err(|e| from_sdk(service, operation, e));
    let outcome = match &result {
        Ok(_) => "Success",
        Err(e) => e.kind.as_str(),
    };
    metrics.aws_request(service, operation, outcome);
    tracing::debug!(
        service,
        operation,
        outcome,
        elapsed_ms = start.elapsed().as_millis() as u64,
        "aws call"
    );
    result
}

/// `Ok(None)` for NotFound, the value otherwise.
pub(crate) fn found<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletion helper: NotFound counts as done.
pub(crate) fn gone(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
        other => other,
    }
}
