package kvsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Key is an access key the fake accepts.
type Key struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must come as X-Amz-Security-Token.
	SessionToken string
}

// emptyHash is the SHA-256 of the empty string.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// errSignature is any SigV4 failure; the fake answers 403.
var errSignature = errors.New("signature does not verify")

// verifySigV4 checks r's Authorization header the way AWS does, written
// from the SigV4 specification independently of the SDK's signer. body is
// the request body for hashed requests, or nil for a streamed body, whose
// payload hash must then be the empty-string hash. It returns the access
// key id that signed r.
func verifySigV4(r *http.Request, body []byte, lookup func(string) (Key, bool), service, region string, now time.Time) (string, error) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256"
	rest, ok := strings.CutPrefix(auth, algo+" ")
	if !ok {
		return "", fmt.Errorf("%w: no %s Authorization header", errSignature, algo)
	}
	var credential, signedHeaders, signature string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return "", fmt.Errorf("%w: malformed credential scope", errSignature)
	}
	ak, date, sRegion, sService := scope[0], scope[1], scope[2], scope[3]
	key, ok := lookup(ak)
	if !ok {
		return "", fmt.Errorf("%w: unknown access key", errSignature)
	}
	if sRegion != region || sService != service {
		return ak, fmt.Errorf("%w: scope %s/%s, want %s/%s", errSignature, sRegion, sService, region, service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, date) {
		return ak, fmt.Errorf("%w: bad X-Amz-Date", errSignature)
	}
	if d := now.Sub(t); d > 5*time.Minute || d < -5*time.Minute {
		return ak, fmt.Errorf("%w: request time too skewed", errSignature)
	}
	names := strings.Split(signedHeaders, ";")
	if !sort.StringsAreSorted(names) || !contains(names, "host") || !contains(names, "x-amz-date") {
		return ak, fmt.Errorf("%w: SignedHeaders must be sorted and include host and x-amz-date", errSignature)
	}
	if key.SessionToken != "" {
		if r.Header.Get("X-Amz-Security-Token") != key.SessionToken || !contains(names, "x-amz-security-token") {
			return ak, fmt.Errorf("%w: missing or wrong security token", errSignature)
		}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case body == nil:
		if payloadHash != "" && payloadHash != emptyHash {
			return ak, fmt.Errorf("%w: a streamed body must be signed with the empty payload hash", errSignature)
		}
		payloadHash = emptyHash
	case payloadHash == "":
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}

	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon.WriteString(path + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range names {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := r.Header.Values(h)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	canon.WriteString("\n" + signedHeaders + "\n" + payloadHash)

	crHash := sha256.Sum256([]byte(canon.String()))
	sts := algo + "\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(crHash[:])
	k := hmacSHA256([]byte("AWS4"+key.SecretAccessKey), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, sts))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ak, errSignature
	}
	return ak, nil
}

func hmacSHA256(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
