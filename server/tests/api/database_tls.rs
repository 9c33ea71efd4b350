//! TLS to the database with its certificate checked, as the servers connect to
//! RDS (`sslmode=verify-full&sslrootcert=` the CA bundle the release ships):
//! against a cluster serving a certificate from a test CA, in a bundle with
//! another root as RDS's regional bundles are.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;
use tweetgen_pgharness::{ClusterOptions, PgCluster, Tls, SUPERUSER};

/// A certificate authority made with openssl for this test.
struct TestCa {
    dir: PathBuf,
    name: &'static str,
}

impl TestCa {
    fn new(dir: &Path, name: &'static str) -> Self {
        let ca = Self { dir: dir.to_path_buf(), name };
        openssl(
            dir,
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=tweetgen test {name} root CA"),
            ],
        );
        ca
    }

    fn pem(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.pem", self.name))).unwrap()
    }

    /// A server certificate for `dns_name` only (no IP address in it).
    fn issue(&self, dns_name: &str) -> Tls {
        let (dir, name) = (&self.dir, self.name);
        openssl(
            dir,
            &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
            &["-keyout", "server.key", "-out", "server.csr", "-subj", &format!("/CN={dns_name}")],
        );
        std::fs::write(dir.join("san.ext"), format!("subjectAltName=DNS:{dns_name}\n")).unwrap();
        openssl(
            dir,
            &["x509", "-req", "-in", "server.csr", "-CA", &format!("{name}.pem")],
            &[
                "-CAkey",
                &format!("{name}.key"),
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        Tls {
            certificate_pem: std::fs::read_to_string(dir.join("server.crt")).unwrap(),
            key_pem: std::fs::read_to_string(dir.join("server.key")).unwrap(),
        }
    }
}

fn openssl(dir: &Path, command: &[&str], arguments: &[&str]) {
    let output = Command::new("openssl").args(command).args(arguments).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "openssl {command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn the_database_certificate_is_checked_against_the_ca_bundle() {
    let dir = std::env::temp_dir().join(format!("tweetgen-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ours, other) = (TestCa::new(&dir, "ours"), TestCa::new(&dir, "other"));
    let cluster = PgCluster::start_with(ClusterOptions { tls: Some(ours.issue("localhost")), ..Default::default() })
        .expect("starting PostgreSQL with TLS");
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, other.pem() + &ours.pem()).unwrap();
    std::fs::write(dir.join("other-only.pem"), other.pem()).unwrap();
    let url = |host: &str, mode: &str, ca: &Path| {
        format!("postgres://{SUPERUSER}@{host}:{}/postgres?sslmode={mode}&sslrootcert={}", cluster.port(), ca.display())
    };

    // The name the certificate is for, a bundle that holds its root: encrypted and verified.
    let mut verified = sqlx::PgConnection::connect(&url("localhost", "verify-full", &bundle)).await.unwrap();
    let (ssl,): (bool,) = sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut verified)
        .await
        .unwrap();
    assert!(ssl, "the session is encrypted");

    // Another root, or another name: refused before anything is sent.
    for (host, ca, reason) in
        [("localhost", dir.join("other-only.pem"), "UnknownIssuer"), ("127.0.0.1", bundle.clone(), "NotValidForName")]
    {
        let refused = sqlx::PgConnection::connect(&url(host, "verify-full", &ca)).await;
        let error = format!("{:?}", refused.err());
        assert!(error.contains(&format!("InvalidCertificate({reason}")), "{host} with {}: {error}", ca.display());
    }
    // What sslmode=require accepts: encryption with any certificate (why the
    // release ships the bundle and the URL says verify-full).
    sqlx::PgConnection::connect(&url("127.0.0.1", "require", &dir.join("other-only.pem"))).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
