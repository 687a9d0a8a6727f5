//! TLS on the wire: a server certificate from files, and mutual TLS that requires a client
//! certificate signed by a configured CA.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, TestApp};

/// A test CA, a server certificate for localhost and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "flexsettle test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = leaf(vec!["localhost".to_owned()]);
        let (client_cert_pem, client_key_pem) = leaf(vec!["billing.flextensie.test".to_owned()]);
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [("ca.pem", ca_cert.pem()), ("server.pem", server_cert_pem), ("server.key", server_key_pem)]
        {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { dir, ca_pem: ca_cert.pem(), client_cert_pem, client_key_pem }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    async fn spawn(&self, mutual: bool) -> TestApp {
        TestApp::spawn_with(Backend::Sqlite, |settings| {
            settings.tls.cert_file = Some(self.path("server.pem"));
            settings.tls.key_file = Some(self.path("server.key"));
            settings.tls.client_ca_file = mutual.then(|| self.path("ca.pem"));
        })
        .await
    }

    /// Checks health over TLS, presenting the client certificate or not.
    async fn health(&self, app: &TestApp, with_client_certificate: bool) -> Result<(), String> {
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem)).domain_name("localhost");
        if with_client_certificate {
            tls = tls.identity(Identity::from_pem(&self.client_cert_pem, &self.client_key_pem));
        }
        let address = app.address.replace("http://", "https://");
        let channel = Channel::from_shared(address)
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .map_err(|error| format!("connect: {error:?}"))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(drop)
            .map_err(|status| format!("call: {status:?}"))
    }
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_is_served_over_tls() {
    let pki = Pki::new();
    let app = pki.spawn(false).await;
    pki.health(&app, false).await.unwrap();
    // Plain text to a TLS port gets nothing.
    let mut plain = HealthClient::new(app.channel_lazy());
    assert!(plain.check(HealthCheckRequest { service: String::new() }).await.is_err());
}

#[tokio::test]
async fn mutual_tls_admits_a_client_certificate_and_refuses_a_client_without_one() {
    let pki = Pki::new();
    let app = pki.spawn(true).await;
    pki.health(&app, true).await.unwrap();
    assert!(pki.health(&app, false).await.is_err(), "a client without a certificate must be refused");
}
