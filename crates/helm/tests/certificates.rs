//! sprig's certificate functions as a user relies on them: a CA from `genCA` signs the
//! certificate `genSignedCert` makes, and openssl (the real tool) agrees: the chain
//! verifies, the names and addresses are in it, the keys are RSA keys of the size
//! sprig uses.

use std::path::Path;
use std::process::Command;

use ferroflux_gotemplate::Value;

fn render(text: &str) -> String {
    let mut templates = ferroflux_helm::funcs::chart_templates(false);
    templates.parse("t", text).expect("the template parses");
    ferroflux_helm::funcs::execute(&templates, "t", &Value::Nil).expect("the template runs")
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed: the certificate tests use it as the oracle");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_generated_ca_signs_a_certificate_openssl_accepts() {
    let out = render(
        r#"{{- $ca := genCA "demo-ca" 365 -}}
{{- $cert := genSignedCert "demo.apps.svc" (list "10.0.0.7") (list "demo.apps.svc" "demo.local") 30 $ca -}}
{{ $ca.Cert }}@@{{ $cert.Cert }}@@{{ $cert.Key }}@@{{ printf "%T" $ca }}"#,
    );
    let parts: Vec<&str> = out.split("@@").collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[3], "sprig.certificate");
    assert!(parts[2].starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), parts[0]).expect("write");
    std::fs::write(dir.path().join("cert.pem"), parts[1]).expect("write");
    std::fs::write(dir.path().join("key.pem"), parts[2]).expect("write");
    let verified = openssl(&["verify", "-CAfile", "ca.pem", "cert.pem"], dir.path());
    assert!(verified.contains("cert.pem: OK"), "{verified}");
    let text = openssl(&["x509", "-in", "cert.pem", "-noout", "-text"], dir.path());
    for expected in [
        "Subject: CN = demo.apps.svc",
        "Issuer: CN = demo-ca",
        "DNS:demo.apps.svc, DNS:demo.local, IP Address:10.0.0.7",
        "TLS Web Server Authentication",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    let ca_text = openssl(&["x509", "-in", "ca.pem", "-noout", "-text"], dir.path());
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    let key = openssl(
        &["rsa", "-in", "key.pem", "-check", "-noout", "-text"],
        dir.path(),
    );
    assert!(key.contains("2048 bit"), "{key}");
}

#[test]
fn self_signed_certificates_and_private_keys() {
    let out = render(
        r#"{{ (genSelfSignedCert "local" nil (list "local.test") 1).Cert }}@@{{ genPrivateKey "ecdsa" }}@@{{ genPrivateKey "ed25519" }}@@{{ genPrivateKey "nope" }}"#,
    );
    let parts: Vec<&str> = out.split("@@").collect();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("self.pem"), parts[0]).expect("write");
    std::fs::write(dir.path().join("ec.pem"), parts[1]).expect("write");
    std::fs::write(dir.path().join("ed.pem"), parts[2]).expect("write");
    let verified = openssl(&["verify", "-CAfile", "self.pem", "self.pem"], dir.path());
    assert!(verified.contains("OK"), "{verified}");
    assert!(
        parts[1].starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "{}",
        parts[1]
    );
    assert!(
        openssl(&["ec", "-in", "ec.pem", "-noout", "-text"], dir.path()).contains("prime256v1")
    );
    assert!(openssl(&["pkey", "-in", "ed.pem", "-noout", "-text"], dir.path()).contains("ED25519"));
    assert_eq!(parts[3], "Unknown type nope");
}
