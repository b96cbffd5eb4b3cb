//! Pure: which AccessGrant applies to a namespace, and whether it covers what
//! a spec asks for — every ARN it names, every kind of resource it wants
//! made, its region, the roles a job would run as, and resources tagged as
//! another BatchNotification's. Checked before anything is created in AWS.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::tags::{Owner, Ownership, classify_ownership};
use crate::api::reason::Reason;
use crate::api::{
    AccessGrant, AccessGrantSpec, BatchNotificationSpec, ManagedKind, NamespaceSelection,
};

impl NamespaceSelection {
    /// Whether the namespace `name` with `labels` is selected.
    pub fn selects(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        let by_name = self
            .names
            .as_ref()
            .is_some_and(|names| names.iter().any(|n| n == name));
        let by_label = self
            .selector
            .as_ref()
            .is_some_and(|s| s.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)));
        by_name || by_label
    }
}

/// Which grants select a namespace.
#[derive(Debug)]
pub enum Selection<'a> {
    /// None does.
    None,
    One(&'a AccessGrant),
    /// More than one does (their names, sorted): grants never add up.
    Many(Vec<String>),
}

/// Grants are told apart by name (cluster-scoped: unique).
impl PartialEq for Selection<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Selection::None, Selection::None) => true,
            (Selection::One(a), Selection::One(b)) => a.metadata.name == b.metadata.name,
            (Selection::Many(a), Selection::Many(b)) => a == b,
            _ => false,
        }
    }
}

/// The grants among `grants` that select namespace `namespace` with `labels`.
pub fn select<'a>(
    grants: impl IntoIterator<Item = &'a AccessGrant>,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Selection<'a> {
    let mut chosen: Vec<&AccessGrant> = grants
        .into_iter()
        .filter(|g| g.metadata.deletion_timestamp.is_none())
        .filter(|g| g.spec.namespaces.selects(namespace, labels))
        .collect();
    match chosen.len() {
        0 => Selection::None,
        1 => Selection::One(chosen.remove(0)),
        _ => {
            let mut names: Vec<String> = chosen.iter().map(|g| g.name_any()).collect();
            names.sort();
            Selection::Many(names)
        }
    }
}

/// IAM's ARN matching: `*` matches any run of characters (`/` and `:`
/// included), `?` exactly one; everything else literally, case-sensitively.
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), arn.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A kind of existing resource a spec may name, with the grant's list for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceKind {
    JobQueue,
    ComputeEnvironment,
    JobDefinition,
    Topic,
    Role,
}

impl ReferenceKind {
    /// The grant's field listing this kind's patterns.
    pub fn grant_field(self) -> &'static str {
        match self {
            ReferenceKind::JobQueue => "spec.references.jobQueues",
            ReferenceKind::ComputeEnvironment => "spec.references.computeEnvironments",
            ReferenceKind::JobDefinition => "spec.references.jobDefinitions",
            ReferenceKind::Topic => "spec.references.topics",
            ReferenceKind::Role => "spec.references.roles",
        }
    }

    fn what(self) -> &'static str {
        match self {
            ReferenceKind::JobQueue => "job queue",
            ReferenceKind::ComputeEnvironment => "compute environment",
            ReferenceKind::JobDefinition => "job definition",
            ReferenceKind::Topic => "SNS topic",
            ReferenceKind::Role => "IAM role",
        }
    }

    fn patterns(self, grant: &AccessGrantSpec) -> &[String] {
        let r = &grant.references;
        match self {
            ReferenceKind::JobQueue => &r.job_queues,
            ReferenceKind::ComputeEnvironment => &r.compute_environments,
            ReferenceKind::JobDefinition => &r.job_definitions,
            ReferenceKind::Topic => &r.topics,
            ReferenceKind::Role => &r.roles,
        }
    }
}

fn managed_name(kind: ManagedKind) -> &'static str {
    match kind {
        ManagedKind::Topic => "Topic",
        ManagedKind::JobQueue => "JobQueue",
        ManagedKind::JobDefinition => "JobDefinition",
        ManagedKind::ExecutionRole => "ExecutionRole",
    }
}

/// What a grant does not cover. Each is `Stalled`: only a change of the
/// grant (by a cluster admin) or of the spec helps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An ARN no pattern of its kind matches.
    Reference {
        field: &'static str,
        kind: ReferenceKind,
        arn: String,
    },
    /// A kind of resource the grant does not let the operator create.
    Managed {
        field: &'static str,
        kind: ManagedKind,
    },
    Region {
        region: String,
    },
    /// A referenced resource tagged as another BatchNotification's.
    OwnedByAnother {
        field: &'static str,
        arn: String,
        owner: String,
    },
}

