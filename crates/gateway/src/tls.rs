//! STARTTLS for inbound SMTP: the configured certificate, or a self-signed one generated for the
//! gateway's hostname on first start (MTAs encrypt opportunistically and rarely verify, so a
//! self-signed certificate still keeps mail off the wire in clear text).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::GatewayConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::GatewayError;

/// The acceptor for STARTTLS, or None when STARTTLS is off.
pub fn acceptor(cfg: &GatewayConfig, base_dir: &Path) -> Result<Option<TlsAcceptor>, GatewayError> {
    if !cfg.starttls {
        return Ok(None);
    }
    let (cert_path, key_path) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => (base_dir.join(c), base_dir.join(k)),
        _ => {
            let dir = base_dir.join(&cfg.tls_dir);
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !c.exists() || !k.exists() {
                generate(&cfg.hostname, &dir, &c, &k)?;
            }
            (c, k)
        }
    };
    let tls_error = |path: &PathBuf, why: String| GatewayError::Tls {
        path: path.clone(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| tls_error(&cert_path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(&cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(&cert_path, "no certificate in the file".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(&key_path).map_err(|e| tls_error(&key_path, e.to_string()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(&cert_path, e.to_string()))?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn generate(hostname: &str, dir: &Path, cert: &Path, key: &Path) -> Result<(), GatewayError> {
    let fail = |why: String| GatewayError::Tls {
        path: dir.to_path_buf(),
        why,
    };
    let generated = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .map_err(|e| fail(format!("cannot generate a certificate: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    write_private(key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    std::fs::write(cert, generated.cert.pem()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(%hostname, dir = %dir.display(), "generated a self-signed TLS certificate");
    Ok(())
}

/// Writes a key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}
