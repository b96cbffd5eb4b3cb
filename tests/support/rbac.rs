//! People using BatchNotifications through the built-in namespace roles:
//! clients that impersonate a user, RoleBindings to `edit` or `view`, and
//! the ClusterRole aggregation those roles rely on.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleBinding};
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use batchnotify_testbed::TestBed;

/// A client of the bed acting as `user` (impersonation, as `kubectl --as`).
pub async fn client_as(bed: &TestBed, user: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&bed.kubeconfig).expect("read the bed's kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kube config");
    config.auth_info.impersonate = Some(user.to_string());
    kube::Client::try_from(config).expect("kube client")
}

/// Binds `user` to the built-in ClusterRole `role` (edit, view) in `namespace`.
pub async fn bind(client: &kube::Client, namespace: &str, user: &str, role: &str) {
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{user}-{role}"), "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))
    .expect("role binding literal");
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create role binding");
}

/// What kube-controller-manager's clusterrole-aggregation controller does,
/// which the bed does not run (it starts no controller-manager): every
/// ClusterRole with an `aggregationRule` gets the rules of the ClusterRoles its
/// selectors match (matchLabels), repeated until nothing changes, since the
/// built-in roles chain (view's rules reach edit, edit's reach admin). The
/// assertions that follow then exercise the API server's real authorizer.
pub async fn aggregate_cluster_roles(client: &kube::Client) {
    let api: Api<ClusterRole> = Api::all(client.clone());
    for _ in 0..5 {
        let roles = api
            .list(&ListParams::default())
            .await
            .expect("cluster roles")
            .items;
        let mut changed = false;
        for role in &roles {
            let Some(rule) = &role.aggregation_rule else {
                continue;
            };
            let selectors: Vec<BTreeMap<String, String>> = rule
                .cluster_role_selectors
                .iter()
                .flatten()
                .filter_map(|s| s.match_labels.clone())
                .collect();
            let mut rules: Vec<PolicyRule> = Vec::new();
            for other in &roles {
                let labels = other.metadata.labels.clone().unwrap_or_default();
                let matches = selectors
                    .iter()
                    .any(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
                if matches && other.metadata.name != role.metadata.name {
                    for r in other.rules.iter().flatten() {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            if role.rules.as_ref() != Some(&rules) {
                changed = true;
                let name = role.metadata.name.clone().unwrap_or_default();
                let patch = serde_json::json!({"rules": rules});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap_or_else(|e| panic!("aggregate into {name}: {e}"));
            }
        }
        if !changed {
            return;
        }
    }
    panic!("ClusterRole aggregation did not settle");
}

/// `editor` creates, updates and deletes a BatchNotification in `ns`;
/// `viewer` reads it and may not create one. The kustomize base (tests/e2e) and the chart (tests/install) both grant it.
pub async fn users_reach_batchnotifications(
    bed: &batchnotify_testbed::TestBed,
    ns: &str,
    editor: &str,
    viewer: &str,
) {
    use batchnotify::api::BatchNotification;
    let as_editor: Api<BatchNotification> = Api::namespaced(client_as(bed, editor).await, ns);
    let as_viewer: Api<BatchNotification> = Api::namespaced(client_as(bed, viewer).await, ns);
    let mut obj = super::example("existing-arns.yaml");
    obj["metadata"]["name"] = json!("team-job");
    let bn: BatchNotification = serde_json::from_value(obj).expect("example");
    // The API server's authorizer learns of the aggregated rules at once, but
    // give a fresh RoleBinding a moment.
    let created = super::eventually("edit may create", Duration::from_secs(10), || {
        let (api, bn) = (as_editor.clone(), bn.clone());
        async move { api.create(&PostParams::default(), &bn).await.ok() }
    })
    .await;
    assert_eq!(created.name_any(), "team-job");
    let read = as_viewer.get("team-job").await.expect("view may get");
    assert_eq!(read.uid(), created.uid());
    assert!(
        as_viewer.list(&Default::default()).await.is_ok(),
        "view may list"
    );
    let mut other = bn.clone();
    other.metadata.name = Some("not-allowed".into());
    match as_viewer.create(&PostParams::default(), &other).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("view created a BatchNotification: {other:?}"),
    }
    match as_viewer.delete("team-job", &DeleteParams::default()).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("view deleted a BatchNotification: {other:?}"),
    }
    as_editor
        .delete("team-job", &DeleteParams::default())
        .await
        .expect("edit may delete");
}
