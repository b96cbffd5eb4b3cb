//! A watch on every benchmark object and every Event: when each object became
//! Ready and got its run's result (as the bench saw it), and each write to it,
//! classified by what changed — finalizers, status, spec (the bench's own) —
//! plus each Event created or patched about it.
//!
//! A watch delivers every change in order, so one MODIFIED event is one write
//! that changed the object. A write that changed nothing (a no-op apply) does
//! not show here: the API server's own request counter (`measure`) catches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batchnotify::api::{BatchNotification, conditions};
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// Every benchmark object carries this label; its value names the round.
pub const ROUND_LABEL: &str = "batchnotify.dev/bench-round";

/// Writes seen, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Writes {
    pub finalizer: u64,
    pub status: u64,
    /// The bench's own spec changes (not the operator's).
    pub spec: u64,
    /// Changes that are none of the above.
    pub other: u64,
    pub events_created: u64,
    pub events_patched: u64,
}

impl Writes {
    /// The operator's writes: everything but the bench's spec changes.
    pub fn operator(&self) -> u64 {
        self.finalizer + self.status + self.other + self.events_created + self.events_patched
    }

    pub fn events(&self) -> u64 {
        self.events_created + self.events_patched
    }

    pub fn since(&self, a: &Writes) -> Writes {
        Writes {
            finalizer: self.finalizer - a.finalizer,
            status: self.status - a.status,
            spec: self.spec - a.spec,
            other: self.other - a.other,
            events_created: self.events_created - a.events_created,
            events_patched: self.events_patched - a.events_patched,
        }
    }

    fn add(&mut self, o: &Writes) {
        self.finalizer += o.finalizer;
        self.status += o.status;
        self.spec += o.spec;
        self.other += o.other;
        self.events_created += o.events_created;
        self.events_patched += o.events_patched;
    }
}

#[derive(Default)]
struct Seen {
    generation: Option<i64>,
    finalizers: Vec<String>,
    status: Option<serde_json::Value>,
    ready_at: Option<Instant>,
    /// First time status held a finished run for each trigger value.
    results: HashMap<String, Instant>,
    /// For each trigger value: the run's end as AWS recorded it (stopTime)
    /// → when its status write reached the watch, in milliseconds.
    end_to_status_ms: HashMap<String, f64>,
    /// Trigger values whose run ended other than Succeeded (every bench job
    /// succeeds: a failure is the emulator's or the operator's).
    failed: Vec<String>,
}

#[derive(Default)]
struct State {
    objects: HashMap<(String, String), Seen>,
    writes: HashMap<String, Writes>,
    /// Watches restarted from a fresh list (410 Gone): changes may have been missed.
    gaps: u64,
}

#[derive(Clone)]
pub struct Observer {
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Observer {
    /// Starts watching from now on.
    pub async fn start(client: Client) -> Observer {
        let observer = Observer {
            state: Arc::new(Mutex::new(State::default())),
        };
        let objects: Api<BatchNotification> = Api::all(client.clone());
        let events: Api<Event> = Api::all(client);
        let o = observer.clone();
        let params = WatchParams::default().labels(ROUND_LABEL).timeout(280);
        let rv = current_version(&objects).await;
        tokio::spawn(follow(objects, params, rv, o, Observer::object));
        let o = observer.clone();
        let rv = current_version(&events).await;
        let params = WatchParams::default().timeout(280);
        tokio::spawn(follow(events, params, rv, o, Observer::event));
        observer
    }

    fn object(&self, added: bool, obj: BatchNotification) {
        let now = Instant::now();
        let ns = obj.namespace().unwrap_or_default();
        let key = (ns.clone(), obj.name_any());
        let status = obj
            .status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok());
        let finalizers = obj.finalizers().to_vec();
        let generation = obj.metadata.generation;
        let mut state = lock(&self.state);
        let seen = state.objects.entry(key).or_default();
        let mut w = Writes::default();
        if !added {
            if seen.finalizers != finalizers {
                w.finalizer += 1;
            } else if seen.generation != generation {
                w.spec += 1;
            } else if seen.status != status {
                w.status += 1;
            } else {
                w.other += 1;
            }
        }
        seen.generation = generation;
        seen.finalizers = finalizers;
        seen.status = status;
        if let Some(s) = obj.status.as_ref() {
            if seen.ready_at.is_none()
                && s.observed_generation == generation
                && conditions::is_true(&s.conditions, conditions::READY)
            {
                seen.ready_at = Some(now);
            }
            if let (Some(trigger), Some(run)) = (s.last_trigger.as_ref(), s.last_run.as_ref())
                && run.outcome.is_some()
                && run.trigger.as_ref() == Some(trigger)
                && !seen.results.contains_key(trigger)
            {
                if let Some(stop) = run
                    .stop_time
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                {
                    let delay = jiff::Timestamp::now().duration_since(stop);
                    seen.end_to_status_ms
                        .insert(trigger.clone(), delay.as_secs_f64() * 1000.0);
                }
                if run.outcome != Some(batchnotify::api::RunOutcome::Succeeded) {
                    seen.failed.push(trigger.clone());
                }
                seen.results.insert(trigger.clone(), now);
            }
        }
        state.writes.entry(ns).or_default().add(&w);
    }

