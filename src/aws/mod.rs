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

/// Whose credentials a client signs with: the operator's own (the default
/// chain), or a role an AccessGrant names, assumed with STS for one namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    Operator,
    AssumedRole(AssumedRole),
}

/// An STS AssumeRole session: its role, external ID, name and tags. One per
/// role and namespace; aws-config's provider refreshes it before it expires.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AssumedRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub session_seconds: u32,
    /// Session tags (`batchnotify.dev/cluster`, `batchnotify.dev/namespace`).
    pub tags: Vec<(String, String)>,
}

/// The external ID is not a credential, but it is what a confused deputy
/// would need: never logged.
impl std::fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumedRole")
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// The account of an assumed role (from its ARN); `None` for the operator's
    /// own, which STS GetCallerIdentity tells.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::AssumedRole(r) => r.role_arn.split(':').nth(4),
        }
    }

    /// The role assumed, if any.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::AssumedRole(r) => Some(&r.role_arn),
        }
    }
}

/// Clients for every principal and region a spec names, built on demand from
/// one base configuration (endpoint, retry policy, and the operator's own
/// credentials, which an assumed role's session is obtained with).
pub struct Aws {
    base: SdkConfig,
    metrics: Arc<Metrics>,
    budget: Arc<budget::Budget>,
    regions: Mutex<HashMap<(Principal, String), RegionClients>>,
    /// Per assumed role: the configuration whose credentials provider (and
    /// so its cache) every region's clients of that principal share.
    assumed: tokio::sync::Mutex<HashMap<AssumedRole, SdkConfig>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Aws {
    pub fn new(base: SdkConfig, metrics: Arc<Metrics>, budget: budget::Settings) -> Aws {
        Aws {
            base,
            budget: Arc::new(budget::Budget::new(budget, metrics.clone())),
            metrics,
            regions: Mutex::new(HashMap::new()),
            assumed: tokio::sync::Mutex::new(HashMap::new()),
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

    /// The operator's own clients for `region`.
    pub fn region(&self, region: &str) -> RegionClients {
        self.build(&Principal::Operator, &self.base, "", region)
    }

    /// `principal`'s clients for `region`. An assumed role's credentials come
    /// from aws-config's AssumeRoleProvider (external ID, session name and
    /// tags), cached and refreshed before expiry; a role that cannot be
    /// assumed fails each call with a credentials error.
    pub async fn clients(&self, principal: &Principal, region: &str) -> RegionClients {
        let role = match principal {
            Principal::Operator => return self.region(region),
            Principal::AssumedRole(role) => role,
        };
        if let Some(c) = lock(&self.regions).get(&(principal.clone(), region.to_string())) {
            return c.clone();
        }
        let config = {
            let mut assumed = self.assumed.lock().await;
            match assumed.get(role) {
                Some(c) => c.clone(),
                None => {
                    let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
                        .session_name(&role.session_name)
                        .session_length(std::time::Duration::from_secs(u64::from(
                            role.session_seconds,
                        )))
                        .tags(role.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .configure(&self.base);
                    if let Some(id) = &role.external_id {
                        provider = provider.external_id(id);
                    }
                    let provider = provider.build().await;
                    let config = self
                        .base
                        .to_builder()
                        .credentials_provider(
                            aws_credential_types::provider::SharedCredentialsProvider::new(
                                provider,
                            ),
                        )
                        .build();
                    assumed.insert(role.clone(), config.clone());
                    config
                }
            }
        };
        let account = principal.account().unwrap_or_default().to_string();
        self.build(principal, &config, &account, region)
    }

    fn build(
        &self,
        principal: &Principal,
        base: &SdkConfig,
        account: &str,
        region: &str,
    ) -> RegionClients {
        let mut regions = lock(&self.regions);
        regions
            .entry((principal.clone(), region.to_string()))
            .or_insert_with(|| {
                let config = base
                    .to_builder()
                    .region(Region::new(region.to_string()))
                    .build();
                let count = || CountAttempts::new(self.metrics.clone());
                let budget =
                    || budget::RegionBudget::of_account(self.budget.clone(), account, region);
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
