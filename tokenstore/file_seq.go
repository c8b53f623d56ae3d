package tokenstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// seqFile holds the highest version File has given any record, so that
// a record written after its file was deleted (by Delete, by hand, or
// because it was corrupt and removed) gets a version above every version
// its account ever had. It is a fixed-width decimal, rewritten in place
// and synced before the record it numbers is renamed into place.
const seqFile = ".sequence"

// seqWidth is the fixed length of the sequence file's content.
const seqWidth = 20

// nextVersion returns a version greater than cur and than every version
// the store has given before, and records it. The caller holds the
// account's stripe.
func (f *File) nextVersion(cur int64) (int64, error) {
	f.seqMu.Lock()
	defer f.seqMu.Unlock()
	fh, err := os.OpenFile(filepath.Join(f.dir, seqFile), os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- a fixed name inside the store directory
	if err != nil {
		return 0, fmt.Errorf("opening the version sequence: %w", err)
	}
	defer fh.Close() // releases the flock too
	if err := flock(fh); err != nil {
		return 0, fmt.Errorf("locking the version sequence: %w", err)
	}
	buf := make([]byte, seqWidth+8)
	n, err := fh.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("reading the version sequence: %w", err)
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(string(buf[:n])), 10, 64)
	if err != nil || seq < 0 {
		// New, or damaged: no version given so far can be higher than
		// the highest one stored.
		seq = f.highestVersion()
	}
	next := max(seq, cur) + 1
	if _, err := fh.WriteAt(fmt.Appendf(nil, "%0*d\n", seqWidth, next), 0); err != nil {
		return 0, fmt.Errorf("writing the version sequence: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return 0, fmt.Errorf("writing the version sequence: %w", err)
	}
	return next, nil
}

// highestVersion returns the highest version of the records that can be
// read in the directory (zero if none).
func (f *File) highestVersion() int64 {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return 0
	}
	var top int64
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), fileExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if rec, err := readRecord(filepath.Join(f.dir, e.Name())); err == nil {
			top = max(top, rec.Version)
		}
	}
	return top
}
