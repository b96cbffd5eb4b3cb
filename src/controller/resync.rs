//! When an object's AWS resources are observed again (drift detection).
//!
//! A change (a new object, a new spec, the adopt annotation, not yet Ready)
//! is observed at once, at foreground priority. Otherwise an object is due
//! `--resync` after its last full pass; when it falls due it reserves the
//! next free slot of an even schedule (one slot every `period / objects`),
//! so objects created together are not re-observed together, and `period`
//! stretches past `--resync` when the budget's background share cannot
//! re-observe every object that often ([`crate::aws::budget::Budget::resync_floor`]).
//! The period in force is a metric and is logged when it changes; each
//! achieved interval between two observations of one object is a histogram.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

use super::lock;
use super::memory::Memory;
use crate::api::BatchNotification;

/// What this reconcile does with the infrastructure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Nothing changed and no resync is due: trust status, no AWS call.
    Trust,
    /// Something changed: observe and converge now, at foreground priority.
    Change,
    /// The object's resync slot has come: observe at background priority.
    Resync,
}

/// What the last full pass of one object converged.
#[derive(Clone, Debug, PartialEq)]
pub struct Converged {
    pub uid: Option<String>,
    /// The spec it converged, less `run`: a new trigger or schedule changes
    /// the generation but no AWS resource, and costs no full pass.
    pub infrastructure: String,
    pub adopt: bool,
    /// The AccessGrants that selected its namespace, with their versions: a
    /// changed grant re-observes what it judges (ownership tags, roles).
    pub access: String,
}

/// One object's last full pass (kept in its [`Memory`]).
#[derive(Clone, Debug)]
pub struct Entry {
    converged: Converged,
    at: Instant,
    /// The reserved slot, once the resync fell due.
    slot: Option<Instant>,
}

#[derive(Debug)]
struct Slots {
    last: Option<Instant>,
    /// The period last reported.
    period: Duration,
    /// Resync passes done, to size the period from the calls they made.
    passes: u64,
}

/// The schedule of every object's next observation: the even slots, and
/// each object's entry in the per-object [`Memory`].
#[derive(Debug)]
pub struct Schedule {
    resync: Duration,
    memory: Arc<Memory>,
    slots: Mutex<Slots>,
}

/// Where in [0, 1) `key` falls: a hash, the same in every process.
fn spread(key: &ObjectRef<BatchNotification>) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A slot this close counts as come (timers fire a little early or late).
const SLACK: Duration = Duration::from_millis(100);

impl Schedule {
    pub fn new(resync: Duration, memory: Arc<Memory>) -> Schedule {
        Schedule {
            resync,
            memory,
            slots: Mutex::new(Slots {
                last: None,
                period: resync,
                passes: 0,
            }),
        }
    }

    /// What to do with `obj` now. `period` is the resync period in force
    /// (see [`Schedule::period`]), `objects` how many objects share it.
    pub fn pass(
        &self,
        key: &ObjectRef<BatchNotification>,
        now: &Converged,
        ready: bool,
        period: Duration,
        objects: usize,
    ) -> Pass {
        self.memory.with(key, |r| {
            let Some(entry) = r.resync.as_mut() else {
                return Pass::Change;
            };
            if !ready || entry.converged != *now {
                return Pass::Change;
            }
            let clock = Instant::now();
            if clock < entry.at + self.resync {
                return Pass::Trust;
            }
            let slot = *entry
                .slot
                .get_or_insert_with(|| self.reserve(clock, period, objects));
            if slot <= clock + SLACK {
                Pass::Resync
            } else {
                Pass::Trust
            }
        })
    }

    /// How long until `key` should be reconciled for its resync.
    pub fn due_in(&self, key: &ObjectRef<BatchNotification>) -> Duration {
        let now = Instant::now();
        self.memory
            .read(key, |r| match &r.resync {
                Some(Entry {
                    slot: Some(slot), ..
                }) => slot.saturating_duration_since(now),
                Some(entry) => (entry.at + self.resync).saturating_duration_since(now),
                None => self.resync,
            })
            .unwrap_or(self.resync)
    }

    /// First sight of an object whose status says it is converged (a
    /// restarted operator, a new leader): observing it again is a resync
    /// like any other — due at a moment within the next `--resync` picked by
    /// a hash of its key, then in its slot at background priority — not a
    /// wave of full passes over every object at start. A change, or status
    /// saying otherwise, is still observed at once.
    pub fn seen_converged(&self, key: &ObjectRef<BatchNotification>, converged: &Converged) {
        self.memory.with(key, |r| {
            if r.resync.is_some() {
                return;
            }
            let now = Instant::now();
            let offset = self.resync.mul_f64(spread(key));
            let at = now
                .checked_sub(self.resync)
                .map_or(now, |past| past + offset);
            r.resync = Some(Entry {
                converged: converged.clone(),
                at,
                slot: None,
            });
        })
    }

