// Package audit keeps fleetwarden's append-only journal: one JSON record a
// line in <state dir>/journal.jsonl, each fsync'd before Append returns, and
// renders it as a plain-language incident timeline.
//
// One process writes a journal at a time (Open takes a lock); any number may
// read it with ReadAll.
//
// What the timeline understands (writers, please follow):
//   - KindTransition: Agents (one or more), From, To (agent states), Reason
//     (e.g. "expired"), Message (evidence, short).
//   - KindAlert: Action "fired" | "repeated" | "resolved", Agents, Message.
//   - KindDelivery: Route ("telegram", "discord", "email", "webhook:NAME",
//     "exec:NAME"), OK, Error; Action = the alert action it carried ("fired",
//     "repeated", "resolved") or "report". Write it after the alert record.
//   - KindCommand: Action "/name" (or "/name (confirmed)"), Actor,
//     Fields["role"], Fields["args"] (never for private commands), Message
//     "ok" | "error" | "usage" | "cancelled", Error.
//   - KindRefused: Action (the command tried), Actor, Reason or Message.
//   - KindLogin: Action "started" | "url_sent" | "code_submitted" |
//     "verified" | "failed" | "cancelled" | "timeout", Actor, Error.
//   - KindRestart: per agent Agents = [name] with OK (and Error), Action
//     "ok" | "failed" | anything else; then Action "summary" (Agents = all,
//     OK, Fields["seconds"] = how long the restart took). An optional
//     "started" record before respawning marks the start when no "seconds"
//     are given. Recovery is each agent's next transition into working/idle.
//   - KindCredential: Action "switch" | "failover" | "limit_failover" |
//     "limit_failback" with From/To credential names (and OK, Error), or a
//     health change with Fields["credential"] and From/To health.
//   - KindSilence: Action "add" | "clear" | "expired", Agents, Actor,
//     Reason, and Fields["until"] (RFC 3339) or Message ("muted for 2h").
//   - KindConfig: Action "reload" (applied) | "reload_waiting" (for an
//     admin's button) | "reload_invalid" | "reload_unchanged" |
//     "reload_failed" (the new config did not start; the old one runs) |
//     "last_good_used" | "safe_mode", Actor, Message (the changes or the
//     errors, one per line), Error.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind says what a record is about.
type Kind string

const (
	KindStart      Kind = "start"
	KindStop       Kind = "stop"
	KindTransition Kind = "transition" // agent state change
	KindAlert      Kind = "alert"      // alert fired/repeated/resolved
	KindDelivery   Kind = "delivery"   // one delivery attempt on one route (ok or failed)
	KindCommand    Kind = "command"    // chat command: who, what, result (never secrets or login codes)
	KindRefused    Kind = "refused"    // unauthorized attempt
	KindLogin      Kind = "login"      // login steps: started, url_sent, code_submitted, verified, failed, cancelled, timeout
	KindRestart    Kind = "restart"    // restart of agents: per agent ok/failed, summary
	KindCredential Kind = "credential" // credential health change, switch/failover
	KindSilence    Kind = "silence"
	KindReport     Kind = "report"
	KindConfig     Kind = "config" // reloads, the last good config, safe mode
)

// Record is one line of the journal.
type Record struct {
	Time    time.Time         `json:"time"`
	Kind    Kind              `json:"kind"`
	Agents  []string          `json:"agents,omitempty"`
	Actor   string            `json:"actor,omitempty"`  // "telegram:111", "discord:222", "console", "fleetwarden"
	Action  string            `json:"action,omitempty"` // e.g. "/restart", "fired", "resolved", "url_sent", "verified"
	From    string            `json:"from,omitempty"`   // previous state
	To      string            `json:"to,omitempty"`     // new state
	Reason  string            `json:"reason,omitempty"`
	Route   string            `json:"route,omitempty"` // delivery route name (telegram, discord, email, webhook:x)
	OK      *bool             `json:"ok,omitempty"`
	Error   string            `json:"error,omitempty"`
	Message string            `json:"message,omitempty"` // human text
	Fields  map[string]string `json:"fields,omitempty"`
}

