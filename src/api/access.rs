//! The AccessGrant custom resource (batchnotify.dev/v1alpha1, cluster-scoped):
//! what a cluster admin grants the BatchNotifications of some namespaces —
//! which AWS identity they act as (the operator's own, or an IAM role in any
//! account, assumed with STS), which existing resources they may name by ARN,
//! and which kinds of resource the operator may create for them. Cluster-scoped
//! like cert-manager's ClusterIssuer, so that a namespace's editors can neither
//! write nor widen it; a BatchNotification spec has no credential field.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pattern of an IAM role ARN (any partition, any account).
pub const ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$";
/// `sts:ExternalId`: characters of `[\w+=,.@:/-]` (2-1224 of them: the
/// schema's length, as Go's regexp allows repeat counts up to 1000 only).
/// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
pub const EXTERNAL_ID: &str = r"^[\w+=,.@:/-]+$";

/// Grants the BatchNotifications of the selected namespaces one AWS identity and the
/// resources they may reach. Cluster-scoped: only a cluster admin writes it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[kube(
    group = "batchnotify.dev",
    version = "v1alpha1",
    kind = "AccessGrant",
    plural = "accessgrants",
    shortname = "bngrant",
    category = "batchnotify",
    printcolumn = r#"{"name":"Identity","type":"string","description":"The IAM role assumed (empty: the operator's own identity)","jsonPath":".spec.identity.assumeRole.roleArn"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"string","description":"Namespaces named","jsonPath":".spec.namespaces.names"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::unwrap_descriptions)]
pub struct AccessGrantSpec {
    /// The namespaces this grant applies to: those named in `names` and those whose labels
    /// match `selector`. A namespace selected by two grants gets neither (its objects are
    /// Stalled with reason `AccessAmbiguous`): grants never add up.
    pub namespaces: NamespaceSelection,

    /// The AWS identity the selected namespaces' objects act as. Default: the operator's own.
    #[serde(default)]
    pub identity: GrantedIdentity,

    /// Existing resources the objects may name by ARN, as ARN patterns per kind (`*` matches
    /// any characters, `?` one). An ARN that matches no pattern of its kind is refused
    /// (`ReferenceNotGranted`). Default: none.
    #[serde(default)]
    pub references: GrantedReferences,

    /// Kinds of resource the operator may create for the objects (besides the state machine
    /// and its role, which every object has): `Topic`, `JobQueue` (with its compute
    /// environment), `JobDefinition`, `ExecutionRole`. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub managed: Vec<ManagedKind>,

    /// AWS regions the objects may use. Default: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub regions: Vec<String>,
}

/// Which namespaces a grant selects: `names`, `selector`, or both (either matching is enough).
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.names) || has(self.selector)",
    "message": "name the namespaces (names) or select them by label (selector)"
}]))]
pub struct NamespaceSelection {
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub names: Option<Vec<String>>,

    /// Namespaces by label: every `matchLabels` pair must be on the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// A label selector of equality terms.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels the namespace must carry, with these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// The AWS identity of a grant: the operator's own credentials, or a role assumed with STS.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GrantedIdentity {
    /// Assume this IAM role (in any account) with STS AssumeRole. Without it the objects use
    /// the operator's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
}

/// An IAM role the operator assumes for the selected namespaces. The session is named
/// `bn-<cluster>-<namespace>` and tagged `batchnotify.dev/cluster` and
/// `batchnotify.dev/namespace`, so the role's account can write ABAC policies; credentials
/// are cached per role and namespace and refreshed before they expire.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRole {
    /// ARN of the role, for example `arn:aws:iam::222222222222:role/batchnotify-team-a`.
    /// Its trust policy must let the operator's identity assume it (and tag the session).
    #[schemars(pattern(ROLE_ARN), length(max = 2048))]
    pub role_arn: String,

    /// The `sts:ExternalId` the role's trust policy requires (2-1224 characters of letters,
    /// digits and `_+=,.@:/-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(EXTERNAL_ID), length(min = 2, max = 1224))]
    pub external_id: Option<String>,

    /// Lifetime of each session, in seconds, 900-43200 (the role's MaxSessionDuration bounds
    /// it). Default: 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_seconds: Option<u32>,
}

/// Existing resources objects may name, as ARN patterns.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct GrantedReferences {
    /// Job queues (`spec.jobQueue.arn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_queues: Vec<String>,
    /// Compute environments (`spec.jobQueue.managed.computeEnvironment.arn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compute_environments: Vec<String>,
    /// Job definitions (`spec.jobDefinition.arn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_definitions: Vec<String>,
    /// SNS topics (`spec.topic.arn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// IAM roles the objects may have AWS Batch use: the job role and execution role of a
    /// referenced job definition, `jobRoleArn` / `executionRoleArn` of a managed one, and the
    /// `serviceRoleArn` of a managed compute environment. A Batch job runs with its job
    /// definition's roles, so naming a definition borrows its permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Resources tagged as owned by another BatchNotification (another namespace, object or
    /// cluster) that may still be referenced. Without a match here such a reference is refused
    /// (`OwnedByAnother`), even when its kind's patterns match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owned_by_others: Vec<String>,
}

/// A kind of resource the operator may create for an object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq)]
pub enum ManagedKind {
    Topic,
    JobQueue,
    JobDefinition,
    ExecutionRole,
}

/// What applies to an object, shown in its status: the grant (if any), the account and the
/// role assumed.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccessStatus {
    /// The AccessGrant that selects the object's namespace; empty when none does and the
    /// operator lets ungranted namespaces use its own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The IAM role assumed for the object; empty for the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}
