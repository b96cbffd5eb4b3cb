//! Counts every HTTP attempt the SDK makes, the way AWS sees (throttles and
//! bills) them: a retried call is two requests to AWS, not one. An SDK
//! interceptor sees each attempt twice: as it is sent (`aws_requests_sent`,
//! the count AWS's side sees: a request is counted there once it arrives) and
//! after it ends with its outcome (`aws_requests`). Sent minus ended is the
//! number in flight, so a reader of /metrics can tell a moment when nothing
//! is (the scale bench compares counts only at such moments).
//! https://docs.aws.amazon.com/sdk-for-rust/latest/dg/interceptors.html

use std::sync::Arc;

use aws_sdk_sfn::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sfn::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

use crate::metrics::Metrics;

/// The operation a config bag is for, as "service", "Operation".
fn operation_of(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (service_prefix(m.service()), m.name().to_string()))
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()))
}

/// The service as the operator's code and IAM name it (`events`, not the
/// SDK's `EventBridge`).
fn service_prefix(sdk: &str) -> String {
    match sdk.to_ascii_lowercase().as_str() {
        "eventbridge" => "events".to_string(),
        other => other.to_string(),
    }
}

/// The interceptor every service client of the operator carries.
pub struct CountAttempts {
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for CountAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountAttempts")
    }
}

impl CountAttempts {
    pub fn new(metrics: Arc<Metrics>) -> CountAttempts {
        CountAttempts { metrics }
    }
}

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = operation_of(cfg);
        self.metrics.aws_sent(&service, &operation);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = operation_of(cfg);
        let outcome = match context.response() {
            Some(r) => outcome(r.status().as_u16(), r.body().bytes().unwrap_or_default()),
            None => "NetworkError",
        };
        let retry = cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1);
        self.metrics.aws_attempt(
            &service,
            &operation,
            outcome,
            if retry { "retry" } else { "first" },
        );
        Ok(())
    }
}

/// What one attempt's response means, from its status and body (the error
/// code is in the body: JSON `__type`, XML `<Code>`; the interceptor sees the
/// error only with its type erased).
fn outcome(status: u16, body: &[u8]) -> &'static str {
    if status < 300 {
        return "Success";
    }
    let body = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    let has = |s: &str| body.contains(s);
    if status == 429 || has("Throttl") || has("TooManyRequests") || has("RequestLimitExceeded") {
        "Throttled"
    } else if status == 403
        || has("AccessDenied")
        || has("AuthorizationError")
        || has("UnrecognizedClient")
        || has("InvalidClientTokenId")
    {
        "AccessDenied"
    } else if status >= 500 {
        "ServerError"
    } else {
        "ClientError"
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn each_service_throttle_shape_is_a_throttle() {
        assert_eq!(
            outcome(400, br#"{"__type":"ThrottlingException"}"#),
            "Throttled"
        );
        assert_eq!(
            outcome(429, br#"{"message":"Too Many Requests"}"#),
            "Throttled"
        );
        assert_eq!(
            outcome(
                400,
                b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
            ),
            "Throttled"
        );
        assert_eq!(
            outcome(400, br#"{"__type":"TooManyRequestsException"}"#),
            "Throttled"
        );
    }

    #[test]
    fn denials_errors_and_successes() {
        assert_eq!(outcome(200, b"{}"), "Success");
        assert_eq!(outcome(403, b"<html/>"), "AccessDenied");
        assert_eq!(
            outcome(400, br#"{"__type":"AccessDeniedException","message":"no"}"#),
            "AccessDenied"
        );
        assert_eq!(
            outcome(400, br#"{"__type":"ClientException"}"#),
            "ClientError"
        );
        assert_eq!(outcome(404, b""), "ClientError");
        assert_eq!(outcome(503, b""), "ServerError");
    }
}
