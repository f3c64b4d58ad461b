//! HTTPS for the listener: where the server's certificate comes from ([`CertSource`]: made at
//! start with rcgen for `localhost`, `127.0.0.1` and `::1` and kept in the data directory when
//! there is one, or read from PEM files), the loaded [`Identity`] with its SHA-256 fingerprint,
//! and the rustls acceptor (ring only; ALPN `h2` and `http/1.1`, as the plain listener's auto
//! mode speaks both).
//!
//! Uses `error`. Knows nothing of connections: `server` accepts them, bounds each handshake in
//! time and serves the decrypted stream exactly like a plain one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The data directory's subdirectory that keeps the made certificate.
pub const DIR: &str = "tls";
/// The names a made certificate is valid for.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// Made at start; kept in (and read back from) `DIR/tls/` of this directory when given, so
    /// it stays the same across restarts.
    SelfSigned { keep_in: Option<PathBuf> },
    /// PEM files: a certificate (chain) and its private key.
    Files { cert: PathBuf, key: PathBuf },
}

impl CertSource {
    /// The files when both are given, else a made certificate kept in `data_dir` when there is
    /// one.
    pub fn of(cert: Option<&Path>, key: Option<&Path>, data_dir: Option<&Path>) -> CertSource {
        match (cert, key) {
            (Some(c), Some(k)) => CertSource::Files {
                cert: c.to_path_buf(),
                key: k.to_path_buf(),
            },
            _ => CertSource::SelfSigned {
                keep_in: data_dir.map(Path::to_path_buf),
            },
        }
    }
}

/// What a running HTTPS listener tells its embedder: where it is and which certificate it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub addr: std::net::SocketAddr,
    /// SHA-256 of the certificate, `AA:BB:…`.
    pub fingerprint: String,
    /// The certificate as PEM, for a client's trust store.
    pub cert_pem: String,
}

/// A certificate chain with its key, ready to serve.
#[derive(Debug)]
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The first certificate's PEM form (what a client adds to its trust store).
    pub cert_pem: String,
}

impl Identity {
    /// The leaf certificate's SHA-256 fingerprint as `AA:BB:…`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.certs[0])
    }
}

/// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads (or makes) the identity `source` names. A file that cannot be read, holds no
/// certificate or key, or a key that does not belong to the certificate is an error naming the
/// file.
pub fn load(source: &CertSource) -> Result<Identity> {
    match source {
        CertSource::Files { cert, key } => {
            let id = read_files(cert, key, "--tls-cert", "--tls-key")?;
            acceptor_config(&id).map_err(|e| mismatch(key, cert, "--tls-key", "--tls-cert", e))?;
            Ok(id)
        }
        CertSource::SelfSigned { keep_in: None } => make(),
        CertSource::SelfSigned { keep_in: Some(dir) } => {
            let dir = dir.join(DIR);
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if cert.exists() || key.exists() {
                // what went wrong, and the way out
                let hint = |e: Error| match e {
                    Error::BadParameter { what, message } => Error::bad(
                        what,
                        format!(
                            "{message}; remove {} to make a new certificate",
                            dir.display()
                        ),
                    ),
                    other => other,
                };
                let id = read_files(&cert, &key, "kept certificate", "kept key").map_err(hint)?;
                acceptor_config(&id)
                    .map_err(|e| mismatch(&key, &cert, "kept key", "kept certificate", e))
                    .map_err(hint)?;
                return Ok(id);
            }
            let id = make()?;
            keep(&dir, &cert, &key, &id)?;
            Ok(id)
        }
    }
}

fn mismatch(key: &Path, cert: &Path, key_flag: &str, cert_flag: &str, e: Error) -> Error {
    Error::bad(
        format!("{key_flag} {}", key.display()),
        format!(
            "cannot serve it with the {cert_flag} {} ({e})",
            cert.display()
        ),
    )
}

