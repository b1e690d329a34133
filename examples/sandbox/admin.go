package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

const maxBodyBytes = 1 << 20

// adminHandler serves the per-environment admin API.
func (e *environment) adminHandler() http.Handler {
	type route struct {
		method string
		h      func(w http.ResponseWriter, r *http.Request, body []byte)
	}
	routes := map[string]route{
		"/deploy":        {http.MethodPost, e.idempotent(e.handleDeploy)},
		"/rollback":      {http.MethodPost, e.idempotent(e.handleRollback)},
		"/snapshot":      {http.MethodPost, e.idempotent(e.handleSnapshot)},
		"/fault":         {http.MethodPost, e.idempotent(e.handleFault)},
		"/status":        {http.MethodGet, e.handleStatus},
		"/api/v2/alerts": {http.MethodGet, e.handleAlerts},
		"/healthz": {http.MethodGet, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			writeJSON(w, 200, map[string]string{"status": "ok"})
		}},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			e.logf("admin %s %s -> %d (%dms, from %s)", r.Method, r.URL.Path, rec.code, time.Since(began).Milliseconds(), r.RemoteAddr)
		}()
		rt, ok := routes[strings.TrimSuffix(r.URL.Path, "/")]
		if !ok {
			paths := make([]string, 0, len(routes))
			for p, rt := range routes {
				paths = append(paths, rt.method+" "+p)
			}
			sort.Strings(paths)
			writeJSON(rec, http.StatusNotFound, map[string]any{"error": "not found: " + r.URL.Path, "endpoints": paths})
			return
		}
		if r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
			rec.Header().Set("Allow", rt.method)
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"error": fmt.Sprintf("method %s not allowed, use %s", r.Method, rt.method)})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rec, r.Body, maxBodyBytes))
		if err != nil {
			writeJSON(rec, http.StatusRequestEntityTooLarge, map[string]any{"error": "reading body: " + err.Error()})
			return
		}
		rt.h(rec, r, body)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// decodeBody decodes an optional JSON object body strictly.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: trailing data")
	}
	return nil
}