// Options tune a Journal. Zero values pick the defaults.
type Options struct {
	MaxBytes int64            // rotate when the current file would exceed it; default 10 MiB
	Keep     int              // rotated files kept; default 5, negative keeps none
	Now      func() time.Time // default time.Now
	// OnError, when set, hears every failed Append (a full disk, say) and,
	// with nil, the first one that works again: a caller that drops
	// Append's error still has its failures reported. It runs after the
	// journal's lock is released and may append.
	OnError func(error)
}

const (
	currentName    = "journal.jsonl"
	rotatedPrefix  = "journal-"
	rotatedSuffix  = ".jsonl"
	rotatedTimeFmt = "20060102T150405.000000000Z"
)

var (
	// ErrCorrupt marks lines of a journal that are not valid records.
	ErrCorrupt = errors.New("audit: corrupt journal line")
	// ErrLocked means another process (or another Journal) has the journal open.
	ErrLocked = errors.New("audit: journal in use")
)

// Journal appends records to the journal of one state directory. It is safe
// for concurrent use.
type Journal struct {
	dir  string
	path string
	max  int64
	keep int
	now  func() time.Time

	onError func(error)

	mu      sync.Mutex
	failing bool     // the last Append failed
	dirf    *os.File // the directory: held locked, fsync'd after creates and renames
	f       *os.File
	size    int64
	dirty   bool // a failed write may have left a partial line at the end
	closed  bool
}

// Open opens (creating if needed) the journal in dir. A partial last line
// left by a crash is repaired first, so the next record starts on a fresh
// line.
func Open(dir string, o Options) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("audit: no state directory given")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	switch {
	case o.Keep == 0:
		o.Keep = 5
	case o.Keep < 0:
		o.Keep = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := mkdirSynced(dir); err != nil {
		return nil, err
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: open state directory: %w", err)
	}
	if err := lockFile(dirf); err != nil {
		dirf.Close()
		return nil, fmt.Errorf("audit: lock journal in %s: %w", dir, err)
	}
	j := &Journal{dir: dir, path: filepath.Join(dir, currentName), max: o.MaxBytes, keep: o.Keep, now: o.Now, dirf: dirf, onError: o.OnError}
	if err := j.openCurrent(); err != nil {
		unlockFile(dirf)
		dirf.Close()
		return nil, err
	}
	return j, nil
}

// mkdirSynced creates dir (0700) and makes its entry durable in the parent.
func mkdirSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: create state directory: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("audit: create state directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return syncDirFile(d)
}

// openCurrent opens journal.jsonl, repairs its tail and learns its size.
func (j *Journal) openCurrent() error {
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	created := err == nil
	if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(j.path, os.O_RDWR|os.O_APPEND, 0o600)
	}
	if err != nil {
		return fmt.Errorf("audit: open journal: %w", err)
	}
	if created {
		if err := syncDirFile(j.dirf); err != nil {
			f.Close()
			return fmt.Errorf("audit: sync state directory: %w", err)
		}
	}
	size, err := repairTail(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: repair %s: %w", j.path, err)
	}
	j.f, j.size, j.dirty = f, size, false
	return nil
}

// repairTail makes f end in '\n' and returns its size. A last line without
// a newline was never acknowledged (Append returns only after the whole line
// is written and synced): if it is nonetheless a whole record it is kept and
// terminated, otherwise it is cut off, so that it does not turn into a
// corrupt line in the middle of the file.
func repairTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	start, err := lastLineStart(f, size)
	if err != nil {
		return 0, err
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return 0, err
	}
	var r Record
	if json.Unmarshal(tail, &r) == nil {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		size++
	} else {
		if err := f.Truncate(start); err != nil {
			return 0, err
		}
		size = start
	}
	return size, f.Sync()
}

