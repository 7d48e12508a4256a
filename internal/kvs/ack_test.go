package kvs

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestParseAck(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Ack
		wantErr bool
	}{
		{"buffering", `{"EventType":"BUFFERING","FragmentTimecode":1700000000123,"FragmentNumber":"91343852333181432392682062607743920146264347563"}`,
			Ack{EventType: EventBuffering, FragmentTimecode: 1700000000123, HasTimecode: true, FragmentNumber: "91343852333181432392682062607743920146264347563"}, false},
		{"persisted", `{"EventType":"PERSISTED","FragmentTimecode":12,"FragmentNumber":"1"}`,
			Ack{EventType: EventPersisted, FragmentTimecode: 12, HasTimecode: true, FragmentNumber: "1"}, false},
		{"error", `{"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4006}`,
			Ack{EventType: EventError, FragmentTimecode: 5, HasTimecode: true, ErrorID: 4006}, false},
		{"error id as string and error code", `{"EventType":"ERROR","FragmentTimecode":"5","ErrorId":"4010","ErrorCode":"INVALID_MKV_DATA"}`,
			Ack{EventType: EventError, FragmentTimecode: 5, HasTimecode: true, ErrorID: 4010, ErrorCode: "INVALID_MKV_DATA"}, false},
		{"fragment number as a number", `{"EventType":"RECEIVED","FragmentTimecode":7,"FragmentNumber":91343852333181432392682062607743920146264347563}`,
			Ack{EventType: EventReceived, FragmentTimecode: 7, HasTimecode: true, FragmentNumber: "91343852333181432392682062607743920146264347563"}, false},
		{"idle", `{"EventType":"IDLE"}`, Ack{EventType: EventIdle}, false},
		{"unknown fields ignored", `{"EventType":"IDLE","Extra":{"a":[1,2]}}`, Ack{EventType: EventIdle}, false},
		{"unknown event kept", `{"EventType":"FUTURE","FragmentTimecode":1}`, Ack{EventType: "FUTURE", FragmentTimecode: 1, HasTimecode: true}, false},
		{"no event type", `{"FragmentTimecode":1}`, Ack{}, true},
		{"error without id", `{"EventType":"ERROR","FragmentTimecode":1}`, Ack{}, true},
		{"timecode not a number", `{"EventType":"RECEIVED","FragmentTimecode":"x"}`, Ack{}, true},
		{"timecode fraction", `{"EventType":"RECEIVED","FragmentTimecode":1.5}`, Ack{}, true},
		{"not json", `EventType=IDLE`, Ack{}, true},
		{"array", `[]`, Ack{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAck([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidAck) {
					t.Fatalf("ParseAck(%s) error = %v, want ErrInvalidAck", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAck(%s): %v", tt.in, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseAck(%s) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

func TestAckScanner(t *testing.T) {
	stream := "{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1}\n" +
		"\r\n  {\"EventType\":\"RECEIVED\",\"FragmentTimecode\":1,\"FragmentNumber\":\"a}{\\\"b\"}" + // braces and quotes inside a string
		"{\"EventType\":\"PERSISTED\",\"FragmentTimecode\":1}\n" + // run together
		"{\"EventType\":\"IDLE\"}\n"
	want := []Ack{
		{EventType: EventBuffering, FragmentTimecode: 1, HasTimecode: true},
		{EventType: EventReceived, FragmentTimecode: 1, HasTimecode: true, FragmentNumber: "a}{\"b"},
		{EventType: EventPersisted, FragmentTimecode: 1, HasTimecode: true},
		{EventType: EventIdle},
	}
	for _, oneByte := range []bool{false, true} {
		var r = strings.NewReader(stream)
		sc := NewAckScanner(r)
		if oneByte {
			sc = NewAckScanner(iotest.OneByteReader(strings.NewReader(stream)))
		}
		var got []Ack
		for sc.Scan() {
			got = append(got, sc.Ack())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("oneByte=%v: Err = %v", oneByte, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("oneByte=%v (-want +got):\n%s", oneByte, d)
		}
	}
}

func TestAckScannerErrors(t *testing.T) {
	for _, in := range []string{
		`{"EventType":"IDLE"} garbage`,
		`{"EventType":"IDLE"`,
		`{"EventType":"IDLE","x":"` + strings.Repeat("a", maxAckBytes) + `"}`,
		`{"EventType":"ERROR"}`,
	} {
		sc := NewAckScanner(strings.NewReader(in))
		for sc.Scan() {
		}
		if !errors.Is(sc.Err(), ErrInvalidAck) {
			t.Errorf("%.40q: Err = %v, want ErrInvalidAck", in, sc.Err())
		}
	}
}

func FuzzAckScanner(f *testing.F) {
	f.Add([]byte("{\"EventType\":\"BUFFERING\",\"FragmentTimecode\":1700000000000,\"FragmentNumber\":\"913\"}\n{\"EventType\":\"IDLE\"}\n"))
	f.Add([]byte(`{"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4006}`))
	f.Add([]byte(`{"EventType":"RECEIVED","FragmentTimecode":"5","FragmentNumber":123}{"a":"}"}`))
	f.Add([]byte(`{{{{"\\"}}}}`))
	f.Add([]byte("   \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := NewAckScanner(strings.NewReader(string(b)))
		n := 0
		for sc.Scan() {
			a := sc.Ack()
			if a.EventType == "" {
				t.Fatalf("scanned an event without a type from %q", b)
			}
			if a.EventType == EventError && a.ErrorID == 0 && a.ErrorCode == "" {
				t.Fatalf("ERROR event without an id from %q", b)
			}
			n++
			if n > len(b) {
				t.Fatalf("more events than bytes")
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, ErrInvalidAck) {
			t.Fatalf("unexpected error kind %v", err)
		}
	})
}
