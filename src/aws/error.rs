//! SDK errors, mapped once into the kinds the controller acts on.

use std::future::Future;
use std::time::Instant;

use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};

use aws_smithy_async::future::pagination_stream::PaginationStream;

use super::budget::RegionBudget;

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
    /// No credentials to sign with: an AccessGrant's role could not be
    /// assumed (STS refused, or its session expired and cannot be renewed).
    Credentials,
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
            ErrorKind::Credentials => "Credentials",
            ErrorKind::Other => "Other",
        }
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
    // Every HTTP 403 is a denial, whatever its body says: an SDK that cannot
    // parse the error body still gets this right.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    if status == Some(403) {
        return ErrorKind::AccessDenied;
    }
    match code {
        // Credentials AWS does not know (a deleted access key, a wrong secret):
        // a denial, not a bad parameter, although the codes start with "Invalid".
        // https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "ExpiredTokenException" => ErrorKind::AccessDenied,
        "ResourceNotFoundException"
        | "NoSuchEntity"
        | "NotFound"
        | "NotFoundException"
        | "StateMachineDoesNotExist"
        | "QueueDoesNotExist"
        | "AWS.SimpleQueueService.NonExistentQueue"
        | "ExecutionDoesNotExist" => ErrorKind::NotFound,
        "EntityAlreadyExists"
        | "StateMachineAlreadyExists"
        | "ExecutionAlreadyExists"
        | "ResourceAlreadyExistsException"
        | "QueueAlreadyExists"
        | "QueueNameExists" => ErrorKind::AlreadyExists,
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
        // SQS: a queue's name is free again 60 s after DeleteQueue.
        // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
        | "QueueDeletedRecently"
        | "AWS.SimpleQueueService.QueueDeletedRecently"
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
                .map(readable_message)
                .unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(0)));
            (kind, code, message)
        }
        _ if credentials_failed(&err) => (
            ErrorKind::Credentials,
            None,
            aws_sdk_sfn::error::DisplayErrorContext(&err).to_string(),
        ),
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

/// Whether the call failed for want of credentials: a credentials
/// provider's error (an assumed role's STS AssumeRole refused) somewhere in
/// the error's chain of sources.
fn credentials_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// An error body the SDK could not parse (XML where it expected JSON) arrives
/// as the message: keep AWS's own `<Message>` from it, which names the action.
fn readable_message(message: &str) -> String {
    let inner = message
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(m, _)| m.trim());
    match inner {
        Some(m) if message.trim_start().starts_with('<') => m.to_string(),
        _ => message.to_string(),
    }
}

/// Runs one SDK call, once the budget lets it go, and maps its error. Its attempts are counted by the
/// client's interceptor ([`super::attempts`]), each as AWS sees it.
pub(crate) async fn call<T, E, F>(
    budget: &RegionBudget,
    service: &'static str,
    operation: &'static str,
    fut: F,
) -> Result<T>
where
    F: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    budget.acquire(service, operation).await;
    let start = Instant::now();
    let result = fut.await.map_err(|e| from_sdk(service, operation, e));
    log(service, operation, &result, start);
    result
}

/// Every page of a paged read, through the SDK's paginator: AWS answers a
/// List/Describe in pages however large the page asked for. Each page is one
/// request and spends from the budget.
pub(crate) async fn pages<T, E>(
    budget: &RegionBudget,
    service: &'static str,
    operation: &'static str,
    stream: PaginationStream<std::result::Result<T, SdkError<E, HttpResponse>>>,
) -> Result<Vec<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    pages_until(budget, service, operation, stream, |_| false).await
}

/// The pages of a paged read until `enough` says the pages so far hold what
/// is needed: the rest are never asked for.
pub(crate) async fn pages_until<T, E>(
    budget: &RegionBudget,
    service: &'static str,
    operation: &'static str,
    mut stream: PaginationStream<std::result::Result<T, SdkError<E, HttpResponse>>>,
    enough: impl Fn(&T) -> bool,
) -> Result<Vec<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let start = Instant::now();
    let mut out = Vec::new();
    loop {
        budget.acquire(service, operation).await;
        match stream.next().await {
            None => break,
            Some(Ok(page)) => {
                let done = enough(&page);
                out.push(page);
                if done {
                    break;
                }
            }
            Some(Err(e)) => {
                let result = Err(from_sdk(service, operation, e));
                log(service, operation, &result, start);
                return result;
            }
        }
    }
    let result = Ok(out);
    log(service, operation, &result, start);
    result
}

fn log<T>(service: &'static str, operation: &'static str, result: &Result<T>, start: Instant) {
    let outcome = match result {
        Ok(_) => "Success",
        Err(e) => e.kind.as_str(),
    };
    tracing::debug!(
        service,
        operation,
        outcome,
        elapsed_ms = start.elapsed().as_millis() as u64,
        "aws call"
    );
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
/// [`call`] for a delete whose answer is not needed: NotFound counts as done.
pub(crate) async fn call_gone<T, E, F>(
    budget: &RegionBudget,
    service: &'static str,
    operation: &'static str,
    fut: F,
) -> Result<()>
where
    F: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    gone(call(budget, service, operation, fut).await.map(|_| ()))
}

pub(crate) fn gone(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_http_403_is_a_denial_whatever_the_code() {
        assert_eq!(kind_of("403", Some(403)), ErrorKind::AccessDenied);
        assert_eq!(kind_of("", Some(403)), ErrorKind::AccessDenied);
        assert_eq!(
            kind_of("ClientException", Some(403)),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of("AccessDeniedException", Some(400)),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of("AuthorizationError", Some(403)),
            ErrorKind::AccessDenied
        );
    }

    #[test]
    fn unknown_credentials_are_denials_not_bad_input() {
        for code in [
            "InvalidClientTokenId",
            "UnrecognizedClientException",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ] {
            assert_eq!(kind_of(code, Some(400)), ErrorKind::AccessDenied, "{code}");
        }
        assert_eq!(
            kind_of("InvalidParameter", Some(400)),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn each_kind_from_its_codes() {
        let cases = [
            ("ResourceNotFoundException", ErrorKind::NotFound),
            ("NoSuchEntity", ErrorKind::NotFound),
            ("EntityAlreadyExists", ErrorKind::AlreadyExists),
            ("ThrottlingException", ErrorKind::Throttled),
            ("Throttling", ErrorKind::Throttled),
            ("TooManyRequestsException", ErrorKind::Throttled),
            ("ConcurrentModification", ErrorKind::Conflict),
            ("ClientException", ErrorKind::InvalidInput),
            ("ValidationError", ErrorKind::InvalidInput),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(code, Some(400)), kind, "{code}");
        }
        assert_eq!(kind_of("", Some(429)), ErrorKind::Throttled);
        assert_eq!(kind_of("", Some(503)), ErrorKind::Transient);
        assert_eq!(kind_of("", Some(404)), ErrorKind::NotFound);
    }

    #[test]
    fn an_unparsed_xml_body_keeps_aws_message() {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                   <Message>User: arn:aws:iam::123456789012:user/op is not authorized to perform: \
                   batch:DescribeJobQueues</Message></Error></ErrorResponse>";
        let m = readable_message(xml);
        assert!(m.starts_with("User: arn:aws:iam::123456789012:user/op is not authorized"));
        assert!(m.contains("batch:DescribeJobQueues"));
        assert_eq!(readable_message("plain words"), "plain words");
    }
}
