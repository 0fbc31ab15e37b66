package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// publicKeys are the asymmetric verification keys, by algorithm.
type publicKeys struct {
	rsa []*rsa.PublicKey
	ec  []*ecdsa.PublicKey
}

// parsePublicKeys reads every PEM block of b: PKIX "PUBLIC KEY", PKCS#1
// "RSA PUBLIC KEY" or "CERTIFICATE". Anything else (a private key above
// all) is refused rather than skipped, so a wrong file fails loudly.
func parsePublicKeys(b []byte) (publicKeys, error) {
	var keys publicKeys
	for n := 1; ; n++ {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		var (
			pub any
			err error
		)
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		default:
			return publicKeys{}, fmt.Errorf("admin: public key pem block %d: unsupported type %q", n, block.Type)
		}
		if err != nil {
			return publicKeys{}, fmt.Errorf("admin: public key pem block %d: %w", n, err)
		}
		if err := keys.add(pub); err != nil {
			return publicKeys{}, fmt.Errorf("admin: public key pem block %d: %w", n, err)
		}
	}
	if len(keys.rsa)+len(keys.ec) == 0 {
		return publicKeys{}, errors.New("admin: no public key found in pem")
	}
	return keys, nil
}

func (k *publicKeys) add(pub any) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return fmt.Errorf("rsa key of %d bits, want at least %d", p.N.BitLen(), minRSABits)
		}
		k.rsa = append(k.rsa, p)
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return fmt.Errorf("ec key on %s, want P-256", p.Curve.Params().Name)
		}
		k.ec = append(k.ec, p)
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// keyMatches reports whether key is the kind alg is pinned to.
func keyMatches(alg string, key any) bool {
	switch p := key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" && p.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return alg == "ES256" && p.Curve == elliptic.P256()
	}
	return false
}
