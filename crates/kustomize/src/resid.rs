//! Resource identities: group/version/kind plus name and namespace, compared the way
//! kustomize compares them (an empty namespace is `default` for namespaced kinds and
//! meaningless for cluster-scoped ones).

use std::fmt;

/// Group, version and kind. An empty group is the core group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// Splits an `apiVersion` into group and version (`apps/v1`, `v1`).
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        Self::new(group, version, kind)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this gvk is selected by `selector`, whose empty parts match anything.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Whether objects of this kind live outside namespaces. Kinds kustomize does not
    /// know (custom resources) are namespaced, as kustomize assumes.
    pub fn is_cluster_scoped(&self) -> bool {
        CLUSTER_SCOPED
            .iter()
            .any(|(group, kind)| *kind == self.kind && *group == self.group)
    }
}

/// The built-in cluster-scoped kinds, by group and kind.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("authentication.k8s.io", "TokenReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
];

/// A resource's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    pub fn new(gvk: Gvk, name: &str, namespace: &str) -> Self {
        Self {
            gvk,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The namespace as kustomize compares it: `default` for an empty namespace of a
    /// namespaced kind, a marker for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            NOT_A_NAMESPACE
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    pub fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// Same gvk, name and effective namespace.
    pub fn equals(&self, other: &ResId) -> bool {
        self.name == other.name && self.gvk == other.gvk && self.ns_equals(other)
    }

    /// Same gvk and name, any namespace.
    pub fn gvkn_equals(&self, other: &ResId) -> bool {
        self.name == other.name && self.gvk == other.gvk
    }

    /// Whether `selector` (empty parts match anything) selects this id.
    pub fn is_selected_by(&self, selector: &ResId) -> bool {
        (selector.name.is_empty() || selector.name == self.name)
            && (selector.namespace.is_empty() || selector.ns_equals(self))
            && self.gvk.is_selected_by(&selector.gvk)
    }
}

/// What kustomize puts in place of a namespace for cluster-scoped kinds.
pub const NOT_A_NAMESPACE: &str = "_non_namespaceable_";

impl fmt::Display for ResId {
    /// kustomize's rendering, used in its error messages: `Kind.version.group/name.namespace`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut gvk = if self.gvk.kind.is_empty() {
            "[noKind]".to_owned()
        } else {
            self.gvk.kind.clone()
        };
        gvk.push('.');
        gvk.push_str(if self.gvk.version.is_empty() {
            "[noVer]"
        } else {
            &self.gvk.version
        });
        gvk.push('.');
        gvk.push_str(if self.gvk.group.is_empty() {
            "[noGrp]"
        } else {
            &self.gvk.group
        });
        let name = if self.name.is_empty() {
            "[noName]"
        } else {
            &self.name
        };
        let namespace = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{gvk}/{name}.{namespace}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_namespace_is_default_for_namespaced_kinds_only() {
        let cm = |ns: &str| ResId::new(Gvk::new("", "v1", "ConfigMap"), "a", ns);
        assert!(cm("").equals(&cm("default")));
        assert!(!cm("").equals(&cm("prod")));
        let role = |ns: &str| {
            ResId::new(
                Gvk::new("rbac.authorization.k8s.io", "v1", "ClusterRole"),
                "r",
                ns,
            )
        };
        assert!(role("").equals(&role("prod")));
    }

    #[test]
    fn api_version_splits_group() {
        let gvk = Gvk::from_api_version("apps/v1", "Deployment");
        assert_eq!((gvk.group.as_str(), gvk.version.as_str()), ("apps", "v1"));
        assert_eq!(Gvk::from_api_version("v1", "Pod").api_version(), "v1");
    }

    #[test]
    fn display_matches_kustomize_error_text() {
        let id = ResId::new(Gvk::new("apps", "v1", "Deployment"), "web", "");
        assert_eq!(id.to_string(), "Deployment.v1.apps/web.[noNs]");
    }
}
