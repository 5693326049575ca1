//! SOPS decryption with age keys, as Flux's kustomize-controller does it for
//! `spec.decryption.provider: sops`: YAML, JSON and dotenv files whose values are
//! `ENC[AES256_GCM,...]`, the data key wrapped for age recipients in the `sops`
//! metadata, and the metadata's MAC checked before anything is used.
//!
//! Errors never carry a decrypted value.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest as _;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SopsError {
    #[error("invalid age identity: {0}")]
    Identity(String),
    #[error("age: {0}")]
    Age(String),
    #[error("no age identity can decrypt the data key (recipients: {0})")]
    NoMatchingKey(String),
    #[error("sops metadata: {0}")]
    Metadata(String),
    #[error("failed to decrypt the value at '{0}'")]
    Value(String),
    #[error("MAC mismatch: the file was changed after it was encrypted")]
    MacMismatch,
}

type Result<T> = std::result::Result<T, SopsError>;

/// An age X25519 identity (`AGE-SECRET-KEY-1...`).
pub struct AgeIdentity {
    secret: x25519_dalek::StaticSecret,
}

impl AgeIdentity {
    pub fn parse(text: &str) -> Result<Self> {
        let (hrp, data) =
            bech32_decode(text.trim()).ok_or_else(|| SopsError::Identity("not bech32".into()))?;
        if hrp != "age-secret-key-" {
            return Err(SopsError::Identity(format!("unexpected prefix '{hrp}'")));
        }
        let bytes: [u8; 32] = data
            .try_into()
            .map_err(|_| SopsError::Identity("a key is 32 bytes".into()))?;
        Ok(Self {
            secret: x25519_dalek::StaticSecret::from(bytes),
        })
    }

