//! The Tokio peer: the lab's shared tests (experiments/lab/experiments.py),
//! printed as JSONL records.
//!
//!   tokio-peer rss|spawn_seq|spawn_conc|spawn_inc|yield|waits N
//!   tokio-peer scale N TREE WORK ROUNDS YIELDS REPS
//!
//! Workers: a multi-thread runtime with 1 worker for rss, spawn_seq, yield
//! and waits; with one worker per CPU for spawn_conc and spawn_inc. The
//! spawning loop runs inside a spawned task (as duet's root task does).
//! `scale` is the scaling sweep's set (experiments/programs/lab_scale.cpp
//! gives the definitions), on one worker per CPU that taskset allows.
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
        "scale" => scale::run(&args[2..]),
        _ => std::process::exit(2),
    }
}

/// The scaling sweep (lab_scale.cpp's definitions).
mod scale {
    use super::{emit, rt};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    static SPIN_SINK: AtomicU64 = AtomicU64::new(0);
    static SPINS_PER_US: AtomicUsize = AtomicUsize::new(100);

    fn spin(iters: usize) {
        let mut x = SPIN_SINK.load(Ordering::Relaxed);
        for _ in 0..iters {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        SPIN_SINK.store(x, Ordering::Relaxed);
    }

    fn calibrate() {
        let it = 1_000_000usize;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t0 = Instant::now();
            spin(it);
            best = best.min(t0.elapsed().as_nanos() as f64);
        }
        SPINS_PER_US.store((it as f64 / (best / 1e3)) as usize, Ordering::Relaxed);
    }

    #[repr(align(64))]
    struct Counter(AtomicUsize);

    async fn fan_out<F: Fn() + Send + Sync + 'static>(n: usize, body: Arc<F>) {
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let b = body.clone();
            hs.push(tokio::spawn(async move { b() }));
        }
        for h in hs {
            h.await.unwrap();
        }
    }

    async fn spawn_all(n: usize) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        fan_out(n, Arc::new(move || {
            c.0.fetch_add(1, Ordering::Relaxed);
        }))
        .await;
    }

    async fn spawn_tree(n: usize) {
        let mut hs = Vec::new();
        for _ in 0..64 {
            hs.push(tokio::spawn(async move {
                let c = Arc::new(Counter(AtomicUsize::new(0)));
                let body = Arc::new(move || {
                    c.0.fetch_add(1, Ordering::Relaxed);
                });
                let mut done = 0;
                while done < n / 64 {
                    let k = (n / 64 - done).min(256);
                    fan_out(k, body.clone()).await;
                    done += k;
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
    }

    async fn work(m: usize) {
        let k = 2 * SPINS_PER_US.load(Ordering::Relaxed);
        fan_out(m, Arc::new(move || spin(k))).await;
    }

    async fn pingpong(pairs: usize, rounds: usize) {
        use tokio::sync::mpsc::channel;
        let mut hs = Vec::new();
        for _ in 0..pairs {
            let (atx, mut arx) = channel::<usize>(1);
            let (btx, mut brx) = channel::<usize>(1);
            hs.push(tokio::spawn(async move {
                atx.send(0).await.unwrap();
                for i in 0..rounds {
                    let v = brx.recv().await.unwrap();
                    if i + 1 < rounds {
                        atx.send(v + 1).await.unwrap();
                    }
                }
            }));
            hs.push(tokio::spawn(async move {
                for _ in 0..rounds {
                    let v = arx.recv().await.unwrap();
                    btx.send(v + 1).await.unwrap();
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
    }

    async fn yield_all(tasks: usize, k: usize) {
        let mut hs = Vec::new();
        for _ in 0..tasks {
            hs.push(tokio::spawn(async move {
                for _ in 0..k {
                    tokio::task::yield_now().await;
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
    }

    pub fn run(args: &[String]) {
        let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
        let (n, tree, work_m, rounds, yields, reps) =
            (num(0, 100000), num(1, 1000000), num(2, 50000), num(3, 20000), num(4, 100000), num(5, 5));
        let w = std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1);
        calibrate();
        let rt = rt(w);
        let time = |exp: &str, tasks: usize, what: &str, f: &dyn Fn() -> tokio::task::JoinHandle<()>| {
            rt.block_on(f()).unwrap();
            let mut ts: Vec<f64> = (0..reps)
                .map(|_| {
                    let t0 = Instant::now();
                    rt.block_on(f()).unwrap();
                    t0.elapsed().as_nanos() as f64
                })
                .collect();
            ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let ns = ts[ts.len() / 2];
            let m = format!("{}; {} workers (taskset); median of {} warm passes", what, w, reps);
            emit(exp, "total_time", ns / 1e6, "ms", tasks, &m);
            emit(exp, "throughput", tasks as f64 / (ns / 1e9), "ops/s", tasks, &m);
        };
        let _g = rt.enter();
        time("scale_spawn_all", n, "one task spawns N tasks (each increments a shared atomic), awaits all",
             &|| tokio::spawn(spawn_all(n)));
        time("scale_spawn_tree", tree, "64 spawner tasks each spawn N/64 tasks (own counter) in batches of 256, awaiting each batch",
             &|| tokio::spawn(spawn_tree(tree)));
        time("scale_work", work_m, "M tasks of ~2 us of CPU (calibrated spin), awaited",
             &|| tokio::spawn(work(work_m)));
        time("scale_pingpong", w * rounds, "W pairs bounce a token over two mpsc::channel(1), R round trips each; N = W*R",
             &|| tokio::spawn(pingpong(w, rounds)));
        time("scale_yield", 2 * w * yields, "2W tasks each call yield_now K times; N = 2W*K",
             &|| tokio::spawn(yield_all(2 * w, yields)));
    }
}
