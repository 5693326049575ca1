//! configMapGenerator and secretGenerator, generator behaviors, and the content hash
//! suffix. STUB: being written.

use crate::error::Result;
use crate::kustomization::Kustomization;
use crate::loader::{KustDir, Loader};
use crate::resource::ResMap;

/// The ConfigMaps and Secrets `k` generates, in order (configMapGenerator entries
/// first), each marked with its behavior and whether it needs a hash suffix.
pub fn generate(loader: &Loader, dir: &KustDir, k: &Kustomization) -> Result<ResMap> {
    let _ = (loader, dir, k);
    Ok(ResMap::new())
}

/// Adds generated resources to `resources`, honouring each one's behavior
/// (create: must be new; merge/replace: must exist). `file` names the kustomization.
pub fn absorb(resources: &mut ResMap, generated: ResMap, file: &str) -> Result<()> {
    resources.append_all(generated, file)
}

/// Appends the content hash to the name of every resource that needs one.
pub fn add_hashes(resources: &mut ResMap) -> Result<()> {
    let _ = resources;
    Ok(())
}