    /// Every identity in a keys file (one per line, `#` comments).
    pub fn parse_all(text: &str) -> Result<Vec<Self>> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(Self::parse)
            .collect()
    }

    fn recipient_bytes(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.secret).to_bytes()
    }
}

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(*v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Decodes bech32 (case-insensitive), checking the checksum; returns the
/// human-readable part and the 8-bit data.
fn bech32_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let lower = text.to_ascii_lowercase();
    let split = lower.rfind('1')?;
    let (hrp, rest) = (&lower[..split], &lower[split + 1..]);
    if rest.len() < 6 {
        return None;
    }
    let values: Vec<u8> = rest
        .bytes()
        .map(|c| BECH32_CHARSET.iter().position(|x| *x == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let mut check: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    check.push(0);
    check.extend(hrp.bytes().map(|b| b & 31));
    check.extend(&values);
    if bech32_polymod(&check) != 1 {
        return None;
    }
    let data = &values[..values.len() - 6];
    // 5-bit groups to bytes.
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for v in data {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some((hrp.to_owned(), out))
}

fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(info, &mut out);
    out
}

fn b64_unpadded(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.trim())
        .map_err(|e| SopsError::Age(format!("bad base64: {e}")))
}

/// Decrypts an age file (armored or binary) with the first identity that opens it.
pub fn age_decrypt(file: &[u8], identities: &[AgeIdentity]) -> Result<Vec<u8>> {
    let binary = match std::str::from_utf8(file) {
        Ok(text)
            if text
                .trim_start()
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----") =>
        {
            let body: String = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----"))
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|e| SopsError::Age(format!("bad armor: {e}")))?
        }
        _ => file.to_vec(),
    };
    // The header is text up to the line starting with "--- ".
    let mac_at = binary
        .windows(4)
        .position(|w| w == b"\n---")
        .ok_or_else(|| SopsError::Age("no header MAC".into()))?
        + 1;
    let mac_line_end = binary[mac_at..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|p| mac_at + p)
        .ok_or_else(|| SopsError::Age("truncated header".into()))?;
    let header = std::str::from_utf8(&binary[..mac_at])
        .map_err(|_| SopsError::Age("header is not text".into()))?;
    let mac_line = std::str::from_utf8(&binary[mac_at..mac_line_end])
        .map_err(|_| SopsError::Age("bad MAC line".into()))?;
    let payload = &binary[mac_line_end + 1..];
    let mut lines = header.lines();
    if lines.next() != Some("age-encryption.org/v1") {
        return Err(SopsError::Age("not an age v1 file".into()));
    }
    // Stanzas: "-> type args..." then base64 body lines (the last shorter than 64).
    let mut stanzas: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
    let mut current: Option<(Vec<String>, String)> = None;
    for line in lines {
        if let Some(args) = line.strip_prefix("-> ") {
            if let Some((a, body)) = current.take() {
                stanzas.push((a, b64_unpadded(&body)?));
            }
            current = Some((args.split(' ').map(str::to_owned).collect(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if let Some((a, body)) = current.take() {
        stanzas.push((a, b64_unpadded(&body)?));
    }
    let mut file_key = None;
    'identities: for identity in identities {
        for (args, body) in &stanzas {
            if args.first().map(String::as_str) != Some("X25519") || args.len() != 2 {
                continue;
            }
            let share: [u8; 32] = b64_unpadded(&args[1])?
                .try_into()
                .map_err(|_| SopsError::Age("bad X25519 share".into()))?;
            let shared = identity
                .secret
                .diffie_hellman(&x25519_dalek::PublicKey::from(share));
            let mut salt = share.to_vec();
            salt.extend_from_slice(&identity.recipient_bytes());
            let wrap_key = hkdf(shared.as_bytes(), &salt, b"age-encryption.org/v1/X25519");
            let cipher = chacha20poly1305::ChaCha20Poly1305::new((&wrap_key).into());
            if let Ok(key) = cipher.decrypt((&[0u8; 12]).into(), body.as_slice()) {
                file_key = Some(key);
                break 'identities;
            }
        }
    }
    let file_key =
        file_key.ok_or_else(|| SopsError::Age("no identity matched any recipient".into()))?;
    // The header MAC covers the header up to and including "---".
    let mac = b64_unpadded(mac_line.trim_start_matches("---").trim())?;
    let hmac_key = hkdf(&file_key, b"", b"header");
    let mut hmac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&hmac_key)
        .map_err(|_| SopsError::Age("bad MAC key".into()))?;
    hmac::Mac::update(&mut hmac, &binary[..mac_at + 3]);
    hmac::Mac::verify_slice(hmac, &mac)
        .map_err(|_| SopsError::Age("header MAC mismatch".into()))?;
    // Payload: a 16-byte nonce, then 64 KiB ChaCha20-Poly1305 chunks.
    if payload.len() < 16 {
        return Err(SopsError::Age("truncated payload".into()));
    }
    let (nonce, chunks) = payload.split_at(16);
    let payload_key = hkdf(&file_key, nonce, b"payload");
    let cipher = chacha20poly1305::ChaCha20Poly1305::new((&payload_key).into());
    let mut plaintext = Vec::new();
    let chunk_size = 64 * 1024 + 16;
    let count = chunks.len().div_ceil(chunk_size).max(1);
    for (i, chunk) in chunks.chunks(chunk_size).enumerate() {
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        if i + 1 == count {
            chunk_nonce[11] = 1;
        }
        let opened = cipher
            .decrypt((&chunk_nonce).into(), chunk)
            .map_err(|_| SopsError::Age("payload authentication failed".into()))?;
        plaintext.extend(opened);
    }
    Ok(plaintext)
}

/// One `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` value decrypted.
fn decrypt_value(text: &str, key: &[u8; 32], aad: &str, path: &str) -> Result<Value> {
    let fail = || SopsError::Value(path.to_owned());
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(fail)?;
    let mut parts = std::collections::HashMap::new();
    for part in inner.split(',') {
        let (k, v) = part.split_once(':').ok_or_else(fail)?;
        parts.insert(k, v);
    }
    let b64 = |k: &str| {
        parts
            .get(k)
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .ok_or_else(fail)
    };
    let (mut data, iv, tag) = (b64("data")?, b64("iv")?, b64("tag")?);
    data.extend_from_slice(&tag);
    type Aes256Gcm32 = aes_gcm::AesGcm<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32>;
    let cipher = Aes256Gcm32::new(key.into());
    if iv.len() != 32 {
        return Err(fail());
    }
    let plain = cipher
        .decrypt(
            aes_gcm::Nonce::<aes_gcm::aead::consts::U32>::from_slice(&iv),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| fail())?;
    let text = String::from_utf8(plain.clone()).map_err(|_| fail());
    Ok(match parts.get("type").copied().unwrap_or("str") {
        "int" => text?.parse::<i64>().map(Value::from).map_err(|_| fail())?,
        "float" => text?
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(fail)?,
        "bool" => Value::Bool(text? == "True"),
        "bytes" => Value::String(String::from_utf8_lossy(&plain).into_owned()),
        _ => Value::String(text?),
    })
}

/// sops' byte form of a value for the MAC.
fn mac_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => n.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// Which values a file encrypts (its `*_suffix` / `*_regex` metadata).
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<regex::Regex>,
    encrypted_regex: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    fn of(meta: &Value) -> Result<Self> {
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let regex = |k: &str| {
            text(k)
                .map(|r| {
                    regex::Regex::new(&r).map_err(|e| SopsError::Metadata(format!("{k}: {e}")))
                })
                .transpose()
        };
        Ok(Self {
            unencrypted_suffix: text("unencrypted_suffix"),
            encrypted_suffix: text("encrypted_suffix"),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
            mac_only_encrypted: meta.get("mac_only_encrypted").and_then(Value::as_bool)
                == Some(true),
        })
    }

    fn encrypted(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(suffix.as_str())) {
                encrypted = false;
            }
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(regex) = &self.unencrypted_regex {
            if path.iter().any(|p| regex.is_match(p)) {
                encrypted = false;
            }
        }
        if let Some(regex) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| regex.is_match(p));
        }
        encrypted
    }
}

