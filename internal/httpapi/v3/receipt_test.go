package v3

import (
	"testing"
	"time"
)

func TestAppendInstant(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{1704164645678, "2024-01-02T03:04:05.678Z"},
		{1704164645000, "2024-01-02T03:04:05Z"},
		{1704164645100, "2024-01-02T03:04:05.100Z"},
		{1704164645001, "2024-01-02T03:04:05.001Z"},
		{1704164645010, "2024-01-02T03:04:05.010Z"},
	} {
		if got := string(appendInstant(nil, time.UnixMilli(tc.ms))); got != tc.want {
			t.Errorf("%d: %s, want %s", tc.ms, got, tc.want)
		}
	}
}
