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
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"callvault/internal/httpx"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// Server is the HTTP face of a service.
type Server struct {
	Svc *service.Service
	// Logins is the one login gate (limiter and bound on password
	// checks), shared with the UI; nil makes one.
	Logins *service.Logins
	// Site is the public URL and the trusted proxies, shared with the UI;
	// nil: URLs from the connection's local address, no proxies.
	Site *httpx.Site
	Log  *slog.Logger
	// MaxUpload bounds one media body; MaxMetadata one metadata body.
	MaxUpload   int64
	MaxMetadata int64
	// BodyTimeout is how long a request body other than a media upload
	// may take to arrive (plus 1 s per 64 KiB announced); UploadIdle is how
	// long a media upload may deliver no bytes. Defaults: 10 s, 1 min.
	BodyTimeout time.Duration
	UploadIdle  time.Duration
	// MetricsOnMain serves /metrics on this handler, to administrators
	// only; otherwise it is served by MetricsHandler on its own listener.
	MetricsOnMain bool
	// UI, when set, serves everything outside /api/v2, /healthz and
	// /metrics (the web UI of a later issue).
	UI http.Handler

	metricsOnce sync.Once
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	stored      prometheus.Counter
}

// Defaults for the body limits.
const (
	DefaultMaxUpload   = 4 << 30
	DefaultMaxMetadata = 16 << 20
	DefaultBodyTimeout = 10 * time.Second
	DefaultUploadIdle  = time.Minute
)

func (s *Server) defaults() {
	if s.MaxUpload <= 0 {
		s.MaxUpload = DefaultMaxUpload
	}
	if s.MaxMetadata <= 0 {
		s.MaxMetadata = DefaultMaxMetadata
	}
	if s.BodyTimeout <= 0 {
		s.BodyTimeout = DefaultBodyTimeout
	}
	if s.UploadIdle <= 0 {
		s.UploadIdle = DefaultUploadIdle
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Logins == nil {
		s.Logins = service.NewLogins(s.Svc, service.LoginOptions{})
	}
	if s.Site == nil {
		s.Site, _ = httpx.NewSite("", httpx.Proxies{})
	}
	s.metricsOnce.Do(s.initMetrics)
}

// MetricsHandler serves the Prometheus metrics, without authentication:
// for a listener of its own (-metrics-addr), which only the monitoring
// network reaches.
func (s *Server) MetricsHandler() http.Handler {
	s.defaults()
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// Handler returns the routed handler with logging and metrics around it.
func (s *Server) Handler() http.Handler {
	s.defaults()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.MetricsOnMain {
		metrics := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
		mux.HandleFunc("GET /metrics", s.authed(func(w http.ResponseWriter, r *http.Request, u *vault.User) {
			if !u.HasRole(vault.RoleAdmin) {
				s.writeError(w, r, vault.Errorf(vault.EFORBIDDEN, "metrics are for administrators"))
				return
			}
			metrics.ServeHTTP(w, r)
		}))
	}

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
	mux.HandleFunc("POST /api/v2/certificates/{alias}/rewrap", s.authed(s.rewrapCertificate))

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
	mux.HandleFunc("DELETE /api/v2/users/{userName}", s.authed(s.deleteUser))

	mux.HandleFunc("GET /api/v2/settings/retention", s.authed(s.getRetention))
	mux.HandleFunc("PUT /api/v2/settings/retention", s.authed(s.putRetention))

	mux.HandleFunc("GET /api/v2/audit", s.authed(s.listAudit))
	mux.HandleFunc("POST /api/v2/legal-holds", s.authed(s.createLegalHold))
	mux.HandleFunc("GET /api/v2/legal-holds", s.authed(s.listLegalHolds))
	mux.HandleFunc("GET /api/v2/legal-holds/{id}", s.authed(s.getLegalHold))
	mux.HandleFunc("DELETE /api/v2/legal-holds/{id}", s.authed(s.releaseLegalHold))
	mux.HandleFunc("POST /api/v2/backups/receipts", s.authed(s.putReceipts))
	mux.HandleFunc("GET /api/v2/jobs", s.authed(s.listJobs))
	mux.HandleFunc("GET /api/v2/jobs/{id}", s.authed(s.getJob))
	s.screenRoutes(mux)
	s.analyticsRoutes(mux)
	s.qmRoutes(mux)

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, vault.Errorf(vault.ENOTFOUND, "no such API call: %s %s", r.Method, r.URL.Path))
	})
	if s.UI != nil {
		mux.Handle("/", s.UI)
	}
	return s.observe(s.guard(mux))
}