/// The sops constant that starts the MAC when only encrypted values count.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

struct Walk<'a> {
    key: &'a [u8; 32],
    rules: Rules,
    hash: sha2::Sha512,
}

impl Walk<'_> {
    fn value(&mut self, value: &mut Value, path: &mut Vec<String>) -> Result<()> {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    path.push(k.clone());
                    self.value(v, path)?;
                    path.pop();
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.value(item, path)?;
                }
            }
            Value::Null => {}
            leaf => {
                let encrypted = self.rules.encrypted(path);
                if encrypted {
                    let Value::String(text) = &*leaf else {
                        return Err(SopsError::Value(path.join(".")));
                    };
                    let aad = format!("{}:", path.join(":"));
                    *leaf = decrypt_value(text, self.key, &aad, &path.join("."))?;
                }
                if !self.rules.mac_only_encrypted || encrypted {
                    self.hash.update(mac_bytes(leaf));
                }
            }
        }
        Ok(())
    }
}

/// The data key of a document's `sops` metadata, unwrapped with an age identity.
fn data_key(meta: &Value, identities: &[AgeIdentity]) -> Result<[u8; 32]> {
    let recipients = meta.get("age").and_then(Value::as_array).ok_or_else(|| {
        SopsError::Metadata("no age recipients (only age keys are supported)".into())
    })?;
    for recipient in recipients {
        let Some(enc) = recipient.get("enc").and_then(Value::as_str) else {
            continue;
        };
        if let Ok(key) = age_decrypt(enc.as_bytes(), identities) {
            return key
                .try_into()
                .map_err(|_| SopsError::Metadata("the data key is not 32 bytes".into()));
        }
    }
    let names: Vec<&str> = recipients
        .iter()
        .filter_map(|r| r.get("recipient").and_then(Value::as_str))
        .collect();
    Err(SopsError::NoMatchingKey(names.join(", ")))
}

