//! The git source over smart HTTP and HTTPS. A small server in this test hands every request to
//! `git http-backend` (CGI, as a web server in front of git would), plainly or behind rustls
//! with a certificate made here; cvland's fetch must follow the branch through both, trust a
//! certificate only when the system's roots (here `SSL_CERT_FILE`) hold it, and say why not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cvlan_agent::source::git::fetch;
use cvlan_lab::git::WorkRepo;
use cvlan_schema::PublicKey;

/// Serves the repositories below `root` over HTTP (or HTTPS with `tls`) on a free port of
/// 127.0.0.1, one thread per connection, until the test process ends.
fn serve(root: &Path, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, tls) = (root.clone(), tls.clone());
            std::thread::spawn(move || {
                // A client that gives up mid-request (the untrusted-certificate case) only
                // ends its own connection.
                let _ = match tls {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).expect("tls session");
                        answer(&root, rustls::StreamOwned::new(conn, stream))
                    }
                    None => answer(&root, stream),
                };
            });
        }
    });
    addr
}

/// Reads one request from `stream`, runs `git http-backend` for it and writes its answer.
fn answer(root: &Path, stream: impl Read + Write) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len = header("content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = header(name) {
            cgi.env(var, value);
        }
    }
    let mut child = cgi.spawn()?;
    child.stdin.take().expect("stdin").write_all(&body)?;
    let output = child.wait_with_output()?;
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((0, 0));
    let cgi_headers = String::from_utf8_lossy(&output.stdout[..split.0]).into_owned();
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    for h in cgi_headers.lines().filter(|l| !l.is_empty()) {
        match h.strip_prefix("Status:") {
            Some(s) => status = s.trim().to_owned(),
            None => response.extend_from_slice(format!("{h}\r\n").as_bytes()),
        }
    }
    let payload = &output.stdout[split.1..];
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        payload.len()
    )?;
    stream.write_all(&response)?;
    stream.write_all(b"\r\n")?;
    stream.write_all(payload)?;
    stream.flush()
}

/// A chunked request body, decoded.
fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// `root/net` as a repository with `network.kdl` committed on `main` (`nodes` nodes); returns
/// the commit id.
fn commit(root: &Path, nodes: usize) -> String {
    let mut text = "network \"n\" { overlay \"100.64.0.0/10\"; }\n".to_owned();
    for i in 0..nodes {
        text.push_str(&format!(
            "node \"n{i}\" {{ public-key \"{}\"; }}\n",
            PublicKey([u8::try_from(i + 1).expect("few nodes"); 32]).to_base64()
        ));
    }
    WorkRepo::open(&root.join("net"))
        .and_then(|repo| repo.commit(&[("network.kdl", &text)]))
        .expect("git commits")
}

#[test]
fn plain_http_follows_the_branch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = commit(tmp.path(), 1);
    let addr = serve(tmp.path(), None);
    let url = format!("http://{addr}/net");
    let cache = tmp.path().join("cache");
    let got = fetch(&url, "main", "network.kdl", &cache).expect("fetch over http");
    assert_eq!(got.revision, first);
    assert!(got.checked.is_ok(), "{:?}", got.checked.diagnostics);

    let second = commit(tmp.path(), 2);
    let got = fetch(&url, "main", "network.kdl", &cache).expect("second fetch");
    assert_eq!(got.revision, second, "the new commit is seen");
    assert_eq!(got.checked.network.expect("network").nodes.len(), 2);

    let err = fetch(
        &format!("http://{addr}/missing"),
        "main",
        "network.kdl",
        &cache,
    )
    .expect_err("no such repository")
    .to_string();
    assert!(err.contains("missing"), "{err}");
}

/// Set in the child process that runs the HTTPS checks: the directory with the certificates.
const CHILD: &str = "CVLAN_TEST_HTTPS_DIR";

/// The system's trusted roots are read from the environment once per process, so the HTTPS
/// checks run in a child process of this test binary with `SSL_CERT_FILE` naming the
/// certificate made here.
#[test]
fn https_trusts_the_system_roots_only() {
    match std::env::var_os(CHILD) {
        None => {
            let tmp = tempfile::tempdir().expect("tempdir");
            for name in ["trusted", "untrusted"] {
                let mut params =
                    rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, format!("{name} git server"));
                let key = rcgen::KeyPair::generate().expect("key");
                let cert = params.self_signed(&key).expect("certificate");
                let dir = tmp.path();
                std::fs::write(dir.join(format!("{name}.der")), cert.der()).expect("write");
                std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
                std::fs::write(dir.join(format!("{name}.key")), key.serialize_der())
                    .expect("write");
            }
            let out = Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "https_trusts_the_system_roots_only",
                    "--nocapture",
                ])
                .env(CHILD, tmp.path())
                .env("SSL_CERT_FILE", tmp.path().join("trusted.pem"))
                .env_remove("SSL_CERT_DIR")
                .output()
                .expect("the child runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "child: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(dir) => https_checks(&PathBuf::from(dir)),
    }
}

fn https_checks(certs: &Path) {
    let tls = |name: &str| {
        let cert = std::fs::read(certs.join(format!("{name}.der"))).expect("cert");
        let key = std::fs::read(certs.join(format!("{name}.key"))).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .expect("server config");
        Some(Arc::new(config))
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = commit(tmp.path(), 1);
    let trusted = serve(tmp.path(), tls("trusted"));
    let got = fetch(
        &format!("https://{trusted}/net"),
        "main",
        "network.kdl",
        &tmp.path().join("cache"),
    )
    .expect("fetch over https from a trusted server");
    assert_eq!(got.revision, first);

    let untrusted = serve(tmp.path(), tls("untrusted"));
    let err = fetch(
        &format!("https://{untrusted}/net"),
        "main",
        "network.kdl",
        &tmp.path().join("cache2"),
    )
    .expect_err("a certificate no root vouches for is refused")
    .to_string();
    assert!(err.contains(&untrusted.to_string()), "{err}");
    assert!(err.contains("UnknownIssuer"), "the reason is named: {err}");
}