impl Refusal {
    /// The condition and Event reason.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::Reference {
                kind: ReferenceKind::Role,
                ..
            } => Reason::RoleNotGranted,
            Refusal::Reference { .. } => Reason::ReferenceNotGranted,
            Refusal::Managed { .. } => Reason::ManagedNotGranted,
            Refusal::Region { .. } => Reason::RegionNotGranted,
            Refusal::OwnedByAnother { .. } => Reason::OwnedByAnother,
        }
    }

    /// The field, the ARN, and what a cluster admin would have to grant.
    pub fn message(&self, grant: &str, namespace: &str) -> String {
        match self {
            Refusal::Reference { field, kind, arn } => format!(
                "{field}: {} {arn} is not granted to namespace {namespace}: AccessGrant {grant} would need a pattern matching it in {}",
                kind.what(),
                kind.grant_field()
            ),
            Refusal::Managed { field, kind } => format!(
                "{field}: AccessGrant {grant} does not let the operator create a {} for namespace {namespace}: it would need {} in spec.managed",
                managed_name(*kind),
                managed_name(*kind)
            ),
            Refusal::Region { region } => format!(
                "spec.region: region {region} is not granted to namespace {namespace}: AccessGrant {grant} would need it in spec.regions"
            ),
            Refusal::OwnedByAnother { field, arn, owner } => format!(
                "{field}: {arn} {owner}: AccessGrant {grant} would need a pattern matching it in spec.references.ownedByOthers"
            ),
        }
    }
}

fn reference(
    grant: &AccessGrantSpec,
    field: &'static str,
    kind: ReferenceKind,
    arn: &str,
) -> Result<(), Refusal> {
    if kind.patterns(grant).iter().any(|p| arn_matches(p, arn)) {
        Ok(())
    } else {
        Err(Refusal::Reference {
            field,
            kind,
            arn: arn.to_string(),
        })
    }
}

fn managed(grant: &AccessGrantSpec, field: &'static str, kind: ManagedKind) -> Result<(), Refusal> {
    if grant.managed.contains(&kind) {
        Ok(())
    } else {
        Err(Refusal::Managed { field, kind })
    }
}

/// Everything `spec` asks for that `grant` must cover and that the spec
/// alone shows: its region, each ARN it names, each kind it wants made, and
/// the roles of a managed job definition or compute environment.
pub fn check_spec(
    grant: &AccessGrantSpec,
    spec: &BatchNotificationSpec,
    region: &str,
) -> Result<(), Refusal> {
    if !grant.regions.is_empty() && !grant.regions.iter().any(|r| r == region) {
        return Err(Refusal::Region {
            region: region.to_string(),
        });
    }
    let queue = &spec.job_queue;
    if let Some(arn) = queue.arn.as_deref() {
        reference(grant, "spec.jobQueue.arn", ReferenceKind::JobQueue, arn)?;
    }
    if let Some(q) = queue.managed.as_ref() {
        managed(grant, "spec.jobQueue.managed", ManagedKind::JobQueue)?;
        let ce = &q.compute_environment;
        if let Some(arn) = ce.arn.as_deref() {
            reference(
                grant,
                "spec.jobQueue.managed.computeEnvironment.arn",
                ReferenceKind::ComputeEnvironment,
                arn,
            )?;
        }
        if let Some(arn) = ce
            .managed
            .as_ref()
            .and_then(|m| m.service_role_arn.as_deref())
        {
            reference(
                grant,
                "spec.jobQueue.managed.computeEnvironment.managed.serviceRoleArn",
                ReferenceKind::Role,
                arn,
            )?;
        }
    }
    let job = &spec.job_definition;
    if let Some(arn) = job.arn.as_deref() {
        reference(
            grant,
            "spec.jobDefinition.arn",
            ReferenceKind::JobDefinition,
            arn,
        )?;
    }
    if let Some(j) = job.managed.as_ref() {
        managed(
            grant,
            "spec.jobDefinition.managed",
            ManagedKind::JobDefinition,
        )?;
        for (field, arn) in [
            (
                "spec.jobDefinition.managed.jobRoleArn",
                j.job_role_arn.as_deref(),
            ),
            (
                "spec.jobDefinition.managed.executionRoleArn",
                j.execution_role_arn.as_deref(),
            ),
        ] {
            if let Some(arn) = arn {
                reference(grant, field, ReferenceKind::Role, arn)?;
            }
        }
        if j.managed_execution_role() {
            managed(
                grant,
                "spec.jobDefinition.managed.managedExecutionRole",
                ManagedKind::ExecutionRole,
            )?;
        }
    }
    if let Some(arn) = spec.topic.arn.as_deref() {
        reference(grant, "spec.topic.arn", ReferenceKind::Topic, arn)?;
    }
    if spec.topic.managed.is_some() {
        managed(grant, "spec.topic.managed", ManagedKind::Topic)?;
    }
    Ok(())
}

