// http: the Go peer of the HTTP benchmark (experiments/http/http_bench.py):
// net/http's server, one goroutine per connection (GOMAXPROCS from the
// environment; the benchmark sets 1 and pins the process), serving the
// TechEmpower routes: GET /plaintext (text/plain, "Hello, World!") and
// GET /json (application/json, {"message":"Hello, World!"} marshalled by
// encoding/json per request). With TLS_PORT, CERT and KEY it also serves
// HTTPS (ListenAndServeTLS's path: tls.Listen over the same handler).
//
// With --upstream HOST:PORT it also serves the upstream routes, as a Go
// user writes them:
//   - /proxy/<path> (any method): httputil.ReverseProxy forwards it to the
//     upstream as /<path> (query kept, body streamed, hop-by-hop fields
//     dropped both ways, response body streamed back) over a Transport that
//     keeps up to 1,024 idle keep-alive connections to the upstream; 502
//     when the upstream fails, 504 when its response head has not come
//     within --upstream-timeout-ms (default 5000; connecting included).
//   - GET /fanout?n=N (1..64, default 4; another n is 400): N GETs of the
//     upstream's /json at once, one goroutine each, through one shared
//     http.Client, all under one context.WithTimeout of
//     --fanout-deadline-ms (default 1000); 200 with
//     {"results":[b1,...,bN]} (the upstream's bodies verbatim, in request
//     order) as application/json, 504 at the deadline, 502 when an upstream
//     request fails or answers other than 200.
//
// Without --upstream, /proxy/ and /fanout answer 502 (no upstream).
//
//	http [--upstream HOST:PORT] [--upstream-timeout-ms MS] [--fanout-deadline-ms MS]
//	     PORT [TLS_PORT CERT KEY]   (prints "listening on PORT" per port)
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type message struct {
	Message string `json:"message"`
}

func plaintext(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Server", "go")
	w.Write([]byte("Hello, World!"))
}

func jsonRoute(w http.ResponseWriter, r *http.Request) {
	b, _ := json.Marshal(message{"Hello, World!"})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server", "go")
	w.Write(b)
}

// isTimeout: the error is a deadline passing (the Transport's response-head
// timeout, a dial timeout, or a context's deadline) rather than a failure.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// newTransport: the pooled connections to the upstream, shared by the proxy
// and the fan-out. Up to 1,024 idle keep-alive connections per host, so
// that 1,000 client connections proxying at once reuse theirs.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no limit over all hosts; the per-host limit below holds
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     false,
	}
}

// newProxy: /proxy/<path> forwarded as /<path> to upstream.
func newProxy(upstream string, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			r.URL.Scheme = "http"
			r.URL.Host = upstream
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/proxy")
			r.URL.RawPath = ""
			r.Host = upstream
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if isTimeout(err) {
				w.WriteHeader(http.StatusGatewayTimeout)
			} else {
				w.WriteHeader(http.StatusBadGateway)
			}
		},
	}
}

// fanout: GET /fanout?n=N, N upstream /json requests at once under one
// deadline, their bodies merged in request order.
type fanout struct {
	client   *http.Client
	url      string
	deadline time.Duration
}

func (f *fanout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	n := 4
	if q := r.URL.Query(); q.Has("n") {
		v, err := strconv.Atoi(q.Get("n"))
		if err != nil || v < 1 || v > 64 {
			http.Error(w, "n must be 1..64", http.StatusBadRequest)
			return
		}
		n = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.deadline)
	defer cancel()
	bodies := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bodies[i], errs[i] = f.get(ctx)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			if isTimeout(err) || ctx.Err() == context.DeadlineExceeded {
				w.WriteHeader(http.StatusGatewayTimeout)
			} else {
				w.WriteHeader(http.StatusBadGateway)
			}
			return
		}
	}
	var out bytes.Buffer
	out.WriteString(`{"results":[`)
	for i, b := range bodies {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(b)
	}
	out.WriteString(`]}`)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server", "go")
	w.Write(out.Bytes())
}

// get: one upstream /json, its body read whole, under ctx.
func (f *fanout) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upstream answered %d", resp.StatusCode)
	}
	return body, nil
}

func noUpstream(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "no upstream (--upstream HOST:PORT)", http.StatusBadGateway)
}

func listen(port string) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d\n", l.Addr().(*net.TCPAddr).Port)
	return l
}

func main() {
	upstream := flag.String("upstream", "", "HOST:PORT of the upstream of /proxy/ and /fanout")
	upstreamTimeout := flag.Int("upstream-timeout-ms", 5000, "504 when the upstream's response head takes longer")
	fanoutDeadline := flag.Int("fanout-deadline-ms", 1000, "the deadline of all of one /fanout's requests")
	flag.Parse()
	args := flag.Args()

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonRoute)
	if *upstream != "" {
		transport := newTransport(time.Duration(*upstreamTimeout) * time.Millisecond)
		mux.Handle("/proxy/", newProxy(*upstream, transport))
		mux.Handle("/fanout", &fanout{
			client:   &http.Client{Transport: transport},
			url:      "http://" + *upstream + "/json",
			deadline: time.Duration(*fanoutDeadline) * time.Millisecond,
		})
	} else {
		mux.HandleFunc("/proxy/", noUpstream)
		mux.HandleFunc("/fanout", noUpstream)
	}

	port := "0"
	if len(args) > 0 {
		port = args[0]
	}
	plain := listen(port)
	if len(args) >= 4 {
		cert, err := tls.LoadX509KeyPair(args[2], args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l := listen(args[1])
		srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(l, "", "")
	}
	os.Stdout.Sync()
	(&http.Server{Handler: mux}).Serve(plain)
}
