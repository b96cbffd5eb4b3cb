//! Event mode (`--events`): run results pushed by AWS instead of polled.
//!
//! Per region the operator owns one EventBridge rule that matches the
//! terminal "Step Functions Execution Status Change" events of this
//! cluster's state machines and one SQS queue it delivers them to
//! ([`crate::desired::events::Route`]). A consumer task per region reads
//! the queue in batches (long polling, batch delete), keeps each execution's
//! end in an inbox and wakes the object that follows it; the runs stage then
//! takes the end from the inbox instead of calling DescribeExecution.
//!
//! Polling stays as the fallback, at `--event-poll` instead of seconds: a
//! route that cannot be made (denied, someone else's), a queue or rule
//! deleted out of band (put back at the next check), an event lost while the
//! operator was down longer than the queue keeps messages. Duplicated,
//! out-of-order or unknown events change nothing: the inbox holds ends only,
//! by execution ARN, and nothing here ever starts a run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use kube::runtime::reflector::ObjectRef;

use crate::api::BatchNotification;
use crate::aws::sqs::{Message, Queues};
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::desired::Scope;
use crate::desired::events::{self, Event, Finished, Route, TARGET_ID};
use crate::metrics::Metrics;

/// How long an execution's end is kept for the object to pick it up.
const INBOX_TTL: Duration = Duration::from_secs(3600);
/// At most this many ends are kept (the oldest go first).
const INBOX_MAX: usize = 100_000;
/// The most messages one DeleteMessageBatch takes.
const DELETE_BATCH: usize = 10;
/// The longest a read message waits for its delete, plus a long poll: well
/// inside the queue's visibility timeout
/// ([`events::VISIBILITY_SECONDS`]), so it does not come back meanwhile.
const DELETE_AFTER: Duration = Duration::from_secs(10);
/// A route that could not be made is tried again after this long.
const ROUTE_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum RouteError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{0} exists without this cluster's tag; it is left untouched")]
    NotOurs(String),
}

#[derive(Default)]
struct RouteState {
    checked: Option<Instant>,
    ready: bool,
    consumer: Option<tokio::task::JoinHandle<()>>,
}

