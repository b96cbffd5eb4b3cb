//! `kubectl batchnotify run NAME`: a new run, by a new `spec.run.trigger`
//! written with server-side apply under the plugin's own field manager, and
//! with `--wait` its outcome. A trigger a GitOps tool manages is not changed
//! without `--force`: the tool would put its value back at its next sync, and
//! that value, different from the last one, would start yet another run.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::reads::{AwsArgs, Reader};
use super::target::Target;
use super::{Error, Exit, FIELD_MANAGER, out};
use crate::api::{BatchNotification, RunOutcome, RunStatus, conditions};

#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// The BatchNotification.
    pub name: String,
    /// Wait for the run's outcome: exit 0 if its job succeeded, 1 if it
    /// failed, 2 if --timeout passed first.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait, for the run to start and (with --wait) to end.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: Duration,
    /// A parameter for this run's job (repeatable): key=value, set in
    /// spec.run.parameters for the run and removed once it started.
    #[arg(short = 'p', long = "param", value_parser = param)]
    pub params: Vec<(String, String)>,
    /// The trigger value (default: the current time, which is new each time).
    #[arg(long)]
    pub trigger: Option<String>,
    /// Change the trigger even where a GitOps tool (Argo CD, Flux) manages it.
    #[arg(long)]
    pub force: bool,
}

/// A duration as kubectl writes them: `30s`, `10m`, `1h30m`, `500ms`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|_| format!("{s}: expected a duration like 30s, 10m or 1h30m"))?;
    Duration::try_from(parsed).map_err(|_| format!("{s}: a duration cannot be negative"))
}

/// `key=value`.
pub fn param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s}: expected key=value")),
    }
}

/// The GitOps tool a field manager is, by the names Argo CD and Flux use.
pub fn gitops_tool(manager: &str) -> Option<&'static str> {
    match manager {
        m if m.starts_with("argocd") => Some("Argo CD"),
        "kustomize-controller" | "helm-controller" => Some("Flux"),
        m if m.starts_with("flux") => Some("Flux"),
        _ => None,
    }
}

/// The managers whose fields include `path` (`["f:spec", "f:run", "f:trigger"]`).
pub fn owners<'a>(managed: &'a [ManagedFieldsEntry], path: &[&str]) -> Vec<&'a str> {
    managed
        .iter()
        .filter(|m| {
            let mut at = m.fields_v1.as_ref().map(|f| &f.0);
            for key in path {
                at = at.and_then(|v| v.get(*key));
            }
            at.is_some()
        })
        .filter_map(|m| m.manager.as_deref())
        .collect()
}

/// The first field of `fields` a GitOps tool manages, refused unless forced.
fn refuse_gitops(obj: &BatchNotification, fields: &[Vec<&str>], force: bool) -> Result<(), Error> {
    if force {
        return Ok(());
    }
    let managed = obj.metadata.managed_fields.as_deref().unwrap_or_default();
    for path in fields {
        for manager in owners(managed, path) {
            if let Some(tool) = gitops_tool(manager) {
                return Err(Error::GitOpsOwned {
                    namespace: obj.metadata.namespace.clone().unwrap_or_default(),
                    name: obj.metadata.name.clone().unwrap_or_default(),
                    field: path[2..]
                        .iter()
                        .map(|k| k.trim_start_matches("f:"))
                        .collect::<Vec<_>>()
                        .join("."),
                    manager: manager.to_string(),
                    tool,
                });
            }
        }
    }
    Ok(())
}

/// The applied configuration of the plugin's fields.
fn applied(name: &str, trigger: &str, params: &BTreeMap<String, String>) -> serde_json::Value {
    let mut run = json!({ "trigger": trigger });
    if !params.is_empty() {
        run["parameters"] = json!(params);
    }
    json!({
        "apiVersion": "batchnotify.dev/v1alpha1",
        "kind": "BatchNotification",
        "metadata": { "name": name },
        "spec": { "run": run },
    })
}

