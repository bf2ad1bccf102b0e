package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// debugPprof serves Go's profiles (/debug/pprof/) on the loopback address
// in FLEETWARDEN_PPROF (e.g. 127.0.0.1:6060), for profiling a running
// daemon (the bench's -cpuprofile). Unset, nothing listens. Only a
// loopback address is accepted: profiles show the process's memory.
func debugPprof() {
	addr := os.Getenv("FLEETWARDEN_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "FLEETWARDEN_PPROF=%q: want a loopback host:port such as 127.0.0.1:6060; not serving profiles\n", addr)
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FLEETWARDEN_PPROF: %v\n", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() { _ = http.Serve(l, mux) }()
}