/// Where one route serves: an account and region (`account/region`). Each
/// account an AccessGrant names has its own rule and queue in each region.
pub fn place(scope: &Scope) -> String {
    format!("{}/{}", scope.account(), scope.region())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Event mode's state, shared by every reconcile and the consumers.
pub struct Events {
    enabled: bool,
    cluster: String,
    /// Fallback poll interval of a followed execution while events flow.
    pub fallback: Duration,
    /// How often the route is observed again (drift is put back).
    recheck: Duration,
    metrics: Arc<Metrics>,
    routes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<RouteState>>>>,
    /// Regions whose route is in place and read.
    ready: Mutex<HashSet<String>>,
    inbox: Mutex<HashMap<String, (Finished, Instant)>>,
    machines: Mutex<HashMap<String, ObjectRef<BatchNotification>>>,
    last_polled: Mutex<HashMap<String, Instant>>,
    wake: mpsc::UnboundedSender<ObjectRef<BatchNotification>>,
    woken: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<BatchNotification>>>>,
}

impl Events {
    pub fn new(
        enabled: bool,
        cluster: &str,
        fallback: Duration,
        recheck: Duration,
        metrics: Arc<Metrics>,
    ) -> Events {
        let (wake, woken) = mpsc::unbounded();
        Events {
            enabled,
            cluster: cluster.to_string(),
            fallback,
            recheck,
            metrics,
            routes: Mutex::new(HashMap::new()),
            ready: Mutex::new(HashSet::new()),
            inbox: Mutex::new(HashMap::new()),
            machines: Mutex::new(HashMap::new()),
            last_polled: Mutex::new(HashMap::new()),
            wake,
            woken: Mutex::new(Some(woken)),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The objects to reconcile because their execution ended (taken once,
    /// by the controller).
    pub fn woken(&self) -> Option<mpsc::UnboundedReceiver<ObjectRef<BatchNotification>>> {
        lock(&self.woken).take()
    }

    fn state(&self, place: &str) -> Arc<tokio::sync::Mutex<RouteState>> {
        let region = place;
        lock(&self.routes)
            .entry(region.to_string())
            .or_default()
            .clone()
    }

    /// Whether events of `region` are read now.
    pub fn ready(&self, region: &str) -> bool {
        self.enabled && lock(&self.ready).contains(region)
    }

    /// Makes sure the route of `scope`'s region is in place and read;
    /// observes it again (and puts drift back) every `recheck`. Cheap when
    /// it is: no AWS call between checks.
    pub async fn ensure(self: &Arc<Self>, clients: &RegionClients, scope: &Scope) -> bool {
        if !self.enabled {
            return false;
        }
        let region = place(scope);
        let state = self.state(&region);
        let mut st = state.lock().await;
        let consuming = st.consumer.as_ref().is_some_and(|c| !c.is_finished());
        let fresh = |after: Duration| st.checked.is_some_and(|t| t.elapsed() < after);
        if st.ready && consuming && fresh(self.recheck) {
            return true;
        }
        if !st.ready && fresh(ROUTE_RETRY) {
            return false;
        }
        let route = Route::new(&self.cluster, scope);
        st.checked = Some(Instant::now());
        match converge(clients, &route).await {
            Ok(url) => {
                if !consuming {
                    let events = self.clone();
                    let queues = clients.queues.clone();
                    let region = region.clone();
                    st.consumer = Some(tokio::spawn(async move {
                        events.consume(queues, url, region).await
                    }));
                    tracing::info!(region = %scope.region(), queue = %route.queue_name, rule = %route.rule_name, "reading execution events");
                }
                st.ready = true;
                lock(&self.ready).insert(region);
                true
            }
            Err(e) => {
                tracing::warn!(region = %scope.region(), error = %e, "no execution events: polling runs instead (every --poll-max)");
                st.ready = false;
                lock(&self.ready).remove(&region);
                false
            }
        }
    }

    /// Removes the route of `scope`'s region (no object of this cluster is
    /// left there): stops its consumer, deletes the rule and the queue when
    /// they carry this cluster's tag.
    pub async fn remove(&self, clients: &RegionClients, scope: &Scope) -> Result<(), AwsError> {
        let region = place(scope);
        let state = self.state(&region);
        let mut st = state.lock().await;
        lock(&self.ready).remove(&region);
        st.ready = false;
        st.checked = None;
        if let Some(consumer) = st.consumer.take() {
            consumer.abort();
        }
        let route = Route::new(&self.cluster, scope);
        if let Some(rule) = clients.rules.describe(&route.rule_name).await?
            && clients
                .rules
                .tags(&rule.arn)
                .await?
                .is_some_and(|t| route.owns(&t))
        {
            let ids: Vec<String> = clients
                .rules
                .targets(&route.rule_name)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            clients.rules.delete(&route.rule_name, &ids).await?;
            tracing::info!(rule = %route.rule_name, "deleted EventBridge rule");
        }
        if let Some(url) = clients.queues.url(&route.queue_name).await?
            && clients
                .queues
                .tags(&url)
                .await?
                .is_some_and(|t| route.owns(&t))
        {
            clients.queues.delete(&url).await?;
            tracing::info!(queue = %route.queue_name, "deleted SQS queue");
        }
        Ok(())
    }

    /// Reads the queue until it is gone or the task is stopped. Read
    /// messages are deleted ten to a DeleteMessageBatch, or once the oldest
    /// has waited [`DELETE_AFTER`] or the queue is idle: when ends arrive one
    /// at a time, a run does not cost a delete of its own. A message not yet
    /// deleted when the operator stops comes back after the visibility
    /// timeout, and taking an end twice changes nothing.
    async fn consume(self: Arc<Self>, queues: Queues, url: String, region: String) {
        let mut failures: u32 = 0;
        let mut read: Vec<String> = Vec::new();
        let mut oldest: Option<Instant> = None;
        loop {
            match queues.receive(&url, events::WAIT_SECONDS).await {
                Ok(messages) => {
                    failures = 0;
                    let idle = messages.is_empty();
                    read.extend(self.take(&messages));
                    if !read.is_empty() {
                        oldest.get_or_insert_with(Instant::now);
                    }
                    let due = idle || oldest.is_some_and(|t| t.elapsed() >= DELETE_AFTER);
                    let count = if due {
                        read.len()
                    } else {
                        read.len() - read.len() % DELETE_BATCH
                    };
                    for batch in read.drain(..count).collect::<Vec<_>>().chunks(DELETE_BATCH) {
                        if let Err(e) = queues.delete_batch(&url, batch).await {
                            tracing::warn!(error = %e, "could not delete read events");
                        }
                    }
                    if read.is_empty() {
                        oldest = None;
                    }
                }
                Err(e) if e.is(ErrorKind::NotFound) => {
                    tracing::warn!(region = %region, error = %e, "the events queue is gone: polling runs until the route is put back");
                    lock(&self.ready).remove(&region);
                    if let Ok(mut st) = self.state(&region).try_lock() {
                        st.ready = false;
                        st.checked = None;
                    }
                    return;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_secs(5u64.saturating_mul(1 << failures.min(4)));
                    tracing::warn!(error = %e, retry_in = ?wait, "could not read execution events");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Keeps the ends among `messages` and wakes their objects; answers the
    /// receipt handles of every message (malformed ones too: they hold no
    /// result, and would come back forever).
    fn take(&self, messages: &[Message]) -> Vec<String> {
        for m in messages {
            match events::parse(&m.body) {
                Event::Finished(f) => self.finished_event(f),
                Event::NotTerminal => self.metrics.execution_event("ignored"),
                Event::Malformed(why) => {
                    tracing::warn!(why = %why, "unreadable message in the events queue");
                    self.metrics.execution_event("malformed");
                }
            }
        }
        messages.iter().map(|m| m.receipt_handle.clone()).collect()
    }

    fn finished_event(&self, f: Finished) {
        let owner = lock(&self.machines).get(&f.state_machine_arn).cloned();
        self.metrics
            .execution_event(if owner.is_some() { "used" } else { "unknown" });
        {
            let mut inbox = lock(&self.inbox);
            if inbox.len() >= INBOX_MAX {
                inbox.retain(|_, (_, at)| at.elapsed() < INBOX_TTL);
                while inbox.len() >= INBOX_MAX {
                    let oldest = inbox
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(k, _)| k.clone());
                    match oldest {
                        Some(k) => inbox.remove(&k),
                        None => break,
                    };
                }
            }
            inbox.insert(f.execution_arn.clone(), (f, Instant::now()));
        }
        if let Some(owner) = owner {
            let _ = self.wake.unbounded_send(owner);
        }
    }

    /// The end of `execution_arn`, if its event came.
    pub fn finished(&self, execution_arn: &str) -> Option<Finished> {
        lock(&self.inbox)
            .get(execution_arn)
            .filter(|(_, at)| at.elapsed() < INBOX_TTL)
            .map(|(f, _)| f.clone())
    }

    /// `obj` follows the executions of `machine_arn`.
    pub fn follow_machine(&self, machine_arn: &str, obj: &BatchNotification) {
        let mut machines = lock(&self.machines);
        if !machines.contains_key(machine_arn) {
            machines.insert(machine_arn.to_string(), ObjectRef::from_obj(obj));
        }
    }

    pub fn forget_machine(&self, machine_arn: &str) {
        lock(&self.machines).remove(machine_arn);
    }

    /// While events of `region` flow, a running execution is described only
    /// every `fallback` (a missed event); `Err(wait)` until then.
    pub fn poll_due(&self, region: &str, execution_arn: &str) -> Result<(), Duration> {
        if !self.ready(region) {
            return Ok(());
        }
        let mut polled = lock(&self.last_polled);
        // One entry per followed run: pruned when the map grows, not on
        // every call (that would cost O(runs) per followed run).
        if polled.len() >= INBOX_MAX {
            polled.retain(|_, at| at.elapsed() < INBOX_TTL.max(self.fallback * 2));
        }
        match polled.get(execution_arn) {
            Some(at) if at.elapsed() >= self.fallback => {
                polled.insert(execution_arn.to_string(), Instant::now());
                Ok(())
            }
            Some(at) => Err(self.fallback.saturating_sub(at.elapsed())),
            None => {
                polled.insert(execution_arn.to_string(), Instant::now());
                Err(self.fallback)
            }
        }
    }
}

/// Observe → compare → create or put back, the rule first (the queue's
/// policy names it), then the queue, then the rule's target. Answers the
/// queue's URL.
async fn converge(clients: &RegionClients, route: &Route) -> Result<String, RouteError> {
    let pattern = route.pattern.to_string();
    let description = "batchnotify: Step Functions execution ends, for the operator's queue";
    match clients.rules.describe(&route.rule_name).await? {
        None => {
            clients
                .rules
                .put(&route.rule_name, &pattern, description, &route.tags)
                .await?;
            tracing::info!(rule = %route.rule_name, "created EventBridge rule");
        }
        Some(rule) => {
            let tags = clients.rules.tags(&rule.arn).await?.unwrap_or_default();
            if !route.owns(&tags) {
                return Err(RouteError::NotOurs(format!(
                    "EventBridge rule {}",
                    route.rule_name
                )));
            }
            if !rule.enabled || !route.pattern_matches(rule.event_pattern.as_deref()) {
                clients
                    .rules
                    .put(&route.rule_name, &pattern, description, &route.tags)
                    .await?;
                tracing::info!(rule = %route.rule_name, "EventBridge rule changed out of band: pattern and state put back (PutRule)");
            }
        }
    }
    let url = match clients.queues.url(&route.queue_name).await? {
        None => {
            let url = clients
                .queues
                .create(&route.queue_name, &route.attributes, &route.tags)
                .await?;
            tracing::info!(queue = %route.queue_name, "created SQS queue");
            url
        }
        Some(url) => {
            let tags = clients.queues.tags(&url).await?.unwrap_or_default();
            if !route.owns(&tags) {
                return Err(RouteError::NotOurs(format!(
                    "SQS queue {}",
                    route.queue_name
                )));
            }
            let observed = clients.queues.attributes(&url).await?.unwrap_or_default();
            let differing = route.attributes_differing(&observed);
            if !differing.is_empty() {
                let put = route
                    .attributes
                    .iter()
                    .filter(|(k, _)| differing.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                clients.queues.set_attributes(&url, &put).await?;
                tracing::info!(queue = %route.queue_name, fields = ?differing, "SQS queue changed out of band: attributes put back (SetQueueAttributes)");
            }
            url
        }
    };
    let targets = clients.rules.targets(&route.rule_name).await?;
    if !targets
        .iter()
        .any(|(id, arn)| id == TARGET_ID && *arn == route.queue_arn)
    {
        clients
            .rules
            .put_target(&route.rule_name, TARGET_ID, &route.queue_arn)
            .await?;
        tracing::info!(rule = %route.rule_name, queue = %route.queue_name, "EventBridge rule targets the queue (PutTargets)");
    }
    Ok(url)
}
