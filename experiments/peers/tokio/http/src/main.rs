// The Tokio+hyper peer of the HTTP benchmark (experiments/http/http_bench.py):
// hyper 0.14's HTTP/1.1 server on a current-thread Tokio runtime (one core,
// as every server of the benchmark), one task per connection, serving the
// TechEmpower routes: GET /plaintext (text/plain, "Hello, World!") and
// GET /json (application/json, {"message":"Hello, World!"} serialized by
// serde_json per request). With TLS_PORT, CERT and KEY it also serves HTTPS
// through tokio-rustls on that port.
//
// With --upstream HOST:PORT it also serves the upstream routes, as a hyper
// user writes them, through one hyper::Client (HttpConnector, keeping up to
// 1,024 idle keep-alive connections to the upstream):
//   - /proxy/<path> (any method): forwarded to the upstream as /<path>
//     (query kept, request body streamed through, hop-by-hop fields dropped
//     both ways, response body streamed back); 502 when the upstream fails,
//     504 when its response head has not come within --upstream-timeout-ms
//     (default 5000; connecting included), by tokio::time::timeout.
//   - GET /fanout?n=N (1..64, default 4; another n is 400): N GETs of the
//     upstream's /json at once (futures' join_all on this connection's
//     task), all under one tokio::time::timeout of --fanout-deadline-ms
//     (default 1000); 200 with {"results":[b1,...,bN]} (the upstream's
//     bodies verbatim, in request order) as application/json, 504 at the
//     deadline, 502 when an upstream request fails or answers other than 200.
// Without --upstream, /proxy/ and /fanout answer 502 (no upstream).
//
//   hyper-http [--upstream HOST:PORT] [--upstream-timeout-ms MS] [--fanout-deadline-ms MS]
//              PORT [TLS_PORT CERT KEY]   (prints "listening on PORT" per port)
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hyper::body::Bytes;
use hyper::client::HttpConnector;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, HOST, SERVER};
use hyper::server::conn::Http;
use hyper::service::service_fn;
use hyper::{Body, Client, Method, Request, Response, StatusCode, Uri, Version};
use tokio::net::TcpListener;
use tokio::time::timeout;

/// The upstream of /proxy/ and /fanout, and the pooled client to it.
struct Upstream {
    client: Client<HttpConnector>,
    authority: String,
    json: Uri,
    timeout: Duration,
    fanout_deadline: Duration,
}

impl Upstream {
    fn new(authority: String, timeout: Duration, fanout_deadline: Duration) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder().pool_max_idle_per_host(1024).build(connector);
        let json = format!("http://{}/json", authority).parse().expect("--upstream HOST:PORT");
        Upstream { client, authority, json, timeout, fanout_deadline }
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

/// Removes the hop-by-hop fields (RFC 9110 section 7.6.1): those the
/// Connection field names, and the fixed list. hyper frames each side's
/// body itself (Content-Length kept, else chunked).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

/// /proxy/<path> forwarded to the upstream as /<path>, bodies streamed.
async fn proxy(up: &Upstream, req: Request<Body>) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = target.strip_prefix("/proxy").unwrap_or(target);
    parts.uri = match Uri::builder().scheme("http").authority(up.authority.as_str()).path_and_query(target).build() {
        Ok(u) => u,
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(HOST, HeaderValue::from_str(&up.authority).expect("--upstream HOST:PORT"));
    match timeout(up.timeout, up.client.request(Request::from_parts(parts, body))).await {
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body)
        }
        Ok(Err(_)) => status(StatusCode::BAD_GATEWAY),
        Err(_) => status(StatusCode::GATEWAY_TIMEOUT),
    }
}

/// n from /fanout's query: absent is 4; 1..64, else None (400).
fn fanout_n(query: Option<&str>) -> Option<usize> {
    match query.unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("n=")) {
        None => Some(4),
        Some(v) => v.parse().ok().filter(|n| (1..=64).contains(n)),
    }
}

/// One upstream /json, its body read whole.
async fn get_json(up: &Upstream) -> Result<Bytes, StatusCode> {
    let resp = up.client.get(up.json.clone()).await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    if resp.status() != StatusCode::OK {
        return Err(StatusCode::BAD_GATEWAY);
    }
    hyper::body::to_bytes(resp.into_body()).await.map_err(|_| StatusCode::BAD_GATEWAY)
}

