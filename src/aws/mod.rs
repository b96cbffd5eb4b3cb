//! The AWS side: one module per service, the only place SDK calls live.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// The SDK's HTTPS client on rustls with the `ring` provider: the same one
/// kube uses. The SDK's default (aws-lc-rs) next to kube's ring makes rustls
/// panic at startup ("Could not automatically determine the process-level
/// CryptoProvider").
pub fn http_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Throttles are absorbed by the SDK, not surfaced: standard mode (jittered
/// exponential backoff, a retry quota) with five attempts instead of three.
/// Adaptive mode's client-side rate limiter was tried and slowed every call
/// of a client to tens of seconds once a fifth of its calls were throttled.
/// https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(5)
}

/// The SDK configuration from the default chain (environment, profile, web
/// identity for IRSA, container credentials for Pod Identity, IMDS), with
/// `AWS_ENDPOINT_URL` honoured. `region` overrides the chain's region.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

pub mod attempts;
pub mod batch;
pub mod budget;
pub mod error;
pub mod eventbridge;
pub mod iam;
pub mod quotas;
pub mod sfn;
pub mod sns;
pub mod sqs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use attempts::CountAttempts;
pub use error::{AwsError, ErrorKind};

use crate::metrics::Metrics;

/// Our tags in one service's shape, `build` being the SDK's tag builder. It
/// fails only without a key or a value, which ours always have; a failure is
/// still reported, never a tag dropped.
pub(crate) fn tags_as<T, E: std::fmt::Display>(
    service: &'static str,
    operation: &'static str,
    tags: &BTreeMap<String, String>,
    build: impl Fn(&str, &str) -> Result<T, E>,
) -> error::Result<Vec<T>> {
    tags.iter()
        .map(|(k, v)| {
            build(k, v).map_err(|e| AwsError {
                service,
                operation,
                kind: ErrorKind::InvalidInput,
                code: None,
                message: format!("tag {k}: {e}"),
            })
        })
        .collect()
}

/// A service's tags, whatever their shape, as a map.
pub(crate) fn tag_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The service clients for one region.
#[derive(Clone)]
pub struct RegionClients {
    pub topics: sns::Topics,
    pub roles: iam::Roles,
    pub state_machines: sfn::StateMachines,
    pub batch: batch::Batch,
    pub queues: sqs::Queues,
    pub rules: eventbridge::Rules,
}

/// Clients for every region a spec names, built on demand from one base
/// configuration (credentials, endpoint, retry policy are shared).
pub struct Aws {
    base: SdkConfig,
    metrics: Arc<Metrics>,
    budget: Arc<budget::Budget>,
    regions: Mutex<HashMap<String, RegionClients>>,
}

impl Aws {
    pub fn new(base: SdkConfig, metrics: Arc<Metrics>, budget: budget::Settings) -> Aws {
        Aws {
            base,
            budget: Arc::new(budget::Budget::new(budget, metrics.clone())),
            metrics,
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The budget every client of every region spends from.
    pub fn budget(&self) -> &budget::Budget {
        &self.budget
    }

    /// The default region: the SDK chain's (`AWS_REGION`, profile), if any.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    pub fn region(&self, region: &str) -> RegionClients {
        let mut regions = match self.regions.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        regions
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = self
                    .base
                    .to_builder()
                    .region(Region::new(region.to_string()))
                    .build();
                let count = || CountAttempts::new(self.metrics.clone());
                let budget = || budget::RegionBudget::new(self.budget.clone(), region);
                RegionClients {
                    topics: sns::Topics::new(
                        aws_sdk_sns::Client::from_conf(
                            aws_sdk_sns::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                    roles: iam::Roles::new(
                        aws_sdk_iam::Client::from_conf(
                            aws_sdk_iam::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                    state_machines: sfn::StateMachines::new(
                        aws_sdk_sfn::Client::from_conf(
                            aws_sdk_sfn::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                    batch: batch::Batch::new(
                        aws_sdk_batch::Client::from_conf(
                            aws_sdk_batch::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                    queues: sqs::Queues::new(
                        aws_sdk_sqs::Client::from_conf(
                            aws_sdk_sqs::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                    rules: eventbridge::Rules::new(
                        aws_sdk_eventbridge::Client::from_conf(
                            aws_sdk_eventbridge::config::Builder::from(&config)
                                .interceptor(count())
                                .build(),
                        ),
                        budget(),
                    ),
                }
            })
            .clone()
    }

    /// The account the operator's credentials belong to (STS GetCallerIdentity).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.base)
                .interceptor(CountAttempts::new(self.metrics.clone()))
                .build(),
        );
        let budget = budget::RegionBudget::new(self.budget.clone(), "global");
        let out = error::call(
            &budget,
            "sts",
            "GetCallerIdentity",
            sts.get_caller_identity().send(),
        )
        .await?;
        // Never an empty account: it would be cached for the process's life.
        match out.account() {
            Some(account) if !account.is_empty() => Ok(account.to_string()),
            _ => Err(AwsError {
                service: "sts",
                operation: "GetCallerIdentity",
                kind: ErrorKind::Other,
                code: None,
                message: "the answer names no account".to_string(),
            }),
        }
    }
}
