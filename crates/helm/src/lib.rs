//! Helm, natively: the template functions Helm adds to Go templates and sprig
//! (`include`, `tpl`, `required`, `toYaml`, `toJson`, …) and the YAML they print.
//! Chart loading, values and rendering build on this.

pub mod chart;
pub mod dependencies;
pub mod errors;
pub mod funcs;
pub mod goyaml;
pub mod manifests;
pub mod package;
pub mod release;
pub mod render;
pub mod repo;
pub mod schema;
pub mod storage;
pub mod strvals;
pub mod values;
pub mod yaml;
