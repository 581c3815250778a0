//! TLS material built from the config: the acceptor offered to clients (files,
//! or a certificate generated at start) and the connector used towards the
//! servers, with the certificate checks `backend.tls` asks for. Rebuilt on
//! every reload, so replaced certificate files take effect for new connections.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{BackendTlsMode, Config, ConfigError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the client-facing certificate came from.
#[derive(Clone)]
enum Origin {
    Files,
    /// Generated at start; kept over reloads while no files are configured, so
    /// clients that pinned it keep connecting.
    SelfSigned {
        cert: CertificateDer<'static>,
        key: Arc<PrivatePkcs8KeyDer<'static>>,
    },
}

/// What clients are offered after an SSLRequest.
pub struct FrontendTls {
    pub acceptor: TlsAcceptor,
    origin: Origin,
    /// SHA-256 of the leaf certificate, hex: for logs and the admin port.
    pub fingerprint: String,
}

impl fmt::Debug for FrontendTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrontendTls").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl FrontendTls {
    /// From `tls.cert`/`tls.key`, or a self-signed certificate (`previous`'s
    /// one if it had generated one already). None when TLS is switched off.
    pub fn load(config: &Config, previous: Option<&FrontendTls>) -> Result<Option<Self>, ConfigError> {
        let c = &config.tls;
        if !c.enabled {
            return Ok(None);
        }
        let (chain, key, origin) = if c.cert.is_empty() {
            let (cert, key) = match previous.map(|p| &p.origin) {
                Some(Origin::SelfSigned { cert, key }) => (cert.clone(), key.clone()),
                _ => self_signed().map_err(|e| ConfigError::new("tls", e))?,
            };
            let der = PrivateKeyDer::Pkcs8(key.clone_key());
            (vec![cert.clone()], der, Origin::SelfSigned { cert, key })
        } else {
            let chain = CertificateDer::pem_file_iter(&c.cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ConfigError::new("tls.cert", format!("cannot read {}: {e}", c.cert)))?;
            if chain.is_empty() {
                return Err(ConfigError::new("tls.cert", format!("{} holds no PEM certificate", c.cert)));
            }
            let key = PrivateKeyDer::from_pem_file(&c.key).map_err(|e| {
                ConfigError::new("tls.key", format!("cannot read a PEM private key from {}: {e}", c.key))
            })?;
            (chain, key, Origin::Files)
        };
        let fingerprint = hex::encode(Sha256::digest(&chain[0]));
        if matches!(origin, Origin::SelfSigned { .. })
            && !matches!(previous.map(|p| &p.origin), Some(Origin::SelfSigned { .. }))
        {
            tracing::info!(sha256 = %fingerprint, "TLS: no tls.cert configured, offering a self-signed certificate for localhost");
        }
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| ConfigError::new("tls", format!("the certificate and key do not make a TLS setup: {e}")))?;
        Ok(Some(Self { acceptor: TlsAcceptor::from(Arc::new(server)), origin, fingerprint }))
    }

    pub fn self_signed(&self) -> bool {
        matches!(self.origin, Origin::SelfSigned { .. })
    }
}

/// A certificate for `localhost` and the loopback addresses with a fresh key.
fn self_signed() -> Result<(CertificateDer<'static>, Arc<PrivatePkcs8KeyDer<'static>>), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    Ok((generated.cert.der().clone(), Arc::new(key)))
}

/// How the proxy speaks TLS to the servers.
pub struct BackendTls {
    pub mode: BackendTlsMode,
    pub connector: TlsConnector,
    /// The CA file's contents: a reload with other contents builds new pools.
    ca: Vec<u8>,
}

impl PartialEq for BackendTls {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode && self.ca == other.ca
    }
}

impl Eq for BackendTls {}

impl fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendTls").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl BackendTls {
    /// None when `backend.tls` is disabled.
    pub fn load(config: &Config) -> Result<Option<Arc<Self>>, ConfigError> {
        let mode = config.backend.tls;
        if mode == BackendTlsMode::Disabled {
            return Ok(None);
        }
        let provider = provider();
        let (verifier, ca): (Arc<dyn ServerCertVerifier>, Vec<u8>) = match mode {
            BackendTlsMode::Disabled | BackendTlsMode::Preferred | BackendTlsMode::Required => {
                (Arc::new(AnyCertificate(provider.signature_verification_algorithms)), Vec::new())
            }
            BackendTlsMode::VerifyCa | BackendTlsMode::VerifyIdentity => {
                let path = &config.backend.tls_ca;
                let ca = std::fs::read(path)
                    .map_err(|e| ConfigError::new("backend.tls_ca", format!("cannot read {path}: {e}")))?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&ca) {
                    let cert = cert.map_err(|e| ConfigError::new("backend.tls_ca", format!("{path}: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| ConfigError::new("backend.tls_ca", format!("{path}: unusable CA: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(ConfigError::new("backend.tls_ca", format!("{path} holds no PEM certificate")));
                }
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| ConfigError::new("backend.tls_ca", format!("{path}: {e}")))?;
                let verifier: Arc<dyn ServerCertVerifier> =
                    if mode == BackendTlsMode::VerifyCa { Arc::new(AnyName(webpki)) } else { webpki };
                (verifier, ca)
            }
        };
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::new("backend.tls", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(Arc::new(Self { mode, connector: TlsConnector::from(Arc::new(client)), ca })))
    }

    /// TLS is a must: a server that does not offer it is not connected to.
    pub fn required(&self) -> bool {
        self.mode != BackendTlsMode::Preferred
    }
}

/// The name a server's certificate is checked against: the host of `host:port`.
pub fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?} is not a TLS server name: {e}"))
}

/// `required`: encryption without authentication of the server, as the MySQL
/// client's REQUIRED mode. The handshake signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify_ca`: the chain must lead to the CA; the name is not checked
/// (servers are often reached by an address their certificate does not name).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain passed.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_generated_and_kept_over_reloads() {
        let config = Config::default();
        let first = FrontendTls::load(&config, None).expect("builds").expect("on by default");
        assert!(first.self_signed());
        let again = FrontendTls::load(&config, Some(&first)).expect("builds").expect("on");
        assert_eq!(first.fingerprint, again.fingerprint, "a reload keeps the generated certificate");
        let fresh = FrontendTls::load(&config, None).expect("builds").expect("on");
        assert_ne!(first.fingerprint, fresh.fingerprint);
    }

    #[test]
    fn missing_files_are_config_errors_with_their_key() {
        let mut config = Config::default();
        config.tls.cert = "/nonexistent/cert.pem".into();
        config.tls.key = "/nonexistent/key.pem".into();
        let err = FrontendTls::load(&config, None).expect_err("no such file");
        assert_eq!(err.path, "tls.cert");
        config.backend.tls = BackendTlsMode::VerifyCa;
        config.backend.tls_ca = "/nonexistent/ca.pem".into();
        let err = BackendTls::load(&config).expect_err("no such file");
        assert_eq!(err.path, "backend.tls_ca");
    }

    #[test]
    fn server_names_from_addresses() {
        assert!(matches!(server_name("127.0.0.1:3306"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]:3306"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("db1.example.com:3306"), Ok(ServerName::DnsName(_))));
    }
}
