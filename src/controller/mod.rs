//! The controller: a kube-runtime `Controller` over BatchNotifications whose
//! reconcile is wrapped in a finalizer (Apply: [`reconcile::apply`], Cleanup:
//! [`cleanup::cleanup`]).

mod access;
mod cleanup;
pub mod error;
mod events;
mod executions;
mod managers;
mod memory;
mod progress;
mod reconcile;
mod references;
mod report;
pub mod resync;
pub mod status;
mod validate;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Predicate, predicates};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::Instrument;

pub use error::{Error, Problem};

use crate::api::reason::Reason;
use crate::api::{AccessGrant, BatchNotification};
use crate::aws::Aws;
use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::Namespace;

/// The finalizer that guards AWS cleanup.
pub const FINALIZER: &str = "batchnotify.dev/cleanup";
/// `"true"` lets the operator adopt an untagged resource, or one tagged for
/// this namespace/name under an older UID (a cluster rebuilt from Git).
pub const ADOPT_ANNOTATION: &str = "batchnotify.dev/adopt";

/// The operator's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Names and tags carry it, so two clusters sharing an account never collide.
    pub cluster_name: String,
    /// How often every owned resource is re-observed and drift put back.
    pub resync: Duration,
    /// First and longest interval between DescribeExecution polls of a running execution.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// Region for objects without `spec.region`.
    pub default_region: Option<String>,
    /// Reconciles at once.
    pub concurrency: u16,
    /// Watch one namespace (all when `None`).
    pub namespace: Option<String>,
    /// Watch only objects with these labels (a label selector), to split the work.
    pub label_selector: Option<String>,
    /// Identity in Events (`reportingInstance`), e.g. the pod name.
    pub instance: Option<String>,
    /// Event mode: learn of execution ends from EventBridge through an SQS
    /// queue the operator owns, instead of polling DescribeExecution.
    pub events: bool,
    /// In event mode, how often a running execution is still described (a
    /// missed event).
    pub event_poll: Duration,
    /// Objects in a namespace no AccessGrant selects are refused
    /// (`AccessNotGranted`) instead of using the operator's own identity.
    pub require_grant: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster_name: "default".into(),
            resync: Duration::from_secs(600),
            poll_min: Duration::from_secs(1),
            poll_max: Duration::from_secs(30),
            default_region: None,
            concurrency: 16,
            namespace: None,
            label_selector: None,
            instance: None,
            events: false,
            event_poll: Duration::from_secs(300),
            require_grant: false,
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub aws: Aws,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    recorder: Recorder,
    account: tokio::sync::OnceCell<String>,
    /// When each object's AWS resources are observed next.
    schedule: resync::Schedule,
    /// Objects in the watch cache (the resync period is shared among them).
    objects: AtomicUsize,
    /// Resync passes at once: at most half the reconciles, so creation and
    /// runs always find a free one.
    resync_slots: tokio::sync::Semaphore,
    /// Everything remembered per object: its resync entry, where its last
    /// failed pass stopped, its latest failure, its executions' poll times.
    memory: Arc<memory::Memory>,
    /// Referenced ARNs recently observed, with what was found.
    references: Mutex<HashMap<String, (Instant, references::Facts)>>,
    /// The AccessGrants and Namespaces the access stage reads.
    grants: access::Grants,
    /// Per object: how far its last full pass got when it stopped on a problem.
    progress: progress::Progress,
    /// Event mode's routes, inbox and consumers.
    events: Arc<events::Events>,
    /// The controller's watch cache, once it runs.
    store: std::sync::OnceLock<reflector::Store<BatchNotification>>,
}

