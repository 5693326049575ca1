//! Objects map to a fixed set of slots by a stable hash of their key; the ring
//! (with bounded loads) places the slots on members. Because the slot set is
//! fixed, the owner of every object in an epoch depends on the membership
//! alone: replicas that see objects created at different moments still agree,
//! and an epoch's handoff can be fenced slot by slot.

use super::ring::{stable_hash, Ring};

/// Enough slots that each member's share of objects follows its share of slots
/// closely; few enough to place in microseconds.
pub const SLOTS: usize = 4096;
/// Virtual nodes per member on the ring.
pub const VNODES: usize = 64;
/// No member holds more than this many times the mean number of slots.
pub const LOAD_FACTOR: f64 = 1.25;

/// The slot of an object key (`Kind/namespace/name`).
pub fn slot_of(key: &str) -> usize {
    (stable_hash(key.as_bytes()) % SLOTS as u64) as usize
}

/// The owner of every slot for one membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    owners: Vec<Option<String>>,
}

impl SlotTable {
    pub fn new(members: &[String]) -> Self {
        let names: Vec<String> = (0..SLOTS).map(|s| format!("slot-{s}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let assigned = Ring::new(members, VNODES, LOAD_FACTOR).assign(&refs);
        let owners = refs
            .iter()
            .map(|name| assigned.get(name).cloned())
            .collect();
        Self { owners }
    }

    pub fn owner(&self, slot: usize) -> Option<&str> {
        self.owners.get(slot).and_then(|o| o.as_deref())
    }

    /// The slots `member` owns, as a mask indexed by slot.
    pub fn mask_of(&self, member: &str) -> Vec<bool> {
        self.owners
            .iter()
            .map(|o| o.as_deref() == Some(member))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ferroflux-{i}")).collect()
    }

    /// The object names of the multi-process test: 600 Kustomizations.
    fn objects() -> Vec<String> {
        (0..600)
            .map(|i| format!("Kustomization/flux-system/app-{i}"))
            .chain((0..4).map(|i| format!("GitRepository/flux-system/repo-{i}")))
            .collect()
    }

    fn loads(table: &SlotTable, keys: &[String]) -> HashMap<String, usize> {
        let mut load = HashMap::new();
        for key in keys {
            let owner = table.owner(slot_of(key)).expect("every slot has an owner");
            *load.entry(owner.to_owned()).or_default() += 1;
        }
        load
    }

    #[test]
    fn objects_spread_within_the_bound_for_one_to_five_members() {
        let keys = objects();
        for n in 1..=5 {
            let load = loads(&SlotTable::new(&members(n)), &keys);
            let mean = keys.len() as f64 / n as f64;
            let busiest = load.values().copied().max().unwrap_or(0) as f64;
            assert!(busiest <= 1.25 * mean, "{n} members: {load:?}");
            assert_eq!(load.len(), n, "every member owns some: {load:?}");
        }
    }

    #[test]
    fn a_restarted_member_takes_back_about_its_share() {
        let keys = objects();
        let three = SlotTable::new(&members(3));
        let two = SlotTable::new(&members(2));
        let moved = keys
            .iter()
            .filter(|k| three.owner(slot_of(k)) != two.owner(slot_of(k)))
            .count();
        let ideal = keys.len() as f64 / 3.0;
        assert!(moved as f64 <= 1.25 * ideal, "{moved} moved, ideal {ideal}");
    }

    #[test]
    fn the_table_depends_on_the_member_set_only() {
        let mut reversed = members(4);
        reversed.reverse();
        assert_eq!(SlotTable::new(&members(4)), SlotTable::new(&reversed));
        assert!(SlotTable::new(&[]).owner(0).is_none());
    }
}
