//! The `batchnotify` command: flags and wiring only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use batchnotify::controller::Config;
use batchnotify::operator::{self, LeaderElection, Options};

#[derive(Parser)]
#[command(
    name = "batchnotify",
    version,
    about = "Run an AWS Batch job through Step Functions and notify SNS, declared as a Kubernetes resource"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster in KUBECONFIG (or in-cluster) and
    /// AWS from the SDK's default chain (AWS_ENDPOINT_URL honoured).
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinition.
    Crd,
    /// Offline: print what a manifest would create — names, tags, the IAM trust
    /// and inline policy, the state machine definition — without touching AWS.
    Plan(PlanArgs),
}

#[derive(clap::Args)]
// A flag given twice takes its last value (a wrapper adding its own).
#[command(args_override_self = true)]
struct RunArgs {
    /// Names and ownership tags carry it: give every cluster sharing an AWS account its own.
    #[arg(long, env = "BATCHNOTIFY_CLUSTER_NAME", default_value = "default")]
    cluster_name: String,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "BATCHNOTIFY_NAMESPACE")]
    namespace: Option<String>,
    /// Watch only objects matching this label selector, to split the work between operators.
    #[arg(long, env = "BATCHNOTIFY_LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Region for objects without spec.region (default: the SDK's, e.g. AWS_REGION).
    #[arg(long, env = "BATCHNOTIFY_DEFAULT_REGION")]
    default_region: Option<String>,
    /// How often every owned AWS resource is re-observed and drift put back.
    #[arg(long, env = "BATCHNOTIFY_RESYNC", default_value = "10m", value_parser = humantime)]
    resync: Duration,
    /// First interval between polls of a running execution.
    #[arg(long, env = "BATCHNOTIFY_POLL_MIN", default_value = "1s", value_parser = humantime)]
    poll_min: Duration,
    /// Longest interval between polls of a running execution.
    #[arg(long, env = "BATCHNOTIFY_POLL_MAX", default_value = "30s", value_parser = humantime)]
    poll_max: Duration,
    /// The share of each AWS API's published rate quota the operator spends
    /// (the rest is left to the account's other tools).
    #[arg(long, env = "BATCHNOTIFY_AWS_QUOTA_FRACTION", default_value_t = 0.5, value_parser = share)]
    aws_quota_fraction: f64,
    /// The account's API quotas as a multiple of AWS's published defaults
    /// (after a quota increase).
    #[arg(long, env = "BATCHNOTIFY_AWS_QUOTA_SCALE", default_value_t = 1.0, value_parser = positive)]
    aws_quota_scale: f64,
    /// The share of the operator's budget resync reads may use; creation,
    /// changes and runs may use all of it.
    #[arg(long, env = "BATCHNOTIFY_RESYNC_BUDGET_SHARE", default_value_t = 0.5, value_parser = share)]
    resync_budget_share: f64,
    /// Deny unless granted: objects in a namespace no AccessGrant selects are
    /// Stalled (AccessNotGranted) instead of using the operator's own identity.
    #[arg(long, env = "BATCHNOTIFY_REQUIRE_GRANT")]
    require_grant: bool,
    /// Event mode: learn of execution ends from Step Functions' EventBridge
    /// events through an SQS queue the operator creates and owns (one rule
    /// and one queue per region), instead of polling each execution.
    #[arg(long, env = "BATCHNOTIFY_EVENTS")]
    events: bool,
    /// In event mode, how often a running execution is still described, in
    /// case its event was missed.
    #[arg(long, env = "BATCHNOTIFY_EVENT_POLL", default_value = "5m", value_parser = humantime)]
    event_poll: Duration,
    /// Reconciles at once.
    #[arg(long, env = "BATCHNOTIFY_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "BATCHNOTIFY_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Elect a leader on a coordination.k8s.io Lease; only the leader reconciles.
    #[arg(long, env = "BATCHNOTIFY_LEADER_ELECTION")]
    leader_election: bool,
    #[arg(long, env = "BATCHNOTIFY_LEASE_NAME", default_value = "batchnotify")]
    lease_name: String,
    /// Namespace of the Lease (default: the pod's, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "batchnotify-system")]
    lease_namespace: String,
    #[arg(long, env = "BATCHNOTIFY_LEASE_DURATION", default_value = "15s", value_parser = humantime)]
    lease_duration: Duration,
    /// This replica's identity in the Lease and in Events (default: the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log as JSON lines.
    #[arg(long, env = "BATCHNOTIFY_LOG_JSON")]
    log_json: bool,
    /// Log level (an env-filter directive; RUST_LOG wins).
    #[arg(long, env = "BATCHNOTIFY_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// How long a graceful shutdown may take.
    #[arg(long, default_value = "10s", value_parser = humantime)]
    shutdown_timeout: Duration,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// The manifest (YAML; one BatchNotification).
    #[arg(short = 'f', long)]
    file: PathBuf,
    /// The AWS account the operator runs in.
    #[arg(long, env = "AWS_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,
    /// Region when the manifest has no spec.region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    #[arg(long, env = "BATCHNOTIFY_CLUSTER_NAME", default_value = "default")]
    cluster_name: String,
    /// Namespace when the manifest has none.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Output format: yaml (strings a YAML 1.1 reader would retype are quoted) or json.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: PlanOutput,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PlanOutput {
    Yaml,
    Json,
}

/// A number in (0, 1].
fn share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!(
            "{s}: expected a number greater than 0 and at most 1"
        )),
    }
}

/// A finite number above 0.
fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("{s}: expected a number greater than 0")),
    }
}

/// "10m", "30s", "1500ms", "1h".
fn humantime(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s}: expected a duration like 30s, 10m, 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s}: unknown unit {unit} (ms, s, m, h)")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match batchnotify::api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("batchnotify crd: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plan(args) => {
            let input = match std::fs::read_to_string(&args.file) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("batchnotify plan: {}: {e}", args.file.display());
                    return ExitCode::FAILURE;
                }
            };
            match batchnotify::plan::render(
                &input,
                &args.cluster_name,
                &args.namespace,
                &args.region,
                &args.account_id,
                match args.output {
                    PlanOutput::Yaml => batchnotify::plan::Format::Yaml,
                    PlanOutput::Json => batchnotify::plan::Format::Json,
                },
            ) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("batchnotify plan: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(args) => {
            batchnotify::telemetry::init(&args.log_level, args.log_json);
            let identity = args.identity.clone().unwrap_or_else(|| {
                std::env::var("HOSTNAME")
                    .unwrap_or_else(|_| format!("batchnotify-{}", std::process::id()))
            });
            let opts = Options {
                controller: Config {
                    cluster_name: args.cluster_name,
                    resync: args.resync,
                    poll_min: args.poll_min,
                    poll_max: args.poll_max,
                    default_region: args.default_region,
                    concurrency: args.concurrency,
                    namespace: args.namespace,
                    label_selector: args.label_selector,
                    instance: Some(identity.clone()),
                    events: args.events,
                    event_poll: args.event_poll,
                    require_grant: args.require_grant,
                },
                admin_addr: args.admin_addr,
                leader_election: args.leader_election.then_some(LeaderElection {
                    lease_name: args.lease_name,
                    lease_namespace: args.lease_namespace,
                    identity,
                    duration: args.lease_duration,
                }),
                shutdown_timeout: args.shutdown_timeout,
                budget: batchnotify::aws::budget::Settings {
                    fraction: args.aws_quota_fraction,
                    scale: args.aws_quota_scale,
                    background_share: args.resync_budget_share,
                },
            };
            match operator::run(opts).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    eprintln!("batchnotify: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
