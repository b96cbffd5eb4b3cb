//! What the plugin tells its user when it cannot do what was asked, and the
//! exit codes scripts read.

/// The plugin's exit codes: `0` the run (or job) succeeded or the command did
/// its work, `1` the run or its job failed, `2` `--wait` timed out, `3` the
/// command could not do its work (the message on stderr says why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failed = 1,
    TimedOut = 2,
    Error = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// Why a command could not do its work. Each message names the object, the
/// run, the field or the AWS action concerned, and what would help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("reading the kubeconfig: {0}")]
    KubeConfig(String),
    #[error("the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("batchnotification {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("batchnotification {namespace}/{name} has no run {run} (status.runs lists {listed})")]
    NoSuchRun {
        namespace: String,
        name: String,
        run: String,
        listed: String,
    },
    #[error(
        "batchnotification {namespace}/{name} has no AWS region or account in its status yet: \
         the operator has not reconciled it"
    )]
    NotReconciled { namespace: String, name: String },
    #[error("run {run} has no Batch job {why}")]
    NoJob { run: String, why: String },
    #[error(
        "run {run}: job {job_id} is {status}{reason}: no attempt has started, so there is no \
         log yet (use -f to wait for it)"
    )]
    NotStarted {
        run: String,
        job_id: String,
        status: String,
        reason: String,
    },
    #[error(
        "run {run}: Batch no longer describes job {job_id} (AWS keeps finished jobs for about 7 days){more}"
    )]
    JobGone {
        run: String,
        job_id: String,
        more: String,
    },
    #[error(
        "not allowed to call {action} on {resource} as {caller}: {message}\n\
         (the plugin reads with your own AWS credentials; deploy/iam/plugin-policy.json is the \
         read-only policy it needs)"
    )]
    Denied {
        action: String,
        resource: String,
        caller: String,
        message: String,
    },
    #[error("{action} on {resource}: {message}")]
    Aws {
        action: String,
        resource: String,
        message: String,
    },
    #[error("{0}")]
    Identity(String),
    #[error(
        "spec.run.{field} of {namespace}/{name} is managed by {manager} ({tool}): a change made \
         here would be reverted at its next sync, and the reverted value would start another run. \
         Change it in Git, or pass --force to change it anyway"
    )]
    GitOpsOwned {
        namespace: String,
        name: String,
        field: String,
        manager: String,
        tool: &'static str,
    },
    #[error("writing the output: {0}")]
    Output(String),
    /// stdout was closed (`| head`): stop quietly.
    #[error("output closed")]
    ClosedOutput,
}

impl Error {
    /// The exit code this error ends the command with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::ClosedOutput => Exit::Success,
            _ => Exit::Error,
        }
    }
}
