//! TLS for the Vanta client: the platform's trust roots are loaded at the
//! first certificate check, not when the client is built.
//!
//! Building an HTTPS client with the platform verifier reads and parses
//! every root certificate of the system (the bundle file and each file of
//! the certificate directory): about 290 files on a Debian host and several
//! milliseconds, paid by the first invocation even when the base URL is
//! plain HTTP (mock-vanta, the emulator). Here the verifier is the
//! platform's own, made on the first handshake and kept for the process:
//! against Vanta the cost moves to the first TLS connection, which needs it;
//! over plain HTTP it is never paid. Signatures inside the handshake are
//! checked with the crypto provider's algorithms, as the platform verifier
//! does.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The client configuration: TLS 1.2 and 1.3 with aws-lc-rs (what reqwest
/// uses by default), no client certificate, the platform's roots loaded on
/// first use.
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LazyPlatformVerifier {
                provider,
                verifier: OnceLock::new(),
            }))
            .with_no_client_auth(),
    )
}

/// The platform verifier, made on the first certificate check.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    /// The verifier, or why the roots could not be loaded.
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, String>>,
}

impl LazyPlatformVerifier {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new(self.provider.clone())
                    .map_err(|e| format!("cannot load the system's root certificates: {e}"))
            })
            .as_ref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_the_config_loads_no_roots() {
        let config = client_config().unwrap();
        let verifier = LazyPlatformVerifier {
            provider: config.crypto_provider().clone(),
            verifier: OnceLock::new(),
        };
        assert!(!verifier.supported_verify_schemes().is_empty());
        assert!(verifier.verifier.get().is_none(), "nothing loaded yet");
    }

    #[test]
    fn the_first_certificate_check_loads_the_platform_roots() {
        let verifier = LazyPlatformVerifier {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            verifier: OnceLock::new(),
        };
        // Not a certificate: the check fails, but only after the roots were
        // loaded (or their absence reported as a TLS error, not a panic).
        let e = verifier
            .verify_server_cert(
                &CertificateDer::from(vec![0u8; 8]),
                &[],
                &ServerName::try_from("api.vanta.com").unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        assert!(
            verifier.verifier.get().is_some(),
            "loaded on first use: {e}"
        );
    }
}