/// Decrypts a sops-encrypted document (YAML or JSON, parsed): every encrypted value
/// in place, the MAC checked, the `sops` metadata removed.
pub fn decrypt_document(document: &mut Value, identities: &[AgeIdentity]) -> Result<()> {
    let Some(Value::Object(map)) = Some(&mut *document) else {
        return Err(SopsError::Metadata("not a map".into()));
    };
    let meta = map
        .shift_remove("sops")
        .ok_or_else(|| SopsError::Metadata("no sops metadata".into()))?;
    let key = data_key(&meta, identities)?;
    let rules = Rules::of(&meta)?;
    let mut walk = Walk {
        key: &key,
        hash: sha2::Sha512::new(),
        rules,
    };
    if walk.rules.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    walk.value(document, &mut Vec::new())?;
    let computed: String = walk
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let stored = meta
        .get("mac")
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Metadata("no MAC".into()))?;
    let last_modified = meta
        .get("lastmodified")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stored = decrypt_value(stored, &key, last_modified, "sops.mac")?;
    if stored.as_str() != Some(computed.as_str()) {
        return Err(SopsError::MacMismatch);
    }
    Ok(())
}

/// Whether a parsed document carries sops metadata.
pub fn is_encrypted(document: &Value) -> bool {
    document.get("sops").is_some_and(|m| {
        m.get("mac").is_some()
            && (m.get("age").is_some() || m.get("pgp").is_some() || m.get("lastmodified").is_some())
    })
}

/// Decrypts a sops-encrypted dotenv file; `None` when it is not encrypted.
pub fn decrypt_dotenv(text: &str, identities: &[AgeIdentity]) -> Option<Result<String>> {
    if !text.lines().any(|l| l.starts_with("sops_mac=")) {
        return None;
    }
    // sops stores dotenv as a flat map; its metadata as `sops_` keys, lists as
    // `sops_age__list_N__map_KEY`.
    let mut values = Map::new();
    let mut meta = Map::new();
    let mut ages: Vec<Map<String, Value>> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = key.strip_prefix("sops_age__list_") {
            let Some((index, field)) = rest.split_once("__map_") else {
                continue;
            };
            let Ok(index) = index.parse::<usize>() else {
                continue;
            };
            while ages.len() <= index {
                ages.push(Map::new());
            }
            ages[index].insert(field.to_owned(), Value::String(value.replace("\\n", "\n")));
        } else if let Some(field) = key.strip_prefix("sops_") {
            meta.insert(field.to_owned(), Value::String(value.to_owned()));
        } else {
            values.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    meta.insert(
        "age".into(),
        Value::Array(ages.into_iter().map(Value::Object).collect()),
    );
    let mut document = Value::Object(values);
    document["sops"] = Value::Object(meta);
    Some(decrypt_document(&mut document, identities).map(|()| {
        document
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}\n",
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }))
}

/// A file in sops' binary format (`{"data": "ENC[...]", "sops": {...}}`) decrypted
/// to its bytes; other documents decrypted and kept as documents.
fn decrypt_file_document(mut document: Value, identities: &[AgeIdentity]) -> Result<Decrypted> {
    decrypt_document(&mut document, identities)?;
    match document.as_object() {
        Some(map) if map.len() == 1 && map.get("data").is_some_and(Value::is_string) => {
            Ok(Decrypted::Bytes(
                map.get("data")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            ))
        }
        _ => Ok(Decrypted::Document(document)),
    }
}

enum Decrypted {
    Bytes(Vec<u8>),
    Document(Value),
}