// lastLineStart returns the offset just after the last '\n' before size (0
// when there is none).
func lastLineStart(f *os.File, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		n := int64(chunk)
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// Path is the file records are appended to now.
func (j *Journal) Path() string { return j.path }

// Append writes r as one line and returns once it is on disk. Time is set
// when zero; secrets are redacted from every string. If rotation fails the
// record is still written to the current file, and the rotation error is
// returned.
func (j *Journal) Append(r Record) error {
	r = redactRecord(r)
	j.mu.Lock()
	err := j.appendLocked(r)
	tell := j.onError != nil && !errors.Is(err, os.ErrClosed) && (err != nil || j.failing)
	j.failing = err != nil
	j.mu.Unlock()
	if tell {
		j.onError(err)
	}
	return err
}

func (j *Journal) appendLocked(r Record) error {
	if j.closed {
		return fmt.Errorf("audit: append: %w", os.ErrClosed)
	}
	if r.Time.IsZero() {
		r.Time = j.now()
	}
	r.Time = r.Time.UTC()
	var buf bytes.Buffer
	if j.dirty {
		buf.WriteByte('\n')
	}
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil { // Encode ends the line with '\n'
		return fmt.Errorf("audit: encode record: %w", err)
	}
	var rotateErr error
	if j.size > 0 && j.size+int64(buf.Len()) > j.max {
		if err := j.rotate(); err != nil {
			rotateErr = fmt.Errorf("audit: rotate journal (record written to the current file): %w", err)
		}
	}
	n, err := j.f.Write(buf.Bytes())
	if err != nil {
		// Take back a partial line; if that fails, the next record starts
		// with '\n' so that only this one is damaged.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.size += int64(n)
			j.dirty = true
		}
		return errors.Join(fmt.Errorf("audit: write record: %w", err), rotateErr)
	}
	j.size += int64(n)
	j.dirty = false
	if err := j.f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("audit: sync journal: %w", err), rotateErr)
	}
	return rotateErr
}

// rotate renames the current file to journal-<UTC time>.jsonl (a time after
// every other rotated file's), starts a new
// one and drops the oldest rotated files beyond Keep.
func (j *Journal) rotate() error {
	name := j.rotatedName()
	if err := os.Rename(j.path, name); err != nil {
		return err
	}
	// The old descriptor still points at the renamed file: keep it until the
	// new file is open, so that a failure leaves a usable file behind.
	old := j.f
	if err := syncDirFile(j.dirf); err != nil {
		return err
	}
	if err := j.openCurrent(); err != nil {
		return err
	}
	if err := old.Close(); err != nil {
		return err
	}
	return j.prune()
}

// rotatedName names the file by the time of rotation, but always after
// the newest rotated file: with a clock stepped back, a wall-clock name would
// sort the newest records first and prune them first.
func (j *Journal) rotatedName() string {
	t := j.now().UTC()
	if files, err := rotatedFiles(j.dir); err == nil && len(files) > 0 {
		if newest := files[len(files)-1].at; !t.After(newest) {
			t = newest.Add(time.Nanosecond)
		}
	}
	for {
		name := filepath.Join(j.dir, rotatedPrefix+t.Format(rotatedTimeFmt)+rotatedSuffix)
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		t = t.Add(time.Nanosecond)
	}
}

func (j *Journal) prune() error {
	files, err := rotatedFiles(j.dir)
	if err != nil {
		return err
	}
	var errs []error
	for len(files) > j.keep {
		if err := os.Remove(files[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		files = files[1:]
	}
	return errors.Join(errs...)
}

type rotatedFile struct {
	path string
	at   time.Time // when it was rotated: no record in it is newer (unless given a future time)
}

// rotatedFiles lists dir's rotated journals, oldest first.
func rotatedFiles(dir string) ([]rotatedFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []rotatedFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, rotatedPrefix) || !strings.HasSuffix(name, rotatedSuffix) {
			continue
		}
		at, err := time.Parse(rotatedTimeFmt, strings.TrimSuffix(strings.TrimPrefix(name, rotatedPrefix), rotatedSuffix))
		if err != nil {
			continue // not ours
		}
		files = append(files, rotatedFile{path: filepath.Join(dir, name), at: at})
	}
	sort.Slice(files, func(a, b int) bool { return files[a].at.Before(files[b].at) })
	return files, nil
}

// Close syncs and closes the journal and releases its lock. Appending after
// Close fails.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	if err := j.f.Sync(); err != nil {
		errs = append(errs, err)
	}
	if err := j.f.Close(); err != nil {
		errs = append(errs, err)
	}
	unlockFile(j.dirf)
	if err := j.dirf.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: close journal: %w", err)
	}
	return nil
}
