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

/// The SDK configuration from the default chain (environment, profile, web
/// identity for IRSA, container credentials for Pod Identity, IMDS), with
/// `AWS_ENDPOINT_URL` honoured. `region` overrides the chain's region.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}
