// The Tokio peer of the echo benchmark: current-thread runtime (one core,
// as the others), one task per connection; with WORKERS > 1 a multi-thread
// runtime of that many workers (the scaling sweep, experiments/lab/scaling.py).
//   tokio-echo PORT [WORKERS]   (prints "listening on PORT")
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let workers: usize = std::env::args().nth(2).and_then(|w| w.parse().ok()).unwrap_or(1);
    let rt = if workers > 1 {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_io().build().unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap()
    };
    rt.block_on(async move {
        let l = TcpListener::bind(format!("127.0.0.1:{}", port)).await.unwrap();
        println!("listening on {}", l.local_addr().unwrap().port());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        loop {
            let (mut s, _) = match l.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
