// The Tokio peer of duet's sync_bench: same experiments, same JSONL records,
// impl "tokio".
//   tokio-sync-peer [pingpong|mutex|fanin|broadcast|timers|all]
// Allocations are counted by a global allocator wrapper over the timed region.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;
fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

fn emit(exp: &str, metric: &str, v: f64, unit: &str, n: usize, method: &str) {
    println!(
        "{{\"experiment\":\"{}\",\"impl\":\"tokio\",\"metric\":\"{}\",\"value\":{},\"unit\":\"{}\",\"n\":{},\"method\":\"{}, tokio 1.24\"}}",
        exp, metric, v, unit, n, method
    );
}

fn thread_cpu_ns() -> f64 {
    let mut ts = libc_timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}
#[repr(C)]
struct libc_timespec {
    tv_sec: i64,
    tv_nsec: i64,
}
extern "C" {
    fn clock_gettime(clk: i32, ts: *mut libc_timespec) -> i32;
}

fn rt1() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}
fn rt_n(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_time().build().unwrap()
}

fn pingpong() {
    // tokio::sync::mpsc has no capacity 0 (no rendezvous); capacity 1 only.
    let n = 200000usize;
    let rt = rt1();
    rt.block_on(async move {
        let (atx, mut arx) = tokio::sync::mpsc::channel::<usize>(1);
        let (btx, mut brx) = tokio::sync::mpsc::channel::<usize>(1);
        let pong = tokio::spawn(async move {
            for _ in 0..n + 2000 {
                let v = arx.recv().await.unwrap();
                btx.send(v).await.unwrap();
            }
        });
        let ping = tokio::spawn(async move {
            for i in 0..2000 {
                atx.send(i).await.unwrap();
                brx.recv().await.unwrap();
            }
            let a0 = allocs();
            let c0 = thread_cpu_ns();
            let t0 = Instant::now();
            for i in 0..n {
                atx.send(i).await.unwrap();
                brx.recv().await.unwrap();
            }
            let wall = t0.elapsed().as_nanos() as f64 / n as f64;
            let cpu = (thread_cpu_ns() - c0) / n as f64;
            let al = (allocs() - a0) as f64 / n as f64;
            let m = "two tasks, current_thread runtime, tokio::sync::mpsc::channel(1), send+recv each way per round trip";
            emit("sync_pingpong_cap1", "round_trip", wall, "ns", n, &format!("{}; wall clock", m));
            emit("sync_pingpong_cap1", "round_trip_cpu", cpu, "ns", n, &format!("{}; thread CPU time", m));
            emit("sync_pingpong_cap1", "allocs_per_round_trip", al, "allocs", n, m);
        });
        ping.await.unwrap();
        pong.await.unwrap();
    });
}