    /// A full pass of `key` succeeded; returns the interval since the one
    /// before when this was a resync (the achieved drift-detection period).
    pub fn done(
        &self,
        key: ObjectRef<BatchNotification>,
        converged: Converged,
        pass: Pass,
    ) -> Option<Duration> {
        let now = Instant::now();
        let previous = self.memory.with(&key, |r| {
            r.resync.replace(Entry {
                converged,
                at: now,
                slot: None,
            })
        });
        if pass != Pass::Resync {
            return None;
        }
        lock(&self.slots).passes += 1;
        previous.map(|p| now.saturating_duration_since(p.at))
    }

    /// A resync pass could not run now (as many as may run at once are
    /// running): it takes the next free slot at the end of the schedule, so
    /// the waiting objects are not retried all together and the period
    /// stretches to what the passes achieve.
    pub fn postpone(&self, key: &ObjectRef<BatchNotification>, period: Duration, objects: usize) {
        self.memory.with(key, |r| {
            if let Some(entry) = r.resync.as_mut() {
                entry.slot = Some(self.reserve(Instant::now(), period, objects));
            }
        })
    }

    fn reserve(&self, clock: Instant, period: Duration, objects: usize) -> Instant {
        let interval = period / u32::try_from(objects.max(1)).unwrap_or(u32::MAX);
        let mut slots = lock(&self.slots);
        let slot = match slots.last {
            Some(last) => (last + interval).max(clock),
            None => clock,
        };
        slots.last = Some(slot);
        slot
    }

    /// Whether `key`'s last full pass is more than twice `period` ago: a
    /// resync that long deferred runs even while the budget is pressed, so
    /// drift is still found under a foreground that never rests.
    pub fn overdue(&self, key: &ObjectRef<BatchNotification>, period: Duration) -> bool {
        self.memory
            .read(key, |r| {
                r.resync
                    .as_ref()
                    .is_some_and(|e| e.at.elapsed() > period.saturating_mul(2))
            })
            .unwrap_or(false)
    }

    pub fn passes(&self) -> u64 {
        lock(&self.slots).passes
    }

    /// The period in force: `--resync`, or longer when `floor` (what the
    /// budget can hold, and the API that binds it) is longer. Logged when it
    /// moves by more than a tenth.
    pub fn period(&self, floor: Option<(Duration, String)>, objects: usize) -> Duration {
        let (period, api) = match floor {
            Some((floor, api)) if floor > self.resync => (floor, Some(api)),
            _ => (self.resync, None),
        };
        let mut slots = lock(&self.slots);
        let before = slots.period.as_secs_f64();
        if (period.as_secs_f64() - before).abs() > before / 10.0 {
            match &api {
                Some(api) => tracing::info!(
                    period_s = period.as_secs(),
                    resync_s = self.resync.as_secs(),
                    objects,
                    binding_api = %api,
                    "resync period stretched: the budget's resync share cannot re-observe every object every --resync"
                ),
                None => tracing::info!(
                    period_s = period.as_secs(),
                    objects,
                    "resync period back to --resync"
                ),
            }
            slots.period = period;
        }
        period
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::controller) fn key(name: &str) -> ObjectRef<BatchNotification> {
        ObjectRef::new(name).within("ns")
    }

    pub(in crate::controller) fn converged(spec: &str) -> Converged {
        Converged {
            uid: Some("u".into()),
            infrastructure: spec.into(),
            adopt: false,
            access: String::new(),
        }
    }

    #[test]
    fn a_change_is_observed_at_once_and_nothing_before_the_resync() {
        let s = Schedule::new(Duration::from_secs(600), Arc::default());
        let p = Duration::from_secs(600);
        assert_eq!(s.pass(&key("a"), &converged("x"), true, p, 1), Pass::Change);
        s.done(key("a"), converged("x"), Pass::Change);
        assert_eq!(s.pass(&key("a"), &converged("x"), true, p, 1), Pass::Trust);
        assert_eq!(s.pass(&key("a"), &converged("y"), true, p, 1), Pass::Change);
        assert_eq!(
            s.pass(&key("a"), &converged("x"), false, p, 1),
            Pass::Change
        );
        let due = s.due_in(&key("a"));
        assert!(due > Duration::from_secs(590) && due <= p, "{due:?}");
    }

