// The Go peer: the lab's shared tests (experiments/lab/experiments.py), the
// same definitions as every other peer, printed as JSONL records.
//
//	go-peer rss|spawn_seq|spawn_conc|spawn_inc|yield|depth|select|close N
//	go-peer scale N TREE WORK ROUNDS YIELDS REPS
//
// Workers: GOMAXPROCS=1 for rss, spawn_seq and yield; all CPUs otherwise
// (the runner pins the process with taskset like duet's workers). `scale`
// is the scaling sweep's set (experiments/programs/lab_scale.cpp gives the
// definitions), on GOMAXPROCS = the CPUs taskset allows.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func emit(exp, metric string, v float64, unit string, n int, method string) {
	fmt.Printf("{\"experiment\":%q,\"impl\":\"go\",\"metric\":%q,\"value\":%g,\"unit\":%q,\"n\":%d,\"method\":%q}\n",
		exp, metric, v, unit, n, method+", "+runtime.Version())
}

func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var total, res int64
	fmt.Sscanf(string(b), "%d %d", &total, &res)
	return float64(res * int64(os.Getpagesize()))
}

func testRSS(n int) {
	runtime.GOMAXPROCS(1)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var parked int64
	runtime.GC()
	r0 := rssBytes()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&parked, 1)
			<-gate
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < int64(n) {
		runtime.Gosched()
	}
	el := time.Since(t0)
	r1 := rssBytes()
	close(gate)
	wg.Wait()
	m := "RSS (/proc/self/statm) after N goroutines parked on a channel minus before, GOMAXPROCS=1"
	emit("rss", "rss_per_task", (r1-r0)/float64(n), "B", n, m)
	emit("rss", "rss_delta", r1-r0, "B", n, m)
	emit("rss", "spawn_park_time", float64(el.Nanoseconds())/float64(n), "ns", n, "time to spawn N and see all parked, per task")
}

func seqPass(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		ch := make(chan int, 1)
		go func(i int) { ch <- i + 1 }(i)
		s += <-ch
	}
	return s
}

func testSeq(n int) {
	runtime.GOMAXPROCS(1)
	t0 := time.Now()
	seqPass(n)
	cold := time.Since(t0)
	t0 = time.Now()
	seqPass(n)
	warm := time.Since(t0)
	m := "go func + result channel, await it, N times, GOMAXPROCS=1"
	emit("spawn_seq", "time_per_op", float64(warm.Nanoseconds())/float64(n), "ns", n, m+", warm (second pass)")
	emit("spawn_seq", "time_per_op_cold", float64(cold.Nanoseconds())/float64(n), "ns", n, m+", cold (first pass)")
}