func (e *environment) handleDeploy(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		Version string `json:"version"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failed", "environment": e.name, "error": err.Error()})
		return
	}
	if err := checkVersion(req.Version); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failed", "environment": e.name, "error": err.Error()})
		return
	}
	res, ok := e.deploy(req.Version, "deploy")
	if !ok {
		writeJSON(w, http.StatusBadGateway, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (e *environment) handleRollback(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		Snapshot string `json:"snapshot"`
	}
	if err := decodeBody(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failed", "environment": e.name, "error": err.Error()})
		return
	}
	snap, err := e.loadSnapshot(req.Snapshot)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNoSnapshot) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, map[string]any{"status": "failed", "environment": e.name, "error": err.Error()})
		return
	}
	res, ok := e.deploy(snap.Current, "rollback("+snap.ID+")")
	res.Snapshot = snap.ID
	if !ok {
		writeJSON(w, http.StatusBadGateway, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (e *environment) handleSnapshot(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		ID string `json:"id"` // optional: the caller's own name for it (a run's)
	}
	if err := decodeBody(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "environment": e.name})
		return
	}
	snap, err := e.takeSnapshot(req.ID)
	if errors.Is(err, errBadSnapshotID) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "environment": e.name})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "snapshot: " + err.Error(), "environment": e.name})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": snap.ID, "environment": snap.Environment,
		"current": snap.Current, "previous": snap.Previous, "created": snap.Created})
}

func (e *environment) handleStatus(w http.ResponseWriter, _ *http.Request, _ []byte) {
	writeJSON(w, http.StatusOK, e.status())
}

// Alert follows the Alertmanager v2 API (GET /api/v2/alerts) shape.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Receivers    []map[string]any  `json:"receivers"`
	Status       AlertStatus       `json:"status"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	UpdatedAt    string            `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// AlertStatus is the status block of an Alertmanager alert.
type AlertStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

func (e *environment) alerts() []Alert {
	e.mu.Lock()
	version, since, faults := e.current, e.since, e.currentFaults
	e.mu.Unlock()
	out := []Alert{}
	if !behaviourOf(version, faults).alerting {
		return out
	}
	labels := map[string]string{
		"alertname":   "HighErrorRate",
		"severity":    "critical",
		"environment": e.name,
		"service":     "sandbox-example",
		"version":     version,
	}
	now := time.Now().UTC()
	out = append(out, Alert{
		Labels: labels,
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("High error rate on %s (version %s)", e.name, version),
			"description": "The sandbox raises this alert while the running version contains \"-alerting\" or has the fault alerting here.",
		},
		Receivers:    []map[string]any{{"name": "sandbox"}},
		Status:       AlertStatus{State: "active", SilencedBy: []string{}, InhibitedBy: []string{}},
		StartsAt:     since.UTC().Format(time.RFC3339Nano),
		EndsAt:       now.Add(5 * time.Minute).Format(time.RFC3339Nano),
		UpdatedAt:    now.Format(time.RFC3339Nano),
		GeneratorURL: "http://" + e.cfg.Admin + "/status",
		Fingerprint:  fingerprint(labels),
	})
	return out
}

func fingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		_, _ = io.WriteString(h, k+"\xff"+labels[k]+"\xff")
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

func (e *environment) handleAlerts(w http.ResponseWriter, _ *http.Request, _ []byte) {
	writeJSON(w, http.StatusOK, e.alerts())
}

// idempotencyStore remembers the first answer per Idempotency-Key.
type idempotencyStore struct {
	mu      sync.Mutex
	entries map[string]*idemEntry
	order   []string
}

type idemEntry struct {
	done    chan struct{}
	reqHash string
	code    int
	body    []byte
	header  string
}

const maxIdempotencyKeys = 1024

func newIdempotencyStore() *idempotencyStore {
	return &idempotencyStore{entries: map[string]*idemEntry{}}
}

type bufferedWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

// idempotent wraps a POST handler: a repeated Idempotency-Key (per path)
// returns the first answer without running the handler again. A concurrent
// duplicate waits for the first one to finish.
func (e *environment) idempotent(h func(http.ResponseWriter, *http.Request, []byte)) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			h(w, r, body)
			return
		}
		if len(key) > 255 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Idempotency-Key longer than 255 bytes"})
			return
		}
		sum := sha256.Sum256(bytes.TrimSpace(body))
		reqHash := hex.EncodeToString(sum[:])
		s := e.idem
		mapKey := r.URL.Path + "\x00" + key
		s.mu.Lock()
		ent, found := s.entries[mapKey]
		if !found {
			ent = &idemEntry{done: make(chan struct{}), reqHash: reqHash}
			s.entries[mapKey] = ent
			s.order = append(s.order, mapKey)
			if len(s.order) > maxIdempotencyKeys {
				delete(s.entries, s.order[0])
				s.order = s.order[1:]
			}
		}
		s.mu.Unlock()
		if found {
			<-ent.done
			if ent.reqHash != reqHash {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "Idempotency-Key " + key + " was already used with a different request body"})
				return
			}
			e.logf("idempotency key %q: replaying first answer (HTTP %d)", key, ent.code)
			w.Header().Set("Content-Type", ent.header)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(ent.code)
			_, _ = w.Write(ent.body)
			return
		}
		bw := &bufferedWriter{header: http.Header{}}
		func() {
			defer func() {
				if ent.code == 0 { // handler panicked
					ent.code, ent.body, ent.header = http.StatusInternalServerError, []byte(`{"error":"internal error"}`+"\n"), "application/json"
				}
				close(ent.done)
			}()
			h(bw, r, body)
			if bw.code == 0 {
				bw.code = http.StatusOK
			}
			ent.code, ent.body, ent.header = bw.code, bw.buf.Bytes(), bw.header.Get("Content-Type")
		}()
		for k, v := range bw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(bw.code)
		_, _ = w.Write(bw.buf.Bytes())
	}
}