/// The object carries the adoption annotation.
fn adopt(obj: &BatchNotification) -> bool {
    obj.annotations()
        .get(ADOPT_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// How long a referenced resource, once seen, is taken to still exist.
const REFERENCE_TTL: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Context {
    pub fn new(client: Client, aws: Aws, config: Config, metrics: Arc<Metrics>) -> Context {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.into(),
            instance: config.instance.clone(),
        };
        let memory = Arc::new(memory::Memory::default());
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            schedule: resync::Schedule::new(config.resync, memory.clone()),
            objects: AtomicUsize::new(0),
            resync_slots: tokio::sync::Semaphore::new(usize::from(config.concurrency / 2).max(1)),
            client,
            aws,
            account: tokio::sync::OnceCell::new(),
            references: Mutex::new(HashMap::new()),
            grants: access::Grants::default(),
            progress: progress::Progress::new(memory.clone()),
            events: Arc::new(events::Events::new(
                &config,
                metrics.clone(),
                memory.clone(),
            )),
            memory,
            store: std::sync::OnceLock::new(),
            config,
            metrics,
        }
    }

    fn reference_recently_seen(&self, arn: &str) -> Option<references::Facts> {
        lock(&self.references)
            .get(arn)
            .filter(|(seen, _)| seen.elapsed() < REFERENCE_TTL)
            .map(|(_, facts)| facts.clone())
    }

    fn reference_seen(&self, arn: &str, facts: references::Facts) {
        let mut references = lock(&self.references);
        references.retain(|_, (seen, _)| seen.elapsed() < REFERENCE_TTL);
        references.insert(arn.to_string(), (Instant::now(), facts));
    }

    /// The account of the operator's credentials, asked once.
    pub async fn account_id(&self) -> Result<String, Problem> {
        self.account
            .get_or_try_init(|| self.aws.account_id())
            .await
            .cloned()
            .map_err(|e| Problem::aws("STS GetCallerIdentity", &e))
    }

    /// What a full pass converges: the object's identity, what its AWS
    /// resources are made from, whether it may adopt, and the grants that
    /// judge it.
    fn converged(&self, obj: &BatchNotification) -> resync::Converged {
        resync::Converged {
            uid: obj.uid(),
            infrastructure: crate::desired::resources::infrastructure_fingerprint(&obj.spec),
            adopt: adopt(obj),
            access: self
                .grants
                .fingerprint(&obj.namespace().unwrap_or_default()),
        }
    }

    /// What this reconcile does with the infrastructure (see [`resync`]).
    fn pass_for(&self, obj: &BatchNotification) -> resync::Pass {
        let ready = obj.status.as_ref().is_some_and(|s| {
            crate::api::conditions::is_true(&s.conditions, crate::api::conditions::READY)
        });
        let objects = self.objects.load(Ordering::Relaxed).max(1);
        let period = self.resync_period(objects);
        let key = ObjectRef::from_obj(obj);
        let now = self.converged(obj);
        let settled = obj
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation == obj.metadata.generation);
        if ready && settled {
            self.schedule.seen_converged(&key, &now);
        }
        self.schedule.pass(&key, &now, ready, period, objects)
    }

    /// Whether `obj` has run work that a resync pass must not hold up: a
    /// trigger whose run is not started, or a followed run whose end its
    /// event brought. Its due resync then takes a later slot, and the run
    /// is served now, at foreground priority.
    fn runs_waiting(&self, obj: &BatchNotification) -> bool {
        obj.status.as_ref().is_some_and(|status| {
            crate::desired::runs::runs_waiting(obj.spec.run.as_ref(), status, |arn| {
                self.events.finished(arn).is_some()
            })
        })
    }

    /// Why `obj`'s due resync pass does not run now, if it does not: its
    /// own run work goes first (`runs`), or creation, changes and runs wait
    /// for the budget (`budget`: the reads would queue behind theirs, or
    /// delay them), unless it has been deferred past twice the period.
    fn resync_deferred(&self, obj: &BatchNotification) -> Option<&'static str> {
        if self.runs_waiting(obj) {
            return Some("runs");
        }
        let objects = self.objects.load(Ordering::Relaxed).max(1);
        let key = ObjectRef::from_obj(obj);
        (self.aws.budget().pressed() && !self.schedule.overdue(&key, self.resync_period(objects)))
            .then_some("budget")
    }

    /// `obj`'s resync found no free pass: it takes a later slot.
    fn postpone_resync(&self, obj: &BatchNotification) {
        let objects = self.objects.load(Ordering::Relaxed).max(1);
        let period = self.resync_period(objects);
        self.schedule
            .postpone(&ObjectRef::from_obj(obj), period, objects);
    }

    /// The resync period in force for `objects` objects.
    fn resync_period(&self, objects: usize) -> Duration {
        let floor = self
            .aws
            .budget()
            .resync_floor(objects, self.schedule.passes());
        let period = self.schedule.period(floor, objects);
        self.metrics.resync_period(period.as_secs_f64());
        period
    }

    fn full_pass_done(&self, obj: &BatchNotification, pass: resync::Pass) {
        if let Some(achieved) =
            self.schedule
                .done(ObjectRef::from_obj(obj), self.converged(obj), pass)
        {
            self.metrics.drift_detected_after(achieved.as_secs_f64());
        }
    }

    /// Whether another object of this cluster, not being deleted, lives in
    /// `region` of `account` (the events route there stays while one does).
    fn region_still_used(&self, obj: &BatchNotification, account: &str, region: &str) -> bool {
        let Some(store) = self.store.get() else {
            return true;
        };
        store.state().iter().any(|o| {
            o.uid() != obj.uid()
                && o.metadata.deletion_timestamp.is_none()
                && o.status
                    .as_ref()
                    .and_then(|s| s.region.as_deref())
                    .is_none_or(|r| r == region)
                && o.status
                    .as_ref()
                    .and_then(|s| s.account_id.as_deref())
                    .is_none_or(|a| a == account)
        })
    }

    /// How long until `obj`'s next resync.
    fn resync_due_in(&self, obj: &BatchNotification) -> Duration {
        self.schedule.due_in(&ObjectRef::from_obj(obj))
    }

    fn forget(&self, obj: &BatchNotification) {
        let key = ObjectRef::from_obj(obj);
        if let Some(machine) = obj
            .status
            .as_ref()
            .and_then(|s| s.state_machine_arn.as_deref())
        {
            self.events.forget_machine(machine);
        }
        self.memory.forget(&key);
    }

    fn succeeded(&self, obj: &BatchNotification) {
        self.memory.with(&ObjectRef::from_obj(obj), |r| {
            r.stopped = None;
            r.failure = None;
        });
    }

    /// The steps a full pass of `obj` may skip: what the failed pass just
    /// before it completed (see [`progress`]).
    fn trusted_steps(&self, obj: &BatchNotification) -> Vec<progress::Step> {
        self.progress
            .trusted(&ObjectRef::from_obj(obj), &self.converged(obj))
    }

    /// A full pass of `obj` stopped on a problem after completing `done`,
    /// leaving `created` to be announced by the pass that ends the wait.
    fn pass_stopped(
        &self,
        obj: &BatchNotification,
        done: Vec<progress::Step>,
        created: Vec<String>,
    ) {
        self.progress
            .stopped(ObjectRef::from_obj(obj), self.converged(obj), done, created);
    }

    /// What earlier passes of `obj` created and left to announce.
    fn unannounced(&self, obj: &BatchNotification) -> Vec<String> {
        self.progress.unannounced(&ObjectRef::from_obj(obj))
    }

    /// Exponential backoff with jitter from `base` up to 5 minutes, per object.
    /// The delay before retrying `obj` after a failure with `reason`: grows
    /// while the same failure repeats, and starts again from `base` when the
    /// failure changes (a new problem is not the old one retried: an ownership
    /// conflict resolved, then a role propagating, must not wait minutes).
    fn backoff(&self, obj: &BatchNotification, reason: &'static str, base: Duration) -> Duration {
        let attempt = self.memory.failed(&ObjectRef::from_obj(obj), reason);
        ExponentialBuilder::default()
            .with_min_delay(base)
            .with_max_delay(Duration::from_secs(300))
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempt)
            .unwrap_or(Duration::from_secs(300))
    }

    /// Publishes an Event about `obj`, a Warning or Normal as its reason's
    /// class says; a failure to publish is logged, not fatal.
    pub async fn publish(
        &self,
        obj: &BatchNotification,
        reason: Reason,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if reason.warning() {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.as_str().to_string(),
            note: Some(event_note(note)),
            action: action.to_string(),
            secondary: None,
        };
        let reference = obj.object_ref(&());
        let published = if obj.name_any().len() > RECORDER_NAME_LIMIT {
            self.publish_for_long_name(&event, reference).await
        } else {
            self.recorder.publish(&event, &reference).await
        };
        if let Err(e) = published {
            tracing::warn!(error = %e, %reason, "could not publish event");
        }
    }

    /// kube's Recorder names an Event `<object name>.<hex time>`, which the
    /// API server refuses past 253 characters: for such names the Event is
    /// created under a shortened name (its `regarding` reference is whole).
    async fn publish_for_long_name(
        &self,
        event: &Event,
        reference: k8s_openapi::api::core::v1::ObjectReference,
    ) -> Result<(), kube::Error> {
        use k8s_openapi::api::events::v1::Event as K8sEvent;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

        let now = jiff::Timestamp::now();
        let name = reference.name.clone().unwrap_or_default();
        let prefix: String = name.chars().take(RECORDER_NAME_LIMIT - 1).collect();
        let prefix = prefix.trim_end_matches(['-', '.']);
        let ns = reference
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let k8s_event = K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!("{prefix}.{:x}", now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            regarding: Some(reference),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(
                self.config
                    .instance
                    .clone()
                    .unwrap_or_else(|| REPORTING_CONTROLLER.into()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            ..Default::default()
        };
        Api::<K8sEvent>::namespaced(self.client.clone(), &ns)
            .create(&Default::default(), &k8s_event)
            .await
            .map(|_| ())
    }
}

/// The API server refuses an Event whose note is over 1024 bytes (an AWS
/// error with its whole chain of sources can be longer): such a note is cut
/// at a character boundary, marked with an ellipsis; the condition keeps the
/// whole message.
const EVENT_NOTE_LIMIT: usize = 1024;

fn event_note(note: String) -> String {
    if note.len() <= EVENT_NOTE_LIMIT {
        return note;
    }
    let ellipsis = "…";
    let mut end = EVENT_NOTE_LIMIT - ellipsis.len();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &note[..end])
}

