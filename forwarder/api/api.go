// Package api is the sidekick's HTTP API, falcosidekick-compatible:
//
//	POST /                    one Falco alert: 200 once queued, 400 bad alert,
//	                          401 bad token, 413 over bodylimit or larger than
//	                          the queue takes, 503 queue full or busy
//	POST /test                a Debug "Test rule" alert to every enabled output
//	GET  /ping                "pong"
//	GET  /healthz             JSON: status, queue health, outputs and their
//	                          delivery state
//	GET  /metrics             Prometheus
//	GET  /debug/vars          expvar, as falcosidekick serves it
//	GET  /api/v1/deadletters  deliveries given up (?limit=N, default 100)
//
// When a token is configured, POST /, POST /test and /api/v1/* require
// "Authorization: Bearer <token>".
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/dedup"
	"github.com/nightjar-sec/nightjar/forwarder/metrics"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/route"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Queue is what the API needs of the durable queue (*queue.Queue).
type Queue interface {
	// Enqueue returns nil only once the alert is stored for every output;
	// errors.Is(err, queue.ErrFull) when the backlog limit is reached,
	// queue.ErrBusy when the server is not keeping up, queue.ErrTooLarge
	// when the stored alert would exceed the server's max payload. It
	// must return within a bounded time even when ctx has no deadline. It
	// assigns a.UUID when the sender sent none.
	Enqueue(ctx context.Context, a *alert.Alert, outputNames []string) error
	Health() queue.Health
	DeadLetters(ctx context.Context, limit int) ([]queue.DeadLetter, error)
}

// OutputInfo describes an enabled output for /healthz and /test.
type OutputInfo struct {
	Name            string `json:"name"`
	Type            string `json:"type"`
	MinimumPriority string `json:"minimumpriority"`
}

// DeliveryState is an output's recent delivery attempts in this process
// (dispatch.OutputState), as /healthz shows them.
type DeliveryState struct {
	// State is derived from the rest by /healthz (StateIdle, StateOK or
	// StateFailing); Options.DeliveryStates leaves it empty.
	State       string    `json:"state"`
	LastSuccess time.Time `json:"lastsuccess,omitzero"` // zero: no success yet
	LastFailure time.Time `json:"lastfailure,omitzero"` // zero: no failure yet
	// LastError is the last failure's text, scrubbed of secrets by the
	// output (as the dead letters record its reason). /healthz shows it
	// only to requests with the bearer token when authtoken is set: it may
	// quote the alert.
	LastError string `json:"lasterror,omitempty"`
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures uint64 `json:"consecutivefailures"`
}

// Output states in /healthz.
const (
	StateIdle    = "idle"    // no attempt yet since start-up
	StateOK      = "ok"      // the last attempt succeeded
	StateFailing = "failing" // the last attempt failed
)

// DefaultRetryAfter is what a 503 asks senders to wait.
const DefaultRetryAfter = 5 * time.Second

// Options configure the handler.
type Options struct {
	Queue  Queue
	Router *route.Router
	// Dedup drops repeats per output (outputs' dedup setting); nil: none.
	Dedup   *dedup.Filter
	Outputs []OutputInfo
	// DeliveryStates returns each output's DeliveryState by name (State
	// left empty), for /healthz; nil shows outputs without their state.
	DeliveryStates func() map[string]DeliveryState
	Enricher       Enricher
	BodyLimit      int64
	// AuthToken, when set, is required as a bearer token.
	AuthToken outputs.Secret
	Metrics   *metrics.Metrics
	// Gatherer serves /metrics; nil serves the default registry.
	Gatherer   prometheus.Gatherer
	Log        *slog.Logger
	RetryAfter time.Duration
	Version    string
	// Hostname is the test alert's hostname; default os.Hostname.
	Hostname string
}

type handler struct {
	Options
	tokenSum [32]byte
}

// New returns the API's handler.
func New(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.DefaultGatherer
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	h := &handler{Options: o}
	if o.AuthToken.IsSet() {
		h.tokenSum = sha256.Sum256([]byte(o.AuthToken.Reveal()))
	}

	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(middleware.GetHead) // HEAD probes get the GET handlers' headers
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
	r.Group(func(r chi.Router) {
		r.Use(h.authorize)
		r.Post("/", h.ingest)
		r.Post("/test", h.test)
		r.Get("/api/v1/deadletters", h.deadLetters)
	})
	r.Get("/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "pong\n")
	})
	r.Get("/healthz", h.health)
	r.Handle("/metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	r.Handle("/debug/vars", expvar.Handler())
	return r
}

