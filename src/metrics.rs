//! Prometheus metrics: reconciles, AWS and Kubernetes requests, runs, managed
//! objects, and per object its readiness and last run (series that are
//! removed with the object, so their number is bounded by the objects).

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsLabels {
    service: String,
    operation: String,
    outcome: &'static str,
    /// `first`, or `retry` for the SDK's own retries of the same call.
    attempt: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    /// The region, or `global` for IAM.
    scope: String,
    service: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    service: &'static str,
    operation: &'static str,
    /// `foreground` (creation, changes, runs) or `background` (resync).
    priority: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeferredLabels {
    /// `runs` (the object's own run work went first: a new trigger, an end
    /// its event brought), `budget` (creation, changes or runs were waiting
    /// for the budget), `slots` (as many resync passes as may run at once
    /// were running) or `throttled` (AWS throttled the pass: it takes a later
    /// slot instead of being repeated at the next retry).
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    outcome: String,
}

/// One BatchNotification.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SentLabels {
    service: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KubeLabels {
    /// The HTTP method, or WATCH for a watch.
    verb: &'static str,
    /// The HTTP status code, or `error` when no response came.
    code: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every series the operator exports, registered once.
pub struct Metrics {
    registry: Mutex<Registry>,
    aws_requests: Family<AwsLabels, Counter>,
    aws_requests_sent: Family<SentLabels, Counter>,
    reconciles: Family<ReconcileLabels, Counter>,
    stage_duration: Family<StageLabels, Histogram, fn() -> Histogram>,
    runs: Family<RunLabels, Counter>,
    managed_objects: Gauge,
    leader: Gauge,
    reconcile_duration: Histogram,
    object_ready: Family<ObjectLabels, Gauge>,
    object_last_run_succeeded: Family<ObjectLabels, Gauge>,
    /// The objects that have series, to remove them with the object.
    objects: Mutex<HashSet<ObjectLabels>>,
    kube_requests: Family<KubeLabels, Counter>,
    kube_request_duration: Family<KubeLabels, Histogram, fn() -> Histogram>,
    aws_budget: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    aws_budget_waits: Family<WaitLabels, Counter>,
    aws_budget_wait_seconds: Family<WaitLabels, Counter<f64, AtomicU64>>,
    resync_period: Gauge<f64, AtomicU64>,
    resyncs_deferred: Family<DeferredLabels, Counter>,
    drift_detection_period: Histogram,
    events_received: Family<EventLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    /// `used` (a run's result), `unknown` (an execution no object follows),
    /// `ignored` (not a terminal status), `malformed`.
    disposition: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("batchnotify");
        let aws_requests = Family::<AwsLabels, Counter>::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let stage_duration =
            Family::<StageLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        let runs = Family::<RunLabels, Counter>::default();
        let managed_objects = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease (or runs without leader election)",
            leader.clone(),
        );
        registry.register(
            "aws_requests",
            "HTTP requests to AWS APIs, each attempt of a call once (as AWS counts, throttles and bills them), by service, operation, outcome and attempt",
            aws_requests.clone(),
        );
        let aws_requests_sent = Family::<SentLabels, Counter>::default();
        registry.register(
            "aws_requests_sent",
            "HTTP requests to AWS APIs counted as they are sent (each attempt once), by service and operation: what AWS receives, counted before any answer; minus aws_requests_total, the requests in flight",
            aws_requests_sent.clone(),
        );
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_stage_duration_seconds",
            "Time spent in each reconcile stage",
            stage_duration.clone(),
        );
        registry.register("runs", "Finished executions by outcome", runs.clone());
        registry.register(
            "managed_objects",
            "BatchNotifications this operator manages",
            managed_objects.clone(),
        );
        let reconcile_duration = duration_histogram();
        registry.register(
            "reconcile_duration_seconds",
            "Time of a whole reconcile (apply or cleanup), whatever its result",
            reconcile_duration.clone(),
        );
        let object_ready = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "object_ready",
            "Per BatchNotification: 1 when its Ready condition is True, else 0",
            object_ready.clone(),
        );
        let object_last_run_succeeded = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "object_last_run_succeeded",
            "Per BatchNotification: 1 when its most recent finished run succeeded, 0 when it failed; absent before the first run ends",
            object_last_run_succeeded.clone(),
        );
        let kube_requests = Family::<KubeLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Kubernetes API requests by verb and HTTP status code",
            kube_requests.clone(),
        );
        let kube_request_duration =
            Family::<KubeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        registry.register(
            "kube_request_duration_seconds",
            "Time until the Kubernetes API answered (headers; a watch counts until it opens)",
            kube_request_duration.clone(),
        );
        let aws_budget = Family::<BudgetLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "aws_budget_calls_per_second",
            "The operator's budget per AWS API: the published quota's refill rate times --aws-quota-fraction (and --aws-quota-scale)",
            aws_budget.clone(),
        );
        let aws_budget_waits = Family::<WaitLabels, Counter>::default();
        registry.register(
            "aws_budget_waits",
            "AWS calls that waited for the budget before going, by priority",
            aws_budget_waits.clone(),
        );
        let aws_budget_wait_seconds = Family::<WaitLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "aws_budget_wait_seconds",
            "Time AWS calls spent waiting for the budget, by priority",
            aws_budget_wait_seconds.clone(),
        );
        let resync_period = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "resync_period_seconds",
            "The resync period in force: --resync, stretched when the budget cannot re-observe every object that often",
            resync_period.clone(),
        );
        let resyncs_deferred = Family::<DeferredLabels, Counter>::default();
        registry.register(
            "resyncs_deferred",
            "Resync passes that fell due but took a later slot, by cause",
            resyncs_deferred.clone(),
        );
        let drift_detection_period = Histogram::new(exponential_buckets(15.0, 2.0, 12));
        registry.register(
            "drift_detection_period_seconds",
            "Achieved time between two full observations of one object's AWS resources",
            drift_detection_period.clone(),
        );
        let events_received = Family::<EventLabels, Counter>::default();
        registry.register(
            "execution_events",
            "Step Functions execution status change events read from the operator's queue, by what became of them",
            events_received.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            aws_budget,
            aws_budget_waits,
            aws_budget_wait_seconds,
            resync_period,
            resyncs_deferred,
            drift_detection_period,
            events_received,
            aws_requests,
            aws_requests_sent,
            reconciles,
            stage_duration,
            runs,
            managed_objects,
            leader,
            reconcile_duration,
            object_ready,
            object_last_run_succeeded,
            objects: Mutex::new(HashSet::new()),
            kube_requests,
            kube_request_duration,
        }
    }

    pub fn reconcile_took(&self, seconds: f64) {
        self.reconcile_duration.observe(seconds);
    }

    /// An object's readiness and its last finished run (`None`: none yet).
    pub fn object(&self, namespace: &str, name: &str, ready: bool, last_run: Option<bool>) {
        let labels = ObjectLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.object_ready
            .get_or_create(&labels)
            .set(i64::from(ready));
        match last_run {
            Some(succeeded) => {
                self.object_last_run_succeeded
                    .get_or_create(&labels)
                    .set(i64::from(succeeded));
            }
            None => {
                self.object_last_run_succeeded.remove(&labels);
            }
        }
        lock(&self.objects).insert(labels);
    }

    /// Removes an object's series (it was deleted).
    pub fn forget_object(&self, namespace: &str, name: &str) {
        let labels = ObjectLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.remove(&labels);
        lock(&self.objects).remove(&labels);
    }

    /// Removes the series of every object for which `keep` is false: objects
    /// that left without a reconcile seeing them go (a finalizer removed by
    /// hand, a changed label). Cheap when nothing is to go.
    pub fn retain_objects(&self, present: usize, keep: impl Fn(&str, &str) -> bool) {
        let mut objects = lock(&self.objects);
        if objects.len() <= present {
            return;
        }
        objects.retain(|labels| {
            let kept = keep(&labels.namespace, &labels.name);
            if !kept {
                self.remove(labels);
            }
            kept
        });
    }

    fn remove(&self, labels: &ObjectLabels) {
        self.object_ready.remove(labels);
        self.object_last_run_succeeded.remove(labels);
    }

    /// How many objects have series.
    pub fn objects_with_series(&self) -> usize {
        lock(&self.objects).len()
    }

    fn kube_request(&self, verb: &'static str, code: String, seconds: f64) {
        let labels = KubeLabels { verb, code };
        self.kube_requests.get_or_create(&labels).inc();
        self.kube_request_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// One attempt of an AWS call (see `aws::attempts`).
    pub fn aws_attempt(
        &self,
        service: &str,
        operation: &str,
        outcome: &'static str,
        attempt: &'static str,
    ) {
        self.aws_requests
            .get_or_create(&AwsLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome,
                attempt,
            })
            .inc();
    }

    /// One attempt of an AWS call is about to be sent (see `aws::attempts`).
    pub fn aws_sent(&self, service: &str, operation: &str) {
        self.aws_requests_sent
            .get_or_create(&SentLabels {
                service: service.to_string(),
                operation: operation.to_string(),
            })
            .inc();
    }

    /// The budget of one API, once, when it is first called.
    pub fn aws_budget(
        &self,
        scope: &str,
        service: &'static str,
        operation: &'static str,
        per_second: f64,
    ) {
        self.aws_budget
            .get_or_create(&BudgetLabels {
                scope: scope.to_string(),
                service,
                operation,
            })
            .set(per_second);
    }

    /// A call waited `seconds` for the budget.
    pub fn aws_budget_waited(
        &self,
        service: &'static str,
        operation: &'static str,
        priority: &'static str,
        seconds: f64,
    ) {
        let labels = WaitLabels {
            service,
            operation,
            priority,
        };
        self.aws_budget_waits.get_or_create(&labels).inc();
        self.aws_budget_wait_seconds
            .get_or_create(&labels)
            .inc_by(seconds);
    }

    pub fn resync_period(&self, seconds: f64) {
        self.resync_period.set(seconds);
    }

    pub fn resync_deferred(&self, cause: &'static str) {
        self.resyncs_deferred
            .get_or_create(&DeferredLabels { cause })
            .inc();
    }

    /// An object's resources were observed again `seconds` after the last time.
    pub fn drift_detected_after(&self, seconds: f64) {
        self.drift_detection_period.observe(seconds);
    }

    pub fn execution_event(&self, disposition: &'static str) {
        self.events_received
            .get_or_create(&EventLabels { disposition })
            .inc();
    }

    pub fn reconciled(&self, result: &'static str) {
        self.reconciles
            .get_or_create(&ReconcileLabels { result })
            .inc();
    }

    pub fn stage(&self, stage: &'static str, seconds: f64) {
        self.stage_duration
            .get_or_create(&StageLabels { stage })
            .observe(seconds);
    }

    pub fn run_finished(&self, outcome: &str) {
        self.runs
            .get_or_create(&RunLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn set_managed_objects(&self, n: i64) {
        self.managed_objects.set(n);
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A tower layer for kube's client that counts every Kubernetes API request
/// (`batchnotify_kube_requests_total`, `…_duration_seconds`): kube has no
/// client metrics of its own, but takes layers (`ClientBuilder::with_layer`).
#[derive(Clone)]
pub struct KubeRequests(pub Arc<Metrics>);

impl<S> tower::Layer<S> for KubeRequests {
    type Service = KubeRequestsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KubeRequestsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

pub struct KubeRequestsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

fn verb(method: &http::Method, query: Option<&str>) -> &'static str {
    if query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1")) {
        return "WATCH";
    }
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for KubeRequestsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let verb = verb(request.method(), request.uri().query());
        let started = Instant::now();
        let response = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let response = response.await;
            let code = match &response {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            metrics.kube_request(verb, code, started.elapsed().as_secs_f64());
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_series_come_and_go_with_the_object() {
        let m = Metrics::new();
        m.object("data", "nightly", true, Some(false));
        m.object("data", "hourly", false, None);
        let text = m.encode();
        assert!(
            text.contains("batchnotify_object_ready{namespace=\"data\",name=\"nightly\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "batchnotify_object_last_run_succeeded{namespace=\"data\",name=\"nightly\"} 0"
            ),
            "{text}"
        );
        assert!(!text.contains("last_run_succeeded{namespace=\"data\",name=\"hourly\"}"));

        m.forget_object("data", "nightly");
        let text = m.encode();
        assert!(!text.contains("name=\"nightly\""), "{text}");
        assert!(text.contains("name=\"hourly\""), "{text}");

        // An object gone without a reconcile seeing it.
        m.retain_objects(0, |_, name| name != "hourly");
        assert_eq!(m.objects_with_series(), 0);
        assert!(!m.encode().contains("name=\"hourly\""));
    }

    #[test]
    fn watches_are_told_from_gets() {
        assert_eq!(
            verb(&http::Method::GET, Some("watch=true&resourceVersion=1")),
            "WATCH"
        );
        assert_eq!(verb(&http::Method::GET, Some("limit=500")), "GET");
        assert_eq!(verb(&http::Method::PATCH, None), "PATCH");
    }
}
