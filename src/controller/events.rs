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
//! deleted out of band (put back at the next check, by their managers:
//! [`super::managers::route`]), an event lost while the
//! operator was down longer than the queue keeps messages. Duplicated,
//! out-of-order or unknown events change nothing: the inbox holds ends only,
//! by execution ARN, and nothing here ever starts a run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::FuturesUnordered;
use kube::runtime::reflector::ObjectRef;

use super::error::Problem;
use super::managers::route::{EventQueueManager, EventRuleManager};
use super::managers::{self, Judge};
use super::memory::{Key, Memory};
use super::report::Report;
use crate::api::BatchNotification;
use crate::aws::sqs::{Message, Queues};
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::desired::events::{self, Event, Finished, Route};
use crate::desired::{Owner, Scope};
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
/// An object's poll times are pruned once it has this many.
const POLLED_MAX: usize = 64;
/// A route that could not be made is tried again after this long.
const ROUTE_RETRY: Duration = Duration::from_secs(60);
/// The most ReceiveMessage calls in flight on one queue while a wave of
/// ends is read (one while the queue is quiet).
const RECEIVERS_MAX: usize = 8;
/// The most DeleteMessageBatch tasks at once on one queue.
const DELETES_IN_FLIGHT: usize = 4;

/// How many receives to send after one came back, `in_flight` others still
/// out: a full one is answered by two (up to [`RECEIVERS_MAX`]), so the
/// receivers double while the queue holds a wave; any other by none while
/// others are out, and by one when it was the last (the long poll that
/// waits while the queue is quiet).
fn receivers_after(in_flight: usize, full: bool) -> usize {
    if full {
        RECEIVERS_MAX.saturating_sub(in_flight).min(2)
    } else {
        usize::from(in_flight == 0)
    }
}

/// How long the receive that follows a short one (some messages, fewer
/// than a batch) waits before it is sent: ends trickling in then arrive ten
/// to a call rather than one or two (as Lambda's batching window does for
/// its SQS consumers), for at most this much more delay. A full receive is
/// followed at once (a wave is being read), an empty one too (the long
/// poll itself waited).
const BATCH_WINDOW: Duration = Duration::from_millis(500);

/// The wait before the receive that follows one that brought `received`
/// messages.
fn receive_after(received: usize) -> Duration {
    if received == 0 || received >= events::RECEIVE_MAX {
        Duration::ZERO
    } else {
        BATCH_WINDOW
    }
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
    /// Each object's memory: when its executions were last described.
    memory: Arc<Memory>,
    wake: mpsc::UnboundedSender<ObjectRef<BatchNotification>>,
    woken: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<BatchNotification>>>>,
}

