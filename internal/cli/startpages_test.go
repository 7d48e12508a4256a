//go:build linux

package cli

import "testing"

// TestReleaseStartupPages: the test binary's start-up pages leave its
// resident set (the kernel here has MADV_PAGEOUT), and what it still
// runs comes back on demand.
func TestReleaseStartupPages(t *testing.T) {
	before, after, err := releaseStartupPages()
	if err != nil {
		t.Fatalf("releaseStartupPages: %v (before %d, after %d)", err, before, after)
	}
	t.Logf("file-backed RSS: %d KiB before, %d KiB after", before>>10, after>>10)
	if before <= 0 || after < 0 || after > before/2 {
		t.Errorf("file-backed RSS went from %d to %d bytes, want at most half left", before, after)
	}
	// The code still runs: a second call reads and parses as the first.
	if _, _, err := releaseStartupPages(); err != nil {
		t.Errorf("second call: %v", err)
	}
}
