package audit

import (
	"errors"
	"os"
	"strings"
	"time"
)

// Running reports whether a fleetwarden is writing the journal in dir now
// (it holds the journal lock for as long as it runs; a killed one does not).
func Running(dir string) (bool, error) {
	ok, err := heldByWriter(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return ok, err
}

// TransportState is what the running fleetwarden last journaled about one
// chat transport.
type TransportState struct {
	State string // "up", "degraded", "down"; "" when nothing was journaled since the start
	Error string
	Since time.Time
}

// TransportStates returns, per route, the last transport state journaled
// since the newest start of fleetwarden in records.
func TransportStates(records []Record) map[string]TransportState {
	out := map[string]TransportState{}
	for _, r := range records {
		switch {
		case r.Kind == KindStart:
			clear(out)
		case r.Kind == KindAlert && strings.HasPrefix(r.Action, "transport_") && r.Route != "":
			st := strings.TrimPrefix(r.Action, "transport_")
			if prev, ok := out[r.Route]; ok && prev.State == st {
				prev.Error = r.Error // still in it: keep when it began
				out[r.Route] = prev
				continue
			}
			out[r.Route] = TransportState{State: st, Error: r.Error, Since: r.Time}
		}
	}
	return out
}
