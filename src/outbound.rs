//! Outbound HTTPS: small GET and POST requests to other servers (a JWKS URL, an event
//! receiver), made safely by default. Certificates are checked against Mozilla's roots, bundled
//! in the binary, plus an optional extra CA file (a private CA, or a test's own certificate);
//! every request has a timeout covering connect, TLS, headers and body; the response body is
//! capped; and a redirect is followed only to the same scheme, host and port, a few times.
//!
//! One HTTP/1.1 connection per request (`Connection: close`): the callers make a request now
//! and then, so a pool would only keep sockets open to other people's servers.
//!
//! ```no_run
//! # async fn f() -> Result<(), scimbox::outbound::FetchError> {
//! use scimbox::outbound::{Limits, Outbound};
//! let out = Outbound::new(None)?;
//! let r = out.get("https://login.example.com/keys", &Limits::default()).await?;
//! assert_eq!(r.status, 200);
//! # Ok(()) }
//! ```

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Redirects followed at most, all to the request's own origin.
const MAX_REDIRECTS: usize = 3;

/// Bounds on one request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole exchange (connect, TLS, request, response headers and body).
    pub timeout: Duration,
    /// The most response-body bytes read; a longer body is [`FetchError::TooLarge`].
    pub max_bytes: usize,
    /// Allow plain `http://` URLs too (off by default: only HTTPS).
    pub allow_http: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            allow_http: false,
        }
    }
}

/// What the other server answered. Any status is a response; only transport trouble is an
/// error.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request got no response. The text never holds a request body or header value.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// The URL cannot be used (not absolute, not https, user info in it...).
    Url(String),
    /// DNS, TCP, TLS (including a certificate that does not verify) or HTTP trouble.
    Connect(String),
    Timeout,
    /// The response body is over `Limits::max_bytes`.
    TooLarge,
    /// A redirect to another origin, or too many redirects.
    Redirect(String),
    /// The extra CA file cannot be read or holds no certificate.
    Config(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Url(d) => write!(f, "unusable URL: {d}"),
            FetchError::Connect(d) => write!(f, "request failed: {d}"),
            FetchError::Timeout => f.write_str("no complete answer in time"),
            FetchError::TooLarge => f.write_str("the answer is over the size limit"),
            FetchError::Redirect(d) => write!(f, "redirect refused: {d}"),
            FetchError::Config(d) => f.write_str(d),
        }
    }
}

impl std::error::Error for FetchError {}

/// The client: a TLS configuration, cheap to clone and shared by all requests.
#[derive(Clone)]
pub struct Outbound {
    tls: TlsConnector,
}

/// Scheme, host and port of a URL, and what goes on the request line.
struct Target {
    https: bool,
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    path_and_query: String,
}

fn parse(url: &str, limits: &Limits) -> Result<Target, FetchError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| FetchError::Url("not a URL".into()))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if limits.allow_http => false,
        Some("http") => return Err(FetchError::Url("it must be https".into())),
        _ => return Err(FetchError::Url("it must start with https://".into())),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| FetchError::Url("it has no host".into()))?;
    if authority.as_str().contains('@') {
        return Err(FetchError::Url("it must not carry user info".into()));
    }
    let host = authority.host().trim_matches(['[', ']']).to_string();
    if host.is_empty() {
        return Err(FetchError::Url("it has no host".into()));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Target {
        https,
        host,
        port,
        authority: authority.as_str().to_string(),
        path_and_query: uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string()),
    })
}

