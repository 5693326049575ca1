//! Reading a request: which resource, verb and options it names, as Kubernetes'
//! RequestInfo resolver reads a URL.

use std::collections::HashMap;

/// What a request URL names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_resource: bool,
    /// get, list, watch, create, update, patch, delete, deletecollection (resource
    /// requests), or the lowercase HTTP method (non-resource requests).
    pub verb: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub path: String,
}

/// The query parameters of a request.
pub type Query = HashMap<String, String>;

pub fn parse_query(raw: Option<&str>) -> Query {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Resolves a request like kube-apiserver's RequestInfoFactory.
pub fn resolve(method: &str, path: &str, query: &Query) -> RequestInfo {
    let non_resource = || RequestInfo {
        verb: method.to_lowercase(),
        path: path.to_owned(),
        ..RequestInfo::default()
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return non_resource(),
    };
    let mut info = RequestInfo {
        is_resource: true,
        api_group: group.to_owned(),
        api_version: version.to_owned(),
        path: path.to_owned(),
        ..RequestInfo::default()
    };
    let mut rest: Vec<&str> = rest.to_vec();
    // The namespaces resource itself is /api/v1/namespaces/NAME; its contents are
    // /api/v1/namespaces/NAME/RESOURCE[/...].
    if rest.first() == Some(&"namespaces") {
        if rest.len() >= 3 && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize")) {
            info.namespace = rest[1].to_owned();
            rest.drain(..2);
        } else if rest.len() >= 2 {
            info.namespace = rest[1].to_owned();
        }
    }
    info.resource = rest.first().map(|s| (*s).to_owned()).unwrap_or_default();
    info.name = rest.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
    info.subresource = rest.get(2).map(|s| (*s).to_owned()).unwrap_or_default();
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    info.verb = match method {
        "GET" | "HEAD" if info.name.is_empty() && watch => "watch",
        "GET" | "HEAD" if info.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return RequestInfo {
                verb: other.to_lowercase(),
                ..info
            }
        }
    }
    .to_owned();
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn namespaced_resource_paths() {
        let i = resolve(
            "GET",
            "/apis/apps/v1/namespaces/ns1/deployments/web/scale",
            &q(&[]),
        );
        assert_eq!(
            (
                i.api_group.as_str(),
                i.namespace.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str(),
                i.verb.as_str()
            ),
            ("apps", "ns1", "deployments", "web", "scale", "get")
        );
        let i = resolve(
            "GET",
            "/api/v1/namespaces/ns1/pods",
            &q(&[("watch", "true")]),
        );
        assert_eq!((i.resource.as_str(), i.verb.as_str()), ("pods", "watch"));
    }

    #[test]
    fn the_namespace_resource_itself() {
        let i = resolve("DELETE", "/api/v1/namespaces/ns1", &q(&[]));
        assert_eq!(
            (
                i.resource.as_str(),
                i.name.as_str(),
                i.namespace.as_str(),
                i.verb.as_str()
            ),
            ("namespaces", "ns1", "ns1", "delete")
        );
        let i = resolve("PUT", "/api/v1/namespaces/ns1/status", &q(&[]));
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "ns1", "status")
        );
        let i = resolve("GET", "/api/v1/namespaces", &q(&[]));
        assert_eq!(
            (i.resource.as_str(), i.verb.as_str()),
            ("namespaces", "list")
        );
    }

    #[test]
    fn non_resource_paths() {
        let i = resolve("GET", "/version", &q(&[]));
        assert!(!i.is_resource);
        assert_eq!(i.verb, "get");
        assert!(!resolve("GET", "/apis/apps/v1", &q(&[])).is_resource);
    }
}
