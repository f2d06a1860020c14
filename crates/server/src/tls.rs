//! HTTPS for a server reached over a LAN: browsers give a page the microphone only in a secure
//! context (https, or `localhost`), so the web page's dictation needs TLS unless a reverse
//! proxy provides it. The certificate chain and key are PEM files, read and checked before
//! anything else starts, so that a wrong path or a key of another certificate is one line at
//! start rather than a failed handshake later.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServeError;

/// A certificate chain and its private key, loaded and checked: what `ServeOptions::tls`
/// serves HTTPS and WSS with.
#[derive(Clone)]
pub struct Tls {
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads `cert` (PEM: the server's certificate first, then its chain) and `key` (PEM:
    /// PKCS#8, PKCS#1 or SEC1) and checks that the key is the certificate's.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, ServeError> {
        let problem = |path: &Path, what: String| {
            ServeError::InvalidOption(format!("TLS: {}: {what}", path.display()))
        };
        let read =
            |path: &Path| std::fs::read(path).map_err(|e| problem(path, rech_asr::describe_io(&e)));
        let cert_pem = read(cert)?;
        let key_pem = read(key)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| problem(cert, format!("not a PEM certificate chain ({e})")))?;
        if chain.is_empty() {
            return Err(problem(
                cert,
                "holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            problem(
                key,
                format!("holds no private key in PEM (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        // ring is already in the build (ureq's downloads); aws-lc-rs, which rustls 0.23.48
        // deprecates ring's provider in favour of for its post-quantum key exchange, needs
        // cmake and nasm to build. Classical key exchange is what browsers on a LAN expect.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::InvalidOption(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|e| {
                ServeError::InvalidOption(format!(
                    "TLS: the key in {} does not go with the certificate in {}: {e}",
                    key.display(),
                    cert.display()
                ))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }
}
