//! `kubectl batchnotify`: the kubectl plugin (issue #26). A run's Batch job
//! logs from CloudWatch Logs, a run started and waited for, the runs table.
//!
//! Kubernetes is read with the user's kubeconfig (the plugin writes one
//! field, `spec.run.trigger`, by server-side apply under its own field
//! manager); AWS is read with the user's own credentials from the SDK's
//! default chain, or the namespace's AccessGrant role when the run's account
//! is not the caller's. Every AWS call here is a read ([`reads`]).

pub mod error;
pub mod logs;
pub mod reads;
pub mod runs;
pub mod target;
pub mod trigger;

pub use error::{Error, Exit};

/// The field manager of the plugin's server-side applies: GitOps tools and
/// `kubectl get --show-managed-fields` show who changed the trigger.
pub const FIELD_MANAGER: &str = "kubectl-batchnotify";

/// Which run of an object a command is about: `latest` (the newest in
/// `status.runs`), a sequence number, or an execution's name or ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunSelector {
    Latest,
    Sequence(u64),
    Execution(String),
}

impl std::str::FromStr for RunSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("expected latest, a run's sequence number or an execution name".into());
        }
        if s.eq_ignore_ascii_case("latest") {
            return Ok(RunSelector::Latest);
        }
        Ok(match s.parse::<u64>() {
            Ok(n) => RunSelector::Sequence(n),
            Err(_) => RunSelector::Execution(s.to_string()),
        })
    }
}

/// The run `selector` names among `runs` (newest first, as status keeps them).
pub fn select_run<'a>(
    runs: &'a [crate::api::RunStatus],
    selector: &RunSelector,
) -> Option<&'a crate::api::RunStatus> {
    match selector {
        RunSelector::Latest => runs.first(),
        RunSelector::Sequence(n) => runs.iter().find(|r| r.sequence == Some(*n)),
        RunSelector::Execution(e) => runs.iter().find(|r| &r.name == e || &r.execution_arn == e),
    }
}

/// A line written to stdout; a closed pipe (`| head`) ends the command
/// quietly instead of panicking as `println!` would.
pub fn out(line: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::ClosedOutput),
        Err(e) => Err(Error::Output(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RunStatus;

    fn run(seq: u64, name: &str) -> RunStatus {
        RunStatus {
            name: name.into(),
            sequence: Some(seq),
            execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:sm:{name}"),
            status: "SUCCEEDED".into(),
            ..RunStatus::default()
        }
    }

    #[test]
    fn runs_are_selected_by_latest_sequence_name_or_arn() {
        let runs = [run(3, "c"), run(2, "b"), run(1, "a")];
        let pick = |s: &str| select_run(&runs, &s.parse().unwrap()).map(|r| r.name.clone());
        assert_eq!(pick("latest").as_deref(), Some("c"));
        assert_eq!(pick("2").as_deref(), Some("b"));
        assert_eq!(pick("a").as_deref(), Some("a"));
        assert_eq!(
            pick("arn:aws:states:us-east-1:123456789012:execution:sm:b").as_deref(),
            Some("b")
        );
        assert_eq!(pick("9"), None);
        assert!("".parse::<RunSelector>().is_err());
        assert_eq!(select_run(&[], &RunSelector::Latest), None);
    }
}
