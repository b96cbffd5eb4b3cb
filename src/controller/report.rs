//! What one reconcile did, gathered for Events: one Event per reconcile
//! summarises the creates and updates, so that creating an object costs one
//! Event write, not one per AWS resource.

use crate::api::reason::Reason;

use super::managers::Delta;

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// (the AWS operation that put it back, what and which field)
    pub drift: Vec<(&'static str, String)>,
    pub deleted: Vec<String>,
    pub adopted: Vec<String>,
}

impl Report {
    pub fn created(&mut self, what: impl Into<String>) {
        self.created.push(what.into());
    }

    pub fn updated(&mut self, what: impl Into<String>) {
        self.updated.push(what.into());
    }

    /// A field changed out of band and was put back; `what` names the resource and field.
    pub fn drift(&mut self, operation: &'static str, what: impl Into<String>) {
        self.drift.push((operation, what.into()));
    }

    /// `what` differed from the spec in `delta` and was changed: drift put
    /// back when the spec had not changed, else an update.
    pub fn changed(&mut self, what: &str, delta: &Delta, drift: bool) {
        if drift {
            for change in &delta.0 {
                self.drift(
                    change.operation,
                    format!("{what} {} put back", change.field),
                );
            }
        } else {
            let fields: Vec<&str> = delta.0.iter().map(|c| c.field).collect();
            self.updated(format!("{what} ({})", fields.join(", ")));
        }
    }

    pub fn deleted(&mut self, what: impl Into<String>) {
        self.deleted.push(what.into());
    }

    /// What this pass created, taken out of the report (announced later).
    pub fn take_created(&mut self) -> Vec<String> {
        std::mem::take(&mut self.created)
    }

    /// What earlier passes created, announced with this one's: first.
    pub fn created_earlier(&mut self, mut earlier: Vec<String>) {
        earlier.append(&mut self.created);
        self.created = earlier;
    }

    pub fn adopted(&mut self, what: impl Into<String>) {
        self.adopted.push(what.into());
    }

    /// The Events to publish: (reason, action, note). Notes are capped
    /// below the API server's 1 KiB limit.
    pub fn events(&self) -> Vec<(Reason, String, String)> {
        let mut out = Vec::new();
        let mut push = |reason, action: String, items: &[String]| {
            if !items.is_empty() {
                let mut note = items.join("; ");
                note.truncate(note.floor_char_boundary(1000));
                out.push((reason, action, note));
            }
        };
        // Events are aggregated by (reason, action), not by note: a creation
        // spread over several passes (a compute environment first, the rest
        // once it is VALID) keeps each pass's note visible only if the action
        // differs, so it names what was created ("CreateStateMachine").
        if !self.created.is_empty() {
            push(
                Reason::Created,
                action_for("Create", &self.created),
                &self.created,
            );
        }
        push(Reason::Adopted, "Adopt".into(), &self.adopted);
        push(Reason::Updated, "Update".into(), &self.updated);
        push(Reason::Deleted, "Delete".into(), &self.deleted);
        // One Event per correction, its action the AWS operation: Events are
        // aggregated by (reason, action), and each drift must stay visible.
        for (operation, note) in &self.drift {
            out.push((Reason::DriftCorrected, operation.to_string(), note.clone()));
        }
        out
    }
}

/// `verb` followed by the kinds of `items` in CamelCase ("compute environment
/// bn-x" → `CreateComputeEnvironment`); just `verb` past 128 characters (the
/// API server's limit on an Event's action).
fn action_for(verb: &str, items: &[String]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for item in items {
        let kind: String = item
            .split_whitespace()
            .take_while(|w| !w.starts_with("bn-") && !w.ends_with(':'))
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        if !kind.is_empty() && !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let action = format!("{verb}{}", kinds.join(""));
    if action.len() > 128 {
        verb.to_string()
    } else {
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_of_different_passes_are_different_events() {
        let mut first = Report::default();
        first.created("compute environment bn-a-b-c-12345678");
        let mut second = Report::default();
        second.created("job queue bn-a-b-c-12345678");
        second.created("IAM role bn-a-b-c-12345678");
        second.created("state machine bn-a-b-c-12345678");
        let a = first.events();
        let b = second.events();
        assert_eq!(a[0].1, "CreateComputeEnvironment");
        assert_eq!(b[0].1, "CreateJobQueueIAMRoleStateMachine");
        assert_ne!(a[0].1, b[0].1, "aggregated by (reason, action)");
        assert!(b[0].2.contains("state machine bn-a-b-c-12345678"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::controller::managers::{Change, Delta};

    fn priority_and_state() -> Delta {
        let change = |field| Change {
            field,
            operation: "UpdateJobQueue",
        };
        Delta(vec![change("priority"), change("state")])
    }

    #[test]
    fn each_drift_is_its_own_event_named_by_its_operation() {
        let mut r = Report::default();
        let delta = priority_and_state();
        r.changed("job queue bn-q", &delta, true);
        let events = r.events();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.0 == Reason::DriftCorrected));
        assert_eq!(events[0].1, "UpdateJobQueue");
        assert_eq!(events[1].2, "job queue bn-q state put back");
    }

    #[test]
    fn a_spec_change_is_one_update_listing_its_fields() {
        let mut r = Report::default();
        let delta = priority_and_state();
        r.changed("job queue bn-q", &delta, false);
        r.deleted("SNS topic bn-t");
        let events = r.events();
        assert_eq!(
            events,
            [
                (
                    Reason::Updated,
                    "Update".to_string(),
                    "job queue bn-q (priority, state)".to_string()
                ),
                (
                    Reason::Deleted,
                    "Delete".to_string(),
                    "SNS topic bn-t".to_string()
                ),
            ]
        );
    }

    #[test]
    fn notes_and_actions_keep_within_the_api_servers_limits() {
        let mut r = Report::default();
        for i in 0..40 {
            r.created(format!("kind{i} of a very long name bn-{i:0>60}"));
        }
        let events = r.events();
        assert!(events[0].2.len() <= 1000, "{}", events[0].2.len());
        assert_eq!(events[0].1, "Create", "past 128 characters: the verb alone");
        assert!(
            Report::default().events().is_empty(),
            "nothing done: no Event"
        );
    }
}
