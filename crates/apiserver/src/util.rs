//! Small shared helpers.

/// FNV-1a, 64 bit: a fixed, seedless hash for names and hashes that must be stable
/// across runs.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// RFC 3339 with seconds, as Kubernetes writes timestamps.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 with microseconds, as Kubernetes writes MicroTime (events, leases).
pub fn rfc3339_micro(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
