//! The access stage: which AccessGrant applies to an object's namespace, the
//! AWS principal its calls use, and what the grant refuses — decided from
//! the watch caches of AccessGrants and Namespaces, before any AWS call.
//! (The decisions themselves are pure: [`crate::desired::access`].)

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::error::Problem;
use crate::api::reason::Reason;
use crate::api::{
    AccessGrant, AccessGrantSpec, AccessStatus, BatchNotification, BatchNotificationSpec,
};
use crate::aws::{AssumedRole, Principal};
use crate::desired::access::{self, Refusal, Selection};
use crate::desired::tags;

/// The session's lifetime when the grant does not say (STS's default).
const SESSION_SECONDS: u32 = 3600;
/// How long a reconcile waits for the first list of AccessGrants and
/// Namespaces before saying it cannot tell what applies.
const CACHES_READY: Duration = Duration::from_secs(30);

/// The watch caches the access stage reads, set once the controller runs.
#[derive(Default)]
pub struct Grants {
    grants: OnceLock<Store<AccessGrant>>,
    namespaces: OnceLock<Store<Namespace>>,
}

impl Grants {
    pub fn set(&self, grants: Store<AccessGrant>, namespaces: Store<Namespace>) {
        let _ = self.grants.set(grants);
        let _ = self.namespaces.set(namespaces);
    }

    /// Every AccessGrant and the labels of `namespace`; `None` until both
    /// caches have their first list (or when the controller does not run:
    /// no grants then).
    async fn read(
        &self,
        namespace: &str,
    ) -> Result<(Vec<AccessGrant>, BTreeMap<String, String>), Problem> {
        let (Some(grants), Some(namespaces)) = (self.grants.get(), self.namespaces.get()) else {
            return Ok((Vec::new(), BTreeMap::new()));
        };
        let ready = async {
            grants.wait_until_ready().await.ok()?;
            namespaces.wait_until_ready().await.ok()
        };
        if tokio::time::timeout(CACHES_READY, ready)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(Problem::new(
                Reason::AccessUnknown,
                "cannot list AccessGrants and Namespaces yet: is the AccessGrant CRD installed, and may the operator list and watch accessgrants and namespaces?",
            ));
        }
        let labels = namespaces
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.labels().clone())
            .unwrap_or_default();
        let all = grants.state().iter().map(|g| (**g).clone()).collect();
        Ok((all, labels))
    }

    /// The grants selecting `namespace` now, as `name@resourceVersion`: what a
    /// full pass was judged by ("" while the caches are not set).
    pub fn fingerprint(&self, namespace: &str) -> String {
        let (Some(grants), Some(namespaces)) = (self.grants.get(), self.namespaces.get()) else {
            return String::new();
        };
        let labels = namespaces
            .get(&ObjectRef::new(namespace))
            .map(|ns| ns.labels().clone())
            .unwrap_or_default();
        let mut selecting: Vec<String> = grants
            .state()
            .iter()
            .filter(|g| g.spec.namespaces.selects(namespace, &labels))
            .map(|g| {
                format!(
                    "{}@{}",
                    g.name_any(),
                    g.resource_version().unwrap_or_default()
                )
            })
            .collect();
        selecting.sort();
        selecting.join(",")
    }

    /// The objects a change of `grant` may concern: those in the namespaces
    /// it selects now, and those whose status names it (it may have
    /// selected them before).
    pub fn concerned(
        &self,
        grant: &AccessGrant,
        objects: &Store<BatchNotification>,
    ) -> Vec<ObjectRef<BatchNotification>> {
        let name = grant.name_any();
        let labels_of = |ns: &str| {
            self.namespaces
                .get()
                .and_then(|s| s.get(&ObjectRef::new(ns)))
                .map(|n| n.labels().clone())
                .unwrap_or_default()
        };
        objects
            .state()
            .iter()
            .filter(|o| {
                let ns = o.namespace().unwrap_or_default();
                let named = o
                    .status
                    .as_ref()
                    .and_then(|s| s.access.as_ref())
                    .and_then(|a| a.grant.as_deref())
                    == Some(name.as_str());
                named || grant.spec.namespaces.selects(&ns, &labels_of(&ns))
            })
            .map(|o| ObjectRef::from_obj(&**o))
            .collect()
    }
}

/// The objects of namespace `ns` (its labels changed: another grant may select it).
pub fn in_namespace(
    ns: &Namespace,
    objects: &Store<BatchNotification>,
) -> Vec<ObjectRef<BatchNotification>> {
    let name = ns.name_any();
    objects
        .state()
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(name.as_str()))
        .map(|o| ObjectRef::from_obj(&**o))
        .collect()
}

/// What applies to one object.
#[derive(Clone, Debug)]
pub struct Access {
    pub principal: Principal,
    /// The grant selecting the namespace, by name; `None` when no grant does
    /// and the operator lets ungranted namespaces use its own identity.
    pub grant: Option<(String, AccessGrantSpec)>,
    namespace: String,
}

impl Access {
    /// What status shows; nothing for the operator's own identity without a
    /// grant (as before grants existed: no status rewrite on upgrade).
    pub fn status(&self) -> Option<AccessStatus> {
        let (name, _) = self.grant.as_ref()?;
        Some(AccessStatus {
            grant: Some(name.clone()),
            role_arn: self.principal.role_arn().map(str::to_string),
        })
    }