    fn event(&self, added: bool, event: Event) {
        if event.reporting_controller.as_deref() != Some("batchnotify") {
            return;
        }
        let Some(ns) = event.regarding.as_ref().and_then(|r| r.namespace.clone()) else {
            return;
        };
        let mut state = lock(&self.state);
        let w = state.writes.entry(ns).or_default();
        if added {
            w.events_created += 1;
        } else {
            w.events_patched += 1;
        }
    }

    /// Writes so far to objects (and Events about objects) in `namespaces`.
    pub fn writes(&self, namespaces: &[String]) -> Writes {
        let state = lock(&self.state);
        let mut total = Writes::default();
        for ns in namespaces {
            if let Some(w) = state.writes.get(ns) {
                total.add(w);
            }
        }
        total
    }

    /// When the bench first saw each object Ready for its generation.
    pub fn ready_at(&self, keys: &[(String, String)]) -> Vec<Option<Instant>> {
        let state = lock(&self.state);
        keys.iter()
            .map(|k| state.objects.get(k).and_then(|s| s.ready_at))
            .collect()
    }

    /// When the bench first saw each object with a finished run for `trigger`.
    pub fn result_at(&self, keys: &[(String, String)], trigger: &str) -> Vec<Option<Instant>> {
        let state = lock(&self.state);
        keys.iter()
            .map(|k| {
                state
                    .objects
                    .get(k)
                    .and_then(|s| s.results.get(trigger).copied())
            })
            .collect()
    }

    /// For each object's run of `trigger`: milliseconds from the execution's
    /// end (its stopTime) to the status write that carried it.
    pub fn end_to_status_ms(&self, keys: &[(String, String)], trigger: &str) -> Vec<f64> {
        let state = lock(&self.state);
        keys.iter()
            .filter_map(|k| {
                state
                    .objects
                    .get(k)
                    .and_then(|s| s.end_to_status_ms.get(trigger).copied())
            })
            .collect()
    }

    /// The `k` objects whose result took longest from the execution's end
    /// to status, slowest first (ns/name, ms): where to look in the logs.
    pub fn slowest_end_to_status(
        &self,
        keys: &[(String, String)],
        trigger: &str,
        k: usize,
    ) -> Vec<(String, u64)> {
        let state = lock(&self.state);
        let mut all: Vec<(String, u64)> = keys
            .iter()
            .filter_map(|key| {
                let ms = state.objects.get(key)?.end_to_status_ms.get(trigger)?;
                Some((format!("{}/{}", key.0, key.1), *ms as u64))
            })
            .collect();
        all.sort_by_key(|k| std::cmp::Reverse(k.1));
        all.truncate(k);
        all
    }

    /// How many of `keys` ended their `trigger`'s run other than Succeeded.
    pub fn failed_runs(&self, keys: &[(String, String)], trigger: &str) -> usize {
        let state = lock(&self.state);
        keys.iter()
            .filter(|key| {
                state
                    .objects
                    .get(*key)
                    .is_some_and(|s| s.failed.iter().any(|t| t == trigger))
            })
            .count()
    }

    pub fn gaps(&self) -> u64 {
        lock(&self.state).gaps
    }
}

async fn current_version<K>(api: &Api<K>) -> String
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default().limit(1))
        .await
        .ok()
        .and_then(|l| l.metadata.resource_version)
        .unwrap_or_else(|| "0".to_string())
}

/// Follows one watch from `rv` on, resuming where it ended; a 410 Gone means
/// changes were lost, and is counted.
async fn follow<K>(
    api: Api<K>,
    params: WatchParams,
    mut rv: String,
    observer: Observer,
    on: fn(&Observer, bool, K),
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    loop {
        let stream = match api.watch(&params, &rv).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(WatchEvent::Added(o)) => {
                    rv = o.resource_version().unwrap_or(rv);
                    on(&observer, true, o);
                }
                Ok(WatchEvent::Modified(o)) => {
                    rv = o.resource_version().unwrap_or(rv);
                    on(&observer, false, o);
                }
                Ok(WatchEvent::Deleted(o)) => rv = o.resource_version().unwrap_or(rv),
                Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                Ok(WatchEvent::Error(e)) if e.code == 410 => {
                    lock(&observer.state).gaps += 1;
                    rv = current_version(&api).await;
                    break;
                }
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            }
        }
    }
}
