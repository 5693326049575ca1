//! `replacements:`. STUB: being written.

use serde_json::Value;

use crate::error::Result;
use crate::loader::{KustDir, Loader};
use crate::resource::ResMap;

/// Applies the replacement entries (inline ones, or `path:` files of them).
pub fn transform(
    resources: &mut ResMap,
    loader: &Loader,
    dir: &KustDir,
    entries: &[Value],
) -> Result<()> {
    let _ = (resources, loader, dir, entries);
    Ok(())
}