/// The longest object name kube's Recorder can name an Event after:
/// 253 characters less a dot and up to 16 hex digits of time.
const RECORDER_NAME_LIMIT: usize = 253 - 1 - 16;
const REPORTING_CONTROLLER: &str = "batchnotify";

async fn reconcile(obj: Arc<BatchNotification>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj
        .namespace()
        .ok_or_else(|| Error::NoNamespace(obj.name_any()))?;
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %obj.name_any(), generation = obj.metadata.generation);
    async move {
        let started = Instant::now();
        let api: Api<BatchNotification> = Api::namespaced(ctx.client.clone(), &ns);
        let deleting = obj.metadata.deletion_timestamp.is_some();
        let result = finalizer(&api, FINALIZER, obj.clone(), |event| async {
            match event {
                Finalizer::Apply(o) => Box::pin(reconcile::apply(o, ctx.clone())).await,
                Finalizer::Cleanup(o) => Box::pin(cleanup::cleanup(o, ctx.clone())).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        if deleting && result.is_ok() {
            ctx.forget(&obj);
            ctx.metrics.forget_object(&ns, &obj.name_any());
        }
        ctx.metrics.reconcile_took(started.elapsed().as_secs_f64());
        tracing::debug!(took_ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), action = ?result.as_ref().ok(), "reconciled");
        result
    }
    .instrument(span)
    .await
}

/// The first retry after a failed reconcile; later ones back off to 5 minutes.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// How a reconcile that returned an error is counted and retried.
#[derive(Debug, PartialEq)]
struct Retry {
    /// The `result` label of `batchnotify_reconciles_total`.
    result: &'static str,
    /// The first retry's delay.
    after: Duration,
    /// Routine (AWS Batch deleting in its own time, a finalizer patch from
    /// a stale cache): logged at info, not a failure.
    routine: bool,
}

/// How soon to look again after a finalizer patch from a stale cache: the
/// watch event of the newer version usually triggers sooner.
const STALE_READ_RETRY: Duration = Duration::from_secs(1);

fn retry(err: &Error) -> Retry {
    if err.stale_read() {
        return Retry {
            result: "StaleRead",
            after: STALE_READ_RETRY,
            routine: true,
        };
    }
    match err.deletion_pending() {
        Some(p) => Retry {
            result: p.reason.as_str(),
            after: p.retry.unwrap_or(FIRST_RETRY).max(FIRST_RETRY),
            routine: true,
        },
        None => Retry {
            result: "Error",
            after: FIRST_RETRY,
            routine: false,
        },
    }
}

fn error_policy(obj: Arc<BatchNotification>, err: &Error, ctx: Arc<Context>) -> Action {
    let retry = retry(err);
    if retry.routine {
        tracing::info!(namespace = ?obj.namespace(), name = %obj.name_any(), reason = %err, result = retry.result, "looking again");
    } else {
        tracing::warn!(namespace = ?obj.namespace(), name = %obj.name_any(), error = %err, "reconcile failed");
    }
    ctx.metrics.reconciled(retry.result);
    Action::requeue(ctx.backoff(&obj, retry.result, retry.after))
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (stream, reader) = objects(&ctx);
    let controller = Controller::for_stream(stream, reader)
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(shutdown);
    let store = controller.store();
    let _ = ctx.store.set(store.clone());
    let controller = access_watches(controller, &ctx, &store);
    // An execution's end read from the events queue reconciles its object.
    let controller = match ctx.events.woken() {
        Some(woken) => controller.reconcile_on(woken),
        None => controller,
    };
    let metrics = ctx.metrics.clone();
    let counted = ctx.clone();
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            metrics.set_managed_objects(store.len() as i64);
            counted.objects.store(store.len(), Ordering::Relaxed);
            metrics.retain_objects(store.len(), |namespace, name| {
                store.get(&ObjectRef::new(name).within(namespace)).is_some()
            });
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller");
            }
            futures::future::ready(())
        })
        .await;
}

