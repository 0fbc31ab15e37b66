package admin

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/scailabs/webhookd/kv"
)

const tracerName = "github.com/scailabs/webhookd/admin"

// API is the admin REST API. Build it with New, serve Handler, and Close it
// when the server has stopped.
type API struct {
	cfg     Config
	store   kv.Store
	tasks   TaskPublisher
	tester  Tester
	catalog *Catalog
	log     *slog.Logger
	tracer  trace.Tracer
	now     func() time.Time
	auth    *verifier
	ids     *idSource
	openapi []byte
	handler http.Handler

	closeOnce sync.Once
}

// New validates cfg, loads the token keys (fetching the JWKS once when
// configured) and builds the router.
func New(cfg Config) (*API, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Catalog == nil {
		c, err := LoadCatalog("")
		if err != nil {
			return nil, err
		}
		cfg.Catalog = c
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	a := &API{
		cfg:     cfg,
		store:   cfg.Store,
		tasks:   cfg.Tasks,
		tester:  cfg.Tester,
		catalog: cfg.Catalog,
		log:     cfg.Logger,
		tracer:  tp.Tracer(tracerName),
		now:     cfg.Now,
		ids:     newIDSource(),
	}
	doc, err := openAPIDocument(cfg)
	if err != nil {
		return nil, err
	}
	a.openapi = doc
	v, err := newVerifier(cfg.Auth, cfg.Now, cfg.Logger)
	if err != nil {
		return nil, err
	}
	a.auth = v
	a.handler = a.routes()
	return a, nil
}

// Handler serves every route: /api/v1/admin/webhooks..., /openapi.json,
// /healthz, /readyz and /metrics.
func (a *API) Handler() http.Handler { return a.handler }

// Close stops the JWKS refresh goroutine. It is safe to call more than once.
func (a *API) Close() {
	a.closeOnce.Do(a.auth.close)
}
