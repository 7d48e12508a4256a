package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/consumer"
	"github.com/kgate/kgate/internal/media"
)

// ColorsHandler is the vault-colors handler: for each Vault event it
// fetches the recording, decodes one frame and reports the frame's
// dominant colours. It is safe for concurrent use.
type ColorsHandler struct {
	Source  Source
	Decoder media.Decoder
	// At is the time of the frame to analyse (0: the first frame).
	At     time.Duration
	Colors media.ColorOptions
	Logger *slog.Logger
}

// ColorsResult is the vault-colors output record.
type ColorsResult struct {
	// Key is the recording's key (payload.key).
	Key string `json:"key"`
	// Provider is the storage provider name (the event's "source").
	Provider string `json:"provider,omitempty"`
	// Storage is the event's "provider" field (e.g. "kstorage").
	Storage   string     `json:"storage,omitempty"`
	EventDate *time.Time `json:"event_date,omitempty"`
	// FetchedFrom is the source kind: vault, s3 or dir.
	FetchedFrom string `json:"fetched_from"`
	SizeBytes   int64  `json:"size_bytes"`
	// Recording holds the file name's fields, metadata values preferred.
	Recording *Recording    `json:"recording,omitempty"`
	Frame     FrameInfo     `json:"frame"`
	Colors    []media.Color `json:"colors"`
	TimingsMS Timings       `json:"timings_ms"`
}

// Recording is what the event says about the recording: the fields of
// the agent's file name, overridden by the event metadata where present.
type Recording struct {
	Timestamp       *time.Time `json:"timestamp,omitempty"`
	InstanceName    string     `json:"instance_name,omitempty"`
	Region          *[4]int    `json:"region,omitempty"`
	NumberOfChanges *int       `json:"number_of_changes,omitempty"`
	Directory       string     `json:"directory,omitempty"`
	// LastField is the file name's last field (token or duration in ms).
	LastField *int64 `json:"last_field,omitempty"`
	// From says where the fields came from: file_name, metadata or both.
	From string `json:"from"`
}

// FrameInfo describes the analysed frame.
type FrameInfo struct {
	Width  int   `json:"width"`
	Height int   `json:"height"`
	AtMS   int64 `json:"at_ms"`
}

// Timings are the handling's phases in milliseconds.
type Timings struct {
	Fetch  float64 `json:"fetch"`
	Decode float64 `json:"decode"`
	Colors float64 `json:"colors"`
	Total  float64 `json:"total"`
}

// Handle implements consumer.Handler.
func (h *ColorsHandler) Handle(ctx context.Context, r *kgo.Record) ([]consumer.Output, error) {
	res, err := h.Analyze(ctx, r.Value)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, consumer.Permanent(err)
	}
	return []consumer.Output{{
		Value:   b,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}},
	}}, nil
}

// Analyze does the work of Handle for one event value, returning errors
// classified for the runtime: malformed events and permanent fetch or
// decode failures are marked so, the rest are retryable.
func (h *ColorsHandler) Analyze(ctx context.Context, value []byte) (*ColorsResult, error) {
	start := time.Now()
	ev, err := Parse(value)
	if err != nil {
		return nil, consumer.Malformed(err)
	}
	blob, err := h.Source.Fetch(ctx, ev)
	if err != nil {
		if errors.Is(err, ErrMalformedEvent) {
			return nil, consumer.Malformed(err)
		}
		if IsPermanent(err) {
			return nil, consumer.Permanent(err)
		}
		return nil, err
	}
	defer blob.Close()
	fetched := time.Now()

	frame, err := h.Decoder.Frame(ctx, blob.Path, h.At)
	if err != nil {
		err = fmt.Errorf("decoding %q: %w", ev.Key, err)
		if errors.Is(err, media.ErrNoFrame) || errors.Is(err, media.ErrUndecodable) || errors.Is(err, media.ErrFrameTooLarge) {
			return nil, consumer.Permanent(err)
		}
		return nil, err
	}
	decoded := time.Now()
	colors, err := media.DominantColors(frame, h.Colors)
	if err != nil {
		return nil, consumer.Permanent(fmt.Errorf("colours of %q: %w", ev.Key, err))
	}
	done := time.Now()

	res := &ColorsResult{
		Key:         ev.Key,
		Provider:    ev.Source,
		Storage:     ev.Storage,
		FetchedFrom: h.Source.Name(),
		SizeBytes:   blob.Size,
		Recording:   recordingOf(ev),
		Frame:       FrameInfo{Width: frame.Width, Height: frame.Height, AtMS: h.At.Milliseconds()},
		Colors:      colors,
		TimingsMS: Timings{
			Fetch:  ms(fetched.Sub(start)),
			Decode: ms(decoded.Sub(fetched)),
			Colors: ms(done.Sub(decoded)),
			Total:  ms(done.Sub(start)),
		},
	}
	if !ev.Date.IsZero() {
		d := ev.Date
		res.EventDate = &d
	}
	if h.Logger != nil {
		h.Logger.Debug("recording analysed", "key", ev.Key, "provider", ev.Source, "width", frame.Width, "height", frame.Height,
			"fetch_ms", res.TimingsMS.Fetch, "decode_ms", res.TimingsMS.Decode, "colors_ms", res.TimingsMS.Colors)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }

// recordingOf merges the file name's fields with the event metadata,
// which wins where both have a value (it survives odd instance names).
func recordingOf(ev *Event) *Recording {
	rec := &Recording{}
	fromName, fromMeta := false, false
	if fn, err := ParseFileName(ev.Key); err == nil {
		fromName = true
		ts := fn.Timestamp
		region := fn.Region
		changes := fn.NumberOfChanges
		last := fn.Last
		rec.Timestamp, rec.InstanceName, rec.Region, rec.NumberOfChanges = &ts, fn.InstanceName, &region, &changes
		rec.Directory, rec.LastField = fn.Directory, &last
	}
	md := ev.Metadata
	if s := md["event-timestamp"]; s != "" {
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil && secs > 0 {
			var micros int64
			if us, err := strconv.ParseInt(md["event-microseconds"], 10, 64); err == nil && us > 0 && us < 1e6 {
				micros = us
			}
			ts := time.Unix(secs, micros*1000).UTC()
			if rec.Timestamp == nil || micros != 0 || rec.Timestamp.Unix() != secs {
				rec.Timestamp = &ts
			}
			fromMeta = true
		}
	}
	if s := md["event-instancename"]; s != "" {
		rec.InstanceName = s
		fromMeta = true
	}
	if s := md["event-regioncoordinates"]; s != "" {
		if reg, err := region(s); err == nil {
			rec.Region = &reg
			fromMeta = true
		}
	}
	if s := md["event-numberofchanges"]; s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			rec.NumberOfChanges = &n
			fromMeta = true
		}
	}
	switch {
	case fromName && fromMeta:
		rec.From = "file_name+metadata"
	case fromName:
		rec.From = "file_name"
	case fromMeta:
		rec.From = "metadata"
	default:
		return nil
	}
	return rec
}
