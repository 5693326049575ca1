//! Helpers shared by the unit tests.

use serde_json::Value;

use crate::loader::{KustDir, LoadRestriction, Loader};
use crate::resource::{ResMap, Resource};

/// A resource from a JSON object literal.
pub fn res(value: Value) -> Resource {
    match value {
        Value::Object(map) => Resource::new(map, "res.yaml"),
        _ => panic!("not a map"),
    }
}

/// A kustomization directory holding `files`, with a loader for it.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub loader: Loader,
    pub dir: KustDir,
}

pub fn fixture<C: AsRef<[u8]>>(files: &[(&str, C)]) -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, content) in files {
        std::fs::write(tmp.path().join(name), content).expect("write");
    }
    let loader = Loader::new(tmp.path(), None, LoadRestriction::RootOnly).expect("loader");
    let dir = KustDir {
        path: tmp.path().canonicalize().expect("canon"),
        file: "kustomization.yaml".into(),
    };
    Fixture {
        _tmp: tmp,
        loader,
        dir,
    }
}

/// A ResMap of a JSON list of objects.
pub fn resmap(objects: Value) -> ResMap {
    let mut map = ResMap::new();
    for object in objects.as_array().expect("list").clone() {
        map.append(res(object), "kustomization.yaml")
            .expect("unique");
    }
    map
}