/// A referenced resource's ownership tags: one tagged as another
/// BatchNotification's (another namespace, name or cluster) is refused
/// unless `ownedByOthers` grants it. Untagged resources, and ones tagged for
/// this very namespace/name, pass.
pub fn check_owner(
    grant: &AccessGrantSpec,
    field: &'static str,
    arn: &str,
    tags: &BTreeMap<String, String>,
    expected: &Owner,
) -> Result<(), Refusal> {
    let ownership = classify_ownership(expected, tags);
    match ownership {
        Ownership::OtherObject { .. } => {
            let granted = grant
                .references
                .owned_by_others
                .iter()
                .any(|p| arn_matches(p, arn));
            if granted {
                Ok(())
            } else {
                Err(Refusal::OwnedByAnother {
                    field,
                    arn: arn.to_string(),
                    owner: ownership.describe(expected),
                })
            }
        }
        _ => Ok(()),
    }
}

/// The roles a referenced job definition's jobs run as: each must be granted.
pub fn check_job_definition_roles(
    grant: &AccessGrantSpec,
    definition: &str,
    roles: &[(&'static str, &str)],
) -> Result<(), Refusal> {
    for (which, role) in roles {
        if !ReferenceKind::Role
            .patterns(grant)
            .iter()
            .any(|p| arn_matches(p, role))
        {
            return Err(Refusal::Reference {
                field: which,
                kind: ReferenceKind::Role,
                arn: format!("{role} (the {which} of job definition {definition})"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(spec: serde_json::Value) -> AccessGrantSpec {
        serde_json::from_value(spec).expect("a grant spec")
    }

    fn spec(v: serde_json::Value) -> BatchNotificationSpec {
        serde_json::from_value(v).expect("a spec")
    }

    const QUEUE: &str = "arn:aws:batch:us-east-1:222222222222:job-queue/team-a-q";
    const DEF: &str = "arn:aws:batch:us-east-1:222222222222:job-definition/team-a-job:3";
    const TOPIC: &str = "arn:aws:sns:us-east-1:222222222222:team-a-alerts";

    fn referencing() -> BatchNotificationSpec {
        spec(json!({
            "jobQueue": {"arn": QUEUE},
            "jobDefinition": {"arn": DEF},
            "topic": {"arn": TOPIC}
        }))
    }

    fn team_a() -> AccessGrantSpec {
        grant(json!({
            "namespaces": {"names": ["team-a"]},
            "references": {
                "jobQueues": ["arn:aws:batch:*:222222222222:job-queue/team-a-*"],
                "jobDefinitions": ["arn:aws:batch:*:222222222222:job-definition/team-a-*"],
                "topics": ["arn:aws:sns:*:222222222222:team-a-*"],
                "roles": ["arn:aws:iam::222222222222:role/team-a-*"]
            }
        }))
    }

    #[test]
    fn arn_patterns_match_as_iam_does() {
        assert!(arn_matches("*", QUEUE));
        assert!(arn_matches(
            "arn:aws:batch:*:222222222222:job-queue/team-a-*",
            QUEUE
        ));
        assert!(!arn_matches(
            "arn:aws:batch:*:222222222222:job-queue/team-b-*",
            QUEUE
        ));
        assert!(arn_matches(
            "arn:aws:batch:us-east-?:222222222222:job-queue/team-a-q",
            QUEUE
        ));
        assert!(!arn_matches(
            "arn:aws:batch:us-east-1:222222222222:job-queue/team-a",
            QUEUE
        ));
        assert!(!arn_matches("", QUEUE));
        assert!(arn_matches("a**b", "ab"));
        assert!(arn_matches("a*b*c", "axxbyyc"));
        assert!(!arn_matches("a*b*c", "axxbyy"));
        // Case-sensitive, like IAM's resource matching.
        assert!(!arn_matches("ARN:*", QUEUE));
    }

    #[test]
    fn selection_by_name_label_none_or_many() {
        let mk = |name: &str, spec: serde_json::Value| {
            let mut g = AccessGrant::new(name, grant(spec));
            g.metadata.name = Some(name.into());
            g
        };
        let a = mk("a", json!({"namespaces": {"names": ["team-a"]}}));
        let b = mk(
            "b",
            json!({"namespaces": {"selector": {"matchLabels": {"team": "b"}}}}),
        );
        let labels_b = BTreeMap::from([("team".to_string(), "b".to_string())]);
        let grants = [a.clone(), b.clone()];
        assert_eq!(
            select(&grants, "team-a", &BTreeMap::new()),
            Selection::One(&grants[0])
        );
        assert_eq!(
            select(&grants, "other", &labels_b),
            Selection::One(&grants[1])
        );
        assert_eq!(select(&grants, "other", &BTreeMap::new()), Selection::None);
        assert_eq!(
            select(&grants, "team-a", &labels_b),
            Selection::Many(vec!["a".into(), "b".into()])
        );
        // A label selector needs every pair.
        let c = mk(
            "c",
            json!({"namespaces": {"selector": {"matchLabels": {"team": "b", "env": "prod"}}}}),
        );
        assert_eq!(select([&c], "x", &labels_b), Selection::None);
        // A grant being deleted selects nothing.
        let mut gone = a;
        gone.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert_eq!(select([&gone], "team-a", &BTreeMap::new()), Selection::None);
    }

    #[test]
    fn granted_references_pass_and_others_are_refused_naming_field_arn_and_grant() {
        assert_eq!(check_spec(&team_a(), &referencing(), "us-east-1"), Ok(()));
        let mut other = referencing();
        other.topic.arn = Some("arn:aws:sns:us-east-1:222222222222:team-b-alerts".into());
        let refused = check_spec(&team_a(), &other, "us-east-1").expect_err("refused");
        assert_eq!(refused.reason(), "ReferenceNotGranted");
        let message = refused.message("team-a", "team-a");
        assert!(
            message.starts_with(
                "spec.topic.arn: SNS topic arn:aws:sns:us-east-1:222222222222:team-b-alerts"
            ),
            "{message}"
        );
        assert!(message.contains("spec.references.topics"), "{message}");
        // No references granted at all: the first field is refused.
        let bare = grant(json!({"namespaces": {"names": ["team-a"]}}));
        let refused = check_spec(&bare, &referencing(), "us-east-1").expect_err("refused");
        assert!(matches!(
            refused,
            Refusal::Reference {
                field: "spec.jobQueue.arn",
                ..
            }
        ));
    }

    #[test]
    fn each_kind_of_reference_is_checked_against_its_own_list() {
        // A queue pattern does not grant a topic of the same name.
        let g = grant(json!({
            "namespaces": {"names": ["n"]},
            "references": {"jobQueues": ["*"], "jobDefinitions": ["*"]}
        }));
        let refused = check_spec(&g, &referencing(), "us-east-1").expect_err("refused");
        assert!(matches!(
            refused,
            Refusal::Reference {
                kind: ReferenceKind::Topic,
                ..
            }
        ));
        let g = grant(json!({
            "namespaces": {"names": ["n"]},
            "references": {"jobQueues": ["*"], "topics": ["*"]}
        }));
        let refused = check_spec(&g, &referencing(), "us-east-1").expect_err("refused");
        assert!(matches!(
            refused,
            Refusal::Reference {
                kind: ReferenceKind::JobDefinition,
                ..
            }
        ));
    }

    fn managed_spec() -> BatchNotificationSpec {
        spec(json!({
            "jobQueue": {"managed": {"computeEnvironment": {"managed": {
                "maxvCpus": 4,
                "subnets": ["subnet-1"],
                "securityGroupIds": ["sg-1"],
                "serviceRoleArn": "arn:aws:iam::222222222222:role/team-a-batch"
            }}}},
            "jobDefinition": {"managed": {
                "image": "public.ecr.aws/docker/library/busybox:latest",
                "jobRoleArn": "arn:aws:iam::222222222222:role/admin",
                "managedExecutionRole": true
            }},
            "topic": {"managed": {}}
        }))
    }

    #[test]
    fn managed_kinds_need_the_grant() {
        let none = grant(json!({"namespaces": {"names": ["n"]}}));
        let refused = check_spec(&none, &managed_spec(), "us-east-1").expect_err("refused");
        assert_eq!(
            refused,
            Refusal::Managed {
                field: "spec.jobQueue.managed",
                kind: ManagedKind::JobQueue
            }
        );
        assert_eq!(refused.reason(), "ManagedNotGranted");
        assert!(
            refused
                .message("g", "n")
                .contains("JobQueue in spec.managed")
        );
        let mut g = team_a();
        g.managed = vec![
            ManagedKind::JobQueue,
            ManagedKind::JobDefinition,
            ManagedKind::Topic,
        ];
        // The job role of a managed definition is a role like any other.
        let refused = check_spec(&g, &managed_spec(), "us-east-1").expect_err("refused");
        assert!(matches!(
            refused,
            Refusal::Reference {
                field: "spec.jobDefinition.managed.jobRoleArn",
                kind: ReferenceKind::Role,
                ..
            }
        ));
        assert_eq!(refused.reason(), "RoleNotGranted");
        let mut s = managed_spec();
        if let Some(j) = s.job_definition.managed.as_mut() {
            j.job_role_arn = Some("arn:aws:iam::222222222222:role/team-a-job".into());
        }
        let refused = check_spec(&g, &s, "us-east-1").expect_err("refused");
        assert!(matches!(
            refused,
            Refusal::Managed {
                kind: ManagedKind::ExecutionRole,
                ..
            }
        ));
        g.managed.push(ManagedKind::ExecutionRole);
        assert_eq!(check_spec(&g, &s, "us-east-1"), Ok(()));
    }

    #[test]
    fn regions_when_listed() {
        let mut g = team_a();
        g.regions = vec!["eu-west-1".into()];
        let refused = check_spec(&g, &referencing(), "us-east-1").expect_err("refused");
        assert_eq!(refused.reason(), "RegionNotGranted");
        g.regions.push("us-east-1".into());
        assert_eq!(check_spec(&g, &referencing(), "us-east-1"), Ok(()));
    }

    fn owner() -> Owner {
        Owner {
            cluster: "c".into(),
            namespace: "team-a".into(),
            name: "nightly".into(),
            uid: "u-1".into(),
        }
    }

    #[test]
    fn another_objects_resource_needs_an_explicit_grant() {
        let theirs = BTreeMap::from([
            ("batchnotify.dev/cluster".to_string(), "c".to_string()),
            (
                "batchnotify.dev/namespace".to_string(),
                "team-b".to_string(),
            ),
            ("batchnotify.dev/name".to_string(), "x".to_string()),
            ("batchnotify.dev/uid".to_string(), "u-9".to_string()),
        ]);
        let mut g = team_a();
        let refused =
            check_owner(&g, "spec.topic.arn", TOPIC, &theirs, &owner()).expect_err("refused");
        assert_eq!(refused.reason(), "OwnedByAnother");
        let message = refused.message("team-a", "team-a");
        assert!(
            message.contains("belongs to BatchNotification team-b/x of cluster c"),
            "{message}"
        );
        assert!(message.contains("ownedByOthers"), "{message}");
        // Another cluster's object of the same namespace and name is another object too.
        let mut other_cluster = theirs.clone();
        other_cluster.insert("batchnotify.dev/namespace".into(), "team-a".into());
        other_cluster.insert("batchnotify.dev/name".into(), "nightly".into());
        other_cluster.insert("batchnotify.dev/cluster".into(), "prod".into());
        assert!(check_owner(&g, "spec.topic.arn", TOPIC, &other_cluster, &owner()).is_err());
        // Untagged: fine.
        assert_eq!(
            check_owner(&g, "spec.topic.arn", TOPIC, &BTreeMap::new(), &owner()),
            Ok(())
        );
        g.references.owned_by_others = vec![TOPIC.into()];
        assert_eq!(
            check_owner(&g, "spec.topic.arn", TOPIC, &theirs, &owner()),
            Ok(())
        );
    }

    #[test]
    fn a_referenced_definitions_roles_must_be_granted() {
        let g = team_a();
        assert_eq!(
            check_job_definition_roles(
                &g,
                DEF,
                &[("jobRoleArn", "arn:aws:iam::222222222222:role/team-a-job")]
            ),
            Ok(())
        );
        let refused = check_job_definition_roles(
            &g,
            DEF,
            &[
                ("jobRoleArn", "arn:aws:iam::222222222222:role/team-a-job"),
                ("executionRoleArn", "arn:aws:iam::222222222222:role/admin"),
            ],
        )
        .expect_err("refused");
        assert_eq!(refused.reason(), "RoleNotGranted");
        let message = refused.message("team-a", "team-a");
        assert!(
            message.contains("role/admin (the executionRoleArn of job definition"),
            "{message}"
        );
        assert!(message.contains("spec.references.roles"), "{message}");
    }
}
