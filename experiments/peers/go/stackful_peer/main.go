// stackful_peer (Go): the goroutine side of exp_stackful_rss / _spawn /
// _switch / _depth, same JSONL record format.
//
//	build: cd experiments/peers/go/stackful_peer && go build -o stackful_peer main.go
//	run:   ./stackful_peer [-n 10000,100000] [-spawn 200000] [-yields 2000000] [-depth 1000000]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func emit(exp, metric string, v float64, unit string, n int64, method string) {
	fmt.Printf("{\"experiment\":\"%s\",\"impl\":\"go\",\"metric\":\"%s\",\"value\":%g,\"unit\":\"%s\",\"n\":%d,\"method\":\"%s\"}\n",
		exp, metric, v, unit, n, method)
}

func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := s.Text()
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

// parked measures the RSS delta of n goroutines blocked on a channel.
func parked(n int) int64 {
	runtime.GC()
	r0 := rss()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var started sync.WaitGroup
	wg.Add(n)
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-gate
			wg.Done()
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	d := rss() - r0
	close(gate)
	wg.Wait()
	return d
}

type frame struct{ pad [64]byte }

var sink int

//go:noinline
func dive(d, limit int) int {
	var f frame
	f.pad[d%64] = byte(d)
	if d >= limit {
		return int(f.pad[0])
	}
	return dive(d+1, limit) + int(f.pad[d%64])
}

func main() {
	ns := flag.String("n", "10000,100000", "parked goroutine counts")
	spawnN := flag.Int("spawn", 200000, "spawn+join iterations")
	yields := flag.Int("yields", 2000000, "total yields per switch point")
	depth := flag.Int("depth", 1000000, "recursion depth with 64-byte locals")
	child := flag.Int("child-parked", 0, "internal: measure n parked goroutines in this process")
	flag.Parse()
	if *child > 0 {
		fmt.Println(parked(*child))
		return
	}
	for _, s := range strings.Split(*ns, ",") {
		n, _ := strconv.Atoi(s)
		// A fresh process per point, as for duet.
		out, err := exec.Command(os.Args[0], "-child-parked", s).Output()
		if err != nil {
			continue
		}
		d, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		emit("stackful_rss", "rss_per_parked_fiber", float64(d)/float64(n), "bytes", int64(n),
			"fresh process per point; goroutines blocked on a channel receive; GOMAXPROCS default")
	}
	runtime.GOMAXPROCS(1)
	t0 := time.Now()
	for i := 0; i < *spawnN; i++ {
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
	}
	emit("stackful_spawn", "spawn_join", float64(time.Since(t0).Nanoseconds())/float64(*spawnN), "ns", int64(*spawnN),
		"GOMAXPROCS=1; go func(){close(done)}(); <-done in a loop")
	for _, n := range []int{1, 1000, 100000} {
		rounds := *yields / n
		if rounds < 4 {
			rounds = 4
		}
		var wg sync.WaitGroup
		wg.Add(n)
		t1 := time.Now()
		for i := 0; i < n; i++ {
			go func() {
				for r := 0; r < rounds; r++ {
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		emit("stackful_switch", "yield_switch", float64(time.Since(t1).Nanoseconds())/float64(n*rounds), "ns", int64(n),
			fmt.Sprintf("GOMAXPROCS=1; N goroutines each runtime.Gosched() %d times; includes spawn", rounds))
	}
	runtime.GOMAXPROCS(runtime.NumCPU())
	done := make(chan int)
	t2 := time.Now()
	go func() { done <- dive(1, *depth) }()
	sink = <-done
	emit("stackful_depth", "reached_target_depth_locals_64", 1, "bool", int64(*depth),
		"goroutine recursion with a 64-byte local per frame (the stack grows by copying, up to 1 GB)")
	emit("stackful_depth", "time_to_target_depth", float64(time.Since(t2).Milliseconds()), "ms", int64(*depth),
		"wall time of the recursion incl. stack growth copies")
}