impl Outbound {
    /// A client trusting the bundled roots and, if given, every certificate in the PEM file
    /// `extra_ca`. Fails only when that file cannot be read or holds no certificate.
    pub fn new(extra_ca: Option<&Path>) -> Result<Outbound, FetchError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca {
            let shown = path.display();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| FetchError::Config(format!("cannot read the CA file {shown}: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| FetchError::Config(format!("the CA file {shown}: {e}")))?;
            if certs.is_empty() {
                return Err(FetchError::Config(format!(
                    "the CA file {shown} holds no PEM certificate"
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    FetchError::Config(format!("the CA file {shown} has a bad certificate: {e}"))
                })?;
            }
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Config(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Outbound {
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// GETs `url`, following redirects within its origin.
    pub async fn get(&self, url: &str, limits: &Limits) -> Result<Response, FetchError> {
        self.send(Method::GET, url, None, &[], limits).await
    }

    /// POSTs `body` as `content_type` with extra `headers` (e.g. a signature). A 307 or 308
    /// within the origin is followed with the same body; any other redirect is returned as
    /// the response.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
        limits: &Limits,
    ) -> Result<Response, FetchError> {
        let mut all = Vec::with_capacity(headers.len() + 1);
        all.push(("content-type", content_type));
        all.extend_from_slice(headers);
        self.send(Method::POST, url, Some(Bytes::from(body)), &all, limits)
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        headers: &[(&str, &str)],
        limits: &Limits,
    ) -> Result<Response, FetchError> {
        let work = async {
            let mut target = parse(url, limits)?;
            for _ in 0..=MAX_REDIRECTS {
                let (resp, location) = self
                    .once(&method, &target, body.clone(), headers, limits)
                    .await?;
                let follow = match resp.status {
                    307 | 308 => true,
                    301..=303 => method == Method::GET,
                    _ => false,
                };
                let Some(location) = location.filter(|_| follow) else {
                    return Ok(resp);
                };
                let next = resolve(&target, &location, limits)?;
                if (next.https, &next.host, next.port) != (target.https, &target.host, target.port)
                {
                    return Err(FetchError::Redirect(format!(
                        "to another host ({})",
                        next.authority
                    )));
                }
                target = next;
            }
            Err(FetchError::Redirect("too many redirects".into()))
        };
        tokio::time::timeout(limits.timeout, work)
            .await
            .map_err(|_| FetchError::Timeout)?
    }

    /// One request on a fresh connection: the response and its `Location`, if any.
    async fn once(
        &self,
        method: &Method,
        target: &Target,
        body: Option<Bytes>,
        headers: &[(&str, &str)],
        limits: &Limits,
    ) -> Result<(Response, Option<String>), FetchError> {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                FetchError::Connect(format!("cannot connect to {}: {e}", target.authority))
            })?;
        let _ = tcp.set_nodelay(true);
        if target.https {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| FetchError::Url("its host is not a valid name".into()))?;
            let tls =
                self.tls.connect(name, tcp).await.map_err(|e| {
                    FetchError::Connect(format!("TLS with {}: {e}", target.authority))
                })?;
            exchange(TokioIo::new(tls), method, target, body, headers, limits).await
        } else {
            exchange(TokioIo::new(tcp), method, target, body, headers, limits).await
        }
    }
}

/// A `Location` value (absolute, or a path on the same origin) as a target.
fn resolve(from: &Target, location: &str, limits: &Limits) -> Result<Target, FetchError> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(Target {
            https: from.https,
            host: from.host.clone(),
            port: from.port,
            authority: from.authority.clone(),
            path_and_query: location.to_string(),
        });
    }
    parse(location, limits).map_err(|_| FetchError::Redirect("to an unusable URL".into()))
}

