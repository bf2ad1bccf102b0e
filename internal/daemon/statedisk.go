package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/fleetwarden/fleetwarden/internal/redact"
)

// stateDisk hears how writes to state.dir go (the journal, the alive file,
// warnings) and tells the operator once when they start failing: with the
// journal and the alert queue on that disk, a full disk would otherwise
// only show as records and queued alerts that quietly go missing. The
// notice goes the way alerts go, which delivers from memory.
type stateDisk struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	failing map[string]error          // what → why it failed, while it fails
	told    bool                      // the operator heard of this episode
	notify  func(reason, text string) // nil until the alert routes are up
}

func newStateDisk(dir string, log *slog.Logger) *stateDisk {
	return &stateDisk{dir: dir, log: log, failing: map[string]error{}}
}

// report records how writing what went: err nil means it worked.
func (s *stateDisk) report(what string, err error) {
	s.mu.Lock()
	_, was := s.failing[what]
	if err == nil {
		delete(s.failing, what)
		if len(s.failing) == 0 && s.told {
			s.told = false
			s.mu.Unlock()
			s.log.Info("state.dir can be written again", "dir", s.dir, "what", what)
			return
		}
		s.mu.Unlock()
		return
	}
	s.failing[what] = err
	reason, text, tell := s.noticeLocked()
	s.mu.Unlock()
	if !was {
		s.log.Error("state.dir: write failed", "dir", s.dir, "what", what, "err", err)
	}
	if tell != nil {
		tell(reason, text)
	}
}

// setNotify connects the notice; a failure heard before is told now.
func (s *stateDisk) setNotify(f func(reason, text string)) {
	s.mu.Lock()
	s.notify = f
	reason, text, tell := s.noticeLocked()
	s.mu.Unlock()
	if tell != nil {
		tell(reason, text)
	}
}

// noticeLocked returns the notice to send, once per episode of failures.
func (s *stateDisk) noticeLocked() (reason, text string, tell func(string, string)) {
	if s.told || s.notify == nil || len(s.failing) == 0 {
		return "", "", nil
	}
	s.told = true
	whats := make([]string, 0, len(s.failing))
	full := false
	for w, err := range s.failing {
		whats = append(whats, w)
		full = full || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
	}
	sort.Strings(whats)
	first := s.failing[whats[0]]
	cause := first
	var errno syscall.Errno
	if errors.As(first, &errno) {
		cause = errno // "no space left on device"
	}
	reason = "state.dir cannot be written: " + cause.Error()
	if full {
		reason = "state.dir full: " + cause.Error()
	}
	text = fmt.Sprintf("%s: %s (%s). Until it can be written, journal records and the alert queue's copy on disk are lost; alerts still go out from memory.",
		s.dir, redact.String(first.Error()), strings.Join(whats, ", "))
	return reason, text, s.notify
}
