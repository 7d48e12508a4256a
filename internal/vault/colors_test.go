package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/consumer"
	"github.com/kgate/kgate/internal/media"
	"github.com/kgate/kgate/internal/media/mediatest"
	"github.com/kgate/kgate/internal/vault/vaulttest"
)

var bands = []mediatest.Band{
	{RGB: [3]uint8{220, 40, 40}, Height: 120},
	{RGB: [3]uint8{30, 30, 160}, Height: 72},
	{RGB: [3]uint8{240, 240, 240}, Height: 48},
}

func eventJSON(key string) []byte {
	return fmt.Appendf(nil, `{"date":1606164482,"source":"gcp-europe-west1","provider":"kstorage",
		"payload":{"fileSize":1,"key":%q,"metadata":{"event-instancename":"FundoEsquerda","event-numberofchanges":"51",
		"event-timestamp":"1606164482","event-regioncoordinates":"229-153-288-247"}}}`, key)
}

func TestColorsHandler(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clip := mediatest.Make(t, dir, "clip.mp4", mediatest.Clip{Width: 320, Bands: bands})
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	const key = "vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4"
	srv := vaulttest.New(t, testAccessKey, testSecretKey)
	srv.Put("gcp-europe-west1", key, b)
	srv.Put("gcp-europe-west1", "acc/garbage.mp4", []byte("this is not a video"))
	fo := fastFetch
	fo.TempDir = t.TempDir()
	src, err := NewBlobAPI(BlobAPIOptions{URL: srv.URL, AccessKey: testAccessKey, SecretAccessKey: config.Secret(testSecretKey), Fetch: fo})
	if err != nil {
		t.Fatal(err)
	}
	h := &ColorsHandler{Source: src, Decoder: &media.FFmpeg{Threads: 1}}

	outs, err := h.Handle(t.Context(), &kgo.Record{Value: eventJSON(key)})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("%d outputs", len(outs))
	}
	var res ColorsResult
	if err := json.Unmarshal(outs[0].Value, &res); err != nil {
		t.Fatal(err)
	}
	if res.Key != key || res.Provider != "gcp-europe-west1" || res.Storage != "kstorage" || res.FetchedFrom != "vault" ||
		res.EventDate == nil || !res.EventDate.Equal(time.Unix(1606164482, 0)) || res.SizeBytes != int64(len(b)) {
		t.Errorf("recording fields: %+v", res)
	}
	if res.Frame.Width != 320 || res.Frame.Height != 240 {
		t.Errorf("frame %+v", res.Frame)
	}
	rec := res.Recording
	if rec == nil || rec.InstanceName != "FundoEsquerda" || rec.NumberOfChanges == nil || *rec.NumberOfChanges != 51 ||
		rec.Region == nil || *rec.Region != [4]int{229, 153, 288, 247} || rec.Directory != "vessosa" ||
		rec.Timestamp == nil || rec.Timestamp.UnixMicro() != 1606164482818812 || rec.From != "file_name+metadata" {
		t.Errorf("recording %+v", rec)
	}
	if len(res.Colors) != 3 {
		t.Fatalf("colours %+v", res.Colors)
	}
	for i, c := range res.Colors {
		for j := range 3 {
			if d := int(c.RGB[j]) - int(bands[i].RGB[j]); d < -6 || d > 6 {
				t.Errorf("colour %d = %v, want %v", i, c.RGB, bands[i].RGB)
			}
		}
		if want := float64(bands[i].Height) / 240; math.Abs(c.Share-want) > 0.01 {
			t.Errorf("colour %d share %.4f, want %.4f", i, c.Share, want)
		}
	}
	if res.TimingsMS.Total <= 0 || res.TimingsMS.Decode <= 0 {
		t.Errorf("timings %+v", res.TimingsMS)
	}
	if entries, _ := os.ReadDir(fo.TempDir); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}

	failures := []struct {
		name   string
		value  []byte
		reason string
	}{
		{"not json", []byte("{oops"), consumer.ReasonMalformed},
		{"no key", []byte(`{"source":"x","payload":{}}`), consumer.ReasonMalformed},
		{"no source", []byte(`{"payload":{"key":"a.mp4"}}`), consumer.ReasonMalformed},
		{"missing recording", eventJSON("acc/none.mp4"), consumer.ReasonPermanent},
		{"not a video", eventJSON("acc/garbage.mp4"), consumer.ReasonPermanent},
	}
	for _, f := range failures {
		_, err := h.Handle(t.Context(), &kgo.Record{Value: f.value})
		if err == nil {
			t.Errorf("%s: no error", f.name)
			continue
		}
		if got := consumer.Reason(err); got != f.reason {
			t.Errorf("%s: reason %q, want %q (err %v)", f.name, got, f.reason, err)
		}
	}
	// A 5xx that outlasts the source's retries is left to the runtime
	// to retry.
	srv.FailNext(10, 500)
	_, err = h.Handle(t.Context(), &kgo.Record{Value: eventJSON(key)})
	if err == nil || consumer.Reason(err) != "" {
		t.Errorf("5xx: err = %v, reason %q, want retryable", err, consumer.Reason(err))
	}
	srv.FailNext(0, 0)
}

func TestColorsHandlerDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "acc"), 0o755)
	mediatest.Make(t, filepath.Join(root, "acc"), "1700000000_3-123_front_door_0-0-0-0_-1_5000.mp4",
		mediatest.Clip{Width: 160, Bands: bands[:2], Then: []mediatest.Band{{RGB: bands[2].RGB, Height: 192}}, Duration: time.Second})
	src, err := NewDir(root, FetchOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := &ColorsHandler{Source: src, Decoder: &media.FFmpeg{Threads: 1}, At: 1500 * time.Millisecond, Colors: media.ColorOptions{K: 2}}
	res, err := h.Analyze(t.Context(), []byte(`{"payload":{"key":"acc/1700000000_3-123_front_door_0-0-0-0_-1_5000.mp4"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.FetchedFrom != "dir" || res.Frame.AtMS != 1500 || res.Recording == nil || res.Recording.From != "file_name" ||
		res.Recording.InstanceName != "front_door" || *res.Recording.NumberOfChanges != -1 {
		t.Errorf("result %+v, recording %+v", res, res.Recording)
	}
	// The second segment is one white band.
	if len(res.Colors) != 1 || res.Colors[0].Share != 1 {
		t.Errorf("colours at 1.5s: %+v", res.Colors)
	}
}

func TestColorsHandlerS3(t *testing.T) {
	t.Parallel()
	clip := mediatest.Make(t, t.TempDir(), "clip.mp4", mediatest.Clip{Width: 320, Bands: bands, Faststart: false})
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer ts.Close()
	up := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("id", "secret", "")})
	if _, err := up.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("vault")}); err != nil {
		t.Fatal(err)
	}
	const key = "acc/1700000000_3-123_yard_0-0-0-0_-1_5000.mp4"
	if _, err := up.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("recordings/" + key),
		Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
	src, err := NewS3(S3Options{Endpoint: ts.URL, Bucket: "vault", Prefix: "recordings", PathStyle: true,
		AccessKeyID: "id", SecretAccessKey: "secret", Fetch: FetchOptions{TempDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	h := &ColorsHandler{Source: src, Decoder: &media.FFmpeg{Threads: 1}}
	res, err := h.Analyze(t.Context(), eventJSON(key))
	if err != nil {
		t.Fatal(err)
	}
	if res.FetchedFrom != "s3" || res.SizeBytes != int64(len(b)) || len(res.Colors) != 3 || res.Colors[0].Hex == "" {
		t.Errorf("result %+v", res)
	}
	if _, err := h.Analyze(t.Context(), eventJSON("acc/none.mp4")); consumer.Reason(err) != consumer.ReasonPermanent {
		t.Errorf("missing object: %v", err)
	}
}