pub async fn run(target: &Target, aws: &AwsArgs, args: &RunArgs) -> Result<Exit, Error> {
    let obj = target.get(&args.name).await?;
    let spec_params = obj
        .spec
        .run
        .as_ref()
        .map(|r| r.parameters())
        .unwrap_or_default();
    let mut fields = vec![vec!["f:spec", "f:run", "f:trigger"]];
    let keys: Vec<String> = args.params.iter().map(|(k, _)| format!("f:{k}")).collect();
    fields.extend(
        keys.iter()
            .map(|k| vec!["f:spec", "f:run", "f:parameters", k.as_str()]),
    );
    refuse_gitops(&obj, &fields, args.force)?;
    let trigger = args
        .trigger
        .clone()
        .unwrap_or_else(|| format!("{:.3}", jiff::Timestamp::now()));
    let params: BTreeMap<String, String> = args.params.iter().cloned().collect();
    let api = target.api();
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let patched = api
        .patch(
            &args.name,
            &pp,
            &Patch::Apply(applied(&args.name, &trigger, &params)),
        )
        .await?;
    let generation = patched.metadata.generation.unwrap_or(0);
    let deadline = tokio::time::Instant::now() + args.timeout;
    let started = until(target, &args.name, deadline, |o| {
        started(o, &trigger, generation)
    })
    .await?;
    let Some(run) = started.as_ref().and_then(|o| run_for(o, &trigger)) else {
        return timed_out(&args.name, "to start", started.as_ref(), &trigger);
    };
    // Parameters the spec did not have before are this run's only: given
    // back once the run recorded them. Those that were there keep the new value.
    let kept: BTreeMap<String, String> = params
        .iter()
        .filter(|(k, _)| spec_params.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if kept.len() != params.len() {
        api.patch(
            &args.name,
            &pp,
            &Patch::Apply(applied(&args.name, &trigger, &kept)),
        )
        .await?;
    }
    out(&format!(
        "run {} started: execution {}",
        run.sequence.unwrap_or(0),
        run.name
    ))?;
    if !args.wait {
        return Ok(Exit::Success);
    }
    let ended = until(target, &args.name, deadline, |o| {
        o.and_then(|o| run_for(o, &trigger))
            .is_none_or(|r| r.outcome.is_some())
    })
    .await?;
    let Some(run) = ended
        .as_ref()
        .and_then(|o| run_for(o, &trigger))
        .filter(|r| r.outcome.is_some())
    else {
        return timed_out(&args.name, "to end", ended.as_ref(), &trigger);
    };
    report(target, aws, ended.as_ref(), &run).await
}

/// The run `trigger` started, once status lists it.
fn run_for(obj: &BatchNotification, trigger: &str) -> Option<RunStatus> {
    let status = obj.status.as_ref()?;
    status
        .runs
        .iter()
        .find(|r| r.trigger.as_deref() == Some(trigger))
        .cloned()
}

/// Whether waiting for the start is over: the run is listed, or the object
/// is Stalled at (or past) the generation that carries the trigger.
fn started(obj: Option<&BatchNotification>, trigger: &str, generation: i64) -> bool {
    let Some(obj) = obj else { return true };
    run_for(obj, trigger).is_some() || stalled(obj, generation).is_some()
}

fn stalled(obj: &BatchNotification, generation: i64) -> Option<String> {
    let status = obj.status.as_ref()?;
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::STALLED && c.status == "True")?;
    (status.observed_generation.unwrap_or(0) >= generation)
        .then(|| format!("{}: {}", c.reason, c.message))
}

/// Watches the object until `done` or the deadline; the object as last seen.
async fn until(
    target: &Target,
    name: &str,
    deadline: tokio::time::Instant,
    done: impl Fn(Option<&BatchNotification>) -> bool,
) -> Result<Option<BatchNotification>, Error> {
    let wait = kube::runtime::wait::await_condition(target.api(), name, done);
    match tokio::time::timeout_at(deadline, wait).await {
        Ok(Ok(Some(obj))) => Ok(Some(obj)),
        Ok(Ok(None)) => Err(Error::NotFound {
            namespace: target.namespace.clone(),
            name: name.to_string(),
        }),
        Ok(Err(e)) => Err(Error::Usage(format!("watching {name}: {e}"))),
        Err(_) => Ok(target.api().get_opt(name).await?),
    }
}

