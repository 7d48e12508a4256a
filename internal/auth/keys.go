package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// signingKey is the JWT key: the private key (or HMAC secret) that signs
// and the public key (or the same secret) that verifies.
type signingKey struct {
	method jwt.SigningMethod
	sign   any
	verify any
	kid    string
}

func methodFor(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case "ES512":
		return jwt.SigningMethodES512, nil
	case "ES384":
		return jwt.SigningMethodES384, nil
	case "ES256":
		return jwt.SigningMethodES256, nil
	case "EdDSA":
		return jwt.SigningMethodEdDSA, nil
	case "HS512":
		return jwt.SigningMethodHS512, nil
	case "HS384":
		return jwt.SigningMethodHS384, nil
	case "HS256":
		return jwt.SigningMethodHS256, nil
	}
	return nil, fmt.Errorf("unsupported JWT algorithm %q", alg)
}

func curveFor(alg string) elliptic.Curve {
	switch alg {
	case "ES512":
		return elliptic.P521()
	case "ES384":
		return elliptic.P384()
	case "ES256":
		return elliptic.P256()
	}
	return nil
}

// GeneratedKeyPath is where kgate keeps the key it generates for alg when
// none is configured.
func GeneratedKeyPath(dataDir, alg string) string {
	ext := ".pem"
	if strings.HasPrefix(alg, "HS") {
		ext = ".key"
	}
	return filepath.Join(dataDir, "jwt-"+strings.ToLower(alg)+ext)
}

// loadSigningKey reads keyFile, or, when it is empty, the key generated
// into dataDir, generating it (mode 0600) on first start.
func loadSigningKey(alg, keyFile, dataDir string, logger *slog.Logger) (*signingKey, error) {
	method, err := methodFor(alg)
	if err != nil {
		return nil, err
	}
	path := keyFile
	if path == "" {
		if dataDir == "" {
			return nil, errors.New("no JWT key file and no data directory to generate one into")
		}
		path = GeneratedKeyPath(dataDir, alg)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := generateKey(alg, path); err != nil {
				return nil, err
			}
			logger.Info("generated JWT signing key", "path", path, "algorithm", alg)
		}
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("JWT key file is readable by other users; chmod 600 it", "path", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading JWT key: %w", err)
	}
	k, err := parseSigningKey(alg, b)
	if err != nil {
		return nil, fmt.Errorf("JWT key %s: %w", path, err)
	}
	k.method = method
	return k, nil
}

// parseSigningKey reads a PEM private key (SEC 1 "EC PRIVATE KEY" as
// openssl ecparam writes it, or PKCS #8) for ES*/EdDSA, or a secret of at
// least 32 bytes for HS*.
func parseSigningKey(alg string, b []byte) (*signingKey, error) {
	if strings.HasPrefix(alg, "HS") {
		secret := bytes.TrimSpace(b)
		if len(secret) < 32 {
			return nil, errors.New("an HMAC secret must hold at least 32 bytes")
		}
		sum := sha256.Sum256(secret)
		return &signingKey{sign: secret, verify: secret, kid: "hs-" + hex.EncodeToString(sum[:6])}, nil
	}
	var priv any
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		var err error
		switch blk.Type {
		case "EC PRIVATE KEY":
			priv, err = x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			priv, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		break
	}
	if priv == nil {
		return nil, errors.New("no PEM private key found")
	}
	var pub any
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		want := curveFor(alg)
		if want == nil || k.Curve != want {
			return nil, fmt.Errorf("an EC key on %s does not fit %s", k.Curve.Params().Name, alg)
		}
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		if alg != "EdDSA" {
			return nil, fmt.Errorf("an Ed25519 key does not fit %s", alg)
		}
		pub = k.Public()
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &signingKey{sign: priv, verify: pub, kid: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

// generateKey writes a new key for alg to path with mode 0600, failing if
// the file appeared meanwhile.
func generateKey(alg, path string) error {
	var data []byte
	switch {
	case strings.HasPrefix(alg, "HS"):
		secret := make([]byte, 64)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		data = []byte(hex.EncodeToString(secret) + "\n")
	case alg == "EdDSA":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return err
		}
		data = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	default:
		priv, err := ecdsa.GenerateKey(curveFor(alg), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalECPrivateKey(priv)
		if err != nil {
			return err
		}
		data = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating JWT key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing JWT key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing JWT key: %w", err)
	}
	return f.Close()
}
