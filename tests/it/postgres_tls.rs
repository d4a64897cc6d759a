//! Keyport reaches PostgreSQL over TLS with `sslmode=verify-full`: against a throwaway
//! PostgreSQL started here (on a free port, stopped when the test ends) whose certificate comes
//! from a throwaway CA. A certificate from another CA, or for another host name, is refused.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use keyport::db::Db;

/// The cluster started by `scripts/test-postgres.sh`, stopped (and removed) when dropped.
struct Cluster {
    dir: std::path::PathBuf,
    port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-postgres.sh")
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`NAME-ca.crt`, `NAME-ca.key`) in `dir`.
fn certificate_authority(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.crt"),
        ])
        .args(["-subj", &format!("/CN=Keyport test CA {name}")]));
}

/// `server.crt` and `server.key` for `localhost` only, signed by CA `ca`.
fn server_certificate(dir: &Path, ca: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
        ])
        .args(["-out", "server.csr", "-subj", "/CN=localhost"]));
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-req", "-in", "server.csr", "-days", "2"])
        .args([
            "-CA",
            &format!("{ca}-ca.crt"),
            "-CAkey",
            &format!("{ca}-ca.key"),
        ])
        .args([
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
        ]));
}

async fn connect(url: &str) -> anyhow::Result<Db> {
    Db::connect(url).await
}

#[tokio::test]
async fn postgres_over_tls_with_verify_full() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    certificate_authority(&certs, "trusted");
    certificate_authority(&certs, "other");
    server_certificate(&certs, "trusted");

    let cluster = Cluster {
        dir: dir.path().join("pg"),
        port: crate::process::free_port(),
    };
    let started = Command::new(script())
        .args([
            "start",
            cluster.dir.to_str().unwrap(),
            &cluster.port.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let plain = String::from_utf8(started.stdout)
        .unwrap()
        .trim()
        .to_string();

    // The server's certificate and key go into its data folder, owned by its user.
    let data = cluster.dir.join("data");
    for file in ["server.crt", "server.key"] {
        std::fs::copy(certs.join(file), data.join(file)).unwrap();
    }
    let data_owner = std::fs::metadata(&data).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if let Ok(owner) = data_owner {
        run(Command::new("chown")
            .arg(format!("{owner}"))
            .arg(data.join("server.crt"))
            .arg(data.join("server.key")));
    }
    run(Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key")));
    let admin = connect(&plain).await.expect("plain connection for setup");
    for setting in [
        "alter system set ssl_cert_file = 'server.crt'",
        "alter system set ssl_key_file = 'server.key'",
        "alter system set ssl = on",
    ] {
        sqlx::query(setting).execute(admin.pool()).await.unwrap();
    }
    sqlx::query("select pg_reload_conf()")
        .execute(admin.pool())
        .await
        .unwrap();
    admin.close().await;

    let url = |host: &str, ca: &str| {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode=verify-full&sslrootcert={}",
            cluster.port,
            certs.join(format!("{ca}-ca.crt")).display()
        )
    };
    // The reload takes effect shortly.
    let deadline = Instant::now() + Duration::from_secs(30);
    let db = loop {
        match connect(&url("localhost", "trusted")).await {
            Ok(db) => break db,
            Err(e) => {
                assert!(Instant::now() < deadline, "TLS connection: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    db.migrate().await.expect("migrations over TLS");
    let encrypted: bool =
        sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(encrypted, "the connection is encrypted");
    db.close().await;

    // Another CA's root, or a host name the certificate does not name: refused.
    let other = connect(&url("localhost", "other")).await;
    assert!(
        other.is_err(),
        "a certificate from an unknown CA is refused"
    );
    let wrong_host = connect(&url("127.0.0.1", "trusted")).await;
    assert!(
        wrong_host.is_err(),
        "a certificate for another host is refused"
    );
}
