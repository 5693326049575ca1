//! The object store: every object by resource, namespace and name, one monotonic
//! resourceVersion for the whole server, and the history of changes that watches
//! replay from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    /// The resource's storage key (`group/plural`).
    pub key: Arc<str>,
    pub namespace: String,
    pub event: EventType,
    /// The object after the change (before it, for deletions), in storage form.
    pub object: Arc<Value>,
    /// The object before the change, for MODIFIED (selector transitions need it).
    pub previous: Option<Arc<Value>>,
}

/// How many changes watches can resume from by default; older resourceVersions are
/// "too old" (410 Gone).
pub const DEFAULT_HISTORY: usize = 100_000;

/// The objects of one resource by (namespace, name).
type Objects = BTreeMap<(String, String), Arc<Value>>;

/// Changes since a version, and the receiver of those still to come.
pub type Subscription = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// All objects, in memory.
pub struct Store {
    rv: u64,
    objects: HashMap<Arc<str>, Objects>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    changes: broadcast::Sender<Arc<Change>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// A store that keeps `history_limit` changes for watches to resume from.
    pub fn with_history(history_limit: usize) -> Self {
        let (changes, _) = broadcast::channel(65_536);
        Store {
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            changes,
        }
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(key)?
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Objects of one resource, in one namespace or (None) all, ordered by
    /// namespace then name as a real server lists them.
    pub fn list(&self, key: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        let Some(objects) = self.objects.get(key) else {
            return Vec::new();
        };
        match namespace {
            Some(ns) => objects
                .range((ns.to_owned(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
            None => objects.values().cloned().collect(),
        }
    }

    pub fn count(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    /// Every resource key that holds objects.
    pub fn keys(&self) -> Vec<Arc<str>> {
        self.objects
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn intern(&mut self, key: &str) -> Arc<str> {
        match self.objects.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<str> = Arc::from(key);
                self.objects.insert(k.clone(), BTreeMap::new());
                k
            }
        }
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        if self.history.len() >= self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        // No receivers is fine: nobody watches yet.
        let _ = self.changes.send(change);
    }

    /// Stores `object` (creating or replacing), stamping it with the next
    /// resourceVersion. Returns the stored object.
    pub fn put(&mut self, key: &str, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
        }
        let namespace = str_at(&object, "/metadata/namespace").to_owned();
        let name = str_at(&object, "/metadata/name").to_owned();
        let key = self.intern(key);
        let object = Arc::new(object);
        let previous = self
            .objects
            .get_mut(&key)
            .and_then(|m| m.insert((namespace.clone(), name), object.clone()));
        let event = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Change {
            rv,
            key,
            namespace,
            event,
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes an object; the DELETED event carries it with a fresh resourceVersion.
    pub fn remove(&mut self, key: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let key = self.intern(key);
        let removed = self
            .objects
            .get_mut(&key)?
            .remove(&(namespace.to_owned(), name.to_owned()))?;
        self.rv += 1;
        let rv = self.rv;
        let mut object = (*removed).clone();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
        }
        let object = Arc::new(object);
        self.record(Change {
            rv,
            key,
            namespace: namespace.to_owned(),
            event: EventType::Deleted,
            object: object.clone(),
            previous: None,
        });
        Some(object)
    }

    /// Subscribes to the changes to come.
    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Subscribes to changes after `since`: returns the recorded changes after it and a
    /// receiver for the ones to come, with no gap between the two. None when `since` is
    /// older than the history (the watch must answer 410 Gone).
    pub fn subscribe(&self, since: u64) -> Option<Subscription> {
        let oldest = self.history.front().map_or(self.rv, |c| c.rv);
        if since.saturating_add(1) < oldest && since < self.rv {
            return None;
        }
        let start = self.history.partition_point(|c| c.rv <= since);
        let backlog = self.history.range(start..).cloned().collect();
        Some((backlog, self.changes.subscribe()))
    }
}

/// The string at a JSON pointer, or "".
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn resource_versions_are_monotonic_across_resources() {
        let mut s = Store::new();
        let a = s.put("/configmaps", obj("a", "x"));
        let b = s.put("apps/deployments", obj("a", "y"));
        let rv = |o: &Value| {
            str_at(o, "/metadata/resourceVersion")
                .parse::<u64>()
                .expect("number")
        };
        assert!(rv(&b) > rv(&a));
        let removed = s.remove("/configmaps", "a", "x").expect("present");
        assert!(rv(&removed) > rv(&b));
        assert_eq!(s.resource_version(), rv(&removed));
    }

    #[test]
    fn list_is_scoped_to_a_namespace_and_sorted() {
        let mut s = Store::new();
        for (ns, name) in [("b", "2"), ("a", "9"), ("b", "1"), ("c", "1")] {
            s.put("/configmaps", obj(ns, name));
        }
        let names: Vec<String> = s
            .list("/configmaps", Some("b"))
            .iter()
            .map(|o| str_at(o, "/metadata/name").to_owned())
            .collect();
        assert_eq!(names, vec!["1", "2"]);
        assert_eq!(s.list("/configmaps", None).len(), 4);
    }

    #[test]
    fn subscribe_replays_changes_after_a_version_without_gaps() {
        let mut s = Store::new();
        s.put("/configmaps", obj("a", "x"));
        let since = s.resource_version();
        s.put("/configmaps", obj("a", "y"));
        s.remove("/configmaps", "a", "x");
        let (backlog, mut rx) = s.subscribe(since).expect("recent version");
        let events: Vec<EventType> = backlog.iter().map(|c| c.event).collect();
        assert_eq!(events, vec![EventType::Added, EventType::Deleted]);
        s.put("/configmaps", obj("a", "z"));
        assert_eq!(rx.try_recv().expect("live change").event, EventType::Added);
    }
}
