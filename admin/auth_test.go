package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{rsa: r1, rsa2: r2, ec: ec}
})

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claimsAt are super-admin claims valid at now for an hour.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"role": "super_admin", "sub": "x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func expect401(t *testing.T, f *fixture, token, name string) {
	t.Helper()
	r := f.do("GET", base, token, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401; body %s", name, r.status, r.body)
		return
	}
	if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("%s: WWW-Authenticate = %q, want Bearer", name, got)
	}
	if d := r.detail(t); d == "" || strings.Contains(d, token) && token != "" {
		t.Errorf("%s: detail %q", name, d)
	}
}

func TestHS256Tokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := f.clock.Now()
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodHS256, testKey, claimsAt(now), ""), nil), http.StatusOK)

	noExp := claimsAt(now)
	delete(noExp, "exp")
	expired := claimsAt(now)
	expired["exp"] = now.Add(-time.Minute).Unix()
	inLeeway := claimsAt(now)
	inLeeway["exp"] = now.Add(-10 * time.Second).Unix()
	future := claimsAt(now)
	future["nbf"] = now.Add(time.Hour).Unix()
	badRole := claimsAt(now)
	badRole["platform_token"] = "yes"

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	ta := claimsAt(now)
	ta["role"], ta["tenant_id"] = "tenant_admin", "tnt_t"
	good := sign(t, jwt.SigningMethodHS256, testKey, ta, "")
	parts := strings.Split(good, ".")
	elevated := claimsAt(now)
	elevated["iat"], elevated["exp"] = ta["iat"], ta["exp"]
	tampered := base64.RawURLEncoding.EncodeToString(must(json.Marshal(elevated)))

	cases := []struct{ name, token string }{
		{"other key", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 40)), claimsAt(now), "")},
		{"expired", sign(t, jwt.SigningMethodHS256, testKey, expired, "")},
		{"missing exp", sign(t, jwt.SigningMethodHS256, testKey, noExp, "")},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, testKey, future, "")},
		{"alg none", none},
		{"alg none, signature kept", strings.Split(none, ".")[0] + "." + parts[1] + "." + parts[2]},
		{"HS384", sign(t, jwt.SigningMethodHS384, testKey, claimsAt(now), "")},
		{"HS512", sign(t, jwt.SigningMethodHS512, testKey, claimsAt(now), "")},
		{"RS256 without RSA keys", sign(t, jwt.SigningMethodRS256, keys().rsa, claimsAt(now), "")},
		{"tampered payload", parts[0] + "." + tampered + "." + parts[2]},
		{"claim of the wrong type", sign(t, jwt.SigningMethodHS256, testKey, badRole, "")},
		{"garbage", "not.a.jwt"},
	}
	for _, c := range cases {
		expect401(t, f, c.token, c.name)
	}
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodHS256, testKey, inLeeway, ""), nil), http.StatusOK)

	// Header forms.
	for name, hdr := range map[string][]string{
		"basic":        {"Authorization", "Basic dXNlcjpwYXNz"},
		"no scheme":    {"Authorization", good},
		"empty bearer": {"Authorization", "Bearer "},
		"two headers":  {"Authorization", "Bearer " + good, "Authorization", "Bearer " + good},
		"two tokens":   {"Authorization", "Bearer " + good + " " + good},
	} {
		r := f.do("GET", base, "", nil, hdr...)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s: %d %v", name, r.status, r.header)
		}
	}
	r := f.do("GET", base, "", nil)
	expectStatus(t, r, http.StatusUnauthorized)
	if d := r.detail(t); d != "Not authenticated" {
		t.Errorf("no token: detail %q", d)
	}
	expectStatus(t, f.do("GET", base, "", nil, "Authorization", "bearer "+good), http.StatusOK)
}

func TestExpiredDetail(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.token(superAdmin)
	f.clock.Add(2 * time.Hour)
	r := f.do("GET", base, tok, nil)
	expectStatus(t, r, http.StatusUnauthorized)
	if d := r.detail(t); d != "Token has expired" {
		t.Errorf("detail = %q", d)
	}
}

