//! namePrefix and nameSuffix. STUB: being written.

use crate::error::Result;
use crate::fieldspec::FieldSpec;
use crate::resource::ResMap;

/// Prepends `prefix` to the names at `specs`, recording the previous id.
pub fn add_prefix(resources: &mut ResMap, prefix: &str, specs: &[FieldSpec]) -> Result<()> {
    let _ = (resources, prefix, specs);
    Ok(())
}

/// Appends `suffix` to the names at `specs`, recording the previous id.
pub fn add_suffix(resources: &mut ResMap, suffix: &str, specs: &[FieldSpec]) -> Result<()> {
    let _ = (resources, suffix, specs);
    Ok(())
}
