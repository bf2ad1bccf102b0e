package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/fleetwarden/fleetwarden/internal/atomicfile"
)

// queue keeps pending deliveries on disk, one JSON file per (notification,
// route), written to a temporary file, fsync'd and renamed, then the
// directory fsync'd: a file is either whole or absent.
type queue struct{ dir string }

const (
	queuePrefix = "q-"
	queueSuffix = ".json"
	tmpSuffix   = ".tmp" // left by versions that wrote the queue themselves
)

func openQueue(dir string) (*queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("alert: create queue directory: %w", err)
	}
	return &queue{dir: dir}, nil
}

// queueFile names the file of one (notification, route).
func queueFile(id, route string) string {
	sum := sha256.Sum256([]byte(dedupKey(id, route)))
	return queuePrefix + hex.EncodeToString(sum[:16]) + queueSuffix
}

// write stores v as name, durably.
func (q *queue) write(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("alert: encode %s: %w", name, err)
	}
	if err := atomicfile.Write(filepath.Join(q.dir, name), b, 0o600); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	return nil
}

// remove deletes name; a missing file is fine.
func (q *queue) remove(name string) error {
	if err := os.Remove(filepath.Join(q.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("alert: remove %s: %w", name, err)
	}
	return q.syncDir()
}

func (q *queue) syncDir() error {
	if err := atomicfile.SyncDir(q.dir); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	return nil
}

// read decodes name into v; ok is false when it does not exist.
func (q *queue) read(name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(q.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("alert: read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("alert: %s in %s is damaged: %w", name, q.dir, err)
	}
	return true, nil
}

// readState is read for the manager's own state files (silences, firing
// alerts): a damaged one must not keep fleetwarden from starting, so it is
// moved aside, for a person to look at, and the manager starts without it.
func (q *queue) readState(log *slog.Logger, name string, v any) error {
	_, err := q.read(name, v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &syn) && !errors.As(err, &typ) {
		return err
	}
	reflect.ValueOf(v).Elem().SetZero() // a type error leaves it half filled
	aside := name + ".damaged"
	if rerr := os.Rename(filepath.Join(q.dir, name), filepath.Join(q.dir, aside)); rerr != nil {
		return fmt.Errorf("%w (and it cannot be moved aside: %w)", err, rerr)
	}
	log.Error("alert: state file damaged; moved aside, starting without it", "file", name, "moved_to", aside, "dir", q.dir, "err", err)
	return nil
}

// load reads every pending delivery. Leftover temporary files (a crash
// while writing) are removed; a damaged entry is logged and left alone.
func (q *queue) load(log *slog.Logger) ([]queued, []string, error) {
	des, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("alert: read queue directory: %w", err)
	}
	var recs []queued
	var files []string
	for _, de := range des {
		name := de.Name()
		if atomicfile.IsTemp(name) || strings.HasSuffix(name, tmpSuffix) {
			os.Remove(filepath.Join(q.dir, name))
			continue
		}
		if !strings.HasPrefix(name, queuePrefix) || !strings.HasSuffix(name, queueSuffix) {
			continue
		}
		var rec queued
		if _, err := q.read(name, &rec); err != nil {
			log.Error("alert: skipping a damaged queue entry", "file", name, "err", err)
			continue
		}
		recs = append(recs, rec)
		files = append(files, name)
	}
	return recs, files, nil
}