/// Reads a PEM certificate chain and a PEM private key.
fn read_files(cert: &Path, key: &Path, cert_flag: &str, key_flag: &str) -> Result<Identity> {
    let named = |flag: &str, p: &Path| format!("{flag} {}", p.display());
    let read = |flag: &str, p: &Path| {
        std::fs::read(p).map_err(|e| Error::bad(named(flag, p), format!("cannot read it: {e}")))
    };
    let cert_bytes = read(cert_flag, cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::bad(
                named(cert_flag, cert),
                format!("not a PEM certificate: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::bad(
            named(cert_flag, cert),
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    let key_bytes = read(key_flag, key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        Error::bad(
            named(key_flag, key),
            format!("no PEM private key in it ({e})"),
        )
    })?;
    let cert_pem = String::from_utf8_lossy(&cert_bytes).into_owned();
    Ok(Identity {
        certs,
        key: key_der,
        cert_pem,
    })
}

/// A fresh self-signed certificate for [`NAMES`].
fn make() -> Result<Identity> {
    let fail = |e: rcgen::Error| Error::bad("tls", format!("cannot make a certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let mut params =
        rcgen::CertificateParams::new(NAMES.map(str::to_owned).to_vec()).map_err(fail)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookpit local certificate");
    let cert = params.self_signed(&key).map_err(fail)?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| Error::bad("tls", format!("cannot use the made key: {e}")))?;
    Ok(Identity {
        certs: vec![cert.der().clone()],
        key: key_der,
        cert_pem: cert.pem(),
    })
}

/// Writes a made identity into `dir` (the key readable by its owner only).
fn keep(dir: &Path, cert: &Path, key: &Path, id: &Identity) -> Result<()> {
    let fail = |p: &Path, e: std::io::Error| Error::DataDir {
        path: p.display().to_string(),
        message: format!("cannot keep the certificate: {e}"),
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let key_pem = match &id.key {
        PrivateKeyDer::Pkcs8(k) => pem_block("PRIVATE KEY", k.secret_pkcs8_der()),
        _ => return Err(Error::bad("tls", "the made key is not PKCS#8")),
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write as _;
    // the key first: a certificate without its key is never left behind alone
    let mut f = opts.open(key).map_err(|e| fail(key, e))?;
    f.write_all(key_pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| fail(key, e))?;
    std::fs::write(cert, &id.cert_pem).map_err(|e| fail(cert, e))?;
    Ok(())
}

/// A PEM block of `label` around `der`.
fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The rustls server config for `id`: ring, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.
pub fn acceptor_config(id: &Identity) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::bad("tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(id.certs.clone(), id.key.clone_key())
        .map_err(|e| Error::bad("tls", e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).unwrap();
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let d = std::env::temp_dir().join(format!("hookpit-tls-{tag}-{name}"));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_fingerprint_is_sha256_in_colon_separated_upper_case_pairs() {
        let f = fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF:"), "{f}");
    }

    #[test]
    fn a_made_certificate_is_kept_with_a_private_key_file_and_read_back_the_same() {
        let dir = temp("keep");
        let source = CertSource::SelfSigned {
            keep_in: Some(dir.clone()),
        };
        let first = load(&source).unwrap();
        let again = load(&source).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(acceptor_config(&again).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("tls/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let fresh = load(&CertSource::SelfSigned { keep_in: None }).unwrap();
        assert_ne!(fresh.fingerprint(), first.fingerprint());
    }

    #[test]
    fn a_broken_kept_key_is_refused_naming_it_and_the_way_out() {
        let dir = temp("broken");
        let source = CertSource::SelfSigned {
            keep_in: Some(dir.clone()),
        };
        load(&source).unwrap();
        std::fs::write(dir.join("tls/key.pem"), "junk").unwrap();
        let e = load(&source).unwrap_err().to_string();
        let key = dir.join("tls/key.pem");
        assert!(
            e.starts_with(&format!("kept key {}: ", key.display())),
            "{e}"
        );
        assert!(
            e.ends_with(&format!(
                "remove {} to make a new certificate",
                dir.join("tls").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_naming_the_key_file() {
        let dir = temp("mismatch");
        let a = load(&CertSource::SelfSigned {
            keep_in: Some(dir.join("a")),
        })
        .unwrap();
        let _ = load(&CertSource::SelfSigned {
            keep_in: Some(dir.join("b")),
        })
        .unwrap();
        let cert = dir.join("a/tls/cert.pem");
        let key = dir.join("b/tls/key.pem");
        let e = load(&CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("--tls-key {}", key.display())),
            "{e}"
        );
        assert!(!a.cert_pem.is_empty());
    }
}
