//! The control plane is real: CRDs with CEL, the status subresource,
//! server-side apply, Events and Leases all behave as on a cluster.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Resource;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

use crate::support::Ctx;

const CRD_NAME: &str = "widgets.testbed.batchnotify.dev";

async fn install_widget_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": "testbed.batchnotify.dev",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["min", "max"],
                            "properties": {
                                "min": {"type": "integer"},
                                "max": {"type": "integer"}
                            },
                            "x-kubernetes-validations": [{
                                "rule": "self.min <= self.max",
                                "message": "min must not exceed max",
                                "fieldPath": ".min"
                            }]
                        },
                        "status": {
                            "type": "object",
                            "properties": {"phase": {"type": "string"}}
                        }
                    }
                }}
            }]
        }
    }))
    .expect("crd literal");
    crds.patch(
        CRD_NAME,
        &PatchParams::apply("testbed-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply the CRD");
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(crds, CRD_NAME, conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .expect("watch the CRD");
}

#[tokio::test]
async fn control_plane_serves_crds_with_cel_status_ssa_events_and_leases() {
    let ctx = Ctx::new("testbed-kube").await;
    install_widget_crd(&ctx.client).await;

    let gvk = GroupVersionKind::gvk("testbed.batchnotify.dev", "v1", "Widget");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.ns, &ApiResource::from_gvk(&gvk));
    let widget = |name: &str, min: i64, max: i64| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "testbed.batchnotify.dev/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"min": min, "max": max}
        }))
        .expect("widget literal")
    };

    // Valid: accepted. Invalid: rejected by CEL, the message names the field.
    widgets
        .create(&PostParams::default(), &widget("good", 1, 2))
        .await
        .expect("a valid widget is accepted");
    match widgets
        .create(&PostParams::default(), &widget("bad", 3, 2))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains("spec.min"), "{}", status.message);
            assert!(
                status.message.contains("min must not exceed max"),
                "{}",
                status.message
            );
        }
        other => panic!("an invalid widget must be rejected, got {other:?}"),
    }

    // The status subresource: a status patch changes status only.
    widgets
        .patch_status(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await
        .expect("patch status");
    let got = widgets.get("good").await.expect("get widget");
    assert_eq!(got.data["status"]["phase"], "Ready");
    assert_eq!(got.data["spec"]["max"], 2);

    // Server-side apply with a field manager of our own.
    let ssa = PatchParams::apply("batchnotify-test").force();
    widgets
        .patch("good", &ssa, &Patch::Apply(&widget("good", 1, 5)))
        .await
        .expect("server-side apply");
    let got = widgets.get("good").await.expect("get widget");
    assert_eq!(got.data["spec"]["max"], 5);
    let managers: Vec<_> = got
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.iter().any(|m| m == "batchnotify-test"),
        "{managers:?}"
    );

    // Events through kube-runtime's recorder.
    let recorder = Recorder::new(ctx.client.clone(), Reporter::from("testbed-test"));
    let reference = got.object_ref(&ApiResource::from_gvk(&gvk));
    recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Tested".into(),
                note: Some("the recorder works".into()),
                action: "Test".into(),
                secondary: None,
            },
            &reference,
        )
        .await
        .expect("publish event");
    let events: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let listed = events
        .list(&ListParams::default())
        .await
        .expect("list events");
    assert!(
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Tested")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("good")),
        "{:?}",
        listed.items
    );

    // Leases.
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "testbed-lease"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}
    }))
    .expect("lease literal");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create lease");
    let got = leases.get("testbed-lease").await.expect("get lease");
    assert_eq!(
        got.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("me")
    );
}

#[test]
fn kubectl_reports_the_pinned_version() {
    let out = crate::support::bed()
        .kubectl()
        .args(["version", "-o", "json"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kubectl json");
    assert_eq!(
        v["clientVersion"]["gitVersion"],
        batchnotify_testbed::KUBERNETES_VERSION
    );
    assert_eq!(
        v["serverVersion"]["gitVersion"],
        batchnotify_testbed::KUBERNETES_VERSION
    );
}
