// http2: the Go peer of the HTTP/2 benchmark (experiments/http/http2_bench.py):
// net/http's server, one goroutine per connection and one per stream
// (GOMAXPROCS from the environment; the benchmark sets 1 and pins the
// process), serving GET /plaintext (text/plain, "Hello, World!"), GET /json
// (application/json, {"message":"Hello, World!"} marshalled by
// encoding/json per request) and GET /delay?ms=N (answers "Hello, World!"
// after N ms, 0..600000, a goroutine parked in time.Sleep: the depth test's
// parked stream).
//
// The plain port speaks HTTP/2 over cleartext with prior knowledge (h2c:
// golang.org/x/net/http2/h2c's handler, the way a Go user serves h2c; it
// answers HTTP/1.1 too). With TLS_PORT, CERT and KEY it also serves HTTPS,
// where the standard library's ServeTLS offers h2 then http/1.1 by ALPN.
// Both ports keep http2.Server's defaults (250 concurrent streams per
// connection, no idle timeout).
//
//	http2 PORT [TLS_PORT CERT KEY]   (prints "listening on PORT", "listening on PORT (tls)")
//
// Built by http2_bench.py with GO111MODULE=off and GOPATH holding
// /usr/share/gocode (Debian's golang-golang-x-net-dev), offline.
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
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

// delay: GET /delay?ms=N answers after N ms (as examples/http_server's
// /delay: an absent, malformed or too large N is 0).
func delay(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 || ms > 600000 {
		ms = 0
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	plaintext(w, r)
}

func listen(port string, tag string) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d%s\n", l.Addr().(*net.TCPAddr).Port, tag)
	return l
}

func main() {
	args := os.Args[1:]
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonRoute)
	mux.HandleFunc("/delay", delay)

	port := "0"
	if len(args) > 0 {
		port = args[0]
	}
	plain := listen(port, "")
	if len(args) >= 4 {
		cert, err := tls.LoadX509KeyPair(args[2], args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l := listen(args[1], " (tls)")
		srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(l, "", "")
	}
	os.Stdout.Sync()
	(&http.Server{Handler: h2c.NewHandler(mux, &http2.Server{})}).Serve(plain)
}
