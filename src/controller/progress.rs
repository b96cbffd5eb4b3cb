//! How far an object's last full pass got when it stopped on a problem.
//!
//! A pass applies the resources in dependency order and stops at the first
//! problem: most often the new state machine's role, which IAM has not yet
//! made assumable by Step Functions (`RolePropagating`). The pass that comes
//! seconds later would re-observe every resource the failed one had just
//! created or checked, doubling what creating an object costs. Instead the
//! steps that completed are remembered for [`TRUSTED_FOR`], for the same
//! converged spec, and the retry starts where the failed pass stopped.
//!
//! A pass that stopped on a routine wait also leaves what it created, so
//! that a clean creation is announced once, by the pass that ends it (one
//! `Created` Event naming everything), not once per pass.
//!
//! Kept in the object's [`Memory`] only: a restarted operator observes
//! everything again, and a resync pass always does (drift is its job). A
//! success forgets it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;

use super::memory::Memory;
use super::resync::Converged;
use crate::api::BatchNotification;

/// How long what a failed pass applied is trusted by the passes retrying it.
pub const TRUSTED_FOR: Duration = Duration::from_secs(60);

/// One step of a full pass: one managed AWS resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    ComputeEnvironment,
    JobQueue,
    ExecutionRole,
    JobDefinition,
    Topic,
    Role,
    StateMachine,
}

/// Where one object's last failed full pass stopped.
#[derive(Debug)]
pub struct Stopped {
    converged: Converged,
    at: Instant,
    done: Vec<Step>,
    /// What the stopped passes created and have not announced yet.
    created: Vec<String>,
}

/// Per object: the steps its last (failed) full pass completed.
#[derive(Debug, Default)]
pub struct Progress {
    memory: Arc<Memory>,
}

impl Progress {
    pub fn new(memory: Arc<Memory>) -> Progress {
        Progress { memory }
    }

    /// The steps a retry of `converged` may skip: those the failed pass
    /// before it completed, less than [`TRUSTED_FOR`] ago.
    pub fn trusted(&self, key: &ObjectRef<BatchNotification>, converged: &Converged) -> Vec<Step> {
        self.trusted_at(key, converged, Instant::now())
    }

    fn trusted_at(
        &self,
        key: &ObjectRef<BatchNotification>,
        converged: &Converged,
        now: Instant,
    ) -> Vec<Step> {
        self.memory
            .read(key, |r| match &r.stopped {
                Some(s) if &s.converged == converged && now.duration_since(s.at) < TRUSTED_FOR => {
                    s.done.clone()
                }
                _ => Vec::new(),
            })
            .unwrap_or_default()
    }

    /// A full pass of `converged` stopped on a problem after completing
    /// `done`; `created` is what it created and leaves to be announced.
    pub fn stopped(
        &self,
        key: ObjectRef<BatchNotification>,
        converged: Converged,
        done: Vec<Step>,
        created: Vec<String>,
    ) {
        // An entry outlives its use only while the object never succeeds
        // again (a deleted one is forgotten), and is replaced by the next
        // failure: one per object at most. What earlier passes left to
        // announce is kept.
        let at = Instant::now();
        self.memory.with(&key, |r| {
            let mut unannounced = r.stopped.take().map(|s| s.created).unwrap_or_default();
            unannounced.extend(created);
            r.stopped = Some(Stopped {
                converged,
                at,
                done,
                created: unannounced,
            })
        });
    }

    /// What stopped passes created and left to announce, now taken.
    pub fn unannounced(&self, key: &ObjectRef<BatchNotification>) -> Vec<String> {
        self.memory.with(key, |r| {
            r.stopped
                .as_mut()
                .map(|s| std::mem::take(&mut s.created))
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::resync::tests::{converged, key};

    #[test]
    fn a_retry_of_the_same_spec_trusts_what_the_failed_pass_completed() {
        let p = Progress::default();
        p.stopped(
            key("a"),
            converged("s"),
            vec![Step::Topic, Step::Role],
            vec![],
        );
        assert_eq!(
            p.trusted(&key("a"), &converged("s")),
            vec![Step::Topic, Step::Role]
        );
        assert!(p.trusted(&key("b"), &converged("s")).is_empty());
    }

    #[test]
    fn another_spec_or_an_old_failure_trusts_nothing() {
        let p = Progress::default();
        p.stopped(key("a"), converged("s"), vec![Step::Topic], vec![]);
        assert!(p.trusted(&key("a"), &converged("changed")).is_empty());
        let later = Instant::now() + TRUSTED_FOR + Duration::from_secs(1);
        assert!(p.trusted_at(&key("a"), &converged("s"), later).is_empty());
    }

    #[test]
    fn the_object_forgotten_takes_its_progress_along() {
        let memory = Arc::new(Memory::default());
        let p = Progress::new(memory.clone());
        p.stopped(
            key("a"),
            converged("s"),
            vec![Step::Topic],
            vec!["SNS topic t".into()],
        );
        assert_eq!(memory.len(), 1);
        memory.forget(&key("a"));
        assert!(p.trusted(&key("a"), &converged("s")).is_empty());
        assert!(p.unannounced(&key("a")).is_empty());
    }

    #[test]
    fn what_stopped_passes_created_is_kept_until_taken_once() {
        let p = Progress::default();
        p.stopped(
            key("a"),
            converged("s"),
            vec![Step::Topic],
            vec!["SNS topic t".into()],
        );
        p.stopped(
            key("a"),
            converged("s"),
            vec![Step::Topic, Step::Role],
            vec!["IAM role r".into()],
        );
        assert_eq!(p.unannounced(&key("a")), ["SNS topic t", "IAM role r"]);
        assert!(p.unannounced(&key("a")).is_empty(), "taken once");
        // The steps are still trusted by the retry.
        assert_eq!(
            p.trusted(&key("a"), &converged("s")),
            vec![Step::Topic, Step::Role]
        );
    }
}
