//! What the operator remembers of each object between reconciles, in one
//! map: when its AWS resources are observed next ([`super::resync`]), how far
//! its last failed full pass got ([`super::progress`]), its latest failure
//! (the backoff's count), and when each of its running executions was last
//! described while events flow ([`super::events`]).
//!
//! Kept in memory only: a restarted operator starts empty and learns again
//! from status. An object deleted, or gone from the watch, is forgotten at
//! once, all of it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use kube::runtime::reflector::ObjectRef;

use crate::api::BatchNotification;

pub type Key = ObjectRef<BatchNotification>;

/// One object's memory.
#[derive(Debug, Default)]
pub struct Remembered {
    /// Its last full pass and reserved resync slot ([`super::resync`]).
    pub resync: Option<super::resync::Entry>,
    /// Where its last failed full pass stopped ([`super::progress`]).
    pub stopped: Option<super::progress::Stopped>,
    /// The kind of its latest failure and how many times in a row.
    pub failure: Option<(&'static str, usize)>,
    /// Execution ARN → when it was last described while events flow.
    pub polled: HashMap<String, Instant>,
}

impl Remembered {
    fn is_empty(&self) -> bool {
        self.resync.is_none()
            && self.stopped.is_none()
            && self.failure.is_none()
            && self.polled.is_empty()
    }
}

/// Every object's memory.
#[derive(Debug, Default)]
pub struct Memory {
    objects: Mutex<HashMap<Key, Remembered>>,
}

impl Memory {
    /// `f` over `key`'s memory, made empty if there was none; an entry left
    /// empty is dropped.
    pub fn with<R>(&self, key: &Key, f: impl FnOnce(&mut Remembered) -> R) -> R {
        let mut objects = super::lock(&self.objects);
        let entry = objects.entry(key.clone()).or_default();
        let out = f(entry);
        if entry.is_empty() {
            objects.remove(key);
        }
        out
    }

    /// `f` over `key`'s memory, `None` when there is none.
    pub fn read<R>(&self, key: &Key, f: impl FnOnce(&Remembered) -> R) -> Option<R> {
        super::lock(&self.objects).get(key).map(f)
    }

    /// Another failure of `key` of kind `reason`: how many came before it
    /// in a row (0 when the kind changed: a new problem is not the old one
    /// retried).
    pub fn failed(&self, key: &Key, reason: &'static str) -> usize {
        self.with(key, |r| {
            let entry = r.failure.get_or_insert((reason, 0));
            if entry.0 != reason {
                *entry = (reason, 0);
            }
            entry.1 += 1;
            entry.1 - 1
        })
    }

    /// The object is gone: all of it.
    pub fn forget(&self, key: &Key) {
        super::lock(&self.objects).remove(key);
    }

    /// Objects remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        super::lock(&self.objects).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ObjectRef::new(name).within("ns")
    }

    #[test]
    fn an_object_is_forgotten_whole_and_empty_entries_go() {
        let m = Memory::default();
        m.with(&key("a"), |r| r.failure = Some(("x", 1)));
        m.with(&key("a"), |r| {
            r.polled.insert("arn".into(), Instant::now());
        });
        assert_eq!(m.len(), 1);
        assert_eq!(m.read(&key("a"), |r| r.polled.len()), Some(1));
        m.forget(&key("a"));
        assert_eq!(m.read(&key("a"), |r| r.failure), None);
        m.with(&key("b"), |r| r.failure = None);
        assert_eq!(m.len(), 0, "reading through with() leaves nothing behind");
    }

    #[test]
    fn a_failure_count_grows_while_it_repeats_and_restarts_on_another() {
        let m = Memory::default();
        let counts: Vec<usize> = ["a", "a", "a", "b", "b", "a"]
            .iter()
            .map(|r| m.failed(&key("o"), r))
            .collect();
        assert_eq!(counts, [0, 1, 2, 0, 1, 0]);
        assert_eq!(m.failed(&key("other"), "a"), 0, "per object");
    }
}
