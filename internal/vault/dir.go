package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir fetches recordings from a local directory (a mounted bucket, a
// Vault volume, test fixtures). Keys are resolved inside the directory
// only: through os.Root, neither ".." nor symbolic links lead out of it.
// It is safe for concurrent use.
type Dir struct {
	root string
	opts FetchOptions
}

// NewDir returns a source reading below root.
func NewDir(root string, fo FetchOptions) (*Dir, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("recordings directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("recordings directory %s is not a directory", root)
	}
	return &Dir{root: root, opts: fo.withDefaults()}, nil
}

// Name implements Source.
func (*Dir) Name() string { return "dir" }

// Fetch implements Source. The recording is copied to a temporary file, so
// that a file replaced or removed meanwhile does not change what is
// decoded, and the decoder never follows a link out of the directory.
func (d *Dir) Fetch(ctx context.Context, ev *Event) (*Blob, error) {
	if err := checkKey(ev.Key); err != nil {
		return nil, fmt.Errorf("%w: key: %v", ErrMalformedEvent, err)
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("opening recordings directory: %w", err)
	}
	defer root.Close()
	name := filepath.FromSlash(ev.Key)
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", ev.Key, ErrNotFound)
		}
		// Escapes are refused by os.Root; nothing else will change
		// with a retry either.
		return nil, fmt.Errorf("%s: %w: %v", ev.Key, ErrNotFound, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", ev.Key, ErrNotFound)
	}
	if st.Size() > d.opts.MaxBytes {
		return nil, fmt.Errorf("%s: %w (%d bytes)", ev.Key, ErrTooLarge, st.Size())
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return save(f, d.opts.TempDir, ev.Key, d.opts.MaxBytes)
}
