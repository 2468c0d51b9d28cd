// http: the Go peer of the HTTP benchmark (experiments/http/http_bench.py):
// net/http's server, one goroutine per connection (GOMAXPROCS from the
// environment; the benchmark sets 1 and pins the process), serving the
// TechEmpower routes: GET /plaintext (text/plain, "Hello, World!") and
// GET /json (application/json, {"message":"Hello, World!"} marshalled by
// encoding/json per request). With TLS_PORT, CERT and KEY it also serves
// HTTPS (ListenAndServeTLS's path: tls.Listen over the same handler).
//
//	http PORT [TLS_PORT CERT KEY]   (prints "listening on PORT" per port)
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
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
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonRoute)
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	plain := listen(port)
	if len(os.Args) >= 5 {
		cert, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l := listen(os.Args[2])
		srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(l, "", "")
	}
	os.Stdout.Sync()
	(&http.Server{Handler: mux}).Serve(plain)
}