impl Events {
    /// Event mode as `config` says (`--events`, `--event-poll`, `--resync`
    /// as the route's recheck, the cluster's name in the route's names).
    pub fn new(config: &super::Config, metrics: Arc<Metrics>, memory: Arc<Memory>) -> Events {
        let (wake, woken) = mpsc::unbounded();
        Events {
            enabled: config.events,
            cluster: config.cluster_name.clone(),
            fallback: config.event_poll,
            recheck: config.resync,
            metrics,
            routes: Mutex::new(HashMap::new()),
            ready: Mutex::new(HashSet::new()),
            inbox: Mutex::new(HashMap::new()),
            machines: Mutex::new(HashMap::new()),
            memory,
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
        let known = st.checked.is_some();
        st.checked = Some(Instant::now());
        match self.converge(clients, &route, known).await {
            Ok(url) => {
                if !consuming {
                    let events = self.clone();
                    let queues = clients.queues.clone();
                    let region = region.clone();
                    st.consumer = Some(tokio::spawn(async move {
                        events.consume(queues, url, region).await
                    }));
                    tracing::info!(region = %scope.region(), queue = %route.queue.meta.name, rule = %route.rule.meta.name, "reading execution events");
                }
                st.ready = true;
                lock(&self.ready).insert(region);
                true
            }
            Err(e) => {
                tracing::warn!(region = %scope.region(), reason = %e.reason, error = %e.message, "no execution events: polling runs instead (every --poll-max)");
                st.ready = false;
                lock(&self.ready).remove(&region);
                false
            }
        }
    }

    /// Removes the route of `scope`'s region (no object of this cluster is
    /// left there): stops its consumer, deletes the rule and the queue when
    /// they carry this cluster's tag.
    pub async fn remove(&self, clients: &RegionClients, scope: &Scope) -> Result<(), Problem> {
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
        let owner = Owner::cluster(&self.cluster);
        let judge = self.judge(&owner);
        let mut report = Report::default();
        managers::remove::<EventRuleManager>(clients, &route.rule, &judge, &mut report).await?;
        managers::remove::<EventQueueManager>(clients, &route.queue, &judge, &mut report).await?;
        log(&report);
        Ok(())
    }

    /// Who judges the route: the cluster, which never adopts.
    fn judge<'a>(&self, owner: &'a Owner) -> Judge<'a> {
        Judge {
            owner,
            adopt: false,
            spec_changed: false,
        }
    }

    /// The queue (its policy names the rule, by its deterministic ARN), then
    /// the rule and its target, each observed, compared and put back by its
    /// manager. `known`: converged before (a missing one was deleted out of
    /// band). Answers the queue's URL.
    async fn converge(
        &self,
        clients: &RegionClients,
        route: &Route,
        known: bool,
    ) -> Result<String, Problem> {
        let owner = Owner::cluster(&self.cluster);
        let judge = self.judge(&owner);
        let mut report = Report::default();
        let converged = async {
            let queue = managers::apply::<EventQueueManager>(
                clients,
                &route.queue,
                known,
                &judge,
                &mut report,
            )
            .await?;
            managers::apply::<EventRuleManager>(clients, &route.rule, known, &judge, &mut report)
                .await?;
            Ok::<_, Problem>(queue)
        }
        .await;
        log(&report);
        let queue = converged?;
        if let Some(observed) = queue.observed {
            return Ok(observed.url);
        }
        // Just created: SQS names it by a URL CreateQueue answered, asked again.
        let what = managers::what::<EventQueueManager>(&route.queue);
        let gone = || AwsError {
            service: "sqs",
            operation: "GetQueueUrl",
            kind: ErrorKind::NotFound,
            code: None,
            message: "the queue just created is not found".into(),
        };
        match clients.queues.url(&route.queue.meta.name).await {
            Ok(Some(url)) => Ok(url),
            Ok(None) => Err(Problem::aws(&what, &gone())),
            Err(e) => Err(Problem::aws(&what, &e)),
        }
    }

    /// Reads the queue until it is gone or the task is stopped.
    ///
    /// One long poll waits while the queue is quiet; while receives come
    /// back full (ten messages), more are sent beside it, up to
    /// [`RECEIVERS_MAX`], as the SQS guide advises for throughput
    /// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-throughput-horizontal-scaling-and-batching.html),
    /// and they fall back to one as soon as a receive is not full: a wave
    /// of 1,000 ends is read in about 16 round trips' time (the receivers
    /// grow by one a round trip, to 8), not 100. Read messages are deleted ten to a DeleteMessageBatch beside
    /// the receives (never between two), or once the oldest has waited
    /// [`DELETE_AFTER`] or a receive came back empty: when ends arrive one at
    /// a time, a run does not cost a delete of its own. A message not yet
    /// deleted when the operator stops comes back after the visibility
    /// timeout, and taking an end twice changes nothing.
    async fn consume(self: Arc<Self>, queues: Queues, url: String, region: String) {
        type Receive = futures::future::BoxFuture<'static, Result<Vec<Message>, AwsError>>;
        let receive = |after: Duration| -> Receive {
            let (queues, url) = (queues.clone(), url.clone());
            Box::pin(async move {
                if !after.is_zero() {
                    tokio::time::sleep(after).await;
                }
                queues.receive(&url, events::WAIT_SECONDS).await
            })
        };
        let deletes = Arc::new(tokio::sync::Semaphore::new(DELETES_IN_FLIGHT));
        let mut receives: FuturesUnordered<Receive> = FuturesUnordered::new();
        receives.push(receive(Duration::ZERO));
        let mut failures: u32 = 0;
        let mut read: Vec<String> = Vec::new();
        let mut oldest: Option<Instant> = None;
        while let Some(received) = receives.next().await {
            match received {
                Ok(messages) => {
                    failures = 0;
                    let idle = messages.is_empty();
                    let full = messages.len() >= events::RECEIVE_MAX;
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
                    if count > 0 {
                        let taken: Vec<String> = read.drain(..count).collect();
                        self.delete_beside(&queues, &url, taken, &deletes);
                    }
                    if read.is_empty() {
                        oldest = None;
                    }
                    for _ in 0..receivers_after(receives.len(), full) {
                        receives.push(receive(receive_after(messages.len())));
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
                    if receives.is_empty() {
                        receives.push(receive(wait));
                    }
                }
            }
        }
    }

    /// Deletes `handles` ten to a call in a task of its own (at most
    /// [`DELETES_IN_FLIGHT`] at once), so the receives never wait for them.
    fn delete_beside(
        &self,
        queues: &Queues,
        url: &str,
        handles: Vec<String>,
        slots: &Arc<tokio::sync::Semaphore>,
    ) {
        let (queues, url, slots) = (queues.clone(), url.to_string(), slots.clone());
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            for batch in handles.chunks(DELETE_BATCH) {
                if let Err(e) = queues.delete_batch(&url, batch).await {
                    tracing::warn!(error = %e, "could not delete read events");
                }
            }
        });
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
        tracing::debug!(execution = %f.execution_arn, status = %f.status, owner = ?owner.as_ref().map(|o| o.name.as_str()), "execution end read");
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

    /// While events of `region` flow, a running execution of `key` is
    /// described only every `fallback` (a missed event); `Err(wait)` until then.
    pub fn poll_due(&self, key: &Key, region: &str, execution_arn: &str) -> Result<(), Duration> {
        if !self.ready(region) {
            return Ok(());
        }
        let keep = INBOX_TTL.max(self.fallback * 2);
        self.memory.with(key, |r| {
            // One entry per followed run of the object: pruned when they
            // pile up (long-finished runs), not on every call.
            if r.polled.len() >= POLLED_MAX {
                r.polled.retain(|_, at| at.elapsed() < keep);
            }
            match r.polled.get(execution_arn) {
                Some(at) if at.elapsed() >= self.fallback => {
                    r.polled.insert(execution_arn.to_string(), Instant::now());
                    Ok(())
                }
                Some(at) => Err(self.fallback.saturating_sub(at.elapsed())),
                None => {
                    r.polled.insert(execution_arn.to_string(), Instant::now());
                    Err(self.fallback)
                }
            }
        })
    }
}

