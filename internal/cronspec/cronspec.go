// Package cronspec reads cron schedules as fleetwarden accepts them, without
// the panics of the cron library's parser: the scheduler runs them, the
// config checks them at load time.
package cronspec

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"

	// CRON_TZ= must work on hosts without /usr/share/zoneinfo (minimal
	// containers); the embedded copy is used only when the system has none.
	_ "time/tzdata"
)

// errEmpty is returned for a blank spec.
var errEmpty = errors.New(`empty schedule: want 5 fields like "*/15 * * * *" or a descriptor like "@daily"`)

// Validate reports whether spec is a schedule the Scheduler accepts: five
// fields (minute hour day-of-month month day-of-week) or a descriptor
// (@hourly, @daily, @weekly, @monthly, @yearly, @every 1h30m), optionally after
// "CRON_TZ=Zone " or "TZ=Zone ". A spec that can never fire (such as
// "0 0 31 2 *") is an error too. Validate never panics.
func Validate(spec string) error {
	_, err := ParseValid(spec)
	return err
}

// ParseValid is parse plus the check that the schedule fires at all.
func ParseValid(spec string) (cron.Schedule, error) {
	sched, err := parse(spec)
	if err != nil {
		return nil, err
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q: never fires (no date matches)", spec)
	}
	return sched, nil
}

// Next returns the first activation of spec strictly after after. A spec
// without a time zone prefix is read in after's location; the result is in
// after's location too.
func Next(spec string, after time.Time) (time.Time, error) {
	sched, err := parse(spec)
	if err != nil {
		return time.Time{}, err
	}
	next := sched.Next(after)
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("%q: never fires after %s", spec, after.Format(time.RFC3339))
	}
	return next, nil
}

// parse checks spec and hands it to cron's standard parser. The checks come
// first because that parser panics on a zone with nothing after it
// ("CRON_TZ=UTC"), quietly takes "TZ= 0 8 * * *" as UTC, and turns
// "@every -5m" into every second.
func parse(spec string) (sched cron.Schedule, err error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, errEmpty
	}
	zone := ""
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			continue
		}
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return nil, fmt.Errorf("%q: missing the schedule after the time zone", spec)
		}
		zone, s = rest[:i], strings.TrimSpace(rest[i:])
		if zone == "" {
			return nil, fmt.Errorf("%q: missing the time zone name after %s", spec, prefix)
		}
		if _, err := time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("%q: bad time zone: %w", spec, err)
		}
		if strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
			return nil, fmt.Errorf("%q: more than one time zone", spec)
		}
		break
	}

	if every, ok := strings.CutPrefix(s, "@every "); ok {
		// cron rounds anything under a second (even negative) up to 1s.
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err == nil {
			if d < time.Second {
				return nil, fmt.Errorf("%q: interval %v is under the minimum of 1s", spec, d)
			}
			if d%time.Second != 0 {
				return nil, fmt.Errorf("%q: interval %v is not a whole number of seconds", spec, d)
			}
		}
	} else if !strings.HasPrefix(s, "@") {
		if n := len(strings.Fields(s)); n != 5 {
			return nil, fmt.Errorf("%q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, n)
		}
	}

	if zone != "" {
		s = "CRON_TZ=" + zone + " " + s
	}
	defer func() {
		// The checks above cover the panics known in v3.0.1; this is the backstop.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%q: invalid schedule: %v", spec, r)
		}
	}()
	sched, err = cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", spec, err)
	}
	return sched, nil
}
