package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// maxTokenBytes bounds the bearer token accepted, well above any real JWT.
const maxTokenBytes = 8 << 10

// verifier checks bearer JWTs. Each algorithm is pinned to its kind of key:
// HS256 only with the configured shared key, RS256 only with RSA public
// keys, ES256 only with P-256 public keys; nothing else (none above all).
type verifier struct {
	parser *jwt.Parser
	hs256  []byte
	pem    publicKeys
	jwks   *jwksSource
}

func newVerifier(cfg AuthConfig, now func() time.Time, log *slog.Logger) (*verifier, error) {
	v := &verifier{}
	var methods []string
	if len(cfg.HS256Key) > 0 {
		v.hs256 = append([]byte(nil), cfg.HS256Key...)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if len(cfg.PublicKeyPEM) > 0 {
		keys, err := parsePublicKeys(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.pem = keys
	}
	if len(v.pem.rsa) > 0 || cfg.JWKSURL != "" {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if len(v.pem.ec) > 0 || cfg.JWKSURL != "" {
		methods = append(methods, jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithIssuedAt(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	if cfg.JWKSURL != "" {
		s, err := newJWKSSource(cfg.JWKSURL, log)
		if err != nil {
			return nil, err
		}
		v.jwks = s
	}
	return v, nil
}

func (v *verifier) close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// verify parses and checks raw, returning its claims or a 401 error whose
// detail says what is wrong without echoing the token.
func (v *verifier) verify(ctx context.Context, raw string) (*tokenClaims, error) {
	var claims tokenClaims
	_, err := v.parser.ParseWithClaims(raw, &claims, v.keyfunc(ctx))
	switch {
	case err == nil:
		return &claims, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, unauthorized("Token has expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, unauthorized("Token is missing a required claim")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return nil, unauthorized("Token issuer is not accepted")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, unauthorized("Token audience is not accepted")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, unauthorized("Token is not valid yet")
	default:
		return nil, unauthorized("Invalid token")
	}
}

// keyfunc hands the parser the keys t's algorithm is pinned to. The parser
// has already refused algorithms outside the configured ones.
func (v *verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if alg == jwt.SigningMethodHS256.Alg() {
			if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || v.hs256 == nil {
				return nil, errors.New("hs256 not configured")
			}
			return v.hs256, nil
		}
		var keys []jwt.VerificationKey
		switch alg {
		case jwt.SigningMethodRS256.Alg():
			for _, k := range v.pem.rsa {
				keys = append(keys, k)
			}
		case jwt.SigningMethodES256.Alg():
			for _, k := range v.pem.ec {
				keys = append(keys, k)
			}
		default:
			return nil, errors.New("algorithm not accepted")
		}
		if v.jwks != nil {
			keys = append(keys, v.jwks.keys(ctx, t)...)
		}
		if len(keys) == 0 {
			return nil, errors.New("no key for this token")
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
}

// bearerToken extracts the token of the one Authorization header.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 || values[0] == "" {
		return "", unauthorized("Not authenticated")
	}
	if len(values) > 1 {
		return "", unauthorized("Invalid authentication credentials")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("Invalid authentication credentials")
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxTokenBytes || strings.ContainsAny(token, " \t") {
		return "", unauthorized("Invalid authentication credentials")
	}
	return token, nil
}

// authenticate requires a valid bearer token, turns its claims into the
// request's principal and checks the principal may use the method at all;
// which objects it may touch is decided by the handlers (scope.go).
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := bearerToken(r.Header.Values("Authorization"))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		claims, err := a.auth.verify(r.Context(), raw)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		p, err := newPrincipal(claims)
		if err == nil {
			err = p.allowMethod(r.Method)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("webhookd.principal", p.kind.String()))
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}
