//! `vars:` (deprecated in kustomize, still used). STUB: being written.

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::FieldSpec;
use crate::resource::ResMap;

/// A var: a name for a field of one resource.
#[derive(Debug, Clone, Default)]
pub struct Var {
    pub name: String,
}

/// Takes in a kustomization's `vars:` entries, checking that each names one resource.
pub fn merge(vars: &mut Vec<Var>, resources: &ResMap, entries: &[Value], file: &str) -> Result<()> {
    let _ = (vars, resources, entries, file);
    Ok(())
}

/// Adds a child kustomization's vars; a name may be declared once.
pub fn absorb(vars: &mut Vec<Var>, child: Vec<Var>, file: &str) -> Result<()> {
    let _ = file;
    vars.extend(child);
    Ok(())
}

/// Replaces `$(NAME)` at the var reference field specs with each var's value.
pub fn resolve(resources: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    let _ = (resources, vars, specs);
    Ok(())
}