    #[test]
    fn a_converged_object_seen_first_is_trusted_until_its_hashed_moment() {
        let resync = Duration::from_secs(600);
        let s = Schedule::new(resync, Arc::default());
        let names: Vec<String> = (0..200).map(|i| format!("o{i}")).collect();
        for n in &names {
            s.seen_converged(&key(n), &converged("x"));
        }
        // A restart costs no wave of passes: few are due at once, the others
        // fall due spread over the period.
        let passes: Vec<Pass> = names
            .iter()
            .map(|n| s.pass(&key(n), &converged("x"), true, resync, names.len()))
            .collect();
        let now = passes.iter().filter(|p| **p != Pass::Trust).count();
        assert!(now < 10, "{now} of 200 observed at once");
        let dues: Vec<f64> = names
            .iter()
            .map(|n| s.due_in(&key(n)).as_secs_f64())
            .collect();
        let late = dues.iter().filter(|d| **d > 300.0).count();
        assert!(
            (60..140).contains(&late),
            "{late} of 200 due in the second half"
        );
        assert!(dues.iter().all(|d| *d <= 600.0));
        // A change is still observed at once; a known object is not reset.
        assert_eq!(
            s.pass(&key("o1"), &converged("y"), true, resync, 200),
            Pass::Change
        );
        s.done(key("o2"), converged("x"), Pass::Change);
        s.seen_converged(&key("o2"), &converged("x"));
        assert!(s.due_in(&key("o2")) > Duration::from_secs(590));
    }

    #[test]
    fn objects_due_together_get_slots_spread_over_the_period() {
        let s = Schedule::new(Duration::ZERO, Arc::default());
        let period = Duration::from_secs(100);
        for name in ["a", "b", "c", "d"] {
            s.done(key(name), converged("x"), Pass::Change);
        }
        // All four are due at once; the first goes, the others wait for
        // their slot, 25 s apart.
        let passes: Vec<Pass> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| s.pass(&key(n), &converged("x"), true, period, 4))
            .collect();
        assert_eq!(
            passes,
            [Pass::Resync, Pass::Trust, Pass::Trust, Pass::Trust]
        );
        let waits: Vec<u64> = ["b", "c", "d"]
            .iter()
            .map(|n| s.due_in(&key(n)).as_secs_f64().round() as u64)
            .collect();
        assert_eq!(waits, [25, 50, 75]);
        // A slot, once reserved, is kept: asking again does not move it.
        s.pass(&key("d"), &converged("x"), true, period, 4);
        assert_eq!(s.due_in(&key("d")).as_secs_f64().round() as u64, 75);
    }

    #[test]
    fn a_postponed_resync_goes_to_the_end_of_the_schedule() {
        let s = Schedule::new(Duration::ZERO, Arc::default());
        let period = Duration::from_secs(100);
        for name in ["a", "b"] {
            s.done(key(name), converged("x"), Pass::Change);
        }
        assert_eq!(
            s.pass(&key("a"), &converged("x"), true, period, 2),
            Pass::Resync
        );
        assert_eq!(
            s.pass(&key("b"), &converged("x"), true, period, 2),
            Pass::Trust
        );
        // "a" found no free pass: its next slot is after "b"'s.
        s.postpone(&key("a"), period, 2);
        let a = s.due_in(&key("a")).as_secs_f64().round() as u64;
        let b = s.due_in(&key("b")).as_secs_f64().round() as u64;
        assert_eq!((a, b), (100, 50));
    }

    #[test]
    fn a_resync_deferred_past_twice_the_period_is_overdue() {
        let s = Schedule::new(Duration::ZERO, Arc::default());
        assert!(!s.overdue(&key("a"), Duration::ZERO), "never seen");
        s.done(key("a"), converged("x"), Pass::Change);
        assert!(!s.overdue(&key("a"), Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.overdue(&key("a"), Duration::from_millis(1)));
    }

    #[test]
    fn the_period_stretches_to_what_the_budget_holds() {
        let s = Schedule::new(Duration::from_secs(600), Arc::default());
        assert_eq!(s.period(None, 10), Duration::from_secs(600));
        assert_eq!(
            s.period(Some((Duration::from_secs(300), "sfn:X".into())), 10),
            Duration::from_secs(600)
        );
        assert_eq!(
            s.period(
                Some((Duration::from_secs(4000), "iam:GetRole".into())),
                10_000
            ),
            Duration::from_secs(4000)
        );
    }

    #[test]
    fn a_resync_pass_reports_the_interval_achieved() {
        let s = Schedule::new(Duration::ZERO, Arc::default());
        assert_eq!(s.done(key("a"), converged("x"), Pass::Change), None);
        assert!(s.done(key("a"), converged("x"), Pass::Resync).is_some());
        assert_eq!(s.passes(), 1);
    }
}