/// What converging or removing the route did, in the log: it belongs to no
/// object, so it has no Events.
fn log(report: &Report) {
    let done = [
        ("created", &report.created),
        ("updated", &report.updated),
        ("deleted", &report.deleted),
        ("adopted", &report.adopted),
    ];
    for (verb, items) in done {
        for what in items {
            tracing::info!("{verb} {what}");
        }
    }
    for (operation, what) in &report.drift {
        tracing::info!(%operation, "{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:bn-test-ns-n-1";

    fn events(fallback: Duration) -> (Arc<Events>, Arc<Memory>) {
        let memory = Arc::new(Memory::default());
        let config = crate::controller::Config {
            events: true,
            cluster_name: "test".into(),
            event_poll: fallback,
            ..Default::default()
        };
        let events = Events::new(&config, Arc::new(Metrics::new()), memory.clone());
        (Arc::new(events), memory)
    }

    fn key() -> Key {
        ObjectRef::new("n").within("ns")
    }

    fn obj() -> BatchNotification {
        crate::controller::fixtures::object(serde_json::Value::Null)
    }

    fn end(execution: &str, status: &str) -> Message {
        let body = serde_json::json!({
            "version": "0", "id": "1", "source": events::SOURCE,
            "detail-type": events::DETAIL_TYPE,
            "detail": {
                "executionArn": execution, "stateMachineArn": MACHINE,
                "status": status, "startDate": 1, "stopDate": 2
            }
        });
        Message {
            body: body.to_string(),
            receipt_handle: format!("handle-{execution}-{status}"),
        }
    }

    #[test]
    fn receivers_double_while_receives_come_back_full_and_fall_back_to_one() {
        // Quiet queue: the one long poll is replaced when it returns.
        assert_eq!(receivers_after(0, false), 1);
        // A wave: each full receive brings two, up to the most.
        let mut in_flight = 0;
        let mut sizes = Vec::new();
        for _ in 0..6 {
            in_flight += receivers_after(in_flight, true);
            sizes.push(in_flight);
            in_flight -= 1; // the next one comes back (full)
        }
        assert_eq!(sizes, [2, 3, 4, 5, 6, 7]);
        assert_eq!(receivers_after(RECEIVERS_MAX - 1, true), 1);
        // The wave drained: a short receive brings none while others are
        // out, so they end one by one down to the last, which is replaced.
        assert_eq!(receivers_after(3, false), 0);
        assert_eq!(receivers_after(0, false), 1);
    }

    #[test]
    fn a_short_receive_is_followed_after_the_batching_window() {
        assert_eq!(receive_after(0), Duration::ZERO);
        assert_eq!(receive_after(1), BATCH_WINDOW);
        assert_eq!(receive_after(events::RECEIVE_MAX - 1), BATCH_WINDOW);
        assert_eq!(receive_after(events::RECEIVE_MAX), Duration::ZERO);
    }

    #[test]
    fn without_events_flowing_every_poll_is_due() {
        let (events, memory) = events(Duration::from_secs(3600));
        assert_eq!(
            events.poll_due(&key(), "123456789012/us-east-1", "arn:e"),
            Ok(())
        );
        assert_eq!(memory.len(), 0, "nothing remembered while polling");
    }

    #[test]
    fn while_events_flow_a_running_execution_is_described_only_every_fallback() {
        let (events, memory) = events(Duration::from_secs(3600));
        let region = "123456789012/us-east-1";
        lock(&events.ready).insert(region.to_string());
        let first = events.poll_due(&key(), region, "arn:e").expect_err("wait");
        assert!(first <= Duration::from_secs(3600));
        let second = events.poll_due(&key(), region, "arn:e").expect_err("still");
        assert!(second <= first);
        assert_eq!(memory.read(&key(), |r| r.polled.len()), Some(1));
        memory.forget(&key());
        assert_eq!(memory.len(), 0, "forgotten with its object");
        let (events, _) = self::events(Duration::ZERO);
        lock(&events.ready).insert(region.to_string());
        let _ = events.poll_due(&key(), region, "arn:e");
        assert_eq!(events.poll_due(&key(), region, "arn:e"), Ok(()));
    }

    #[tokio::test]
    async fn an_end_wakes_its_object_and_every_message_is_answered() {
        let (events, _) = events(Duration::from_secs(60));
        let mut woken = events.woken().expect("taken once");
        assert!(events.woken().is_none());
        events.follow_machine(MACHINE, &obj());
        let messages = [
            end("arn:e1", "SUCCEEDED"),
            end("arn:e2", "RUNNING"),
            Message {
                body: "not an event".into(),
                receipt_handle: "handle-junk".into(),
            },
        ];
        let handles = events.take(&messages);
        assert_eq!(handles.len(), 3, "malformed ones too: they would come back");
        assert_eq!(woken.next().await, Some(key()));
        let finished = events.finished("arn:e1").expect("the end is kept");
        assert_eq!(finished.status, "SUCCEEDED");
        assert!(events.finished("arn:e2").is_none(), "not an end");
    }

    #[test]
    fn an_end_of_a_machine_no_object_follows_is_kept_and_wakes_nobody() {
        let (events, _) = events(Duration::from_secs(60));
        let mut woken = events.woken().expect("receiver");
        events.follow_machine(MACHINE, &obj());
        events.forget_machine(MACHINE);
        events.take(&[end("arn:e3", "FAILED")]);
        assert!(events.finished("arn:e3").is_some());
        assert!(woken.try_recv().is_err(), "nothing woken");
    }
}
