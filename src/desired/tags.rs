//! Ownership tags: who an AWS resource belongs to, and what an observed resource's tags
//! say about it.

use std::collections::BTreeMap;

/// Prefix of the operator's own tag keys; user tags with it are dropped.
pub const RESERVED_PREFIX: &str = "batchnotify.dev/";
/// Prefix AWS reserves for its own tags; user tags with it are dropped.
pub const AWS_PREFIX: &str = "aws:";
/// The operator's cluster name (its `--cluster-name`).
pub const CLUSTER: &str = "batchnotify.dev/cluster";
/// The object's namespace.
pub const NAMESPACE: &str = "batchnotify.dev/namespace";
/// The object's name.
pub const NAME: &str = "batchnotify.dev/name";
/// The object's UID: tells a re-created object (same name) from the original.
pub const UID: &str = "batchnotify.dev/uid";

/// The object that owns (or wants to own) a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The operator's cluster name.
    pub cluster: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The object's UID.
    pub uid: String,
}

impl Owner {
    /// The cluster, as the owner of what it shares (event mode's route):
    /// no namespace, name or UID.
    pub fn cluster(cluster: &str) -> Owner {
        Owner {
            cluster: cluster.to_string(),
            namespace: String::new(),
            name: String::new(),
            uid: String::new(),
        }
    }

    /// The four ownership tags.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (CLUSTER.to_owned(), self.cluster.clone()),
            (NAMESPACE.to_owned(), self.namespace.clone()),
            (NAME.to_owned(), self.name.clone()),
            (UID.to_owned(), self.uid.clone()),
        ])
    }
}

/// The tags every created resource carries: the user's `spec.tags` plus the ownership tags.
/// User tags cannot override ownership tags; keys under `batchnotify.dev/` or `aws:` are
/// dropped (the API server rejects them already).
pub fn desired_tags(owner: &Owner, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = user
        .iter()
        .filter(|(key, _)| !key.starts_with(RESERVED_PREFIX) && !key.starts_with(AWS_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.extend(owner.tags());
    tags
}

/// What an observed resource's tags say about who owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged for this very object (cluster, namespace, name and UID match).
    Ours,
    /// Tagged for this cluster/namespace/name but another UID: left by an earlier object of
    /// the same name (deleted with `Retain`, or a cluster rebuilt from Git). Adopt explicitly.
    SameObjectOlderUid {
        /// The UID on the resource, if tagged.
        uid: Option<String>,
    },
    /// Tagged for a different object (or a different cluster); never touch it.
    OtherObject {
        /// The cluster tag on the resource, if any.
        cluster: Option<String>,
        /// The namespace tag on the resource, if any.
        namespace: Option<String>,
        /// The name tag on the resource, if any.
        name: Option<String>,
        /// The UID tag on the resource, if any.
        uid: Option<String>,
    },
    /// No ownership tag at all: created by someone else, or by hand.
    Untagged,
}

impl Ownership {
    /// Ours once adopted (with the adopt annotation): untagged, or tagged for
    /// this namespace/name under an older UID.
    pub fn adoptable(&self) -> bool {
        matches!(
            self,
            Ownership::Untagged | Ownership::SameObjectOlderUid { .. }
        )
    }

    /// Who the resource belongs to, for a message ("is not tagged by
    /// batchnotify", "belongs to BatchNotification ns/name of cluster c").
    pub fn describe(&self, expected: &Owner) -> String {
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        match self {
            Ownership::Ours => "ours".to_string(),
            Ownership::Untagged => "is not tagged by batchnotify".to_string(),
            Ownership::SameObjectOlderUid { uid } => format!(
                "is tagged for {}/{} under an older UID {}",
                expected.namespace,
                expected.name,
                uid.clone().unwrap_or_default()
            ),
            Ownership::OtherObject {
                cluster,
                namespace,
                name,
                ..
            } => format!(
                "belongs to BatchNotification {}/{} of cluster {}",
                or_unknown(namespace),
                or_unknown(name),
                or_unknown(cluster)
            ),
        }
    }
}

/// Classifies a resource by its `observed` tags against the `expected` owner.
pub fn classify_ownership(expected: &Owner, observed: &BTreeMap<String, String>) -> Ownership {
    let get = |key: &str| observed.get(key).cloned();
    let (cluster, namespace, name, uid) = (get(CLUSTER), get(NAMESPACE), get(NAME), get(UID));
    if cluster.is_none() && namespace.is_none() && name.is_none() && uid.is_none() {
        return Ownership::Untagged;
    }
    let same_object = cluster.as_deref() == Some(expected.cluster.as_str())
        && namespace.as_deref() == Some(expected.namespace.as_str())
        && name.as_deref() == Some(expected.name.as_str());
    match (same_object, uid) {
        (true, Some(uid)) if uid == expected.uid => Ownership::Ours,
        (true, uid) => Ownership::SameObjectOlderUid { uid },
        (false, uid) => Ownership::OtherObject {
            cluster,
            namespace,
            name,
            uid,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            cluster: "prod".into(),
            namespace: "data".into(),
            name: "nightly".into(),
            uid: "8c1f0d6e-0000-4000-8000-000000000001".into(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn desired_tags_merge_user_and_ownership() {
        let tags = desired_tags(&owner(), &map(&[("team", "data"), ("cost-center", "42")]));
        assert_eq!(
            tags,
            map(&[
                ("team", "data"),
                ("cost-center", "42"),
                (CLUSTER, "prod"),
                (NAMESPACE, "data"),
                (NAME, "nightly"),
                (UID, "8c1f0d6e-0000-4000-8000-000000000001"),
            ])
        );
    }

    #[test]
    fn user_tags_cannot_override_ours() {
        let tags = desired_tags(
            &owner(),
            &map(&[
                (NAME, "someone-else"),
                ("batchnotify.dev/extra", "x"),
                ("aws:foo", "y"),
            ]),
        );
        assert_eq!(tags, owner().tags());
    }

    #[test]
    fn classifies_observed_tags() {
        let o = owner();
        assert_eq!(classify_ownership(&o, &map(&[])), Ownership::Untagged);
        assert_eq!(
            classify_ownership(&o, &map(&[("team", "data")])),
            Ownership::Untagged
        );
        assert_eq!(
            classify_ownership(&o, &desired_tags(&o, &map(&[("team", "x")]))),
            Ownership::Ours
        );

        let older = Owner {
            uid: "older".into(),
            ..o.clone()
        };
        assert_eq!(
            classify_ownership(&o, &older.tags()),
            Ownership::SameObjectOlderUid {
                uid: Some("older".into())
            }
        );
        let mut no_uid = o.tags();
        no_uid.remove(UID);
        assert_eq!(
            classify_ownership(&o, &no_uid),
            Ownership::SameObjectOlderUid { uid: None }
        );

        let other = Owner {
            name: "weekly".into(),
            ..o.clone()
        };
        assert_eq!(
            classify_ownership(&o, &other.tags()),
            Ownership::OtherObject {
                cluster: Some("prod".into()),
                namespace: Some("data".into()),
                name: Some("weekly".into()),
                uid: Some(o.uid.clone()),
            }
        );
        let other_cluster = Owner {
            cluster: "staging".into(),
            ..o.clone()
        };
        assert!(matches!(
            classify_ownership(&o, &other_cluster.tags()),
            Ownership::OtherObject { .. }
        ));
        assert!(matches!(
            classify_ownership(&o, &map(&[(UID, &o.uid)])),
            Ownership::OtherObject { cluster: None, .. }
        ));
    }
}