/// The BatchNotifications the controller is for: their watch, cached in a
/// store, filtered to the changes that need a reconcile.
fn objects(
    ctx: &Context,
) -> (
    impl futures::Stream<Item = Result<BatchNotification, watcher::Error>> + Send + 'static,
    Store<BatchNotification>,
) {
    let api: Api<BatchNotification> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let mut watch = watcher::Config::default();
    if let Some(selector) = &ctx.config.label_selector {
        watch = watch.labels(selector);
    }
    let (reader, writer) = reflector::store();
    // Status-only changes (our own writes) do not trigger a reconcile: only
    // spec (generation), annotations (adoption) and finalizers do. Deletion
    // bumps a custom resource's generation.
    // The cache keeps no managedFields: the operator never reads them (its
    // status writes are server-side applies), and at 10,000 objects they are
    // a large part of the cache.
    let stream = watcher(api, watch)
        .default_backoff()
        .modify(|o: &mut BatchNotification| {
            o.managed_fields_mut().clear();
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::annotations)
                .combine(predicates::finalizers),
            Default::default(),
        );
    (stream, reader)
}

/// AccessGrants and Namespaces (their labels select grants): cached for the
/// access stage, and a change reconciles the objects it concerns, so a grant
/// takes effect without a restart.
fn access_watches(
    controller: Controller<BatchNotification>,
    ctx: &Arc<Context>,
    store: &Store<BatchNotification>,
) -> Controller<BatchNotification> {
    let (grants_reader, grants_writer) = reflector::store();
    let grants = watcher(
        Api::<AccessGrant>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(grants_writer)
    .touched_objects();
    let (namespaces_reader, namespaces_writer) = reflector::store();
    let namespaces = watcher(
        Api::<Namespace>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|n: &mut Namespace| {
        n.managed_fields_mut().clear();
        n.spec = None;
        n.status = None;
    })
    .reflect(namespaces_writer)
    .applied_objects()
    .predicate_filter(predicates::labels, Default::default());
    ctx.grants.set(grants_reader, namespaces_reader);
    let (for_grants, for_namespaces, access_ctx) = (store.clone(), store.clone(), ctx.clone());
    controller
        .watches_stream(grants, move |g: AccessGrant| {
            access_ctx.grants.concerned(&g, &for_grants)
        })
        .watches_stream(namespaces, move |n: Namespace| {
            access::in_namespace(&n, &for_namespaces)
        })
}

/// Objects for the controller's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::api::BatchNotification;

    /// `ns/n` over existing ARNs, with `run` as its `spec.run` (`null`: none).
    pub fn object(run: serde_json::Value) -> BatchNotification {
        let mut spec = serde_json::json!({
            "jobQueue": {"arn": "arn:aws:batch:us-east-1:123456789012:job-queue/q"},
            "jobDefinition": {"arn": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1"},
            "topic": {"arn": "arn:aws:sns:us-east-1:123456789012:t"},
        });
        if !run.is_null() {
            spec["run"] = run;
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "batchnotify.dev/v1alpha1",
            "kind": "BatchNotification",
            "metadata": {"name": "n", "namespace": "ns", "generation": 2},
            "spec": spec,
        }))
        .expect("object")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::finalizer;

    fn cleanup_failed(e: Error) -> Error {
        Error::Finalizer(Box::new(finalizer::Error::CleanupFailed(e)))
    }

    #[test]
    fn event_notes_fit_the_api_servers_limit() {
        assert_eq!(event_note("short".into()), "short");
        let long = "é".repeat(700);
        let cut = event_note(long.clone());
        assert!(cut.len() <= EVENT_NOTE_LIMIT, "{}", cut.len());
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn batch_deleting_in_its_own_time_is_routine_and_real_problems_are_errors() {
        let waiting = Problem::new(
            Reason::DeletingJobQueue,
            "waiting for job queue bn-x to be deleted",
        );
        assert_eq!(
            retry(&cleanup_failed(Error::DeletionPending(waiting))),
            Retry {
                result: "DeletingJobQueue",
                after: Duration::from_secs(5),
                routine: true
            }
        );
        let denied = Problem::new(Reason::AwsAccessDenied, "job queue bn-x: not authorized");
        assert_eq!(
            retry(&cleanup_failed(Error::Deletion(denied))),
            Retry {
                result: "Error",
                after: FIRST_RETRY,
                routine: false
            }
        );
        assert_eq!(
            retry(&Error::NoNamespace("x".into())).after,
            Duration::from_secs(5)
        );
    }

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    #[test]
    fn a_finalizer_patch_from_a_stale_cache_is_routine_and_other_refusals_are_errors() {
        let stale = Retry {
            result: "StaleRead",
            after: STALE_READ_RETRY,
            routine: true,
        };
        for e in [
            finalizer::Error::AddFinalizer(api_error(422)),
            finalizer::Error::AddFinalizer(api_error(409)),
            finalizer::Error::RemoveFinalizer(api_error(404)),
            finalizer::Error::RemoveFinalizer(api_error(422)),
        ] {
            assert_eq!(retry(&Error::Finalizer(Box::new(e))), stale);
        }
        for e in [
            finalizer::Error::AddFinalizer(api_error(403)),
            finalizer::Error::AddFinalizer(api_error(404)),
            finalizer::Error::RemoveFinalizer(api_error(500)),
        ] {
            assert_eq!(retry(&Error::Finalizer(Box::new(e))).result, "Error");
        }
        assert_eq!(retry(&Error::Kube(api_error(422))).result, "Error");
    }
}
