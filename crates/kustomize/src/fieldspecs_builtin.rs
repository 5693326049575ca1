//! The built-in field specs of each transformer: kustomize v5.5's default
//! transformer configuration, as tables.
//!
//! The lists keep kustomize's own order, except that the pod spec fields of each
//! workload kind are listed the same way for all of them (kustomize orders CronJob's
//! differently; distinct paths never interact, so this cannot change output). Only
//! the order of the name reference entries changes output (it decides which referral kind claims a field first,
//! e.g. a Role's `rules/resourceNames` naming both a ConfigMap and a Secret), and
//! kustomize sorts those by kind; [`default_config`] does the same, and
//! `namereference` sorts again after `configurations:` are merged in.

use crate::fieldspec::{FieldSpec, NameBackReference, TransformerConfig};

/// One field spec: (group, version, kind, path, create).
type Row = (&'static str, &'static str, &'static str, &'static str, bool);

fn specs(rows: &[Row]) -> Vec<FieldSpec> {
    rows.iter()
        .map(|&(group, version, kind, path, create)| {
            FieldSpec::new(group, version, kind, path, create)
        })
        .collect()
}

/// namePrefix and nameSuffix: the object's own name (kinds kustomize never renames
/// are skipped by the transformer itself).
const NAME: &[Row] = &[("", "", "", "metadata/name", false)];

