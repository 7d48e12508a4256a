package vault

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedEvent is the sample from Vault's kafka-handler README.
const seedEvent = `{"date":1606164482,"source":"gcp-europe-west1","provider":"kstorage",
 "events":["monitor","sequence","analysis","throttler","notification"],
 "payload":{"fileSize":305956,
   "key":"vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4",
   "metadata":{"capture":"IPCamera","uploadtime":"1606164482","event-token":"0","event-microseconds":"0",
     "event-numberofchanges":"51","event-instancename":"FundoEsquerda","event-timestamp":"1606164482",
     "publickey":"x","event-regioncoordinates":"229-153-288-247","productid":"zdrPvi7p"}}}`

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *Event
		err  bool
	}{
		{
			name: "seed sample",
			in:   seedEvent,
			want: &Event{
				Date: time.Unix(1606164482, 0).UTC(), Source: "gcp-europe-west1", Storage: "kstorage",
				Events:   []string{"monitor", "sequence", "analysis", "throttler", "notification"},
				Key:      "vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4",
				FileSize: 305956,
				Metadata: map[string]string{"capture": "IPCamera", "uploadtime": "1606164482", "event-token": "0",
					"event-microseconds": "0", "event-numberofchanges": "51", "event-instancename": "FundoEsquerda",
					"event-timestamp": "1606164482", "publickey": "x", "event-regioncoordinates": "229-153-288-247",
					"productid": "zdrPvi7p"},
			},
		},
		{
			name: "strings for numbers, numbers for strings, unknown fields",
			in: `{"date":"1606164482","source":"minio","fileName":"x","receivecount":3,"data":{"a":1},
				"payload":{"fileSize":"12.0","key":"k.mp4","is_fragmented":false,"duration":"12",
				"metadata":{"event-numberofchanges":51,"fps":12.5,"flag":true,"nested":{"x":1},"nil":null}}}`,
			want: &Event{
				Date: time.Unix(1606164482, 0).UTC(), Source: "minio", Key: "k.mp4", FileSize: 12,
				Metadata: map[string]string{"event-numberofchanges": "51", "fps": "12.5", "flag": "true", "nil": ""},
			},
		},
		{
			name: "minimal",
			in:   `{"payload":{"key":"a/b.mp4"}}`,
			want: &Event{Key: "a/b.mp4"},
		},
		{
			name: "fractional date",
			in:   `{"date":1606164482.75,"payload":{"key":"k"}}`,
			want: &Event{Date: time.Unix(1606164482, 0).UTC(), Key: "k"},
		},
		{name: "not json", in: `hello`, err: true},
		{name: "array", in: `[1]`, err: true},
		{name: "truncated", in: `{"payload":{"key":"k"`, err: true},
		{name: "no payload", in: `{"source":"x"}`, err: true},
		{name: "no key", in: `{"payload":{"fileSize":1}}`, err: true},
		{name: "empty key", in: `{"payload":{"key":""}}`, err: true},
		{name: "key object", in: `{"payload":{"key":{"a":1}}}`, err: true},
		{name: "key traversal", in: `{"payload":{"key":"a/../../etc/passwd"}}`, err: true},
		{name: "absolute key", in: `{"payload":{"key":"/etc/passwd"}}`, err: true},
		{name: "key newline", in: `{"payload":{"key":"a\r\nX-Injected: 1"}}`, err: true},
		{name: "source newline", in: `{"source":"a\nb","payload":{"key":"k"}}`, err: true},
		{name: "bad date", in: `{"date":"yesterday","payload":{"key":"k"}}`, err: true},
		{name: "negative size", in: `{"payload":{"key":"k","fileSize":-1}}`, err: true},
		{name: "long key", in: `{"payload":{"key":"` + strings.Repeat("a", MaxKeyLength+1) + `"}}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.err {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				if !errors.Is(err, ErrMalformedEvent) {
					t.Fatalf("err = %v, does not wrap ErrMalformedEvent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(seedEvent))
	f.Add([]byte(`{"date":"1","payload":{"key":"a","fileSize":"2","metadata":{"x":1}}}`))
	f.Add([]byte(`{"payload":{"key":"../x"}}`))
	f.Add([]byte(`{"payload":null}`))
	f.Add([]byte(`{"date":1e400,"payload":{"key":"k"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error does not wrap ErrMalformedEvent: %v", err)
			}
			return
		}
		if checkKey(ev.Key) != nil {
			t.Fatalf("accepted bad key %q", ev.Key)
		}
		if !validHeaderValue(ev.Source) {
			t.Fatalf("accepted bad source %q", ev.Source)
		}
		if ev.FileSize < 0 {
			t.Fatalf("negative size %d", ev.FileSize)
		}
	})
}

