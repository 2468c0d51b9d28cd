// The Go peer of duet's sync_bench (experiments/programs/sync_bench.cpp):
// the same experiments, the same JSONL records, impl "go".
//
//	go run . [pingpong|mutex|fanin|timers|all]
//
// Allocations per operation come from runtime.MemStats.Mallocs over the
// timed region. CPU time per op (pingpong, GOMAXPROCS=1) comes from
// getrusage(RUSAGE_SELF), which on a 1-P Go program is essentially that P's
// thread (the GC and sysmon run rarely in these loops).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func emit(exp, metric string, v float64, unit string, n int, method string) {
	fmt.Printf("{\"experiment\":%q,\"impl\":\"go\",\"metric\":%q,\"value\":%g,\"unit\":%q,\"n\":%d,\"method\":%q}\n",
		exp, metric, v, unit, n, method+", "+runtime.Version())
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

func cpuNs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

func pingpong() {
	runtime.GOMAXPROCS(1)
	for _, capacity := range []int{0, 1} {
		n := 200000
		a, b := make(chan int, capacity), make(chan int, capacity)
		go func() {
			for i := 0; i < n+2000; i++ {
				v := <-a
				b <- v
			}
		}()
		for i := 0; i < 2000; i++ {
			a <- i
			<-b
		}
		m0 := mallocs()
		c0 := cpuNs()
		t0 := time.Now()
		for i := 0; i < n; i++ {
			a <- i
			<-b
		}
		wall := float64(time.Since(t0).Nanoseconds()) / float64(n)
		cpu := (cpuNs() - c0) / float64(n)
		allocs := float64(mallocs()-m0) / float64(n)
		exp := fmt.Sprintf("sync_pingpong_cap%d", capacity)
		meth := fmt.Sprintf("two goroutines, GOMAXPROCS=1, make(chan int, %d), send+recv each way per round trip", capacity)
		emit(exp, "round_trip", wall, "ns", n, meth+"; wall clock")
		emit(exp, "round_trip_cpu", cpu, "ns", n, meth+"; process CPU time (getrusage)")
		emit(exp, "allocs_per_round_trip", allocs, "allocs", n, meth+"; runtime.MemStats.Mallocs")
	}
}

func mutex() {
	runtime.GOMAXPROCS(1)
	var mu sync.Mutex
	n := 2000000
	c0 := cpuNs()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	emit("sync_mutex_uncontended", "lock_unlock_cpu", (cpuNs()-c0)/float64(n), "ns", n, "sync.Mutex Lock+Unlock, 1 goroutine")
	runtime.GOMAXPROCS(2)
	tasks, per := 8, 100000
	counter := 0
	var wg sync.WaitGroup
	m0 := mallocs()
	t0 := time.Now()
	for t := 0; t < tasks; t++ {
		wg.Add(1)
		go func() {
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	total := float64(time.Since(t0).Nanoseconds())
	meth := "8 goroutines x Lock/++/Unlock, GOMAXPROCS=2; wall time / total pairs"
	emit("sync_mutex_contended", "lock_unlock", total/float64(tasks*per), "ns", tasks*per, meth)
	emit("sync_mutex_contended", "allocs_per_lock", float64(mallocs()-m0-uint64(tasks))/float64(tasks*per), "allocs", tasks*per, meth+"; Mallocs (goroutine spawns excluded)")
	if counter != tasks*per {
		fmt.Fprintln(os.Stderr, "lost increments")
	}
}

func fanin() {
	runtime.GOMAXPROCS(2)
	for _, n := range []int{10000, 100000, 1000000} {
		ch := make(chan int, 1)
		var parked, resumed int64
		for i := 0; i < n; i++ {
			go func() {
				atomic.AddInt64(&parked, 1)
				<-ch
				atomic.AddInt64(&resumed, 1)
			}()
		}
		for atomic.LoadInt64(&parked) < int64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the last ones reach <-ch
		t0 := time.Now()
		close(ch)
		closeNs := float64(time.Since(t0).Nanoseconds())
		for atomic.LoadInt64(&resumed) < int64(n) {
			runtime.Gosched()
		}
		all := float64(time.Since(t0).Nanoseconds())
		meth := fmt.Sprintf("%d goroutines parked in <-ch on one cap-1 channel, GOMAXPROCS=2; close(ch)", n)
		emit("sync_fanin_close_receivers", "close_call_per_waiter", closeNs/float64(n), "ns", n, meth)
		emit("sync_fanin_close_receivers", "close_to_all_resumed_per_waiter", all/float64(n), "ns", n, meth+"; until every goroutine ran again")
		emit("sync_fanin_close_receivers", "close_to_all_resumed", all/1e6, "ms", n, meth)
	}
}

func timers() {
	runtime.GOMAXPROCS(1)
	n := 1000000
	ts := make([]*time.Timer, n)
	m0 := mallocs()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ts[i] = time.AfterFunc(time.Second+time.Duration(i)*time.Microsecond, func() {})
	}
	ins := float64(time.Since(t0).Nanoseconds()) / float64(n)
	allocs := float64(mallocs()-m0) / float64(n)
	t0 = time.Now()
	for i := 0; i < n; i++ {
		ts[i].Stop()
	}
	can := float64(time.Since(t0).Nanoseconds()) / float64(n)
	meth := "1M time.AfterFunc (deadlines spread over 1 s, 1 s ahead), then Stop each, GOMAXPROCS=1"
	emit("sync_timers", "insert", ins, "ns", n, meth)
	emit("sync_timers", "cancel", can, "ns", n, meth)
	emit("sync_timers", "insert_allocs_per_timer", allocs, "allocs", n, meth)
}

func main() {
	what := "all"
	if len(os.Args) > 1 {
		what = os.Args[1]
	}
	if what == "pingpong" || what == "all" {
		pingpong()
	}
	if what == "mutex" || what == "all" {
		mutex()
	}
	if what == "fanin" || what == "all" {
		fanin()
	}
	if what == "timers" || what == "all" {
		timers()
	}
}
