//! The Tokio peer: the lab's shared tests (experiments/lab/experiments.py),
//! printed as JSONL records.
//!
//!   tokio-peer rss|spawn_seq|spawn_conc|spawn_inc|yield|waits N
//!
//! Workers: a multi-thread runtime with 1 worker for rss, spawn_seq, yield
//! and waits; with one worker per CPU for spawn_conc and spawn_inc. The
//! spawning loop runs inside a spawned task (as duet's root task does).
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// Counts the bytes the process allocates (for the waits test).
struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn emit(exp: &str, metric: &str, v: f64, unit: &str, n: usize, method: &str) {
    println!(
        "{{\"experiment\":\"{}\",\"impl\":\"tokio\",\"metric\":\"{}\",\"value\":{},\"unit\":\"{}\",\"n\":{},\"method\":\"{}, tokio 1.x (Debian)\"}}",
        exp, metric, v, unit, n, method
    );
}

fn rss_bytes() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let res: f64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    res * 4096.0
}

fn rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).build().unwrap()
}

fn test_rss(n: usize) {
    let rt = rt(1);
    rt.block_on(async {
        let gate = Arc::new(Notify::new());
        let parked = Arc::new(AtomicUsize::new(0));
        let r0 = rss_bytes();
        let t0 = Instant::now();
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let g = gate.clone();
            let p = parked.clone();
            hs.push(tokio::spawn(async move {
                let notified = g.notified();
                p.fetch_add(1, Ordering::Relaxed);
                notified.await;
            }));
        }
        while parked.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let el = t0.elapsed().as_nanos() as f64;
        let r1 = rss_bytes();
        gate.notify_waiters();
        for h in hs {
            h.await.unwrap();
        }
        let m = "RSS (/proc/self/statm) after N tasks parked on a Notify minus before (handles included), 1 worker";
        emit("rss", "rss_per_task", (r1 - r0) / n as f64, "B", n, m);
        emit("rss", "rss_delta", r1 - r0, "B", n, m);
        emit("rss", "spawn_park_time", el / n as f64, "ns", n, "time to spawn N and see all parked, per task");
    });
}

fn test_seq(n: usize) {
    let rt = rt(1);
    rt.block_on(async { tokio::spawn(async move {
        let pass = || async {
            let mut s = 0usize;
            for i in 0..n {
                s += tokio::spawn(async move { i + 1 }).await.unwrap();
            }
            s
        };
        let t0 = Instant::now();
        pass().await;
        let cold = t0.elapsed().as_nanos() as f64;
        let t0 = Instant::now();
        pass().await;
        let warm = t0.elapsed().as_nanos() as f64;
        let m = "tokio::spawn a child, await its JoinHandle, N times, 1 worker";
        emit("spawn_seq", "time_per_op", warm / n as f64, "ns", n, &format!("{}, warm (second pass)", m));
        emit("spawn_seq", "time_per_op_cold", cold / n as f64, "ns", n, &format!("{}, cold (first pass)", m));
    }).await.unwrap() });
}

fn test_conc(name: &str, n: usize) {
    let w = std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1);
    let rt = rt(w);
    let name = name.to_string();
    rt.block_on(async { tokio::spawn(async move {
        let counter = Arc::new(AtomicUsize::new(0));
        let pass = || {
            let counter = counter.clone();
            async move {
                let t0 = Instant::now();
                let mut hs = Vec::with_capacity(n);
                for _ in 0..n {
                    let c = counter.clone();
                    hs.push(tokio::spawn(async move {
                        c.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                for h in hs {
                    h.await.unwrap();
                }
                t0.elapsed().as_nanos() as f64
            }
        };
        let cold = pass().await;
        let warm = pass().await;
        let m = format!("tokio::spawn N (each increments an atomic), keep handles, await all, {} workers", w);
        emit(&name, "total_time", cold / 1e6, "ms", n, &format!("{}, first pass (cold)", m));
        emit(&name, "total_time_warm", warm / 1e6, "ms", n, &format!("{}, second pass (warm)", m));
    }).await.unwrap() });
}

fn test_yield(n: usize) {
    let rt = rt(1);
    rt.block_on(async {
        let k = n / 2;
        let t0 = Instant::now();
        let a = tokio::spawn(async move {
            for _ in 0..k {
                tokio::task::yield_now().await;
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..k {
                tokio::task::yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        let el = t0.elapsed().as_nanos() as f64;
        emit("yield", "time_per_yield", el / (2 * k) as f64, "ns", n, "two tasks call tokio::task::yield_now, 1 worker");
    });
}

/// Bytes allocated per wait: two tasks wake each other through two Notify.
fn test_waits(n: usize) {
    let rt = rt(1);
    rt.block_on(async {
        let run = |rounds: usize| async move {
            let a = Arc::new(Notify::new());
            let b = Arc::new(Notify::new());
            let (a2, b2) = (a.clone(), b.clone());
            let pong = tokio::spawn(async move {
                for _ in 0..rounds {
                    b2.notified().await;
                    a2.notify_one();
                }
            });
            for _ in 0..rounds {
                b.notify_one();
                a.notified().await;
            }
            pong.await.unwrap();
        };
        run(n).await;
        let before = ALLOCATED.load(Ordering::Relaxed);
        run(n).await;
        let mid = ALLOCATED.load(Ordering::Relaxed);
        run(0).await;
        let after = ALLOCATED.load(Ordering::Relaxed);
        let per = ((mid - before) as f64 - (after - mid) as f64) / (2 * n) as f64;
        emit("waits", "bytes_per_wait", per.max(0.0), "B", n, "bytes allocated per Notify wait (counting global allocator), steady state");
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: tokio-peer TEST N");
        std::process::exit(2);
    }
    let n: usize = args[2].parse().unwrap();
    match args[1].as_str() {
        "rss" => test_rss(n),
        "spawn_seq" => test_seq(n),
        "spawn_conc" | "spawn_inc" => test_conc(&args[1], n),
        "yield" => test_yield(n),
        "waits" => test_waits(n),
        _ => std::process::exit(2),
    }
}
