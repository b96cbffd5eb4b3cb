//! What the scenarios share: the stack a user already has, manifests, waits,
//! the scan of the emulator for our tags, and a watch that catches status
//! fields going backwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batchnotify::api::BatchNotification;
use batchnotify::api::conditions::is_true;
use batchnotify::desired::tags;
use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use crate::support::faults::AwsProxy;
use crate::support::{Ctx, Operator, batch_stack, example};

/// The operator for `ctx`'s namespace, its AWS calls going through `proxy`.
pub fn operator_behind(ctx: &Ctx, proxy: &AwsProxy) -> Operator {
    Operator::start_with_env(
        &ctx.ns,
        &format!("op-{}", ctx.ns),
        &[],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    )
}

/// `RELIABILITY_KILLS`: SIGKILLs in the crash scenario (default 5, the short version).
pub fn kills() -> u64 {
    std::env::var("RELIABILITY_KILLS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(5)
}

/// A generous limit for anything the operator must reach by itself: the
/// machine is shared, and backoffs after faults reach tens of seconds.
pub const CONVERGE: Duration = Duration::from_secs(300);

/// A job queue and job definition that exist before any BatchNotification
/// (referenced by ARN, never ours to change).
pub struct Stack {
    pub queue: String,
    pub job_definition: String,
}

pub async fn referenced_stack(ctx: &Ctx) -> Stack {
    let (queue, job_definition) = batch_stack(&ctx.aws, &ctx.prefix, "report").await;
    Stack {
        queue,
        job_definition,
    }
}

/// Existing queue and job definition, a managed topic, a run per trigger.
pub fn runnable(name: &str, stack: &Stack, trigger: &str) -> Value {
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!(name);
    obj["spec"]["jobQueue"] = json!({"arn": stack.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": stack.job_definition});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["run"] = json!({"trigger": trigger});
    obj["spec"]["deletionPolicy"] = json!("Delete");
    obj
}

/// The seed sample, everything managed (compute environment to state machine).
pub fn managed(name: &str, trigger: &str) -> Value {
    let mut obj = example("sample.yaml");
    obj["metadata"]["name"] = json!(name);
    obj["spec"]["run"] = json!({"trigger": trigger});
    obj
}

pub fn condition(o: &BatchNotification, type_: &str) -> Option<(String, String, String)> {
    Ctx::condition(o, type_)
}

/// Ready=True for the current generation.
pub fn converged(o: &BatchNotification) -> bool {
    let s = o.status.clone().unwrap_or_default();
    s.observed_generation == o.metadata.generation && is_true(&s.conditions, "Ready")
}

/// Converged, and the run of `trigger` has its outcome in status.
pub fn ran(o: &BatchNotification, trigger: &str) -> bool {
    let s = o.status.clone().unwrap_or_default();
    converged(o)
        && s.last_trigger.as_deref() == Some(trigger)
        && s.last_run
            .as_ref()
            .is_some_and(|r| r.outcome.is_some() && r.trigger.as_deref() == Some(trigger))
}

pub async fn wait_ran(ctx: &Ctx, name: &str, trigger: &str) -> BatchNotification {
    ctx.wait(
        name,
        &format!("{name}: Ready and the run of trigger {trigger:?} finished"),
        CONVERGE,
        |o| ran(o, trigger),
    )
    .await
}

pub async fn wait_gone(ctx: &Ctx, name: &str) {
    let api = ctx.api();
    crate::support::eventually(&format!("{name} to be deleted"), CONVERGE, || {
        let api = api.clone();
        async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
    })
    .await
}

/// A Batch queue or compute environment on its way out (AWS keeps listing
/// it as DELETING, then DELETED, for a while).
fn deleting(status: Option<&str>) -> bool {
    matches!(status, Some("DELETING" | "DELETED"))
}

/// The names of every execution of `machine`.
pub async fn executions(ctx: &Ctx, machine: &str) -> Vec<String> {
    crate::support::execution_names(&ctx.aws, machine, None).await
}

/// Executions that are not the one run of a trigger this object was given:
/// (duplicates or strangers, the triggers with no execution). Triggers are
/// distinct values; a run's name also carries its sequence number, which a
/// trigger replaced before the operator saw it leaves unused.
pub fn check_executions(
    uid: &str,
    triggers: &[String],
    found: &[String],
) -> (Vec<String>, Vec<String>) {
    let most = (found.len() + triggers.len() + 1) as u64;
    let trigger_of = |name: &str| {
        triggers.iter().find(|t| {
            (1..=most).any(|s| batchnotify::desired::execution_name_for_trigger(uid, s, t) == name)
        })
    };
    let mut seen = BTreeSet::new();
    let unexpected = found
        .iter()
        .filter(|n| match trigger_of(n) {
            None => true,
            Some(t) => !seen.insert(t.clone()),
        })
        .cloned()
        .collect();
    let missing = triggers
        .iter()
        .filter(|t| !found.iter().any(|n| trigger_of(n) == Some(*t)))
        .cloned()
        .collect();
    (unexpected, missing)
}

/// An AWS resource carrying our namespace's ownership tags.
#[derive(Clone, Debug)]
pub struct Owned {
    pub kind: &'static str,
    pub id: String,
    pub tags: BTreeMap<String, String>,
}

impl Owned {
    pub fn uid(&self) -> Option<&str> {
        self.tags.get(tags::UID).map(String::as_str)
    }
}

fn ours(ns: &str, tags: &BTreeMap<String, String>) -> bool {
    tags.get(tags::NAMESPACE).map(String::as_str) == Some(ns)
}

/// Every topic, role, state machine, job queue, compute environment and
/// ACTIVE job definition in the emulator whose namespace tag is `ns`.
pub async fn owned_in(ctx: &Ctx, ns: &str) -> Vec<Owned> {
    let mut out = Vec::new();
    let named = |name: &str| name.starts_with("bn-");

    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let mut token = None;
    loop {
        let page = sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .expect("list topics");
        for t in page.topics() {
            let Some(arn) = t.topic_arn() else { continue };
            if !named(arn.rsplit(':').next().unwrap_or_default()) {
                continue;
            }
            let Ok(tags) = sns.list_tags_for_resource().resource_arn(arn).send().await else {
                continue;
            };
            let tags: BTreeMap<_, _> = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            if ours(ns, &tags) {
                out.push(Owned {
                    kind: "SNS topic",
                    id: arn.to_string(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }

    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let mut marker = None;
    loop {
        let page = iam
            .list_roles()
            .set_marker(marker)
            .send()
            .await
            .expect("list roles");
        for r in page.roles() {
            if !named(r.role_name()) {
                continue;
            }
            let Ok(tags) = iam.list_role_tags().role_name(r.role_name()).send().await else {
                continue;
            };
            let tags: BTreeMap<_, _> = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            if ours(ns, &tags) {
                out.push(Owned {
                    kind: "IAM role",
                    id: r.role_name().to_string(),
                    tags,
                });
            }
        }
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }

    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let mut token = None;
    loop {
        let page = sfn
            .list_state_machines()
            .set_next_token(token)
            .send()
            .await
            .expect("list state machines");
        for m in page.state_machines() {
            if !named(m.name()) {
                continue;
            }
            let Ok(tags) = sfn
                .list_tags_for_resource()
                .resource_arn(m.state_machine_arn())
                .send()
                .await
            else {
                continue;
            };
            let tags: BTreeMap<_, _> = tags
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            if ours(ns, &tags) {
                out.push(Owned {
                    kind: "state machine",
                    id: m.state_machine_arn().to_string(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }

    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let batch_tags = |t: Option<&HashMap<String, String>>| -> BTreeMap<String, String> {
        t.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let mut token = None;
    loop {
        let page = batch
            .describe_job_queues()
            .set_next_token(token)
            .send()
            .await
            .expect("describe job queues");
        for q in page.job_queues() {
            let tags = batch_tags(q.tags());
            // AWS lists a queue being deleted, then deleted, for a while.
            if ours(ns, &tags) && !deleting(q.status().map(|s| s.as_str())) {
                out.push(Owned {
                    kind: "job queue",
                    id: q.job_queue_arn().unwrap_or_default().to_string(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let page = batch
            .describe_compute_environments()
            .set_next_token(token)
            .send()
            .await
            .expect("describe compute environments");
        for c in page.compute_environments() {
            let tags = batch_tags(c.tags());
            if ours(ns, &tags) && !deleting(c.status().map(|s| s.as_str())) {
                out.push(Owned {
                    kind: "compute environment",
                    id: c.compute_environment_arn().unwrap_or_default().to_string(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let page = batch
            .describe_job_definitions()
            .status("ACTIVE")
            .set_next_token(token)
            .send()
            .await
            .expect("describe job definitions");
        for d in page.job_definitions() {
            let tags = batch_tags(d.tags());
            if ours(ns, &tags) && d.status() != Some("INACTIVE") {
                out.push(Owned {
                    kind: "job definition",
                    id: d.job_definition_arn().unwrap_or_default().to_string(),
                    tags,
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out
}

/// Resources that carry the tags of an object that is no longer there, or
/// more than one ACTIVE job definition revision of a live object.
pub fn leaks(owned: &[Owned], live: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut revisions: BTreeMap<&str, u32> = BTreeMap::new();
    for o in owned {
        match o.uid() {
            Some(uid) if live.contains(uid) => {
                if o.kind == "job definition" {
                    *revisions.entry(uid).or_default() += 1;
                }
            }
            uid => found.push(format!("{} {} (uid {uid:?})", o.kind, o.id)),
        }
    }
    for (uid, n) in revisions {
        if n > 1 {
            found.push(format!("{n} ACTIVE job definition revisions for uid {uid}"));
        }
    }
    found
}

/// The operator's logs hold no panic.
pub fn assert_no_panic(op: &Operator) {
    let logs = op.all_logs();
    assert!(
        !logs.contains("panicked"),
        "the operator panicked:\n{}",
        logs.lines()
            .filter(|l| l.contains("panicked"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------- status history

#[derive(Default)]
struct Track {
    name: String,
    observed_generation: Option<i64>,
    runs: usize,
    /// lastTrigger values in the order seen.
    triggers: Vec<String>,
    /// Executions seen with an outcome.
    finished: BTreeSet<String>,
}

#[derive(Default)]
struct Seen {
    tracks: HashMap<String, Track>,
    regressions: Vec<String>,
    updates: u64,
}

/// Watches every BatchNotification of a namespace and notes any status field
/// going backwards for a live object: observedGeneration, the number of runs,
/// lastTrigger returning to an older value, a run losing its outcome.
pub struct History {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    pub fn watch(ctx: &Ctx) -> History {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        let api = ctx.api();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(event) = stream.next().await {
                if let Ok(obj) = event {
                    let mut seen = shared.lock().unwrap_or_else(|p| p.into_inner());
                    observe(&mut seen, &obj);
                }
            }
        });
        History { seen, task }
    }

    pub fn regressions(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .regressions
            .clone()
    }

    /// Object versions observed.
    pub fn updates(&self) -> u64 {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).updates
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn observe(seen: &mut Seen, obj: &BatchNotification) {
    let Some(uid) = obj.uid() else { return };
    let Some(status) = obj.status.as_ref() else {
        return;
    };
    seen.updates += 1;
    let track = seen.tracks.entry(uid.clone()).or_insert_with(|| Track {
        name: obj.name_any(),
        ..Track::default()
    });
    let mut found = Vec::new();
    if let (Some(before), Some(now)) = (track.observed_generation, status.observed_generation)
        && now < before
    {
        found.push(format!("observedGeneration {before} -> {now}"));
    }
    if status.observed_generation.is_some() {
        track.observed_generation = status.observed_generation.max(track.observed_generation);
    }
    if status.runs.len() < track.runs {
        found.push(format!("runs {} -> {}", track.runs, status.runs.len()));
    }
    track.runs = track.runs.max(status.runs.len());
    if let Some(t) = status.last_trigger.as_ref()
        && track.triggers.last() != Some(t)
    {
        if track.triggers.contains(t) {
            found.push(format!(
                "lastTrigger went back to {t:?} after {:?}",
                track.triggers.last()
            ));
        }
        track.triggers.push(t.clone());
    }
    for run in status.runs.iter().chain(status.last_run.iter()) {
        if run.outcome.is_some() {
            track.finished.insert(run.name.clone());
        } else if track.finished.contains(&run.name) {
            found.push(format!("run {} lost its outcome", run.name));
        }
    }
    let name = track.name.clone();
    seen.regressions.extend(found.into_iter().map(|f| {
        format!(
            "{name} (uid {uid}, resourceVersion {:?}): {f}",
            obj.resource_version()
        )
    }));
}
