//! The namespace transformer (`namespace:`). STUB: being written.

use crate::error::Result;
use crate::fieldspec::FieldSpec;
use crate::resource::ResMap;

/// Sets `namespace` on every namespaced resource and at every field in `specs`
/// (e.g. RoleBinding subjects), as kustomize's NamespaceTransformer does.
pub fn transform(resources: &mut ResMap, namespace: &str, specs: &[FieldSpec]) -> Result<()> {
    let _ = (resources, namespace, specs);
    Ok(())
}