fn mutex() {
    let rt = rt1();
    rt.block_on(async {
        let m = tokio::sync::Mutex::new(0u64);
        let n = 2000000usize;
        let c0 = thread_cpu_ns();
        for _ in 0..n {
            let mut g = m.lock().await;
            *g += 1;
        }
        emit("sync_mutex_uncontended", "lock_unlock_cpu", (thread_cpu_ns() - c0) / n as f64, "ns", n,
             "tokio::sync::Mutex lock().await + guard drop, 1 task, current_thread");
    });
    let rt = rt_n(2);
    let (tasks, per) = (8usize, 100000usize);
    let m = Arc::new(tokio::sync::Mutex::new(0u64));
    let a0 = allocs();
    let t0 = Instant::now();
    rt.block_on(async {
        let mut hs = Vec::new();
        for _ in 0..tasks {
            let m = m.clone();
            hs.push(tokio::spawn(async move {
                for _ in 0..per {
                    let mut g = m.lock().await;
                    *g += 1;
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
    });
    let total = t0.elapsed().as_nanos() as f64;
    let meth = "8 tasks x lock/++/unlock on tokio::sync::Mutex, 2 workers; wall time / total pairs";
    emit("sync_mutex_contended", "lock_unlock", total / (tasks * per) as f64, "ns", tasks * per, meth);
    emit("sync_mutex_contended", "allocs_per_lock", (allocs() - a0) as f64 / (tasks * per) as f64, "allocs", tasks * per,
         &format!("{} (spawns included)", meth));
}

fn fanin() {
    // Fan-in: N senders parked on a full mpsc::channel(1); the receiver
    // closes. (mpsc has one receiver: the analogue of duet's parked senders.)
    for &n in &[10000usize, 100000, 1000000] {
        let rt = rt_n(2);
        rt.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(1);
            tx.send(0).await.unwrap();
            let parked = Arc::new(AtomicUsize::new(0));
            let resumed = Arc::new(AtomicUsize::new(0));
            let mut hs = Vec::with_capacity(n);
            for i in 0..n {
                let tx = tx.clone();
                let p = parked.clone();
                let r = resumed.clone();
                hs.push(tokio::spawn(async move {
                    p.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(i).await;
                    r.fetch_add(1, Ordering::Relaxed);
                }));
            }
            while parked.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let t0 = Instant::now();
            rx.close();
            let close_ns = t0.elapsed().as_nanos() as f64;
            while resumed.load(Ordering::Relaxed) < n {
                tokio::task::yield_now().await;
            }
            let all = t0.elapsed().as_nanos() as f64;
            let meth = format!("{} tasks parked in send on a full mpsc::channel(1), 2 workers; rx.close()", n);
            emit("sync_fanin_close_senders", "close_call_per_waiter", close_ns / n as f64, "ns", n, &meth);
            emit("sync_fanin_close_senders", "close_to_all_resumed_per_waiter", all / n as f64, "ns", n, &meth);
            emit("sync_fanin_close_senders", "close_to_all_resumed", all / 1e6, "ms", n, &meth);
            for h in hs {
                h.await.unwrap();
            }
        });
    }
}

fn broadcast() {
    let rt = rt1();
    let (msgs, k) = (200000usize, 8usize);
    rt.block_on(async move {
        let (tx, _) = tokio::sync::broadcast::channel::<usize>(1024);
        let mut hs = Vec::new();
        for _ in 0..k {
            let mut rx = tx.subscribe();
            hs.push(tokio::spawn(async move {
                let mut got = 0u64;
                loop {
                    match rx.recv().await {
                        Ok(_) => got += 1,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(m)) => got += m,
                        Err(_) => return got,
                    }
                }
            }));
        }
        let a0 = allocs();
        let t0 = Instant::now();
        let s = tokio::spawn(async move {
            for i in 0..msgs {
                let _ = tx.send(i);
                if i % 64 == 63 {
                    tokio::task::yield_now().await;
                }
            }
        });
        s.await.unwrap();
        let mut total = 0;
        for h in hs {
            total += h.await.unwrap();
        }
        let ns = t0.elapsed().as_nanos() as f64;
        let meth = "1 sender (yields every 64), 8 receiver tasks, capacity 1024, current_thread";
        emit("sync_broadcast", "per_message_per_receiver", ns / (msgs * k) as f64, "ns", msgs, meth);
        emit("sync_broadcast", "allocs_per_message", (allocs() - a0) as f64 / msgs as f64, "allocs", msgs, meth);
        assert_eq!(total, (msgs * k) as u64);
    });
}

fn timers() {
    let rt = rt1();
    rt.block_on(async {
        let n = 1000000usize;
        let base = tokio::time::Instant::now() + Duration::from_secs(1);
        let mut v: Vec<std::pin::Pin<Box<tokio::time::Sleep>>> = Vec::with_capacity(n);
        for i in 0..n {
            v.push(Box::pin(tokio::time::sleep_until(base + Duration::from_micros(i as u64))));
        }
        // Register each with the timer wheel: poll once.
        let a0 = allocs();
        let t0 = Instant::now();
        futures_poll_all(&mut v).await;
        let ins = t0.elapsed().as_nanos() as f64 / n as f64;
        let al = (allocs() - a0) as f64 / n as f64;
        let t0 = Instant::now();
        v.clear();
        let can = t0.elapsed().as_nanos() as f64 / n as f64;
        let meth = "1M tokio::time::sleep_until (deadlines spread over 1 s, 1 s ahead) polled once, then dropped; Box::pin outside the timed region";
        emit("sync_timers", "insert", ins, "ns", n, meth);
        emit("sync_timers", "cancel", can, "ns", n, meth);
        emit("sync_timers", "insert_allocs_per_timer", al, "allocs", n, meth);
    });
}

/// Polls every Sleep once with the current task's waker.
async fn futures_poll_all(v: &mut Vec<std::pin::Pin<Box<tokio::time::Sleep>>>) {
    std::future::poll_fn(|cx| {
        for s in v.iter_mut() {
            let _ = s.as_mut().poll(cx);
        }
        std::task::Poll::Ready(())
    })
    .await
}
use std::future::Future;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".to_string());
    if what == "pingpong" || what == "all" {
        pingpong();
    }
    if what == "mutex" || what == "all" {
        mutex();
    }
    if what == "fanin" || what == "all" {
        fanin();
    }
    if what == "broadcast" || what == "all" {
        broadcast();
    }
    if what == "timers" || what == "all" {
        timers();
    }
}