func TestParseFileName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want FileName
		err  bool
	}{
		{
			in: "vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4",
			want: FileName{Directory: "vessosa", Timestamp: time.Unix(1606164482, 818812000).UTC(), InstanceName: "FundoEsquerda",
				Region: [4]int{229, 153, 288, 247}, NumberOfChanges: 51, Last: 745},
		},
		{
			in: "1564859471_6-474162_oprit_577-283-727-375_1153_27.mp4",
			want: FileName{Timestamp: time.Unix(1564859471, 474162000).UTC(), InstanceName: "oprit",
				Region: [4]int{577, 283, 727, 375}, NumberOfChanges: 1153, Last: 27},
		},
		{
			in: "acc/sub/1700000000_3-123_front_door_cam_0-0-0-0_-1_5000.mp4",
			want: FileName{Directory: "acc/sub", Timestamp: time.Unix(1700000000, 123000000).UTC(), InstanceName: "front_door_cam",
				Region: [4]int{0, 0, 0, 0}, NumberOfChanges: -1, Last: 5000},
		},
		{
			in: "1700000000_3-5_cam_1-2-3-4_7_8",
			want: FileName{Timestamp: time.Unix(1700000000, 5000000).UTC(), InstanceName: "cam",
				Region: [4]int{1, 2, 3, 4}, NumberOfChanges: 7, Last: 8},
		},
		{in: "video.mp4", err: true},
		{in: "a_b_c_d_e_f.mp4", err: true},
		{in: "1700000000_3-1234_cam_1-2-3-4_7_8.mp4", err: true}, // value longer than its digits
		{in: "1700000000_3-123__1-2-3-4_7_8.mp4", err: true},     // empty instance
		{in: "1700000000_3-123_cam_1-2-3_7_8.mp4", err: true},    // 3 coordinates
		{in: "1700000000_3-123_cam_1-2-3-4_x_8.mp4", err: true},  // changes not a number
		{in: "1700000000_3-123_cam_1-2-3-4_-2_8.mp4", err: true}, // changes below -1
		{in: "-1_3-123_cam_1-2-3-4_1_8.mp4", err: true},          // negative time
		{in: "1700000000_0-0_cam_1-2-3-4_1_8.mp4", err: true},    // zero digits
		{in: "1700000000_3-123_cam_1-2-3-4_1_8x.mp4", err: true}, // last field
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFileName(tt.in)
			if tt.err {
				if err == nil || !errors.Is(err, ErrBadFileName) {
					t.Fatalf("err = %v, want ErrBadFileName (got %+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseFileName(f *testing.F) {
	f.Add("vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4")
	f.Add("1700000000_3-123_front_door_cam_0-0-0-0_-1_5000.mp4")
	f.Add("a_b_c_d_e_f")
	f.Add("_____")
	f.Fuzz(func(t *testing.T, s string) {
		fn, err := ParseFileName(s)
		if err != nil {
			if !errors.Is(err, ErrBadFileName) {
				t.Fatalf("error does not wrap ErrBadFileName: %v", err)
			}
			return
		}
		if fn.InstanceName == "" || fn.NumberOfChanges < -1 || fn.Timestamp.Before(time.Unix(0, 0)) {
			t.Fatalf("accepted %q as %+v", s, fn)
		}
		for _, c := range fn.Region {
			if c < 0 {
				t.Fatalf("negative coordinate in %+v", fn)
			}
		}
	})
}
