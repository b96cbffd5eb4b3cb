//! What one reconcile did, gathered for Events: one Event per reconcile
//! summarises the creates and updates, so that creating an object costs one
//! Event write, not one per AWS resource.

use kube::runtime::events::EventType;

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

    pub fn deleted(&mut self, what: impl Into<String>) {
        self.deleted.push(what.into());
    }

    pub fn adopted(&mut self, what: impl Into<String>) {
        self.adopted.push(what.into());
    }

    /// The Events to publish: (type, reason, action, note). Notes are capped
    /// below the API server's 1 KiB limit.
    pub fn events(&self) -> Vec<(EventType, &'static str, &'static str, String)> {
        let mut out = Vec::new();
        let mut push = |reason, action, items: &[String]| {
            if !items.is_empty() {
                let mut note = items.join("; ");
                if note.len() > 1000 {
                    let mut cut = 1000;
                    while !note.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    note.truncate(cut);
                }
                out.push((EventType::Normal, reason, action, note));
            }
        };
        push("Created", "Create", &self.created);
        push("Adopted", "Adopt", &self.adopted);
        push("Updated", "Update", &self.updated);
        push("Deleted", "Delete", &self.deleted);
        // One Event per correction, its action the AWS operation: Events are
        // aggregated by (reason, action), and each drift must stay visible.
        for (operation, note) in &self.drift {
            out.push((
                EventType::Warning,
                "DriftCorrected",
                *operation,
                note.clone(),
            ));
        }
        out
    }
}
