// The Tokio+hyper peer of the HTTP benchmark (experiments/http/http_bench.py):
// hyper 0.14's HTTP/1.1 server on a current-thread Tokio runtime (one core,
// as every server of the benchmark), one task per connection, serving the
// TechEmpower routes: GET /plaintext (text/plain, "Hello, World!") and
// GET /json (application/json, {"message":"Hello, World!"} serialized by
// serde_json per request). With TLS_PORT, CERT and KEY it also serves HTTPS
// through tokio-rustls on that port.
//   hyper-http PORT [TLS_PORT CERT KEY]   (prints "listening on PORT" per port)
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::Http;
use hyper::service::service_fn;
use hyper::{Body, Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

async fn route(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let (ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => ("text/plain", Body::from("Hello, World!")),
        (&Method::GET, "/json") => (
            "application/json",
            Body::from(serde_json::to_vec(&serde_json::json!({"message": "Hello, World!"})).unwrap()),
        ),
        _ => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_FOUND;
            return Ok(r);
        }
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
            Some(rustls_pemfile::Item::PKCS8Key(k)) | Some(rustls_pemfile::Item::RSAKey(k))
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.get(1).cloned().unwrap_or_else(|| "0".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let plain = TcpListener::bind(format!("127.0.0.1:{}", port)).await.unwrap();
        println!("listening on {}", plain.local_addr().unwrap().port());
        if args.len() >= 5 {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&args[3], &args[4])));
            let tls = TcpListener::bind(format!("127.0.0.1:{}", args[2])).await.unwrap();
            println!("listening on {}", tls.local_addr().unwrap().port());
            tokio::spawn(async move {
                loop {
                    let (s, _) = match tls.accept().await {
                        Ok(x) => x,
                        Err(_) => continue,
                    };
                    let _ = s.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(t) = acceptor.accept(s).await {
                            let _ = Http::new().http1_only(true).serve_connection(t, service_fn(route)).await;
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
            tokio::spawn(async move {
                let _ = Http::new().http1_only(true).serve_connection(s, service_fn(route)).await;
            });
        }
    });
}