func concPass(n int) time.Duration {
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

func testConc(name string, n int) {
	runtime.GOMAXPROCS(runtime.NumCPU())
	cold := concPass(n)
	warm := concPass(n)
	m := fmt.Sprintf("spawn N goroutines (each increments an atomic), WaitGroup.Wait, GOMAXPROCS=%d", runtime.NumCPU())
	emit(name, "total_time", float64(cold.Nanoseconds())/1e6, "ms", n, m+", first pass (cold)")
	emit(name, "total_time_warm", float64(warm.Nanoseconds())/1e6, "ms", n, m+", second pass (warm)")
}

func testYield(n int) {
	runtime.GOMAXPROCS(1)
	k := n / 2
	var wg sync.WaitGroup
	t0 := time.Now()
	for j := 0; j < 2; j++ {
		wg.Add(1)
		go func() {
			for i := 0; i < k; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	emit("yield", "time_per_yield", float64(el.Nanoseconds())/float64(2*k), "ns", n, "two goroutines call runtime.Gosched, GOMAXPROCS=1")
}

//go:noinline
func recurse(d int) int {
	if d == 0 {
		return 0
	}
	return recurse(d-1) + 1
}

func testDepth(n int) {
	done := make(chan int)
	go func() { done <- recurse(n) }()
	got := <-done
	emit("depth", "max_depth_ok", float64(got), "frames", n, "recursion of N frames inside a goroutine completed (stacks grow by copying)")
}

func testSelect(n int) {
	a := make(chan int, 1)
	b := make(chan int, 1)
	first := 0
	for i := 0; i < n; i++ {
		a <- 1
		b <- 1
		select {
		case <-a:
			first++
			<-b
		case <-b:
			<-a
		}
	}
	emit("select", "first_case_share", float64(first)/float64(n), "ratio", n, "select over two ready channels: share of the first case")
}

func testClose(n int) {
	ch := make(chan int)
	var wg sync.WaitGroup
	var parked int64
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			<-ch
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < int64(n) {
		runtime.Gosched()
	}
	time.Sleep(10 * time.Millisecond)
	t0 := time.Now()
	close(ch)
	wg.Wait()
	emit("close", "wake_all", float64(time.Since(t0).Nanoseconds()), "ns", n, "close(ch) until all N parked receivers ran")
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go-peer TEST N")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[2])
	switch os.Args[1] {
	case "rss":
		testRSS(n)
	case "spawn_seq":
		testSeq(n)
	case "spawn_conc", "spawn_inc":
		testConc(os.Args[1], n)
	case "yield":
		testYield(n)
	case "depth":
		testDepth(n)
	case "select":
		testSelect(n)
	case "close":
		testClose(n)
	case "scale":
		testScale(os.Args[2:])
	default:
		os.Exit(2)
	}
}

// ---- scale: the scaling sweep (lab_scale.cpp's definitions) ----

var spinSink uint64
var spinsPerUs = 100

func spin(iters int) {
	x := atomic.LoadUint64(&spinSink)
	for i := 0; i < iters; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	atomic.StoreUint64(&spinSink, x)
}

func calibrate() {
	it := 1000000
	best := time.Duration(1 << 62)
	for r := 0; r < 5; r++ {
		t0 := time.Now()
		spin(it)
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	spinsPerUs = int(float64(it) / (float64(best.Nanoseconds()) / 1e3))
}

type paddedCounter struct {
	v int64
	_ [56]byte
}

func fanOut(n int, body func()) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			body()
			wg.Done()
		}()
	}
	wg.Wait()
}

func scaleSpawnAll(n int) {
	var c paddedCounter
	fanOut(n, func() { atomic.AddInt64(&c.v, 1) })
}

func scaleSpawnTree(n int) {
	const spawners = 64
	fanOut(spawners, func() {
		var c paddedCounter
		for done := 0; done < n/spawners; done += 256 {
			k := n/spawners - done
			if k > 256 {
				k = 256
			}
			fanOut(k, func() { atomic.AddInt64(&c.v, 1) })
		}
	})
}

func scaleWork(m int) { fanOut(m, func() { spin(2 * spinsPerUs) }) }

func scalePingpong(pairs, rounds int) {
	var wg sync.WaitGroup
	wg.Add(2 * pairs)
	for p := 0; p < pairs; p++ {
		a := make(chan int, 1)
		b := make(chan int, 1)
		go func() {
			a <- 0
			for i := 0; i < rounds; i++ {
				v := <-b
				if i+1 < rounds {
					a <- v + 1
				}
			}
			wg.Done()
		}()
		go func() {
			for i := 0; i < rounds; i++ {
				v := <-a
				b <- v + 1
			}
			wg.Done()
		}()
	}
	wg.Wait()
}

func scaleYield(tasks, k int) {
	fanOut(tasks, func() {
		for i := 0; i < k; i++ {
			runtime.Gosched()
		}
	})
}

func testScale(args []string) {
	num := func(i, def int) int {
		if i < len(args) {
			if v, err := strconv.Atoi(args[i]); err == nil {
				return v
			}
		}
		return def
	}
	n, tree, work, rounds, yields, reps := num(0, 100000), num(1, 1000000), num(2, 50000), num(3, 20000), num(4, 100000), num(5, 5)
	w := runtime.NumCPU()
	runtime.GOMAXPROCS(w)
	calibrate()
	run := func(exp string, tasks int, f func(), what string) {
		f()
		ts := make([]float64, 0, reps)
		for r := 0; r < reps; r++ {
			t0 := time.Now()
			f()
			ts = append(ts, float64(time.Since(t0).Nanoseconds()))
		}
		for i := range ts {
			for j := i + 1; j < len(ts); j++ {
				if ts[j] < ts[i] {
					ts[i], ts[j] = ts[j], ts[i]
				}
			}
		}
		ns := ts[len(ts)/2]
		m := fmt.Sprintf("%s; GOMAXPROCS=%d (taskset); median of %d warm passes", what, w, reps)
		emit(exp, "total_time", ns/1e6, "ms", tasks, m)
		emit(exp, "throughput", float64(tasks)/(ns/1e9), "ops/s", tasks, m)
	}
	run("scale_spawn_all", n, func() { scaleSpawnAll(n) }, "one goroutine starts N goroutines (each increments a shared atomic), WaitGroup.Wait")
	run("scale_spawn_tree", tree, func() { scaleSpawnTree(tree) }, "64 spawner goroutines each start N/64 goroutines (own counter) in batches of 256, waiting for each batch")
	run("scale_work", work, func() { scaleWork(work) }, "M goroutines of ~2 us of CPU (calibrated spin), WaitGroup.Wait")
	run("scale_pingpong", w*rounds, func() { scalePingpong(w, rounds) }, "W pairs bounce a token over two chan int (cap 1), R round trips each; N = W*R")
	run("scale_yield", 2*w*yields, func() { scaleYield(2*w, yields) }, "2W goroutines each call runtime.Gosched K times; N = 2W*K")
}
