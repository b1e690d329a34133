package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// backend is one instance as seen by the proxy. inflight counts requests
// routed to it that have not finished; retired is set once the proxy no
// longer routes new requests to it.
type backend struct {
	inst      *instance
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	inflight  atomic.Int64
	retired   atomic.Bool
}

// pool is the immutable set of backends serving one version. The proxy
// switches versions by swapping the *pool atomically.
type pool struct {
	version  string
	backends []*backend
	next     atomic.Uint64
}

func (p *pool) pick() *backend {
	n := p.next.Add(1)
	return p.backends[int(n%uint64(len(p.backends)))]
}

func newBackend(e *environment, inst *instance) *backend {
	target := &url.URL{Scheme: "http", Host: inst.addr}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	b := &backend{inst: inst, transport: tr}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			e.logf("proxy: %s %s via pid=%d %s: %v", r.Method, r.URL.Path, inst.pid, inst.addr, err)
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": fmt.Sprintf("bad gateway: %v", err), "environment": e.name})
		},
	}
	return b
}

// ServeHTTP is the environment's front proxy.
func (e *environment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" && e.metrics != nil {
		e.metrics.handler.ServeHTTP(w, r)
		return
	}
	// A request that picks a backend just as it is retired retries on the
	// new pool; the drainer only stops a backend once inflight is 0 after
	// retirement, so no request is ever sent to a stopping instance.
	for attempt := 0; attempt < 5; attempt++ {
		p := e.pool.Load()
		if p == nil || len(p.backends) == 0 {
			break
		}
		b := p.pick()
		b.inflight.Add(1)
		if b.retired.Load() {
			b.inflight.Add(-1)
			continue
		}
		serveVia(e.metrics, p.version, b, w, r)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "no instance available", "environment": e.name})
}

func serveVia(m *envMetrics, version string, b *backend, w http.ResponseWriter, r *http.Request) {
	defer b.inflight.Add(-1) // also on http.ErrAbortHandler panics
	if m == nil {
		b.proxy.ServeHTTP(w, r)
		return
	}
	began := time.Now()
	rec := &codeRecorder{ResponseWriter: w}
	defer func() {
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		m.observe(version, r.URL.Path, code, time.Since(began), w.Header().Get(dependencyHeader))
	}()
	b.proxy.ServeHTTP(rec, r)
}

// drain waits until no request is in flight to b (after it was retired),
// then closes the proxy's idle connections to it.
func (b *backend) drain(timeout time.Duration) (clean bool) {
	b.retired.Store(true)
	deadline := time.Now().Add(timeout)
	for b.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			b.transport.CloseIdleConnections()
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.transport.CloseIdleConnections()
	return true
}