/// namespace, besides `metadata/namespace` (which the transformer sets itself on
/// namespaced kinds): a Namespace object takes the namespace as its name, and
/// service references that carry a namespace.
const NAMESPACE: &[Row] = &[
    ("", "", "Namespace", "metadata/name", true),
    (
        "apiregistration.k8s.io",
        "",
        "APIService",
        "spec/service/namespace",
        true,
    ),
    (
        "apiextensions.k8s.io",
        "",
        "CustomResourceDefinition",
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

/// Where labels go on objects and on the pod templates inside them (kustomize's
/// metadataLabels; templateLabels is exactly this list).
const METADATA_LABELS: &[Row] = &[
    ("", "", "", "metadata/labels", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/labels", true),
    ("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    ("", "", "DaemonSet", "spec/template/metadata/labels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    ("batch", "", "Job", "spec/template/metadata/labels", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

const AFFINITY_SELECTORS: [&str; 5] = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// commonLabels: selectors first (in kustomize's order), then [`METADATA_LABELS`].
fn common_labels() -> Vec<FieldSpec> {
    let mut rows: Vec<Row> = vec![
        ("", "v1", "Service", "spec/selector", true),
        ("", "v1", "ReplicationController", "spec/selector", true),
        ("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    rows.extend(AFFINITY_SELECTORS.map(|path| ("apps", "", "Deployment", path, false)));
    rows.extend([
        ("", "", "ReplicaSet", "spec/selector/matchLabels", true),
        ("", "", "DaemonSet", "spec/selector/matchLabels", true),
        ("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    ]);
    rows.extend(AFFINITY_SELECTORS.map(|path| ("apps", "", "StatefulSet", path, false)));
    rows.extend([
        ("batch", "", "Job", "spec/selector/matchLabels", false),
        (
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        (
            "policy",
            "",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ]);
    rows.extend_from_slice(METADATA_LABELS);
    specs(&rows)
}

const COMMON_ANNOTATIONS: &[Row] = &[
    ("", "", "", "metadata/annotations", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "Deployment",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "ReplicaSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "DaemonSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "Job",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Where `$(VAR)` is expanded, per kind: containers' args, command, env values and
/// mount paths, NFS servers, plus a few odd ones; then labels and annotations of
/// every kind.
fn var_reference() -> Vec<FieldSpec> {
    const CONTAINER_FIELDS: [&str; 8] = [
        "containers/args",
        "containers/command",
        "containers/env/value",
        "containers/volumeMounts/mountPath",
        "initContainers/args",
        "initContainers/command",
        "initContainers/env/value",
        "initContainers/volumeMounts/mountPath",
    ];
    // (kind, pod spec path or "" for none, extra paths), in kustomize's order.
    let kinds: [(&str, &str, &[&str]); 12] = [
        // kustomize's CronJob NFS path skips the pod template's `spec`.
        (
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            &["spec/jobTemplate/spec/template/volumes/nfs/server"],
        ),
        (
            "DaemonSet",
            "spec/template/spec",
            &["spec/template/spec/volumes/nfs/server"],
        ),
        (
            "Deployment",
            "spec/template/spec",
            &[
                "spec/template/spec/volumes/nfs/server",
                "spec/template/metadata/annotations",
            ],
        ),
        (
            "Ingress",
            "",
            &["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"],
        ),
        (
            "Job",
            "spec/template/spec",
            &["spec/template/spec/volumes/nfs/server"],
        ),
        ("Pod", "spec", &["spec/volumes/nfs/server"]),
        (
            "ReplicaSet",
            "spec/template/spec",
            &["spec/template/spec/volumes/nfs/server"],
        ),
        ("Service", "", &["spec/ports/port", "spec/ports/targetPort"]),
        (
            "StatefulSet",
            "spec/template/spec",
            &["spec/volumeClaimTemplates/spec/nfs/server"],
        ),
        ("PersistentVolume", "", &["spec/nfs/server"]),
        ("", "", &["metadata/labels"]),
        ("", "", &["metadata/annotations"]),
    ];
    let mut result = Vec::new();
    for (kind, pod_spec, extra) in kinds {
        if !pod_spec.is_empty() {
            for field in CONTAINER_FIELDS {
                result.push(FieldSpec::new(
                    "",
                    "",
                    kind,
                    &format!("{pod_spec}/{field}"),
                    false,
                ));
            }
        }
        for path in extra {
            result.push(FieldSpec::new("", "", kind, path, false));
        }
    }
    result
}

const IMAGES: &[Row] = &[
    ("", "", "", "spec/containers[]/image", true),
    ("", "", "", "spec/initContainers[]/image", true),
    ("", "", "", "spec/template/spec/containers[]/image", true),
    (
        "",
        "",
        "",
        "spec/template/spec/initContainers[]/image",
        true,
    ),
];

const REPLICAS: &[Row] = &[
    ("", "", "Deployment", "spec/replicas", true),
    ("", "", "ReplicationController", "spec/replicas", true),
    ("", "", "ReplicaSet", "spec/replicas", true),
    ("", "", "StatefulSet", "spec/replicas", true),
];

/// Where each kind holding a pod spec keeps it: (version, kind, path to the pod spec).
/// Only Pod is pinned to a version, as in kustomize.
const POD_SPEC_HOLDERS: [(&str, &str, &str); 8] = [
    ("v1", "Pod", "spec"),
    ("", "PodTemplate", "template/spec"),
    ("", "Deployment", "spec/template/spec"),
    ("", "ReplicaSet", "spec/template/spec"),
    ("", "DaemonSet", "spec/template/spec"),
    ("", "StatefulSet", "spec/template/spec"),
    ("", "Job", "spec/template/spec"),
    ("", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Fields of a pod spec naming a ConfigMap.
const CONFIG_MAP_IN_POD_SPEC: [&str; 6] = [
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
];

/// Fields of a pod spec naming a Secret.
const SECRET_IN_POD_SPEC: [&str; 7] = [
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
];

/// `fields` (relative to a pod spec) in every kind holding a pod spec.
fn in_pod_specs(fields: &[&str]) -> Vec<FieldSpec> {
    POD_SPEC_HOLDERS
        .iter()
        .flat_map(|(version, kind, pod_spec)| {
            fields.iter().map(move |field| {
                FieldSpec::new("", version, kind, &format!("{pod_spec}/{field}"), false)
            })
        })
        .collect()
}

/// `field` (relative to a pod spec) in the kinds kustomize lists for service
/// accounts, PVCs and priority classes (no PodTemplate or ReplicaSet there).
fn in_workloads(field: &str) -> Vec<FieldSpec> {
    [
        ("Pod", "spec"),
        ("StatefulSet", "spec/template/spec"),
        ("Deployment", "spec/template/spec"),
        ("ReplicationController", "spec/template/spec"),
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
        ("Job", "spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
    ]
    .iter()
    .map(|(kind, pod_spec)| FieldSpec::new("", "", kind, &format!("{pod_spec}/{field}"), false))
    .collect()
}

fn backref(group: &str, version: &str, kind: &str, referrers: Vec<FieldSpec>) -> NameBackReference {
    NameBackReference {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        referrers,
    }
}

/// nameReference: for each kind that is referred to by name, the fields that refer.
fn name_reference() -> Vec<NameBackReference> {
    let scale_target = || {
        specs(&[(
            "",
            "",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )])
    };

    let mut config_map = in_pod_specs(&CONFIG_MAP_IN_POD_SPEC);
    config_map.extend(specs(&[
        ("", "", "Node", "spec/configSource/configMap", false),
        ("", "", "Role", "rules/resourceNames", false),
        ("", "", "ClusterRole", "rules/resourceNames", false),
        (
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/fastcgi-params-configmap",
            false,
        ),
    ]));

    let mut secret = in_pod_specs(&SECRET_IN_POD_SPEC);
    secret.extend(specs(&[
        ("", "", "Ingress", "spec/tls/secretName", false),
        (
            "",
            "",
            "Ingress",
            r"metadata/annotations/ingress.kubernetes.io\/auth-secret",
            false,
        ),
        (
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret",
            false,
        ),
        (
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-tls-secret",
            false,
        ),
        // kustomize lists this one twice; kept, as it is harmless and faithful.
        ("", "", "Ingress", "spec/tls/secretName", false),
        ("", "", "ServiceAccount", "imagePullSecrets/name", false),
        ("", "", "StorageClass", "parameters/secretName", false),
        ("", "", "StorageClass", "parameters/adminSecretName", false),
        ("", "", "StorageClass", "parameters/userSecretName", false),
        ("", "", "StorageClass", "parameters/secretRef", false),
        ("", "", "Role", "rules/resourceNames", false),
        ("", "", "ClusterRole", "rules/resourceNames", false),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
            false,
        ),
        (
            "",
            "",
            "PersistentVolume",
            "spec/azureFile/secretName",
            false,
        ),
    ]));

    let service = specs(&[
        ("apps", "", "StatefulSet", "spec/serviceName", false),
        (
            "",
            "",
            "Ingress",
            "spec/rules/http/paths/backend/serviceName",
            false,
        ),
        ("", "", "Ingress", "spec/backend/serviceName", false),
        (
            "",
            "",
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
            false,
        ),
        ("", "", "Ingress", "spec/defaultBackend/service/name", false),
        (
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/name",
            false,
        ),
        // These lead to a map (name and namespace), not to a name.
        (
            "admissionregistration.k8s.io",
            "",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
            false,
        ),
    ]);

    const RBAC: &str = "rbac.authorization.k8s.io";
    let role = specs(&[(RBAC, "", "RoleBinding", "roleRef/name", false)]);
    let cluster_role = specs(&[
        (RBAC, "", "RoleBinding", "roleRef/name", false),
        (RBAC, "", "ClusterRoleBinding", "roleRef/name", false),
    ]);

    // Binding subjects are maps (kind, name, namespace): the whole map is the referrer.
    let mut service_account = specs(&[
        (RBAC, "", "RoleBinding", "subjects", false),
        (RBAC, "", "ClusterRoleBinding", "subjects", false),
    ]);
    service_account.extend(in_workloads("serviceAccountName"));

    let pvc = in_workloads("volumes/persistentVolumeClaim/claimName");

    let pv = specs(&[
        ("", "", "PersistentVolumeClaim", "spec/volumeName", false),
        ("", "", "ClusterRole", "rules/resourceNames", false),
    ]);

    let storage_class = specs(&[
        ("", "", "PersistentVolume", "spec/storageClassName", false),
        (
            "",
            "",
            "PersistentVolumeClaim",
            "spec/storageClassName",
            false,
        ),
        (
            "",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates/spec/storageClassName",
            false,
        ),
    ]);

    let priority_class = in_workloads("priorityClassName");

    let ingress_class = specs(&[("", "", "Ingress", "spec/ingressClassName", false)]);

    let admission_policy = specs(&[(
        "admissionregistration.k8s.io",
        "",
        "ValidatingAdmissionPolicyBinding",
        "spec/policyName",
        false,
    )]);

    let mut backrefs = vec![
        backref("", "", "Deployment", scale_target()),
        backref("", "", "ReplicationController", scale_target()),
        backref("", "", "ReplicaSet", scale_target()),
        backref("", "", "StatefulSet", scale_target()),
        backref("", "v1", "ConfigMap", config_map),
        backref("", "v1", "Secret", secret),
        backref("", "v1", "Service", service),
        backref(RBAC, "", "Role", role),
        backref(RBAC, "", "ClusterRole", cluster_role),
        backref("", "v1", "ServiceAccount", service_account),
        backref("", "v1", "PersistentVolumeClaim", pvc),
        backref("", "v1", "PersistentVolume", pv),
        backref("storage.k8s.io", "v1", "StorageClass", storage_class),
        backref("scheduling.k8s.io", "v1", "PriorityClass", priority_class),
        // kustomize's group here is "networking.k8s.io/v1", which no object has, so
        // Ingress `ingressClassName` is never updated; kept so output matches.
        backref("networking.k8s.io/v1", "v1", "IngressClass", ingress_class),
        backref(
            "admissionregistration.k8s.io",
            "",
            "ValidatingAdmissionPolicy",
            admission_policy,
        ),
    ];
    crate::namereference::sort_backrefs(&mut backrefs);
    backrefs
}

/// kustomize's default transformer configuration.
pub fn default_config() -> TransformerConfig {
    TransformerConfig {
        name_prefix: specs(NAME),
        name_suffix: specs(NAME),
        namespace: specs(NAMESPACE),
        common_labels: common_labels(),
        // kustomize has no built-in specs for `labels:` beyond what the transformer adds.
        labels: Vec::new(),
        template_labels: specs(METADATA_LABELS),
        common_annotations: specs(COMMON_ANNOTATIONS),
        name_reference: name_reference(),
        var_reference: var_reference(),
        images: specs(IMAGES),
        replicas: specs(REPLICAS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrers_of<'a>(config: &'a TransformerConfig, kind: &str) -> &'a [FieldSpec] {
        &config
            .name_reference
            .iter()
            .find(|b| b.kind == kind)
            .unwrap_or_else(|| panic!("no backref for {kind}"))
            .referrers
    }

    fn has(specs: &[FieldSpec], kind: &str, path: &str) -> bool {
        specs.iter().any(|s| s.kind == kind && s.path == path)
    }

    #[test]
    fn every_workload_kind_refers_to_config_maps_and_secrets_everywhere_a_pod_can() {
        let config = default_config();
        let config_map = referrers_of(&config, "ConfigMap");
        let secret = referrers_of(&config, "Secret");
        assert_eq!(config_map.len(), 8 * 6 + 4);
        assert_eq!(secret.len(), 8 * 7 + 14);
        assert!(has(
            config_map,
            "CronJob",
            "spec/jobTemplate/spec/template/spec/volumes/projected/sources/configMap/name"
        ));
        assert!(has(
            config_map,
            "PodTemplate",
            "template/spec/containers/envFrom/configMapRef/name"
        ));
        assert!(has(
            secret,
            "Deployment",
            "spec/template/spec/imagePullSecrets/name"
        ));
        assert!(has(secret, "ServiceAccount", "imagePullSecrets/name"));
        let pod = config_map.iter().find(|s| s.kind == "Pod").expect("pod");
        assert_eq!(pod.version, "v1", "only Pod is pinned to v1");
    }

    #[test]
    fn name_references_are_in_kustomizes_kind_order() {
        let kinds: Vec<String> = default_config()
            .name_reference
            .into_iter()
            .map(|b| b.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "StorageClass",
                "ServiceAccount",
                "Role",
                "ClusterRole",
                "ConfigMap",
                "Secret",
                "Service",
                "PriorityClass",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Deployment",
                "StatefulSet",
                "ValidatingAdmissionPolicy",
                "IngressClass",
                "ReplicaSet",
                "ReplicationController",
            ]
        );
    }

    #[test]
    fn labels_cover_selectors_templates_and_claim_templates() {
        let config = default_config();
        assert_eq!(config.common_labels.len(), 22 + METADATA_LABELS.len());
        assert!(has(&config.common_labels, "Service", "spec/selector"));
        assert!(has(
            &config.template_labels,
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels"
        ));
        assert!(!has(
            &config.template_labels,
            "Deployment",
            "spec/selector/matchLabels"
        ));
        assert!(config.labels.is_empty());
    }

    #[test]
    fn var_references_match_kustomizes_count() {
        // 7 workload kinds x 9 (8 container fields + NFS), Deployment's template
        // annotations, 3 Ingress, 2 Service, PersistentVolume, labels, annotations.
        assert_eq!(
            default_config().var_reference.len(),
            7 * 9 + 1 + 3 + 2 + 1 + 2
        );
    }
}
