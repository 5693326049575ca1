//! Name references: after renames (prefix, suffix, hash), fields that referred to a
//! resource by its old name are updated. STUB: being written.

use crate::error::Result;
use crate::fieldspec::NameBackReference;
use crate::resource::ResMap;

/// kustomize's FixBackReferences / NameReferenceTransformer.
pub fn fix_back_references(resources: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    let _ = (resources, backrefs);
    Ok(())
}