// guard applies the rules for every request before routing, to the API
// and the UI alike:
//   - a request body gets a read deadline (BodyTimeout, or UploadIdle
//     between bytes for media uploads), so a slow body cannot hold a
//     connection and a handler for ever;
//   - a state-changing request that a browser made for another site is
//     refused (httpx.Site.CheckOrigin), whatever credentials it carries:
//     a browser may hold Basic credentials or a session for this server;
//   - a state-changing API call takes only application/json or
//     multipart/form-data bodies (media uploads: their media types), never
//     the text/plain, urlencoded or typeless bodies that a cross-site form
//     can send without a CORS preflight.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			if isMediaUpload(r) {
				httpx.BodyIdleDeadline(w, r, s.UploadIdle)
			} else {
				// No call but a media upload takes more than a metadata
				// record; refused before reading, and a client announcing
				// a terabyte cannot buy itself months to drip it.
				if r.ContentLength > s.MaxMetadata {
					s.writeError(w, r, vault.Errorf(vault.ETOOLARGE, "the body is larger than the limit of %d bytes", s.MaxMetadata))
					return
				}
				// A second per 64 KiB announced, on top of BodyTimeout.
				timeout := s.BodyTimeout
				if r.ContentLength > 0 {
					timeout += time.Duration(r.ContentLength/(64<<10)) * time.Second
				}
				httpx.BodyDeadline(w, r, timeout)
			}
		}
		if httpx.ChangesState(r.Method) {
			if dotSegments(r.URL.Path) {
				// The mux would answer a redirect to the cleaned path,
				// which clients follow with the same body: to another call.
				s.writeError(w, r, vault.Errorf(vault.EINVALID, "the path %q has . or .. segments", r.URL.Path))
				return
			}
			if err := s.Site.CheckOrigin(r); err != nil {
				if strings.HasPrefix(r.URL.Path, "/api/") || s.UI == nil {
					s.writeError(w, r, err)
				} else {
					http.Error(w, vault.ErrorMessage(err), http.StatusForbidden)
				}
				return
			}
			if strings.HasPrefix(r.URL.Path, "/api/") {
				if err := checkBodyType(r); err != nil {
					s.writeError(w, r, err)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// dotSegments reports a path with a "." or ".." segment.
func dotSegments(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// isMediaUpload reports PUT /api/v2/recordings/{id}/media/{mediaId}.
func isMediaUpload(r *http.Request) bool {
	if r.Method != http.MethodPut {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v2/recordings/")
	if !ok {
		return false
	}
	_, mediaID, ok := strings.Cut(rest, "/media/")
	return ok && mediaID != "" && !strings.Contains(mediaID, "/")
}

// checkBodyType refuses (415) a state-changing API call whose body is not
// JSON or a multipart form (for media uploads: audio/*, video/* or CMS).
// A call without a body needs no Content-Type.
func checkBodyType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err == nil {
		if isMediaUpload(r) {
			if strings.HasPrefix(mediaType, "audio/") || strings.HasPrefix(mediaType, "video/") || mediaType == service.CMSType {
				return nil
			}
		} else if mediaType == "application/json" || mediaType == "multipart/form-data" && takesFiles(r) {
			return nil
		}
	}
	if isMediaUpload(r) {
		return vault.Errorf(vault.EUNSUPPORTED, "Content-Type %q: give the media type, such as audio/mp3, video/mp4 or %s", ct, service.CMSType)
	}
	return vault.Errorf(vault.EUNSUPPORTED, "Content-Type %q: send application/json (multipart/form-data only to POST /api/v2/certificates)", ct)
}

// takesFiles reports the one API call that takes a multipart form: the
// certificate upload.
func takesFiles(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/api/v2/certificates"
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
	logins := s.Logins
	s.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callvault_login_password_checks_total",
			Help: "Password checks (argon2id) run for logins and Basic auth."}, func() float64 { return float64(logins.Stats().Checks) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callvault_login_refused_total",
			Help: "Login attempts refused by the limiter (429)."}, func() float64 { return float64(logins.Stats().Refused) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callvault_login_busy_total",
			Help: "Login attempts refused because the password checks were full (503)."}, func() float64 { return float64(logins.Stats().Busy) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "callvault_login_checks_running",
			Help: "Password checks running now."}, func() float64 { return float64(logins.Stats().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "callvault_login_checks_peak",
			Help: "Most password checks that ran at once since the start."}, func() float64 { return float64(logins.Stats().Peak) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "callvault_login_check_slots",
			Help: "The bound on password checks running at once."}, func() float64 { return float64(logins.Stats().Slots) }),
		heldCollector{s.Svc},
	)
}

// heldCollector is callvault_retention_held: per tenant, the recordings
// past retention that the last sweep in this process held back (legal
// holds, or requireBackup without a receipt).
type heldCollector struct{ svc *service.Service }

var heldDesc = prometheus.NewDesc("callvault_retention_held",
	"Recordings past their retention period that the last sweep run by this process kept (legal hold, or no backup receipt with requireBackup).",
	[]string{"tenant"}, nil)

func (c heldCollector) Describe(ch chan<- *prometheus.Desc) { ch <- heldDesc }

func (c heldCollector) Collect(ch chan<- prometheus.Metric) {
	for tenant, n := range c.svc.RetentionHeld() {
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(n), tenant)
	}
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
			"bytes", sw.bytes, "ms", elapsed.Milliseconds(), "remote", r.RemoteAddr, "client", s.Site.ClientAddr(r))
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Svc.Store.Tenants(r.Context()); err != nil {
		s.writeError(w, r, vault.Wrap(vault.EUNAVAILABLE, err, "the metadata store does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeJSON is the one JSON writer, shared with the UI.
var writeJSON = httpx.WriteJSON

// writeError answers {"code", "message"}; internal errors are logged with
// their cause and shown only as "internal error". A refusal to try now
// (429, 503) says when to retry.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := vault.ErrorCode(err)
	status := vault.HTTPStatus(err)
	retryAfter := service.RetryAfter(err)
	if status >= 500 && retryAfter == 0 { // a busy login gate is not a failure
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == vault.EUNAUTHORIZED && apiClient(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="callvault", charset="UTF-8"`)
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, map[string]string{"code": code, "message": vault.ErrorMessage(err)})
}

// apiClient reports whether a 401 may invite HTTP Basic credentials: only
// for API calls from clients that are not browsers. A browser (it sends
// Sec-Fetch-* headers, or asks for HTML) that got the challenge would
// show a password dialog and then send the cached credentials with every
// request to this server, also those other sites make it send: the CSRF
// that the challenge must not invite.
func apiClient(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") &&
		r.Header.Get("Sec-Fetch-Mode") == "" && r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Sec-Fetch-Dest") == "" &&
		!strings.Contains(r.Header.Get("Accept"), "text/html")
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
