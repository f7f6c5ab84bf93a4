//! The client side: pooled HTTP/1.1 connections to upstreams, TLS with the
//! system's roots plus any CA the operator adds (for internal upstreams),
//! and a connect timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::proxy::ProxyError;

/// The pooled client every forwarded request goes through.
pub(crate) type UpstreamClient = Client<HttpsConnector<HttpConnector>, crate::listen::TimedBody>;

/// A client trusting the system's roots and the certificates in `extra_ca`.
pub(crate) fn client(connect_timeout: Duration, extra_ca: &[std::path::PathBuf]) -> Result<UpstreamClient, ProxyError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate is skipped, as other TLS clients do.
        let _ = roots.add(cert);
    }
    for path in extra_ca {
        for cert in read_pem(path)? {
            roots
                .add(cert)
                .map_err(|e| ProxyError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .build(https))
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, ProxyError> {
    let bad = |e: String| ProxyError::Tls(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}
