//! Kubernetes Events about Flux objects, as Flux's controllers record them (so
//! `kubectl describe` and `flux events` show them).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};
use serde_json::Value;

/// Normal or Warning, as Kubernetes types events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Records events for one controller (`source-controller`, `kustomize-controller`, …).
#[derive(Clone)]
pub struct EventRecorder {
    client: kube::Client,
    controller: &'static str,
    replica: String,
}

impl EventRecorder {
    pub fn new(client: kube::Client, controller: &'static str, replica: impl Into<String>) -> Self {
        EventRecorder {
            client,
            controller,
            replica: replica.into(),
        }
    }

    /// Records an event about `object`. Failing to record is logged, never fatal:
    /// events are for people, reconciles must not depend on them.
    pub async fn record(&self, object: &Value, kind: EventType, reason: &str, message: &str) {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let namespace = text("/metadata/namespace").unwrap_or_else(|| "default".to_owned());
        let now = k8s_openapi::jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", text("/metadata/name").unwrap_or_default())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: text("/apiVersion"),
                kind: text("/kind"),
                name: text("/metadata/name"),
                namespace: Some(namespace.clone()),
                uid: text("/metadata/uid"),
                resource_version: text("/metadata/resourceVersion"),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(match kind {
                EventType::Normal => "Normal".to_owned(),
                EventType::Warning => "Warning".to_owned(),
            }),
            source: Some(EventSource {
                component: Some(self.controller.to_owned()),
                host: None,
            }),
            reporting_component: Some(self.controller.to_owned()),
            reporting_instance: Some(self.replica.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            action: Some("reconcile".to_owned()),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(error = %e, reason, "recording an event failed");
        }
    }
}