// authorize checks the bearer token. Both sides are hashed first so that the
// comparison takes the same time whatever the length of the guess.
func (h *handler) authorize(next http.Handler) http.Handler {
	if !h.AuthToken.IsSet() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			if r.URL.Path == "/" {
				h.Metrics.Input("unauthorized")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="nightjar-sidekick"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <authtoken>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the bearer token, or none is set.
func (h *handler) authorized(r *http.Request) bool {
	if !h.AuthToken.IsSet() {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return ok && subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// accepted is the body of a 200 from POST / and /test.
type accepted struct {
	UUID    string   `json:"uuid"`
	Outputs []string `json:"outputs"`
}

func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.BodyLimit), r.ContentLength, h.BodyLimit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.Metrics.Input(metrics.InputRejected)
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds bodylimit (%d bytes)", h.BodyLimit))
			return
		}
		h.Metrics.Input(metrics.InputRejected)
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	a, err := alert.Decode(body)
	if err != nil {
		h.Metrics.Input(metrics.InputRejected)
		h.Log.Debug("rejected alert", "remote", r.RemoteAddr, "error", err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The queue assigns the uuid when the sender did not (Queue.Enqueue).
	h.enrich(a)
	outs, repeats, key := h.Dedup.Split(a, h.Router.Outputs(a))
	for _, o := range repeats {
		h.Metrics.Repeat(o)
	}
	if h.enqueue(w, r, a, outs) {
		h.Dedup.Accepted(key, outs)
	}
	if len(repeats) > 0 {
		h.Log.Debug("repeat within the dedup window: not queued again", "uuid", a.UUID, "rule", a.Rule, "outputs", repeats)
	}
}

// readBody is io.ReadAll with the buffer sized from Content-Length when the
// sender gave one within limit, so that reading an alert allocates once
// instead of growing from 512 bytes. A body longer than announced still
// reads whole (body is a MaxBytesReader: limit holds either way).
func readBody(body io.Reader, announced, limit int64) ([]byte, error) {
	if announced <= 0 || announced > limit {
		return io.ReadAll(body)
	}
	// One byte more than announced, to read io.EOF without growing.
	b := make([]byte, 0, announced+1)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func (h *handler) enrich(a *alert.Alert) {
	for k, err := range h.Enricher.Apply(a) {
		h.Log.Warn("templatedfields: template failed on an alert; field left unset", "key", "templatedfields."+k, "rule", a.Rule, "error", err)
	}
}

// enqueue stores a for outs and answers; it reports whether a was accepted.
func (h *handler) enqueue(w http.ResponseWriter, r *http.Request, a *alert.Alert, outs []string) bool {
	// Finish storing even if the sender hangs up: the copies are already on
	// their way, and a half-stored alert would be delivered to some outputs
	// only. The sender, seeing no answer, retries (at least once). The wait
	// is bounded by the queue (Queue.Enqueue), not by a timer per request.
	if err := h.Queue.Enqueue(context.WithoutCancel(r.Context()), a, outs); err != nil {
		switch {
		case errors.Is(err, queue.ErrFull):
			h.Metrics.Input(metrics.InputFull)
			h.Log.Warn("queue full: answering 503", "uuid", a.UUID)
			h.retryLater(w, "queue full (queue.maxbytes reached): retry later")
			return false
		case errors.Is(err, queue.ErrBusy):
			h.Metrics.Input(metrics.InputBusy)
			h.Log.Warn("queue busy: answering 503", "uuid", a.UUID, "error", err)
			h.retryLater(w, "queue busy (the NATS server is not keeping up): retry later")
			return false
		case errors.Is(err, queue.ErrTooLarge):
			h.Metrics.Input(metrics.InputRejected)
			h.Log.Warn("alert larger than the queue accepts: answering 413", "uuid", a.UUID, "rule", a.Rule, "error", err)
			writeError(w, http.StatusRequestEntityTooLarge, err.Error())
			return false
		}
		h.Metrics.Input(metrics.InputError)
		h.Log.Error("enqueue failed: answering 500", "uuid", a.UUID, "error", err)
		writeError(w, http.StatusInternalServerError, "alert not stored: "+err.Error())
		return false
	}
	h.Metrics.Input(metrics.InputAccepted)
	h.Metrics.Alert(a)
	h.Log.Debug("alert accepted", "uuid", a.UUID, "rule", a.Rule, "priority", a.Priority, "source", a.Source, "outputs", outs)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(acceptedBody(a.UUID, outs))
	return true
}

// retryLater answers 503 with Retry-After.
func (h *handler) retryLater(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((h.RetryAfter+time.Second-1)/time.Second)))
	writeError(w, http.StatusServiceUnavailable, msg)
}

// acceptedBody is json.NewEncoder(w).Encode(accepted{uuid, outs}), byte
// for byte, built without reflection: it is on every POST /.
func acceptedBody(uuid string, outs []string) []byte {
	b := make([]byte, 0, 32+len(uuid)+16*len(outs))
	b = append(b, `{"uuid":`...)
	b = appendJSONString(b, uuid)
	b = append(b, `,"outputs":[`...)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, o)
	}
	return append(b, "]}\n"...)
}

