package cronspec

import (
	"github.com/fleetwarden/fleetwarden/internal/testenv"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string // "" = valid; else the exact message, or a part of it after "~"
	}{
		{"*/15 * * * *", ""},
		{"CRON_TZ=UTC 0 8 * * *", ""},
		{"TZ=Asia/Seoul 0 8 * * 1-5", ""},
		{"CRON_TZ=Europe/Berlin @daily", ""},
		{"  0 8 * * mon  ", ""},
		{"TZ=UTC\t0 8 * * *", ""},
		{"@daily", ""},
		{"@every 1h", ""},
		{"@every 5m", ""},
		{"0 0 29 2 *", ""}, // leap days come within cron's five-year horizon

		{"TZ=", `"TZ=": missing the schedule after the time zone`},
		{"CRON_TZ=UTC", `"CRON_TZ=UTC": missing the schedule after the time zone`},
		{"CRON_TZ=UTC   ", `"CRON_TZ=UTC   ": missing the schedule after the time zone`},
		{"TZ= 0 8 * * *", `"TZ= 0 8 * * *": missing the time zone name after TZ=`},
		{"CRON_TZ=Mars/Base 0 8 * * *", `"CRON_TZ=Mars/Base 0 8 * * *": bad time zone: unknown time zone Mars/Base`},
		{"CRON_TZ=UTC TZ=UTC 0 8 * * *", `"CRON_TZ=UTC TZ=UTC 0 8 * * *": more than one time zone`},
		{"61 * * * *", `"61 * * * *": end of range (61) above maximum (59): 61`},
		{"* 24 * * *", `~above maximum (23)`},
		{"0 8 * * xyz", `~"0 8 * * xyz": failed to parse int from xyz`},
		{"", `empty schedule: want 5 fields like "*/15 * * * *" or a descriptor like "@daily"`},
		{"   ", `~empty schedule`},
		{"* * * *", `"* * * *": want 5 fields (minute hour day-of-month month day-of-week), got 4`},
		{"0 0 8 * * *", `"0 0 8 * * *": want 5 fields (minute hour day-of-month month day-of-week), got 6`},
		{"0 0 31 2 *", `"0 0 31 2 *": never fires (no date matches)`},
		{"@every -5m", `"@every -5m": interval -5m0s is under the minimum of 1s`},
		{"@every 500ms", `"@every 500ms": interval 500ms is under the minimum of 1s`},
		{"@every 1.5s", `"@every 1.5s": interval 1.5s is not a whole number of seconds`},
		{"@every 5 minutes", `~failed to parse duration`},
		{"@fortnightly", `"@fortnightly": unrecognized descriptor: @fortnightly`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			err := Validate(tt.spec)
			switch {
			case tt.wantErr == "":
				if err != nil {
					t.Errorf("Validate(%q) = %v, want nil", tt.spec, err)
				}
			case err == nil:
				t.Errorf("Validate(%q) = nil, want error %q", tt.spec, tt.wantErr)
			case strings.HasPrefix(tt.wantErr, "~"):
				if !strings.Contains(err.Error(), tt.wantErr[1:]) {
					t.Errorf("Validate(%q) = %q, want it to contain %q", tt.spec, err, tt.wantErr[1:])
				}
			case err.Error() != tt.wantErr:
				t.Errorf("Validate(%q) = %q, want %q", tt.spec, err, tt.wantErr)
			}
		})
	}
}

// FuzzValidate checks that no input makes Validate panic, and that none reaches
// parse's recover: every input the library panics on should get a clear
// message from the checks before it.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"TZ=", "CRON_TZ=", "CRON_TZ=UTC", "TZ=UTC\t", "CRON_TZ= ", "@every", "@every ", "TZ=UTC @every 1s", "*/0 * * * *", "5-1 * * * *", "1/2/3 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if err := Validate(spec); err != nil && strings.Contains(err.Error(), "invalid schedule:") {
			t.Errorf("Validate(%q) = %v: cron panicked", spec, err)
		}
		_, _ = Next(spec, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	})
}

func TestNext(t *testing.T) {
	berlin := testenv.Location(t, "Europe/Berlin")
	tests := []struct {
		spec  string
		after time.Time
		want  time.Time
	}{
		{"*/15 * * * *", time.Date(2000, 1, 1, 10, 7, 0, 0, time.UTC), time.Date(2000, 1, 1, 10, 15, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2000, 1, 1, 10, 15, 0, 0, time.UTC), time.Date(2000, 1, 1, 10, 30, 0, 0, time.UTC)}, // strictly after
		// 00:00 UTC is 09:00 in Seoul, past today's 08:00.
		{"CRON_TZ=Asia/Seoul 0 8 * * *", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 23, 0, 0, 0, time.UTC)},
		// No zone in the spec: read in after's zone.
		{"0 8 * * *", time.Date(2000, 1, 1, 0, 0, 0, 0, berlin), time.Date(2000, 1, 1, 7, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"@every 90m", time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 13, 30, 0, 0, time.UTC)},
		// Day-of-month and day-of-week combine with OR: the 15th (a Saturday) or any Monday.
		{"0 0 15 * mon", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := Next(tt.spec, tt.after)
		if err != nil {
			t.Errorf("Next(%q, %v): %v", tt.spec, tt.after, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("Next(%q, %v) = %v, want %v", tt.spec, tt.after, got, tt.want)
		}
		if got.Location() != tt.after.Location() {
			t.Errorf("Next(%q, %v) is in %v, want %v", tt.spec, tt.after, got.Location(), tt.after.Location())
		}
	}

	for _, spec := range []string{"CRON_TZ=UTC", "61 * * * *", "0 0 31 2 *"} {
		if got, err := Next(spec, time.Now()); err == nil {
			t.Errorf("Next(%q) = %v, want an error", spec, got)
		}
	}
}
