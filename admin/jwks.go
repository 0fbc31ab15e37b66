package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

const (
	jwksRefreshInterval   = time.Hour
	jwksUnknownKIDEvery   = time.Minute
	jwksHTTPTimeout       = 10 * time.Second
	jwksUnknownKIDTimeout = 10 * time.Second
)

// jwksSource verifies with the keys of a remote JWK Set. The set is
// fetched at start (a failure is logged, not fatal: the issuer may be
// briefly down), refreshed hourly by jwkset's goroutine, and refreshed on
// a request naming an unknown kid at most once a minute; other requests
// naming unknown kids meanwhile fail at once instead of waiting.
type jwksSource struct {
	kf     keyfunc.Keyfunc
	cancel context.CancelFunc
}

func newJWKSSource(url string, log *slog.Logger) (*jwksSource, error) {
	ctx, cancel := context.WithCancel(context.Background())
	remote, err := jwkset.NewStorageFromHTTP(url, jwkset.HTTPClientStorageOptions{
		Client:                    &http.Client{Timeout: jwksHTTPTimeout},
		Ctx:                       ctx,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshInterval:           jwksRefreshInterval,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			log.LogAttrs(ctx, slog.LevelWarn, "jwks refresh failed", slog.String("jwks_url", url), slog.String("error", err.Error()))
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("admin: jwks: %w", err)
	}
	// The client refreshes on every unknown kid it is asked about; the gate
	// in front of it decides how often it is asked.
	refresher, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{url: remote},
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("admin: jwks: %w", err)
	}
	gated := &gatedStorage{
		Storage: refresher,
		cached:  remote,
		limit:   rate.NewLimiter(rate.Every(jwksUnknownKIDEvery), 1),
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: gated})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("admin: jwks: %w", err)
	}
	return &jwksSource{kf: kf, cancel: cancel}, nil
}

// keys returns the JWKS keys that may verify t: the one its kid names, or
// every key when it names none; only keys of the kind t's alg is pinned to.
func (s *jwksSource) keys(ctx context.Context, t *jwt.Token) []jwt.VerificationKey {
	k, err := s.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil
	}
	var out []jwt.VerificationKey
	alg := t.Method.Alg()
	switch k := k.(type) {
	case jwt.VerificationKeySet:
		for _, key := range k.Keys {
			if keyMatches(alg, key) {
				out = append(out, key)
			}
		}
	default:
		if keyMatches(alg, k) {
			out = append(out, k)
		}
	}
	return out
}

func (s *jwksSource) close() { s.cancel() }

// gatedStorage reads keys from the cached set and lets at most one read a
// minute that misses go through to the refreshing client.
type gatedStorage struct {
	jwkset.Storage
	cached jwkset.Storage
	limit  *rate.Limiter
}

func (g *gatedStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := g.cached.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) || !g.limit.Allow() {
		return jwk, err
	}
	ctx, cancel := context.WithTimeout(ctx, jwksUnknownKIDTimeout)
	defer cancel()
	return g.Storage.KeyRead(ctx, kid)
}

func (g *gatedStorage) KeyReadAll(ctx context.Context) ([]jwkset.JWK, error) {
	return g.cached.KeyReadAll(ctx)
}
