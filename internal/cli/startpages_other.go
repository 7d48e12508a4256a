//go:build !linux

package cli

// releaseStartupPages does nothing outside Linux.
func releaseStartupPages() (before, after int64, err error) { return -1, -1, nil }
