//! sprig's certificate and key functions: `genPrivateKey`, `genCA`,
//! `genSelfSignedCert`, `genSignedCert`. As sprig: RSA keys (2048 bits for
//! certificates, 4096 for `genPrivateKey "rsa"`) written as PKCS#1 PEM, ECDSA P-256 as
//! SEC 1, Ed25519 as PKCS#8; certificates with a random 128-bit serial, valid from now
//! for the days asked, for server and client authentication.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePrivateKey as _;

use crate::value::{Object, Value};

/// A generated certificate (Go's `certificate{Cert, Key}`), with what signing with it
/// needs.
#[derive(Debug)]
pub struct Certificate {
    pub cert: String,
    pub key: String,
    params: CertificateParams,
    key_der: Vec<u8>,
}

impl Object for Certificate {
    fn type_name(&self) -> String {
        "sprig.certificate".to_owned()
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::from(self.cert.as_str())),
            "Key" => Some(Value::from(self.key.as_str())),
            _ => None,
        }
    }

    fn call_method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// An RSA key: PKCS#1 PEM for the template, PKCS#8 DER for signing.
fn rsa_key(bits: usize) -> Result<(String, Vec<u8>), String> {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, bits)
        .map_err(|e| format!("error generating rsa key: {e}"))?;
    let pem = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| format!("error pem-encoding key: {e}"))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("error encoding key: {e}"))?;
    Ok((pem.to_string(), der.as_bytes().to_vec()))
}

/// sprig's genPrivateKey.
pub fn gen_private_key(kind: &str) -> String {
    let result = match kind {
        "" | "rsa" => rsa_key(4096).map(|(pem, _)| pem),
        "ecdsa" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map(|k| sec1_pem(&k))
            .map_err(|e| e.to_string()),
        "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .map_err(|e| e.to_string())
            .and_then(|k| ed25519_pkcs8_v1(&k.serialize_der())),
        "dsa" => Err("dsa keys are not supported".to_owned()),
        other => return format!("Unknown type {other}"),
    };
    result.unwrap_or_else(|e| format!("failed to generate private key: {e}"))
}

/// An ECDSA key as Go's MarshalECPrivateKey writes it (`EC PRIVATE KEY`): the SEC 1
/// structure inside rcgen's PKCS#8 one.
fn sec1_pem(key: &KeyPair) -> String {
    let der = key.serialize_der();
    // PKCS#8 wraps the SEC 1 key in an OCTET STRING after the algorithm identifier;
    // find the `30 77 02 01 01` SEC 1 sequence of a P-256 key.
    let sec1 = der
        .windows(5)
        .position(|w| w == [0x30, 0x77, 0x02, 0x01, 0x01])
        .map(|at| der[at..].to_vec())
        .unwrap_or(der);
    pem_block("EC PRIVATE KEY", &sec1)
}

/// An Ed25519 key as Go's MarshalPKCS8PrivateKey writes it: PKCS#8 version 1 with the
/// seed alone (ring writes version 2, with the public key, which openssl refuses).
fn ed25519_pkcs8_v1(der: &[u8]) -> Result<String, String> {
    let at = der
        .windows(4)
        .position(|w| w == [0x04, 0x22, 0x04, 0x20])
        .ok_or("unexpected Ed25519 key encoding")?;
    let seed = der
        .get(at + 4..at + 36)
        .ok_or("unexpected Ed25519 key encoding")?;
    let mut v1 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v1.extend_from_slice(seed);
    Ok(pem_block("PRIVATE KEY", &v1))
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn base_params(
    cn: &str,
    ips: &[Value],
    dns: &[Value],
    days: i64,
) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut serial);
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(days.max(0) as u64 * 86_400)).into();
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    // Go writes DNS names before IP addresses.
    for name in dns {
        let text = name.as_str().ok_or_else(|| {
            format!(
                "error processing alternate dns name: {} is not a string",
                crate::gofmt::display(name)
            )
        })?;
        let dns_name = text
            .try_into()
            .map_err(|e| format!("error processing alternate dns name: {e}"))?;
        params.subject_alt_names.push(SanType::DnsName(dns_name));
    }
    for ip in ips {
        let text = ip.as_str().ok_or_else(|| {
            format!(
                "error parsing ip: {} is not a string",
                crate::gofmt::display(ip)
            )
        })?;
        let addr = text
            .parse()
            .map_err(|_| format!("error parsing ip: {text}"))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
    }
    Ok(params)
}

fn signing_key(der: &[u8]) -> Result<KeyPair, String> {
    KeyPair::from_pkcs8_der_and_sign_algo(&der.to_vec().into(), &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| e.to_string())
}

fn certificate_value(
    cert: rcgen::Certificate,
    key_pem: String,
    params: CertificateParams,
    key_der: Vec<u8>,
) -> Value {
    Value::Object(Arc::new(Certificate {
        cert: cert.pem(),
        key: key_pem,
        params,
        key_der,
    }))
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::List(items) => items.to_vec(),
        _ => Vec::new(),
    }
}

/// sprig's genCA.
pub fn gen_ca(cn: &str, days: i64) -> Result<Value, String> {
    let (key_pem, key_der) = rsa_key(2048)?;
    let mut params = base_params(cn, &[], &[], days)?;
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = signing_key(&key_der)?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(certificate_value(cert, key_pem, params, key_der))
}

/// sprig's genSelfSignedCert.
pub fn gen_self_signed(cn: &str, ips: &Value, dns: &Value, days: i64) -> Result<Value, String> {
    let (key_pem, key_der) = rsa_key(2048)?;
    let params = base_params(cn, &list(ips), &list(dns), days)?;
    let key = signing_key(&key_der)?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(certificate_value(cert, key_pem, params, key_der))
}

/// sprig's genSignedCert.
pub fn gen_signed(
    cn: &str,
    ips: &Value,
    dns: &Value,
    days: i64,
    ca: &Value,
) -> Result<Value, String> {
    let Value::Object(object) = ca else {
        return Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            ca.type_name()
        ));
    };
    let Some(ca) = object
        .as_any()
        .and_then(|a| a.downcast_ref::<Certificate>())
    else {
        return Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            object.type_name()
        ));
    };
    let (key_pem, key_der) = rsa_key(2048)?;
    let params = base_params(cn, &list(ips), &list(dns), days)?;
    let key = signing_key(&key_der)?;
    let issuer = Issuer::new(ca.params.clone(), signing_key(&ca.key_der)?);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    Ok(certificate_value(cert, key_pem, params, key_der))
}