func TestIssuerAndAudience(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) { c.Auth.Issuer, c.Auth.Audience = "https://scaikey.example", "webhookd" })
	tok := func(iss, aud string) string {
		return f.token(TokenClaims{Role: "super_admin", Issuer: iss, Audience: aud})
	}
	expectStatus(t, f.do("GET", base, tok("https://scaikey.example", "webhookd"), nil), http.StatusOK)
	expect401(t, f, tok("https://evil.example", "webhookd"), "wrong iss")
	expect401(t, f, tok("https://scaikey.example", "other"), "wrong aud")
	expect401(t, f, tok("", "webhookd"), "no iss")
	expect401(t, f, tok("https://scaikey.example", ""), "no aud")
}

func TestPublicKeyPEM(t *testing.T) {
	t.Parallel()
	k := keys()
	pemBytes := append(pemOf(t, &k.rsa.PublicKey), pemOf(t, &k.ec.PublicKey)...)
	f := setup(t, func(c *Config) { c.Auth = AuthConfig{PublicKeyPEM: pemBytes} })
	now := f.clock.Now()
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now), ""), nil), http.StatusOK)
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodES256, k.ec, claimsAt(now), ""), nil), http.StatusOK)

	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	cases := []struct{ name, token string }{
		// The classic confusion: the public key's PEM used as an HMAC secret.
		{"HS256 keyed by the RSA public key PEM", sign(t, jwt.SigningMethodHS256, rsaPEM, claimsAt(now), "")},
		{"HS256 keyed by the DER", sign(t, jwt.SigningMethodHS256, must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)), claimsAt(now), "")},
		{"RS256 by another key", sign(t, jwt.SigningMethodRS256, k.rsa2, claimsAt(now), "")},
		{"PS256 by the right key", sign(t, jwt.SigningMethodPS256, k.rsa, claimsAt(now), "")},
		{"RS512 by the right key", sign(t, jwt.SigningMethodRS512, k.rsa, claimsAt(now), "")},
		{"ES384", sign(t, jwt.SigningMethodES384, mustEC(t, elliptic.P384()), claimsAt(now), "")},
	}
	for _, c := range cases {
		expect401(t, f, c.token, c.name)
	}

	// With an HS256 key configured too, the PEM still is no HMAC key.
	g := setup(t, func(c *Config) { c.Auth = AuthConfig{PublicKeyPEM: rsaPEM, HS256Key: testKey} })
	expect401(t, g, sign(t, jwt.SigningMethodHS256, rsaPEM, claimsAt(now), ""), "HS256 by PEM beside an HS key")
	expectStatus(t, g.do("GET", base, sign(t, jwt.SigningMethodHS256, testKey, claimsAt(now), ""), nil), http.StatusOK)
	expect401(t, g, sign(t, jwt.SigningMethodES256, k.ec, claimsAt(now), ""), "ES256 with only an RSA PEM")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAuthConfigErrors(t *testing.T) {
	t.Parallel()
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]AuthConfig{
		"nothing":         {},
		"short HS key":    {HS256Key: []byte("short")},
		"negative leeway": {HS256Key: testKey, Leeway: -time.Second},
		"garbage PEM":     {PublicKeyPEM: []byte("hello")},
		"private key":     {PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})},
		"RSA 1024":        {PublicKeyPEM: pemOf(t, &small.PublicKey)},
		"P-384":           {PublicKeyPEM: pemOf(t, &mustEC(t, elliptic.P384()).PublicKey)},
	}
	b := openBolt(t)
	for name, ac := range cases {
		_, err := New(Config{Store: b, Tasks: &fakeTasks{}, Tester: &fakeTester{}, Auth: ac})
		if err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	for name, cfg := range map[string]Config{
		"no store":  {Tasks: &fakeTasks{}, Tester: &fakeTester{}, Auth: AuthConfig{HS256Key: testKey}},
		"no tasks":  {Store: b, Tester: &fakeTester{}, Auth: AuthConfig{HS256Key: testKey}},
		"no tester": {Store: b, Tasks: &fakeTasks{}, Auth: AuthConfig{HS256Key: testKey}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	// A PKCS#1 block and a certificate are accepted.
	pk1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	if _, err := parsePublicKeys(pk1); err != nil {
		t.Errorf("PKCS#1: %v", err)
	}
}

// jwksServer serves a JWK Set that tests can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []jwkset.JWKMarshal
	hits atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(t *testing.T, key any, kid string, alg jwkset.ALG) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, jwk.Marshal())
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t)
	srv.add(t, &k.rsa.PublicKey, "rsa-1", jwkset.AlgRS256)
	srv.add(t, &k.ec.PublicKey, "ec-1", jwkset.AlgES256)
	hmacSecret := []byte(strings.Repeat("s", 48))
	srv.add(t, hmacSecret, "oct-1", jwkset.AlgHS256)

	f := setup(t, func(c *Config) { c.Auth = AuthConfig{JWKSURL: srv.URL} })
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", got)
	}
	now := f.clock.Now()
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now), "rsa-1"), nil), http.StatusOK)
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodES256, k.ec, claimsAt(now), "ec-1"), nil), http.StatusOK)
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodES256, k.ec, claimsAt(now), ""), nil), http.StatusOK)
	expect401(t, f, sign(t, jwt.SigningMethodHS256, hmacSecret, claimsAt(now), "oct-1"), "HS256 by a JWKS oct key")
	expect401(t, f, sign(t, jwt.SigningMethodES256, k.ec, claimsAt(now), "rsa-1"), "ES256 naming an RSA kid")
	expect401(t, f, sign(t, jwt.SigningMethodRS256, k.rsa2, claimsAt(now), "rsa-1"), "RS256 by another key")
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("known kids refetched the JWKS: %d fetches", got)
	}

	// A new key: the first unknown kid refreshes the set once.
	srv.add(t, &k.rsa2.PublicKey, "rsa-2", jwkset.AlgRS256)
	expectStatus(t, f.do("GET", base, sign(t, jwt.SigningMethodRS256, k.rsa2, claimsAt(now), "rsa-2"), nil), http.StatusOK)
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after a new kid = %d, want 2", got)
	}
	// Within the minute, unknown kids fail at once without a fetch, even
	// when the key has appeared meanwhile.
	ec2 := mustEC(t, elliptic.P256())
	srv.add(t, &ec2.PublicKey, "ec-2", jwkset.AlgES256)
	for i := 0; i < 5; i++ {
		expect401(t, f, sign(t, jwt.SigningMethodES256, ec2, claimsAt(now), "ec-2"), "kid added within the minute")
		expect401(t, f, sign(t, jwt.SigningMethodES256, ec2, claimsAt(now), "nobody"), "unknown kid")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after more unknown kids = %d, want still 2", got)
	}
	f.api.Close()
	f.api.Close() // idempotent
}

func TestJWKSDownAtStart(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t)
	url := srv.URL
	srv.Close()
	f := setup(t, func(c *Config) { c.Auth = AuthConfig{JWKSURL: url} })
	expect401(t, f, sign(t, jwt.SigningMethodRS256, keys().rsa, claimsAt(f.clock.Now()), "rsa-1"), "no keys yet")
	if !strings.Contains(f.logs.String(), "jwks refresh failed") {
		t.Errorf("the failed fetch was not logged: %s", f.logs.String())
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   []string
		want string
		ok   bool
	}{
		{[]string{"Bearer abc.def.ghi"}, "abc.def.ghi", true},
		{[]string{"bearer  abc"}, "abc", true},
		{[]string{"  Bearer abc  "}, "abc", true},
		{nil, "", false},
		{[]string{""}, "", false},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Token abc"}, "", false},
		{[]string{"Bearer a b"}, "", false},
		{[]string{"Bearer a\tb"}, "", false},
		{[]string{"Bearer a", "Bearer b"}, "", false},
		{[]string{"Bearer " + strings.Repeat("a", maxTokenBytes+1)}, "", false},
	}
	for _, c := range cases {
		got, err := bearerToken(c.in)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
