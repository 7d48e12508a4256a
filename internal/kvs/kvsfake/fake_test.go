package kvsfake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func sampleStream(t testing.TB, unknownClusters bool) []byte {
	t.Helper()
	var h struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment struct {
			Info   webm.Info   `ebml:"Info"`
			Tracks webm.Tracks `ebml:"Tracks"`
		} `ebml:"Segment,size=unknown"`
	}
	h.Header = webm.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8, DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2}
	h.Segment.Info = webm.Info{TimecodeScale: 1000000}
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, TrackType: 1, CodecID: "V_MPEG4/ISO/AVC",
		CodecPrivate: []byte{1, 66, 0, 30}, Video: &webm.Video{PixelWidth: 64, PixelHeight: 48}}}
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b); err != nil {
		t.Fatal(err)
	}
	for c := range 2 {
		var cl struct {
			Cluster webm.Cluster `ebml:"Cluster"`
		}
		if unknownClusters {
			var ucl struct {
				Cluster webm.Cluster `ebml:"Cluster,size=unknown"`
			}
			ucl.Cluster.Timecode = uint64(1000 * c)
			ucl.Cluster.SimpleBlock = []ebml.Block{{TrackNumber: 1, Keyframe: true, Data: [][]byte{{1, 2, 3}}}, {TrackNumber: 1, Timecode: 33, Data: [][]byte{{4}}}}
			if err := ebml.Marshal(&ucl, &b); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cl.Cluster.Timecode = uint64(1000 * c)
		cl.Cluster.SimpleBlock = []ebml.Block{{TrackNumber: 1, Keyframe: true, Data: [][]byte{{1, 2, 3}}}, {TrackNumber: 1, Timecode: 33, Data: [][]byte{{4}}}}
		if err := ebml.Marshal(&cl, &b); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

type recorder struct {
	hdr      Header
	starts   []uint64
	clusters []Cluster
}

func (r *recorder) Header(h Header) error        { r.hdr = h; return nil }
func (r *recorder) ClusterStart(tc uint64) error { r.starts = append(r.starts, tc); return nil }
func (r *recorder) ClusterEnd(c Cluster) error   { r.clusters = append(r.clusters, c); return nil }

func TestParseMatroska(t *testing.T) {
	for _, unknown := range []bool{false, true} {
		var r recorder
		if err := ParseMatroska(bytes.NewReader(sampleStream(t, unknown)), &r); err != nil {
			t.Fatalf("unknown=%v: %v", unknown, err)
		}
		if r.hdr.DocType != "matroska" || len(r.hdr.Tracks) != 1 || r.hdr.Tracks[0].Width != 64 || r.hdr.Tracks[0].CodecID != "V_MPEG4/ISO/AVC" {
			t.Errorf("header %+v", r.hdr)
		}
		if len(r.clusters) != 2 || r.clusters[1].Timecode != 1000 || len(r.clusters[1].Blocks) != 2 || !r.clusters[1].Blocks[0].Key ||
			r.clusters[1].Blocks[1].Timecode != 33 || !bytes.Equal(r.clusters[1].Blocks[0].Data, []byte{1, 2, 3}) {
			t.Errorf("unknown=%v: clusters %+v", unknown, r.clusters)
		}
	}
	good := sampleStream(t, false)
	for name, in := range map[string][]byte{
		"empty":      nil,
		"not ebml":   []byte("RIFF...."),
		"truncated":  good[:len(good)-2],
		"webm only?": append([]byte{}, good[:5]...),
	} {
		if err := ParseMatroska(bytes.NewReader(in), &recorder{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParseMatroska(f *testing.F) {
	f.Add(sampleStream(f, false))
	f.Add(sampleStream(f, true))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r recorder
		err := ParseMatroska(bytes.NewReader(b), &r)
		if err != nil && !errors.Is(err, ErrInvalidMatroska) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		for _, c := range r.clusters {
			if c.Bytes > int64(len(b)) {
				t.Fatalf("cluster of %d bytes from %d input bytes", c.Bytes, len(b))
			}
		}
	})
}

func TestVerifySigV4(t *testing.T) {
	keys := map[string]Key{"AK": {AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "TOK"}}
	lookup := func(ak string) (Key, bool) { k, ok := keys[ak]; return k, ok }
	sign := func(secret, token string, mutate func(*http.Request)) *http.Request {
		req, _ := http.NewRequest("POST", "http://127.0.0.1:1234/putMedia", strings.NewReader("body"))
		req.Header.Set("x-amzn-stream-name", "cam")
		creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: secret, SessionToken: token}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptyHash, "kinesisvideo", "us-west-2", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Host = req.URL.Host
		if mutate != nil {
			mutate(req)
		}
		return req
	}
	now := time.Now()
	if ak, err := verifySigV4(sign("SK", "TOK", nil), nil, lookup, "kinesisvideo", "us-west-2", now); err != nil || ak != "AK" {
		t.Fatalf("valid request: %q %v", ak, err)
	}
	for name, tc := range map[string]struct {
		req    *http.Request
		region string
		at     time.Time
	}{
		"wrong secret":     {sign("XX", "TOK", nil), "us-west-2", now},
		"missing token":    {sign("SK", "", nil), "us-west-2", now},
		"tampered header":  {sign("SK", "TOK", func(r *http.Request) { r.Header.Set("x-amzn-stream-name", "other") }), "us-west-2", now},
		"other region":     {sign("SK", "TOK", nil), "eu-west-1", now},
		"stale":            {sign("SK", "TOK", nil), "us-west-2", now.Add(10 * time.Minute)},
		"hashed body sent": {sign("SK", "TOK", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abc") }), "us-west-2", now},
	} {
		if _, err := verifySigV4(tc.req, nil, lookup, "kinesisvideo", tc.region, tc.at); !errors.Is(err, errSignature) {
			t.Errorf("%s: err = %v, want a signature error", name, err)
		}
	}
}