// appendJSONString appends s as encoding/json writes it: directly when it
// has nothing to escape (printable ASCII other than ", \, <, >, &), through
// encoding/json otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// test sends falcosidekick's test alert to every enabled output, whatever
// their thresholds and the routes.
func (h *handler) test(w http.ResponseWriter, r *http.Request) {
	a := &alert.Alert{
		Output:   "This is a test from nightjar-sidekick",
		Priority: alert.PriorityDebug,
		Rule:     "Test rule",
		Time:     time.Now().UTC(),
		Source:   "syscall",
		Hostname: h.Hostname,
		Tags:     []string{"test", "example"},
		OutputFields: alert.Fields{
			"proc.name": "nightjar-sidekick",
			"user.name": "nightjar-sidekick",
		},
	}
	h.enrich(a)
	outs := make([]string, len(h.Outputs))
	for i, o := range h.Outputs {
		outs[i] = o.Name
	}
	h.enqueue(w, r, a, outs)
}

type healthz struct {
	Status  string         `json:"status"`
	Version string         `json:"version,omitempty"`
	Queue   queue.Health   `json:"queue"`
	Outputs []OutputHealth `json:"outputs"`
}

// OutputHealth is one output in /healthz: its configuration, and its
// delivery state when Options.DeliveryStates is set.
type OutputHealth struct {
	OutputInfo
	*DeliveryState
}

// withState returns s with its State set.
func withState(s DeliveryState) *DeliveryState {
	switch {
	case s.ConsecutiveFailures > 0:
		s.State = StateFailing
	case !s.LastSuccess.IsZero():
		s.State = StateOK
	default:
		s.State = StateIdle
	}
	return &s
}

// health answers 200 {"status":"ok"} while the queue is connected and
// answers, 503 {"status":"degraded"} otherwise, so that a readiness probe
// stops sending alerts to a sidekick that cannot store them (the shipped
// manifests probe liveness on /ping: a restart does not bring back an
// external NATS). An output that is failing does not make the sidekick
// degraded either: restarting it would not help, and its deliveries wait
// in the queue.
func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	qh := h.Queue.Health()
	out := healthz{Status: "ok", Version: h.Version, Queue: qh, Outputs: make([]OutputHealth, len(h.Outputs))}
	showErrors := h.authorized(r)
	var states map[string]DeliveryState
	if h.DeliveryStates != nil {
		states = h.DeliveryStates()
	}
	for i, o := range h.Outputs {
		out.Outputs[i].OutputInfo = o
		if states != nil {
			st := states[o.Name]
			if !showErrors {
				// A destination's error can quote the alert it was sent
				// (a webhook echoing the body, a Lambda's log tail), and
				// /healthz is open to probes: the text is shown where
				// the dead letters are, behind the token when one is set.
				st.LastError = ""
			}
			out.Outputs[i].DeliveryState = withState(st)
		}
	}
	status := http.StatusOK
	if !qh.Connected || qh.Error != "" {
		out.Status, status = "degraded", http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}

func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to 10000")
			return
		}
		limit = n
	}
	dls, err := h.Queue.DeadLetters(r.Context(), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if dls == nil {
		dls = []queue.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(dls), "deadletters": dls})
}