    fn refused(&self, refusal: &Refusal) -> Problem {
        let grant = self.grant.as_ref().map_or("", |(n, _)| n.as_str());
        Problem::new(refusal.reason(), refusal.message(grant, &self.namespace))
    }

    /// What the spec alone shows against the grant: region, ARNs, kinds to
    /// create, the roles of managed resources.
    pub fn check_spec(&self, spec: &BatchNotificationSpec, region: &str) -> Result<(), Problem> {
        match &self.grant {
            None => Ok(()),
            Some((_, g)) => access::check_spec(g, spec, region).map_err(|r| self.refused(&r)),
        }
    }

    /// A referenced resource's ownership tags.
    pub fn check_owner(
        &self,
        field: &'static str,
        arn: &str,
        observed: &BTreeMap<String, String>,
        expected: &tags::Owner,
    ) -> Result<(), Problem> {
        match &self.grant {
            None => Ok(()),
            Some((_, g)) => {
                access::check_owner(g, field, arn, observed, expected).map_err(|r| self.refused(&r))
            }
        }
    }

    /// The roles a referenced job definition runs its jobs as.
    pub fn check_job_definition_roles(
        &self,
        definition: &str,
        roles: &[(&'static str, &str)],
    ) -> Result<(), Problem> {
        match &self.grant {
            None => Ok(()),
            Some((_, g)) => access::check_job_definition_roles(g, definition, roles)
                .map_err(|r| self.refused(&r)),
        }
    }

    /// Whether references must be observed for their tags and roles.
    pub fn checks_references(&self) -> bool {
        self.grant.is_some()
    }
}

/// An STS session name: `bn-<cluster>-<namespace>`, at most 64 characters of
/// `[\w+=,.@-]`.
/// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
fn session_name(cluster: &str, namespace: &str) -> String {
    let raw = format!("bn-{cluster}-{namespace}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// The principal a grant gives a namespace.
pub fn principal(grant: &AccessGrantSpec, cluster: &str, namespace: &str) -> Principal {
    match &grant.identity.assume_role {
        None => Principal::Operator,
        Some(r) => Principal::AssumedRole(AssumedRole {
            role_arn: r.role_arn.clone(),
            external_id: r.external_id.clone(),
            session_name: session_name(cluster, namespace),
            session_seconds: r.session_seconds.unwrap_or(SESSION_SECONDS),
            tags: vec![
                (tags::CLUSTER.to_string(), cluster.to_string()),
                (tags::NAMESPACE.to_string(), namespace.to_string()),
            ],
        }),
    }
}

/// Which grant applies to `obj`, and so its principal. Refused when two
/// grants select its namespace, or none does and `require_grant` is set.
pub async fn resolve(
    grants: &Grants,
    obj: &BatchNotification,
    cluster: &str,
    require_grant: bool,
) -> Result<Access, Problem> {
    let namespace = obj.namespace().unwrap_or_default();
    let (all, labels) = grants.read(&namespace).await?;
    match access::select(&all, &namespace, &labels) {
        Selection::One(g) => Ok(Access {
            principal: principal(&g.spec, cluster, &namespace),
            grant: Some((g.name_any(), g.spec.clone())),
            namespace,
        }),
        Selection::Many(names) => Err(Problem::new(
            Reason::AccessAmbiguous,
            format!(
                "namespace {namespace} is selected by AccessGrants {}: grants never add up; a cluster admin must make exactly one select it",
                names.join(", ")
            ),
        )),
        Selection::None if require_grant => Err(Problem::new(
            Reason::AccessNotGranted,
            format!(
                "namespace {namespace}: no AccessGrant selects it, and the operator runs with --require-grant (deny unless granted): a cluster admin must create an AccessGrant naming namespace {namespace}"
            ),
        )),
        Selection::None => Ok(Access {
            principal: Principal::Operator,
            grant: None,
            namespace,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(session_name("prod", "team-a"), "bn-prod-team-a");
        let long = session_name(&"c".repeat(40), &"n".repeat(63));
        assert_eq!(long.len(), 64);
        assert_eq!(session_name("a b/c", "x"), "bn-a-b-c-x");
    }

    #[test]
    fn a_role_grant_assumes_its_role_with_tags_and_external_id() {
        let g: AccessGrantSpec = serde_json::from_value(json!({
            "namespaces": {"names": ["team-a"]},
            "identity": {"assumeRole": {
                "roleArn": "arn:aws:iam::222222222222:role/bn-team-a",
                "externalId": "x-123"
            }}
        }))
        .expect("grant");
        let Principal::AssumedRole(r) = principal(&g, "prod", "team-a") else {
            panic!("not assumed");
        };
        assert_eq!(r.external_id.as_deref(), Some("x-123"));
        assert_eq!(r.session_seconds, 3600);
        assert!(
            r.tags
                .contains(&("batchnotify.dev/namespace".into(), "team-a".into()))
        );
        assert_eq!(
            Principal::AssumedRole(r.clone()).account(),
            Some("222222222222")
        );
        // The external ID is not printed.
        assert!(!format!("{r:?}").contains("x-123"));
        let own: AccessGrantSpec =
            serde_json::from_value(json!({"namespaces": {"names": ["team-a"]}})).expect("grant");
        assert_eq!(principal(&own, "prod", "team-a"), Principal::Operator);
    }
}
