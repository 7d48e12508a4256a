package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages gives back the pages of kgate's own executable that
// start-up brought in: package initialisation runs code and reads tables
// spread over the whole binary, and the kernel reads around each fault,
// so an idle gateway holds about 30 MiB of its 45 MiB of code and
// read-only data, most of which it never touches again. It advises the
// kernel to page those mappings out (MADV_PAGEOUT; clean pages, so
// nothing is written) and to fault them back one page at a time
// (MADV_RANDOM: no read-around), so what stays resident is what the
// gateway uses. Measured in docs/benchmarks.md ("Memory"): an idle
// gateway's RSS goes from 38 to 13 MiB.
//
// It returns the file-backed resident bytes before and after. Kernels
// older than 5.4 refuse MADV_PAGEOUT; the pages then stay, as before.
func releaseStartupPages() (before, after int64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	before = rssFile()
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// address perms offset dev inode pathname (which may hold
		// spaces; a replaced executable's ends in " (deleted)")
		line := sc.Text()
		f := strings.Fields(line)
		slash := strings.IndexByte(line, '/')
		if len(f) < 6 || slash < 0 || line[slash:] != exe || strings.Contains(f[1], "w") {
			continue // not the executable's, or its writable data
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		// Raw madvise: unix.Madvise wants a []byte over the mapping,
		// which would be made from an integer address.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_RANDOM); e != 0 && err == nil {
			err = e
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); e != 0 && err == nil {
			err = e
		}
	}
	return before, rssFile(), err
}

// rssFile is the process's file-backed resident bytes (RssFile in
// /proc/self/status), -1 when unknown.
func rssFile() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
