//! STARTTLS for inbound SMTP: the configured certificate, or a self-signed one generated for the
//! gateway's hostname on first start (MTAs encrypt opportunistically and rarely verify, so a
//! self-signed certificate still keeps mail off the wire in clear text).

use std::path::Path;
use std::sync::Arc;

use crate::config::{GatewayConfig, SpamdConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::GatewayError;

/// The acceptor for STARTTLS, or None when STARTTLS is off.
pub fn acceptor(cfg: &GatewayConfig, base_dir: &Path) -> Result<Option<TlsAcceptor>, GatewayError> {
    if !cfg.starttls {
        return Ok(None);
    }
    let (certs, key) = certificate(cfg, base_dir)?;
    server(certs, key, None).map(Some)
}

/// The acceptor for the spamd listener: its own certificate or the gateway's, and, with
/// `client_ca`, a client certificate required of every client.
pub fn spamd_acceptor(
    spamd: &SpamdConfig,
    gateway: &GatewayConfig,
    base_dir: &Path,
) -> Result<Option<TlsAcceptor>, GatewayError> {
    if !spamd.tls {
        return Ok(None);
    }
    let (certs, key) = match (&spamd.tls_cert, &spamd.tls_key) {
        (Some(c), Some(k)) => read_pair(&base_dir.join(c), &base_dir.join(k))?,
        _ => certificate(gateway, base_dir)?,
    };
    let client_ca = spamd.client_ca.as_ref().map(|p| base_dir.join(p));
    server(certs, key, client_ca.as_deref()).map(Some)
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The gateway's certificate: configured, or generated for its hostname on first start.
fn certificate(cfg: &GatewayConfig, base_dir: &Path) -> Result<CertAndKey, GatewayError> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => read_pair(&base_dir.join(c), &base_dir.join(k)),
        _ => {
            let dir = base_dir.join(&cfg.tls_dir);
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !c.exists() || !k.exists() {
                generate(&cfg.hostname, &dir, &c, &k)?;
            }
            read_pair(&c, &k)
        }
    }
}

fn tls_error(path: &Path, why: String) -> GatewayError {
    GatewayError::Tls {
        path: path.to_path_buf(),
        why,
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(path, "no certificate in the file".into()));
    }
    Ok(certs)
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<CertAndKey, GatewayError> {
    let certs = read_certs(cert_path)?;
    let key =
        PrivateKeyDer::from_pem_file(key_path).map_err(|e| tls_error(key_path, e.to_string()))?;
    Ok((certs, key))
}

fn server(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&Path>,
) -> Result<TlsAcceptor, GatewayError> {
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| tls_error(ca, e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| tls_error(ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(Path::new("(certificate and key)"), e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
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
