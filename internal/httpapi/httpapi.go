// Package httpapi serves callvault's GWS-style API under /api/v2, plus
// /healthz and /metrics. It translates HTTP to service calls and errors to
// statuses (one table), and nothing more.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// Server is the HTTP face of a service.
type Server struct {
	Svc *service.Service
	Log *slog.Logger
	// MaxUpload bounds one media body; MaxMetadata one metadata body.
	MaxUpload   int64
	MaxMetadata int64
	// UI, when set, serves everything outside /api/v2, /healthz and
	// /metrics (the web UI of a later issue).
	UI http.Handler

	limiter  *service.LoginLimiter
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	stored   prometheus.Counter
}

// Defaults for the body limits.
const (
	DefaultMaxUpload   = 4 << 30
	DefaultMaxMetadata = 16 << 20
)

// Handler returns the routed handler with logging and metrics around it.
func (s *Server) Handler() http.Handler {
	if s.MaxUpload <= 0 {
		s.MaxUpload = DefaultMaxUpload
	}
	if s.MaxMetadata <= 0 {
		s.MaxMetadata = DefaultMaxMetadata
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.limiter = service.NewLoginLimiter(s.now)
	s.initMetrics()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))

	mux.HandleFunc("POST /api/v2/login", s.login)
	mux.HandleFunc("POST /api/v2/logout", s.authed(s.logout))
	mux.HandleFunc("GET /api/v2/me", s.authed(s.me))
	mux.HandleFunc("GET /api/v2/me/settings/rcbs", s.authed(s.rcbsSettings))

	mux.HandleFunc("POST /api/v2/certificates", s.authed(s.uploadCertificate))
	mux.HandleFunc("GET /api/v2/certificates", s.authed(s.listCertificates))
	mux.HandleFunc("GET /api/v2/certificates/{alias}", s.authed(s.getCertificate))
	mux.HandleFunc("POST /api/v2/certificates/{alias}/assign", s.authed(s.assignCertificate(true)))
	mux.HandleFunc("POST /api/v2/certificates/{alias}/unassign", s.authed(s.assignCertificate(false)))
	mux.HandleFunc("DELETE /api/v2/certificates/{alias}", s.authed(s.deleteCertificate))

	mux.HandleFunc("PUT /api/v2/recordings/{id}/media/{mediaId}", s.authed(s.putMedia))
	mux.HandleFunc("PUT /api/v2/recordings/{id}", s.authed(s.putMetadata))
	mux.HandleFunc("GET /api/v2/recordings", s.authed(s.searchRecordings))
	mux.HandleFunc("GET /api/v2/recordings/{id}", s.authed(s.getRecording))
	mux.HandleFunc("GET /api/v2/recordings/{id}/media/{mediaId}", s.authed(s.getMedia))
	mux.HandleFunc("GET /api/v2/recordings/{id}/play/{mediaId}", s.authed(s.playMedia))
	mux.HandleFunc("DELETE /api/v2/recordings/{id}", s.authed(s.deleteRecording))

	mux.HandleFunc("POST /api/v2/users", s.authed(s.createUser))
	mux.HandleFunc("GET /api/v2/users", s.authed(s.listUsers))
	mux.HandleFunc("GET /api/v2/users/{userName}", s.authed(s.getUser))
	mux.HandleFunc("PUT /api/v2/users/{userName}", s.authed(s.updateUser))

	mux.HandleFunc("GET /api/v2/settings/retention", s.authed(s.getRetention))
	mux.HandleFunc("PUT /api/v2/settings/retention", s.authed(s.putRetention))

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, vault.Errorf(vault.ENOTFOUND, "no such API call: %s %s", r.Method, r.URL.Path))
	})
	if s.UI != nil {
		mux.Handle("/", s.UI)
	}
	return s.observe(mux)
}

func (s *Server) now() time.Time {
	if s.Svc != nil && s.Svc.Now != nil {
		return s.Svc.Now()
	}
	return time.Now()
}

func (s *Server) initMetrics() {
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callvault_http_requests_total", Help: "HTTP requests by route pattern and status.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "callvault_http_request_duration_seconds", Help: "Time to serve a request, by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"route"})
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "callvault_http_in_flight_requests", Help: "Requests being served."})
	s.stored = prometheus.NewCounter(prometheus.CounterOpts{Name: "callvault_media_stored_bytes_total", Help: "Bytes of media stored (after encryption)."})
	s.registry.MustRegister(s.requests, s.duration, s.inFlight, s.stored)
}

// statusWriter records the status and size for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps sendfile-style copies working through the wrapper.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs every request (never its credentials) and counts it.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		s.inFlight.Inc()
		defer s.inFlight.Dec()
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		s.requests.WithLabelValues(route, fmt.Sprint(sw.status)).Inc()
		s.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			return
		}
		s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "route", route, "status", sw.status,
			"bytes", sw.bytes, "ms", elapsed.Milliseconds(), "remote", r.RemoteAddr)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Svc.Store.Tenants(r.Context()); err != nil {
		s.writeError(w, r, vault.Wrap(vault.EUNAVAILABLE, err, "the metadata store does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeError answers {"code", "message"}; internal errors are logged with
// their cause and shown only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := vault.ErrorCode(err)
	status := vault.HTTPStatus(err)
	if status >= 500 {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == vault.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Basic realm="callvault", charset="UTF-8"`)
	}
	writeJSON(w, status, map[string]string{"code": code, "message": vault.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readBody reads at most limit bytes of the body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, vault.Errorf(vault.ETOOLARGE, "the body is larger than the limit of %d bytes", limit)
	}
	body, err := io.ReadAll(limitBody(r.Body, limit))
	if err != nil {
		var ve *vault.Error
		if errors.As(err, &ve) {
			return nil, err
		}
		return nil, vault.Wrap(vault.EINVALID, err, "cannot read the request body")
	}
	return body, nil
}

// decodeJSON reads a JSON body into v, refusing unknown fields and
// fields of the wrong type with a message naming them.
func decodeJSON(r *http.Request, limit int64, v any) error {
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return vault.Errorf(vault.EINVALID, "field %s: want %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case errors.As(err, &syntaxErr):
			return vault.Errorf(vault.EINVALID, "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
		case errors.Is(err, io.EOF):
			return vault.Errorf(vault.EINVALID, "the body is empty; send a JSON object")
		}
		return vault.Errorf(vault.EINVALID, "bad JSON: %v", err)
	}
	if dec.More() {
		return vault.Errorf(vault.EINVALID, "the body holds more than one JSON value")
	}
	return nil
}

// limitBody returns a reader that fails with ETOOLARGE past limit bytes.
func limitBody(r io.Reader, limit int64) io.Reader {
	return &limitedReader{r: r, left: limit, limit: limit}
}

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, vault.Errorf(vault.ETOOLARGE, "the body is larger than the limit of %d bytes", l.limit)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, vault.Errorf(vault.ETOOLARGE, "the body is larger than the limit of %d bytes", l.limit)
	}
	return n, err
}
