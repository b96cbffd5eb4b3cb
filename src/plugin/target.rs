//! The cluster and the object a command is about, found as kubectl finds
//! them: `--kubeconfig` (else KUBECONFIG, ~/.kube/config or in-cluster),
//! `--context`, and `-n` (else the context's namespace, else `default`).

use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Error;
use crate::api::BatchNotification;

/// The kubectl-style flags every command takes.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KubeArgs {
    /// The namespace of the BatchNotification (default: the context's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
}

/// A client and the namespace commands act in.
pub struct Target {
    pub client: kube::Client,
    pub namespace: String,
}

impl Target {
    pub async fn connect(args: &KubeArgs) -> Result<Target, Error> {
        let options = KubeConfigOptions {
            context: args.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &args.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .map_err(|e| Error::KubeConfig(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(file, &options).await
            }
            None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await,
            None => {
                return Self::with(
                    kube::Config::infer()
                        .await
                        .map_err(|e| Error::KubeConfig(e.to_string()))?,
                    args,
                );
            }
        }
        .map_err(|e| Error::KubeConfig(e.to_string()))?;
        Self::with(config, args)
    }

    fn with(config: kube::Config, args: &KubeArgs) -> Result<Target, Error> {
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        Ok(Target {
            client: kube::Client::try_from(config)?,
            namespace,
        })
    }

    pub fn api(&self) -> Api<BatchNotification> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The object `name`, or a message saying it does not exist here.
    pub async fn get(&self, name: &str) -> Result<BatchNotification, Error> {
        self.api()
            .get_opt(name)
            .await?
            .ok_or_else(|| Error::NotFound {
                namespace: self.namespace.clone(),
                name: name.to_string(),
            })
    }
}