/// GET /fanout?n=N: N upstream /json requests at once under one deadline,
/// their bodies merged in request order.
async fn fanout(up: &Upstream, query: Option<&str>) -> Response<Body> {
    let n = match fanout_n(query) {
        Some(n) => n,
        None => return status(StatusCode::BAD_REQUEST),
    };
    let results = match timeout(up.fanout_deadline, join_all((0..n).map(|_| get_json(up)))).await {
        Ok(results) => results,
        Err(_) => return status(StatusCode::GATEWAY_TIMEOUT),
    };
    let mut out = Vec::with_capacity(16 + n * 32);
    out.extend_from_slice(b"{\"results\":[");
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(b) => {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&b);
            }
            Err(code) => return status(code),
        }
    }
    out.extend_from_slice(b"]}");
    let mut r = Response::new(Body::from(out));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(SERVER, HeaderValue::from_static("hyper"));
    r
}

async fn route(up: Option<Arc<Upstream>>, req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    if path.starts_with("/proxy/") {
        return Ok(match up {
            Some(up) => proxy(&up, req).await,
            None => status(StatusCode::BAD_GATEWAY),
        });
    }
    if path == "/fanout" {
        return Ok(match (req.method(), up) {
            (&Method::GET, Some(up)) => fanout(&up, req.uri().query()).await,
            (&Method::GET, None) => status(StatusCode::BAD_GATEWAY),
            _ => status(StatusCode::METHOD_NOT_ALLOWED),
        });
    }
    let (ctype, body) = match (req.method(), path) {
        (&Method::GET, "/plaintext") => ("text/plain", Body::from("Hello, World!")),
        (&Method::GET, "/json") => (
            "application/json",
            Body::from(serde_json::to_vec(&serde_json::json!({"message": "Hello, World!"})).unwrap()),
        ),
        _ => return Ok(status(StatusCode::NOT_FOUND)),
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut().insert(SERVER, HeaderValue::from_static("hyper"));
    Ok(r)
}

fn tls_config(cert: &str, key: &str) -> tokio_rustls::rustls::ServerConfig {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(cert).unwrap()))
        .unwrap()
        .into_iter()
        .map(tokio_rustls::rustls::Certificate)
        .collect();
    let mut rd = std::io::BufReader::new(std::fs::File::open(key).unwrap());
    let key = loop {
        match rustls_pemfile::read_one(&mut rd).unwrap() {
            Some(rustls_pemfile::Item::PKCS8Key(k))
            | Some(rustls_pemfile::Item::RSAKey(k))
            | Some(rustls_pemfile::Item::ECKey(k)) => break k,
            Some(_) => continue,
            None => panic!("no private key in {}", key),
        }
    };
    tokio_rustls::rustls::ServerConfig::builder()
        .with_safe_defaults()
        .with_no_client_auth()
        .with_single_cert(certs, tokio_rustls::rustls::PrivateKey(key))
        .unwrap()
}

/// Splits `--name value` options from the positional arguments.
fn parse_args() -> (Vec<String>, Option<String>, Duration, Duration) {
    let (mut pos, mut upstream, mut up_ms, mut fan_ms) = (Vec::new(), None, 5000, 1000);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{} needs a value", name));
        match a.as_str() {
            "--upstream" => upstream = Some(value("--upstream")),
            "--upstream-timeout-ms" => up_ms = value("--upstream-timeout-ms").parse().expect("milliseconds"),
            "--fanout-deadline-ms" => fan_ms = value("--fanout-deadline-ms").parse().expect("milliseconds"),
            _ => pos.push(a),
        }
    }
    (pos, upstream, Duration::from_millis(up_ms), Duration::from_millis(fan_ms))
}

fn main() {
    let (args, upstream, up_timeout, fanout_deadline) = parse_args();
    let port = args.first().cloned().unwrap_or_else(|| "0".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        // Built inside the runtime: the client's pool spawns its tasks on it.
        let up = upstream.map(|a| Arc::new(Upstream::new(a, up_timeout, fanout_deadline)));
        let plain = TcpListener::bind(format!("127.0.0.1:{}", port)).await.unwrap();
        println!("listening on {}", plain.local_addr().unwrap().port());
        if args.len() >= 4 {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&args[2], &args[3])));
            let tls = TcpListener::bind(format!("127.0.0.1:{}", args[1])).await.unwrap();
            println!("listening on {}", tls.local_addr().unwrap().port());
            let up = up.clone();
            tokio::spawn(async move {
                loop {
                    let (s, _) = match tls.accept().await {
                        Ok(x) => x,
                        Err(_) => continue,
                    };
                    let _ = s.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let up = up.clone();
                    tokio::spawn(async move {
                        if let Ok(t) = acceptor.accept(s).await {
                            let service = service_fn(move |req| route(up.clone(), req));
                            let _ = Http::new().http1_only(true).serve_connection(t, service).await;
                        }
                    });
                }
            });
        }
        std::io::stdout().flush().unwrap();
        loop {
            let (s, _) = match plain.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = s.set_nodelay(true);
            let up = up.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| route(up.clone(), req));
                let _ = Http::new().http1_only(true).serve_connection(s, service).await;
            });
        }
    });
}
