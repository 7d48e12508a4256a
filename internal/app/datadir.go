package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// PrivateFiles makes every file and directory this process creates from
// now on private to its user (umask 077): kgate serve's data directory
// holds the embedded broker's SCRAM credentials (the superuser's
// included), its partition files and kgate's signing key, and kfake
// creates its files 0644 and directories 0755 on its own. The workers
// (handle, stream) write camera recordings and frames, which are as
// private. The umask is the process's, so this is called once, early.
func PrivateFiles() { syscall.Umask(0o077) }

// privateDataDir makes sure dir is kgate's alone before anything is
// written into it. A missing directory is created 0700; an existing one
// that other users may read, write or search is refused when it holds
// anything (what is there may already have been read, or planted), with
// the command that fixes it, and made private when it is empty (a
// directory a package manager or a volume mount made for kgate). Entries
// that earlier versions left readable inside a private directory are
// tightened.
func privateDataDir(dir string, logger *slog.Logger) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating data directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		refuse := fmt.Errorf("data directory %s may be read or written by other users (mode %04o); it holds the embedded broker's "+
			"credentials and records and kgate's keys, so kgate uses it only when it is private: chmod -R go-rwx %s",
			dir, fi.Mode().Perm(), shellQuote(dir))
		if empty, err := emptyDir(dir); err != nil || !empty {
			return refuse
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%w (making it private: %v)", refuse, err)
		}
		// Nobody else can add anything now; check that nobody did before.
		if empty, err := emptyDir(dir); err != nil || !empty {
			return refuse
		}
		logger.Info("data directory made private", "data_dir", dir, "was", fmt.Sprintf("%04o", fi.Mode().Perm()))
		return nil
	}
	tightened := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			tightened++
			return os.Chmod(path, perm&^0o077)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("making the data directory's files private: %w", err)
	}
	if tightened > 0 {
		logger.Info("data directory entries made private", "data_dir", dir, "entries", tightened)
	}
	return nil
}

func emptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