async fn exchange<T>(
    io: TokioIo<T>,
    method: &Method,
    target: &Target,
    body: Option<Bytes>,
    headers: &[(&str, &str)],
    limits: &Limits,
) -> Result<(Response, Option<String>), FetchError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| FetchError::Connect(format!("HTTP: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http)?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method.clone())
        .uri(target.path_and_query.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::CONNECTION, "close")
        .header(
            header::USER_AGENT,
            concat!("scimbox/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            FetchError::Url(format!("header {name} has a value that cannot be sent"))
        })?;
        req = req.header(*name, value);
    }
    let req = req
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|e| FetchError::Url(format!("cannot build the request: {e}")))?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status().as_u16();
        let text = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = text(header::CONTENT_TYPE);
        let location = text(header::LOCATION);
        if let Some(len) = text(header::CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok())
            && len > limits.max_bytes
        {
            return Err(FetchError::TooLarge);
        }
        let body = Limited::new(resp.into_body(), limits.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    FetchError::TooLarge
                } else {
                    FetchError::Connect(format!("reading the answer: {e}"))
                }
            })?
            .to_bytes()
            .to_vec();
        Ok((
            Response {
                status,
                content_type,
                body,
            },
            location,
        ))
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;

    /// A certificate for 127.0.0.1 and localhost, as PEM, with its TLS acceptor.
    fn loopback_cert() -> (String, TlsAcceptor) {
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let pem = cert.cert.pem();
        let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        (pem, TlsAcceptor::from(Arc::new(config)))
    }

    /// Serves each connection `answer(request head and body)` over TLS; returns the port.
    async fn serve(acceptor: TlsAcceptor, answer: fn(&str) -> String) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    // Read the head, then as much body as Content-Length says.
                    loop {
                        let n = tls.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&got).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                break;
                            }
                        }
                    }
                    let reply = answer(&String::from_utf8_lossy(&got));
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn ca_file(pem: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, pem.as_bytes()).unwrap();
        f
    }

    #[tokio::test]
    async fn get_and_post_reach_a_loopback_server_trusted_by_the_extra_ca() {
        let (pem, acceptor) = loopback_cert();
        let port = serve(acceptor, |req| {
            if req.starts_with("POST /hook ") {
                let body = req.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let signed = req.to_ascii_lowercase().contains("x-signature: abc");
                ok(&format!("{{\"echo\":{body},\"signed\":{signed}}}"))
            } else if req.starts_with("GET /moved ") {
                "HTTP/1.1 302 Found\r\nlocation: /keys\r\ncontent-length: 0\r\n\r\n".into()
            } else if req.starts_with("GET /away ") {
                "HTTP/1.1 302 Found\r\nlocation: https://localhost:1/keys\r\ncontent-length: 0\r\n\r\n"
                    .into()
            } else if req.starts_with("GET /big ") {
                ok(&"x".repeat(5000))
            } else {
                ok("{\"keys\":[]}")
            }
        })
        .await;
        let ca = ca_file(&pem);
        let out = Outbound::new(Some(ca.path())).unwrap();
        let limits = Limits::default();
        let base = format!("https://127.0.0.1:{port}");

        let r = out.get(&format!("{base}/keys"), &limits).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"keys\":[]}");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));

        let r = out
            .post(
                &format!("{base}/hook"),
                "application/json",
                b"{\"a\":1}".to_vec(),
                &[("x-signature", "abc")],
                &limits,
            )
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "{\"echo\":{\"a\":1},\"signed\":true}"
        );

        // A redirect within the origin is followed; one to another host is refused.
        let r = out.get(&format!("{base}/moved"), &limits).await.unwrap();
        assert_eq!(r.body, b"{\"keys\":[]}");
        let e = out.get(&format!("{base}/away"), &limits).await.unwrap_err();
        assert!(matches!(e, FetchError::Redirect(_)), "{e:?}");

        let small = Limits {
            max_bytes: 1000,
            ..Limits::default()
        };
        let e = out.get(&format!("{base}/big"), &small).await.unwrap_err();
        assert_eq!(e, FetchError::TooLarge);
    }

    #[tokio::test]
    async fn an_untrusted_certificate_plain_http_and_a_silent_server_are_errors() {
        let (_, acceptor) = loopback_cert();
        let port = serve(acceptor, |_| ok("{}")).await;
        // Without the extra CA the self-signed certificate does not verify.
        let out = Outbound::new(None).unwrap();
        let e = out
            .get(&format!("https://127.0.0.1:{port}/"), &Limits::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, FetchError::Connect(d) if d.contains("TLS")),
            "{e:?}"
        );

        let e = out
            .get("http://127.0.0.1:1/", &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Url(_)), "{e:?}");
        let e = out
            .get("https://user:pw@127.0.0.1/", &Limits::default())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Url(_)), "{e:?}");

        // A server that accepts and never answers runs into the timeout.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = silent.accept().await {
                held.push(tcp);
            }
        });
        let quick = Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let e = out
            .get(&format!("https://127.0.0.1:{silent_port}/"), &quick)
            .await
            .unwrap_err();
        assert_eq!(e, FetchError::Timeout);
        hold.abort();

        let missing = Outbound::new(Some(Path::new("/nonexistent/ca.pem")));
        assert!(matches!(missing, Err(FetchError::Config(_))));
    }
}
