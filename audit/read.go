package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ReadAll returns the records of dir's journal with Time at or after since
// (zero: all), rotated files oldest first, then the current file, in the
// order they were written. A torn last line of a file (a crash during a
// write) is skipped silently; any other line that is not a record makes the
// error wrap ErrCorrupt, and the records that could be read are returned
// with it.
func ReadAll(dir string, since time.Time) ([]Record, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit: read journal: %w", err)
	}
	// A rotation between listing the files and reading the current one would
	// hide the records just rotated away: read again when the list changed.
	for attempt := 0; ; attempt++ {
		before, err := rotatedFiles(dir)
		if err != nil {
			return nil, fmt.Errorf("audit: read journal: %w", err)
		}
		recs, rerr := readFiles(dir, before, since)
		after, err := rotatedFiles(dir)
		if err != nil {
			return nil, fmt.Errorf("audit: read journal: %w", err)
		}
		if attempt == 2 || sameNewest(before, after) {
			return recs, rerr
		}
	}
}

func sameNewest(a, b []rotatedFile) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return a[len(a)-1].path == b[len(b)-1].path
}

func readFiles(dir string, rotated []rotatedFile, since time.Time) ([]Record, error) {
	var paths []string
	for _, f := range rotated {
		// A file rotated before since holds only older records.
		if !since.IsZero() && f.at.Before(since) {
			continue
		}
		paths = append(paths, f.path)
	}
	paths = append(paths, filepath.Join(dir, currentName))
	var (
		out  []Record
		errs []error
	)
	for _, p := range paths {
		recs, err := readFile(p, since)
		out = append(out, recs...)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// readFile reads one journal file. Corrupt lines are summed up in one error
// (a damaged file could otherwise produce thousands).
func readFile(path string, since time.Time) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read what the file held when opened: a reader does not chase a file
	// that grows meanwhile, and something that is not a regular file (a
	// device in the journal's place) reads as empty rather than forever.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var (
		out       []Record
		bad       int
		firstBad  error
		pendingNo int   // line number of a bad line that may yet turn out to be the last
		pending   error // its error
	)
	br := bufio.NewReaderSize(io.LimitReader(f, fi.Size()), 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return out, fmt.Errorf("audit: read %s: %w", path, rerr)
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			if pending != nil {
				// The bad line was not the last one: it is corruption.
				bad++
				if firstBad == nil {
					firstBad = fmt.Errorf("line %d: %w", pendingNo, pending)
				}
				pending = nil
			}
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				pendingNo, pending = lineNo, err
			} else if r.Kind == "" || r.Time.IsZero() {
				pendingNo, pending = lineNo, errors.New("no time or kind")
			} else if since.IsZero() || !r.Time.Before(since) {
				out = append(out, r)
			}
		}
		if rerr != nil { // io.EOF
			break
		}
	}
	// pending, if any, is the torn last line: skipped silently.
	if bad > 0 {
		return out, fmt.Errorf("%w: %s: %d bad line(s), first at %w", ErrCorrupt, path, bad, firstBad)
	}
	return out, nil
}