/// Decrypts, in place, every sops-encrypted file under `root` (a private copy of
/// the artifact): YAML and JSON documents, dotenv files, and binary files. Returns
/// how many files were decrypted. Errors name the file, never a value.
pub fn decrypt_tree(
    root: &std::path::Path,
    identities: &[AgeIdentity],
) -> std::result::Result<usize, String> {
    let mut count = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text.contains("sops") {
                continue;
            }
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let failed = |e: SopsError| format!("failed to decrypt {shown}: {e}");
            let is_env = path.extension().is_some_and(|e| e == "env");
            let plain: Option<Vec<u8>> = if is_env {
                decrypt_dotenv(&text, identities)
                    .transpose()
                    .map_err(failed)?
                    .map(String::into_bytes)
            } else {
                match serde_yaml_ng::from_str::<Value>(&text) {
                    Ok(document) if is_encrypted(&document) => {
                        let is_json = text.trim_start().starts_with('{');
                        Some(
                            match decrypt_file_document(document, identities).map_err(failed)? {
                                Decrypted::Bytes(bytes) => bytes,
                                Decrypted::Document(document) if is_json => {
                                    serde_json::to_vec_pretty(&document)
                                        .map_err(|e| e.to_string())?
                                }
                                Decrypted::Document(document) => {
                                    ferroflux_kustomize::to_yaml_stream(&[document]).into_bytes()
                                }
                            },
                        )
                    }
                    _ => None,
                }
            };
            if let Some(plain) = plain {
                std::fs::write(&path, plain).map_err(|e| format!("{shown}: {e}"))?;
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Decrypts Secret values that are themselves sops-encrypted files (base64 of the
/// binary format), as Flux does for Secrets generated from encrypted files.
pub fn decrypt_secret_values(object: &mut Value, identities: &[AgeIdentity]) -> Result<()> {
    if object.get("kind").and_then(Value::as_str) != Some("Secret") {
        return Ok(());
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(Value::Object(data)) = object.get_mut("data") else {
        return Ok(());
    };
    for (key, value) in data.iter_mut() {
        let Some(encoded) = value.as_str() else {
            continue;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        let Ok(document) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if !is_encrypted(&document) {
            continue;
        }
        let plain = match decrypt_file_document(document, identities)
            .map_err(|_| SopsError::Value(format!("Secret {name} data.{key}")))?
        {
            Decrypted::Bytes(bytes) => bytes,
            Decrypted::Document(document) => serde_json::to_vec(&document).unwrap_or_default(),
        };
        *value = Value::String(base64::engine::general_purpose::STANDARD.encode(plain));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! An encryptor for test fixtures: the decryptor above was checked against files
    //! encrypted by sops and age themselves; these produce the same formats, so the
    //! project's fixtures need no external tool.
    use super::*;
    use aes_gcm::aead::AeadCore;

    fn bech32_encode(hrp: &str, data: &[u8]) -> String {
        let mut values = Vec::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for b in data {
            acc = (acc << 8) | u32::from(*b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                values.push(((acc >> bits) & 31) as u8);
            }
        }
        if bits > 0 {
            values.push(((acc << (5 - bits)) & 31) as u8);
        }
        let mut check: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
        check.push(0);
        check.extend(hrp.bytes().map(|b| b & 31));
        check.extend(&values);
        check.extend([0u8; 6]);
        let polymod = bech32_polymod(&check) ^ 1;
        for i in 0..6 {
            values.push(((polymod >> (5 * (5 - i))) & 31) as u8);
        }
        let body: String = values
            .iter()
            .map(|v| BECH32_CHARSET[*v as usize] as char)
            .collect();
        format!("{hrp}1{body}")
    }

    /// The identity and recipient strings of a fixed test key.
    pub fn keypair(seed: u8) -> (String, String) {
        let secret = [seed; 32];
        let public =
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret)).to_bytes();
        (
            bech32_encode("age-secret-key-", &secret).to_ascii_uppercase(),
            bech32_encode("age", &public),
        )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
    }

    /// age-encrypts `plaintext` to `recipient` (armored).
    pub fn age_encrypt(plaintext: &[u8], recipient: &str, seed: u8) -> String {
        let (_, public) = bech32_decode(recipient).expect("recipient");
        let public: [u8; 32] = public.try_into().expect("32 bytes");
        let file_key = [seed.wrapping_add(1); 16];
        let ephemeral = x25519_dalek::StaticSecret::from([seed.wrapping_add(2); 32]);
        let share = x25519_dalek::PublicKey::from(&ephemeral).to_bytes();
        let shared = ephemeral.diffie_hellman(&x25519_dalek::PublicKey::from(public));
        let mut salt = share.to_vec();
        salt.extend_from_slice(&public);
        let wrap_key = hkdf(shared.as_bytes(), &salt, b"age-encryption.org/v1/X25519");
        let body = chacha20poly1305::ChaCha20Poly1305::new((&wrap_key).into())
            .encrypt((&[0u8; 12]).into(), file_key.as_slice())
            .expect("wrap");
        let header = format!(
            "age-encryption.org/v1\n-> X25519 {}\n{}\n---",
            b64(&share),
            b64(&body)
        );
        let mut hmac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&hkdf(
            &file_key, b"", b"header",
        ))
        .expect("key");
        hmac::Mac::update(&mut hmac, header.as_bytes());
        let mac = hmac::Mac::finalize(hmac).into_bytes();
        let mut binary = format!("{header} {}\n", b64(&mac)).into_bytes();
        let nonce = [seed.wrapping_add(3); 16];
        let payload_key = hkdf(&file_key, &nonce, b"payload");
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[11] = 1;
        let sealed = chacha20poly1305::ChaCha20Poly1305::new((&payload_key).into())
            .encrypt((&chunk_nonce).into(), plaintext)
            .expect("seal");
        binary.extend_from_slice(&nonce);
        binary.extend(sealed);
        let armored = base64::engine::general_purpose::STANDARD.encode(binary);
        let lines: Vec<String> = armored
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        format!(
            "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
            lines.join("\n")
        )
    }

    fn encrypt_value(value: &Value, key: &[u8; 32], aad: &str) -> String {
        type Aes256Gcm32 = aes_gcm::AesGcm<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32>;
        let (text, kind) = match value {
            Value::String(s) => (s.clone(), "str"),
            Value::Bool(b) => ((if *b { "True" } else { "False" }).to_owned(), "bool"),
            Value::Number(n) if n.is_i64() => (n.to_string(), "int"),
            other => (other.to_string(), "float"),
        };
        let nonce = Aes256Gcm32::generate_nonce(&mut aes_gcm::aead::OsRng);
        let sealed = Aes256Gcm32::new(key.into())
            .encrypt(
                &nonce,
                Payload {
                    msg: text.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("seal");
        let (data, tag) = sealed.split_at(sealed.len() - 16);
        let std = &base64::engine::general_purpose::STANDARD;
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            std.encode(data),
            std.encode(nonce),
            std.encode(tag)
        )
    }

    /// sops-encrypts the values of `document` matching `encrypted_regex` (all when
    /// `None`) for `recipient`, as `sops --encrypt --age` does.
    pub fn encrypt_document(
        document: &Value,
        recipient: &str,
        encrypted_regex: Option<&str>,
    ) -> Value {
        let key = [7u8; 32];
        let mut meta = serde_json::json!({"unencrypted_suffix": "_unencrypted", "lastmodified": "2026-11-24T12:00:00Z", "version": "3.9.0"});
        if let Some(r) = encrypted_regex {
            meta["encrypted_regex"] = Value::String(r.to_owned());
            meta.as_object_mut().map(|m| m.remove("unencrypted_suffix"));
        }
        let rules = Rules::of(&meta).expect("rules");
        let mut out = document.clone();
        let mut hash = sha2::Sha512::new();
        fn walk(
            value: &mut Value,
            path: &mut Vec<String>,
            rules: &Rules,
            key: &[u8; 32],
            hash: &mut sha2::Sha512,
        ) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        path.push(k.clone());
                        walk(v, path, rules, key, hash);
                        path.pop();
                    }
                }
                Value::Array(items) => items
                    .iter_mut()
                    .for_each(|i| walk(i, path, rules, key, hash)),
                Value::Null => {}
                leaf => {
                    hash.update(mac_bytes(leaf));
                    if rules.encrypted(path) {
                        *leaf = Value::String(encrypt_value(
                            leaf,
                            key,
                            &format!("{}:", path.join(":")),
                        ));
                    }
                }
            }
        }
        walk(&mut out, &mut Vec::new(), &rules, &key, &mut hash);
        let mac: String = hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
        meta["mac"] = Value::String(encrypt_value(
            &Value::String(mac),
            &key,
            "2026-11-24T12:00:00Z",
        ));
        meta["age"] =
            serde_json::json!([{"recipient": recipient, "enc": age_encrypt(&key, recipient, 1)}]);
        out["sops"] = meta;
        out
    }

    /// A dotenv file as `sops --encrypt` writes it.
    pub fn encrypt_dotenv(pairs: &[(&str, &str)], recipient: &str) -> String {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert((*k).to_owned(), Value::String((*v).to_owned()));
        }
        let encrypted = encrypt_document(&Value::Object(map), recipient, None);
        let mut out = String::new();
        for (k, v) in encrypted.as_object().expect("map") {
            if k == "sops" {
                continue;
            }
            out.push_str(&format!("{k}={}\n", v.as_str().unwrap_or_default()));
        }
        let meta = &encrypted["sops"];
        let age = &meta["age"][0];
        out.push_str(&format!(
            "sops_age__list_0__map_enc={}\n",
            age["enc"].as_str().unwrap_or_default().replace('\n', "\\n")
        ));
        out.push_str(&format!(
            "sops_age__list_0__map_recipient={}\n",
            age["recipient"].as_str().unwrap_or_default()
        ));
        for field in ["lastmodified", "mac", "unencrypted_suffix", "version"] {
            out.push_str(&format!(
                "sops_{field}={}\n",
                meta[field].as_str().unwrap_or_default()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixtures::{encrypt_document, encrypt_dotenv, keypair};
    use serde_json::json;

    #[test]
    fn a_sops_document_decrypts_with_its_age_key_and_checks_its_mac() {
        let (identity, recipient) = keypair(11);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"password": "hunter2", "port": 5432, "tls": true}});
        let encrypted = encrypt_document(&secret, &recipient, Some("^(data|stringData)$"));
        let text = encrypted.to_string();
        assert!(!text.contains("hunter2"), "the value is encrypted");
        assert_eq!(
            encrypted["metadata"]["name"], "db",
            "metadata stays readable"
        );
        let ids = AgeIdentity::parse_all(&identity).expect("identity");
        let mut document = encrypted.clone();
        decrypt_document(&mut document, &ids).expect("decrypts");
        assert_eq!(document, secret);

        // Changing a readable field breaks the MAC.
        let mut tampered = encrypted.clone();
        tampered["metadata"]["name"] = json!("db-copy");
        assert_eq!(
            decrypt_document(&mut tampered, &ids),
            Err(SopsError::MacMismatch)
        );
        // Another key cannot open it, and the error names the recipient, no secret.
        let (other, _) = keypair(12);
        let mut document = encrypted;
        let err = decrypt_document(&mut document, &AgeIdentity::parse_all(&other).expect("id"))
            .expect_err("wrong key");
        assert!(err.to_string().contains(&recipient), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn a_sops_dotenv_file_decrypts() {
        let (identity, recipient) = keypair(13);
        let text = encrypt_dotenv(&[("USER", "admin"), ("PASSWORD", "s3cret")], &recipient);
        assert!(!text.contains("s3cret"));
        let ids = AgeIdentity::parse_all(&identity).expect("identity");
        let plain = decrypt_dotenv(&text, &ids)
            .expect("encrypted")
            .expect("decrypts");
        assert_eq!(plain, "USER=admin\nPASSWORD=s3cret\n");
        assert!(
            decrypt_dotenv("A=1\n", &ids).is_none(),
            "plain files are left alone"
        );
    }

    /// The e2e fixtures in tests/fixtures/sops (a throwaway test key and files
    /// encrypted to it). `FERROFLUX_UPDATE_SOPS_FIXTURES=1` writes them anew.
    #[test]
    fn the_committed_fixtures_decrypt_with_the_committed_test_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops");
        let (identity, recipient) = keypair(42);
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "app-secret", "namespace": "apps"},
            "stringData": {"password": "hunter2"}});
        if std::env::var("FERROFLUX_UPDATE_SOPS_FIXTURES").is_ok() {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(
                dir.join("age.agekey"),
                format!("# test key, public key: {recipient}\n{identity}\n"),
            )
            .expect("key");
            let encrypted = encrypt_document(&secret, &recipient, Some("^(data|stringData)$"));
            std::fs::write(
                dir.join("secret.enc.yaml"),
                ferroflux_kustomize::to_yaml_stream(&[encrypted]),
            )
            .expect("yaml");
            std::fs::write(
                dir.join("db.enc.env"),
                encrypt_dotenv(&[("USER", "admin"), ("PASSWORD", "s3cret")], &recipient),
            )
            .expect("env");
        }
        let ids =
            AgeIdentity::parse_all(&std::fs::read_to_string(dir.join("age.agekey")).expect("key"))
                .expect("identity");
        let mut document: Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(dir.join("secret.enc.yaml")).expect("yaml"),
        )
        .expect("parse");
        decrypt_document(&mut document, &ids).expect("decrypts");
        assert_eq!(document, secret);
        let env = std::fs::read_to_string(dir.join("db.enc.env")).expect("env");
        assert_eq!(
            decrypt_dotenv(&env, &ids)
                .expect("encrypted")
                .expect("decrypts"),
            "USER=admin\nPASSWORD=s3cret\n"
        );
    }

    #[test]
    fn a_tree_of_json_yaml_dotenv_and_binary_files_is_decrypted_in_place() {
        let (identity, recipient) = keypair(21);
        let ids = AgeIdentity::parse_all(&identity).expect("identity");
        let tmp = tempfile::tempdir().expect("tmp");
        let json_doc = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"}, "data": {"k": "dmFsdWU="}});
        std::fs::write(
            tmp.path().join("s.json"),
            serde_json::to_string(&encrypt_document(&json_doc, &recipient, Some("^data$")))
                .expect("json"),
        )
        .expect("write");
        // sops' binary format: the whole file is one value.
        std::fs::create_dir(tmp.path().join("files")).expect("mkdir");
        std::fs::write(
            tmp.path().join("files/cert.pem"),
            encrypt_document(&json!({"data": "-----BEGIN CERT-----\n"}), &recipient, None)
                .to_string(),
        )
        .expect("write");
        std::fs::write(
            tmp.path().join("plain.yaml"),
            "a: sops-is-mentioned-but-not-used\n",
        )
        .expect("write");
        let count = decrypt_tree(tmp.path(), &ids).expect("decrypts");
        assert_eq!(count, 2);
        let decrypted: Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join("s.json")).expect("read"),
        )
        .expect("json");
        assert_eq!(decrypted, json_doc);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("files/cert.pem")).expect("read"),
            "-----BEGIN CERT-----\n"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("plain.yaml")).expect("read"),
            "a: sops-is-mentioned-but-not-used\n"
        );
    }

    #[test]
    fn bech32_identities_round_trip_to_their_recipient() {
        // age's own test vector: this identity's recipient.
        let identity = AgeIdentity::parse(
            "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
        )
        .expect("identity");
        let recipient = identity.recipient_bytes();
        assert_eq!(recipient.len(), 32);
        assert!(
            AgeIdentity::parse(
                "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEY"
            )
            .is_err(),
            "checksum"
        );
    }
}
