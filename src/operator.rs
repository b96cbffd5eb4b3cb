//! `batchnotify run`: clients, the admin server, leader election, the
//! controller, and a bounded graceful shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use crate::admin::{self, Health};
use crate::aws::{self, Aws};
use crate::controller::{self, Context};
use crate::metrics::{KubeRequests, Metrics};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no Kubernetes client configuration (KUBECONFIG or in-cluster): {0}")]
    KubeConfig(#[from] kube::config::InferConfigError),
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("admin server on {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lost the leader lease; exiting so that another replica takes over")]
    LostLease,
}

/// Leader election on a coordination.k8s.io Lease.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub lease_name: String,
    pub lease_namespace: String,
    pub identity: String,
    pub duration: Duration,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub controller: controller::Config,
    pub admin_addr: SocketAddr,
    pub leader_election: Option<LeaderElection>,
    /// How much of AWS's API quotas the operator spends.
    pub budget: aws::budget::Settings,
    /// How long shutdown may take before the process exits anyway.
    pub shutdown_timeout: Duration,
}

/// Resolves once SIGTERM or SIGINT arrives.
async fn signalled() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn until_true(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

pub async fn run(mut opts: Options) -> Result<(), OperatorError> {
    let metrics = Arc::new(Metrics::new());
    // Client::try_default's client, with every request counted.
    let client = kube::client::ClientBuilder::try_from(kube::Config::infer().await?)?
        .with_layer(&KubeRequests(metrics.clone()))
        .build();
    let sdk = aws::sdk_config(None).await;
    let aws = Aws::new(sdk, metrics.clone(), opts.budget);
    if opts.controller.default_region.is_none() {
        opts.controller.default_region = aws.default_region();
    }
    let health = Arc::new(Health::default());

    let (stop_tx, stop_rx) = watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            signalled().await;
            tracing::info!("shutdown requested");
            let _ = stop_tx.send(true);
        });
    }

    let addr = opts.admin_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| OperatorError::Admin { addr, source })?;
    let admin = tokio::spawn(admin::serve(
        listener,
        metrics.clone(),
        health.clone(),
        until_true(stop_rx.clone()),
    ));

    client.apiserver_version().await?;
    // Ready means "this replica can serve": a standby is ready too, or a
    // Deployment with two replicas would never become Available.
    health.ready.store(true, Ordering::Relaxed);

    // With leader election, wait to lead; stop when the lease is lost.
    let mut lost_rx = None;
    let mut lease = None;
    if let Some(le) = &opts.leader_election {
        let manager = LeaseManagerBuilder::new(client.clone(), &le.lease_name)
            .with_namespace(&le.lease_namespace)
            .with_identity(&le.identity)
            .with_duration(le.duration.as_secs().max(2))
            .with_grace((le.duration.as_secs() / 3).max(1))
            .build()
            .await?;
        let (mut leading, lease_task) = manager.watch().await;
        tracing::info!(identity = %le.identity, lease = %le.lease_name, "waiting for the leader lease");
        let mut stop = stop_rx.clone();
        tokio::select! {
            r = leading.wait_for(|v| *v) => { if r.is_err() { return Err(OperatorError::LostLease); } }
            _ = stop.wait_for(|v| *v) => { return Ok(()); }
        }
        tracing::info!(identity = %le.identity, "leading");
        metrics.set_leader(true);
        let (lost_tx, rx) = watch::channel(false);
        let stop_tx = stop_tx.clone();
        let watcher = tokio::spawn(async move {
            let _ = leading.wait_for(|v| !*v).await;
            let _ = lost_tx.send(true);
            let _ = stop_tx.send(true);
        });
        lost_rx = Some(rx);
        lease = Some((watcher, lease_task));
    }

    if opts.leader_election.is_none() {
        metrics.set_leader(true);
    }
    let ctx = Arc::new(Context::new(
        client,
        aws,
        opts.controller.clone(),
        metrics.clone(),
    ));
    let controller = tokio::spawn(controller::run(ctx, until_true(stop_rx.clone())));

    let mut stop = stop_rx.clone();
    let _ = stop.wait_for(|v| *v).await;
    health.ready.store(false, Ordering::Relaxed);
    metrics.set_leader(false);
    // Bounded: a controller that cannot reach its API server may not stop by itself.
    if tokio::time::timeout(opts.shutdown_timeout, controller)
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?opts.shutdown_timeout, "controller did not stop in time; exiting");
    }
    // Dropping the last receiver makes the lease manager release the lease,
    // so the next leader takes over at once instead of after its duration.
    if let Some((watcher, lease_task)) = lease {
        watcher.abort();
        let _ = watcher.await;
        let _ = tokio::time::timeout(Duration::from_secs(3), lease_task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), admin).await;
    if lost_rx.is_some_and(|rx| *rx.borrow()) {
        return Err(OperatorError::LostLease);
    }
    Ok(())
}
