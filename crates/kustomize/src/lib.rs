//! A native kustomize build engine. `build_dir(dir)` gives the objects that
//! `kubectl kustomize dir` prints (kustomize v5.5), in the same order.
//!
//! The shape follows kustomize's own, because matching its output depends on doing
//! the same steps in the same order: every kustomization directory is accumulated
//! (resources, generators, components, then transformers), and only at the top are
//! hash suffixes added, name references fixed, vars resolved and the result sorted.

mod builder;
mod error;
pub mod fieldspec;
mod fieldspecs_builtin;
mod flux;
mod generators;
mod images;
mod kustomization;
mod kyaml_schema;
mod labels;
mod loader;
mod namereference;
mod namespace;
mod patches;
mod plugins;
mod prefix_suffix;
mod replacements;
mod replicas;
mod resid;
mod resource;
mod smp;
mod sort;
#[cfg(test)]
mod testutil;
mod vars;
mod yaml;

pub use builder::{build_dir, build_dir_with, BuildOptions};
pub use error::KustomizeError;
pub use flux::{FluxImage, FluxOverlay};
pub use loader::LoadRestriction;
pub use resid::{Gvk, ResId};
pub use resource::Selector;
pub use yaml::to_yaml_stream;