fn timed_out(
    name: &str,
    what: &str,
    obj: Option<&BatchNotification>,
    trigger: &str,
) -> Result<Exit, Error> {
    if let Some(obj) = obj
        && let Some(why) = stalled(obj, obj.metadata.generation.unwrap_or(0))
        && run_for(obj, trigger).is_none()
    {
        return Err(Error::Usage(format!(
            "{name} is Stalled, no run started: {why}"
        )));
    }
    let state = obj
        .and_then(|o| run_for(o, trigger))
        .map(|r| {
            format!(
                "; the run is {} (job {})",
                r.status,
                r.job_status.unwrap_or_else(|| "not submitted".into())
            )
        })
        .unwrap_or_default();
    eprintln!("timed out waiting for the run of trigger {trigger:?} of {name} {what}{state}");
    Ok(Exit::TimedOut)
}

/// Prints how the run ended and the notification it sent.
async fn report(
    target: &Target,
    aws: &AwsArgs,
    obj: Option<&BatchNotification>,
    run: &RunStatus,
) -> Result<Exit, Error> {
    let outcome = run.outcome.unwrap_or(RunOutcome::Failed);
    let detail = [
        run.job_status.as_deref().map(|s| format!("job {s}")),
        run.exit_code.map(|c| format!("exit code {c}")),
        run.job_status_reason.clone(),
        run.error.clone(),
    ];
    let detail: Vec<String> = detail.into_iter().flatten().collect();
    out(&format!(
        "run {} {outcome:?}: {}",
        run.sequence.unwrap_or(0),
        detail.join(", ")
    ))?;
    if let Some(obj) = obj {
        match Reader::for_object(&target.client, obj, aws).await {
            Ok(reader) => match reader.sent_message(&run.execution_arn).await {
                Ok(Some((topic, text))) => {
                    out(&format!("notification sent to {topic}:"))?;
                    out(&text)?;
                }
                Ok(None) => out("no notification was sent")?,
                Err(e) => eprintln!("the notification's text could not be read: {e}"),
            },
            Err(e) => eprintln!("the notification's text could not be read: {e}"),
        }
    }
    Ok(match outcome {
        RunOutcome::Succeeded => Exit::Success,
        RunOutcome::Failed => Exit::Failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;

    fn entry(manager: &str, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn the_trigger_s_managers_are_read_from_managed_fields() {
        let managed = [
            entry(
                "argocd-controller",
                json!({"f:spec": {"f:run": {"f:trigger": {}}}}),
            ),
            entry(
                "kubectl-batchnotify",
                json!({"f:spec": {"f:run": {"f:parameters": {"f:day": {}}}}}),
            ),
            entry("batchnotify", json!({"f:status": {}})),
        ];
        assert_eq!(
            owners(&managed, &["f:spec", "f:run", "f:trigger"]),
            ["argocd-controller"]
        );
        assert_eq!(
            owners(&managed, &["f:spec", "f:run", "f:parameters", "f:day"]),
            ["kubectl-batchnotify"]
        );
        assert!(owners(&managed, &["f:spec", "f:topic"]).is_empty());
    }

    #[test]
    fn argo_cd_and_flux_are_gitops_kubectl_is_not() {
        assert_eq!(gitops_tool("argocd-controller"), Some("Argo CD"));
        assert_eq!(
            gitops_tool("argocd-application-controller"),
            Some("Argo CD")
        );
        assert_eq!(gitops_tool("kustomize-controller"), Some("Flux"));
        assert_eq!(gitops_tool("helm-controller"), Some("Flux"));
        assert_eq!(gitops_tool("kubectl-client-side-apply"), None);
        assert_eq!(gitops_tool("kubectl"), None);
        assert_eq!(gitops_tool(FIELD_MANAGER), None);
    }

    #[test]
    fn durations_and_parameters_parse_as_written() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(duration("soon").is_err());
        assert_eq!(
            param("day=2026-12-07"),
            Ok(("day".into(), "2026-12-07".into()))
        );
        assert_eq!(param("eq=a=b"), Ok(("eq".into(), "a=b".into())));
        assert!(param("=x").is_err() && param("novalue").is_err());
    }

    #[test]
    fn the_applied_configuration_holds_only_the_plugin_s_fields() {
        let none = applied("nightly", "t1", &BTreeMap::new());
        assert_eq!(none["spec"], json!({"run": {"trigger": "t1"}}));
        let params = BTreeMap::from([("day".to_string(), "mon".to_string())]);
        let some = applied("nightly", "t1", &params);
        assert_eq!(some["spec"]["run"]["parameters"], json!({"day": "mon"}));
        assert_eq!(some["metadata"], json!({"name": "nightly"}));
    }
}
