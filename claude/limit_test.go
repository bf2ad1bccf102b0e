package claude

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLimitDetails checks what a limited pane carries besides its state:
// the reset time as shown, resolved against the capture time, and whether
// the CLI will go on by itself.
func TestLimitDetails(t *testing.T) {
	capture := time.Date(2026, 12, 3, 11, 23, 10, 0, time.UTC)
	tests := []struct {
		file     string
		text     string
		resetsAt string
		noResume bool
	}{
		{"90-limit-5h-classic.txt", "11:24am (UTC)", "2026-12-03T11:24:00Z", false},
		{"93-limit-weekly-fullscreen.txt", "11:26am (UTC)", "2026-12-03T11:26:00Z", false},
		{"94-limit-after-reset-waiting.txt", "11:24am (UTC)", "2026-12-03T11:24:00Z", false},
		{"96-limit-continue-cancelled.txt", "11:32am (UTC)", "2026-12-03T11:32:00Z", true},
		{"97-limit-relaunched.txt", "11:32am (UTC)", "2026-12-03T11:32:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := ClassifyAt(readScreen(t, tt.file), capture, time.UTC)
			if got.ResetText != tt.text || got.ResetsAt != tt.resetsAt || got.NoResume != tt.noResume {
				t.Errorf("got reset %q → %q, no resume %v; want %q → %q, %v", got.ResetText, got.ResetsAt, got.NoResume, tt.text, tt.resetsAt, tt.noResume)
			}
		})
	}
	if got := ClassifyAt(readScreen(t, "95-limit-continued.txt"), capture, time.UTC); got.ResetsAt != "" {
		t.Errorf("a pane that went on has resets_at %q, want none", got.ResetsAt)
	}
}

// TestLimitPhrases puts each of the CLI's limit texts (from its bundle,
// 2.1.328) where the 5-hour one is in a real screen: each must read as
// limited with its reason, so dropping a phrase fails here. Without the
// footer warning the turn's own line must decide.
func TestLimitPhrases(t *testing.T) {
	base := readScreen(t, "96-limit-continue-cancelled.txt")
	const orig = "You've hit your 5-hour limit · resets 11:32am (UTC)"
	if !strings.Contains(base, orig) {
		t.Fatal("fixture changed")
	}
	// The turn minus the cancelled notice: the limit line ends the turn.
	cut := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "Automatic continue cancelled") || strings.Contains(l, "Usage limit reached") || strings.Contains(l, "usage-credits") {
				continue
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	// Each phrase with a line that only it reads as a limit: without it
	// the verdict changes.
	examples := map[string]string{
		"you'vehityourweeklylimit":                "You've hit your weekly limit · resets Sep 15 at 7pm",
		"you'vehityouropuslimit":                  "You've hit your Opus limit · resets Sep 15 at 7pm",
		"you'vehityoursonnetlimit":                "You've hit your Sonnet limit · resets Sep 15 at 7pm",
		"reachedyourweeklyusagelimit":             "You have reached your weekly usage limit",
		"you'vehityourmonthlyspendlimit":          "You've hit your monthly spend limit. See Usage in Settings",
		"you'vehityourorg'smonthlyspendlimit":     "You've hit your org's monthly spend limit · ask your admin for a higher limit",
		"you'vehityourchannel'smonthlyspendlimit": "You've hit your channel's monthly spend limit.",
		"you'reoutofextrausage":                   "You're out of extra usage · resets 5pm (Europe/Berlin)",
		"you'reoutofusagecredits":                 "You're out of usage credits. See Usage in Settings",
		"you'vehityour5-hourlimit":                "You've hit your 5-hour limit · resets 2pm (Europe/Berlin)",
		"you'vehityoursessionlimit":               "You've hit your session limit · resets 2pm",
		"you'vehityourlimit":                      "You've hit your limit · resets 2pm",
		"usagelimitreached":                       "Usage limit reached · esc to cancel",
		"continuingautomaticallyat":               "Continuing automatically at 2pm · Esc to cancel",
		"continuingshortly·esctocancel":           "Continuing shortly · Esc to cancel",
	}
	want := map[string]Reason{}
	for _, r := range limitPhrases {
		want[r.pat] = r.reason
	}
	if len(examples) != len(limitPhrases) {
		t.Errorf("%d examples for %d limit phrases", len(examples), len(limitPhrases))
	}
	for i, rule := range limitPhrases {
		line, ok := examples[rule.pat]
		if !ok {
			t.Errorf("limit phrase %q has no example", rule.pat)
			continue
		}
		screen := strings.Replace(cut(base), orig, line, 1)
		got := Classify(screen)
		saved := limitPhrases
		limitPhrases = slices.Delete(slices.Clone(saved), i, i+1)
		without := Classify(screen)
		limitPhrases = saved
		if got.State != Limited || got.Reason != rule.reason {
			t.Errorf("%q: got %s/%s (%q), want limited/%s", line, got.State, got.Reason, got.Evidence, rule.reason)
		}
		if without.State == got.State && without.Reason == got.Reason {
			t.Errorf("%q: the verdict %s/%s stays without %q", line, got.State, got.Reason, rule.pat)
		}
	}
	// Each way the CLI says it will not go on by itself.
	noResume := map[string]string{
		"automaticcontinuecancelled":    "Automatic continue cancelled · Claude Code exited during the wait, so the task will not resume on its own when the usage limit resets (send a prompt after the reset to continue)",
		"automaticcontinuestopped":      "Automatic continue stopped · the usage limit now resets more than 24 hours out, so this task will not resume on its own (/rate-limit-options to wait anyway)",
		"automaticcontinuewasturnedoff": "Automatic continue was turned off · this task will not resume on its own",
		"automaticcontinuedidnotrun":    "Automatic continue did not run · the continuation was blocked before it reached the model; send a prompt to continue",
		"willnotresumeonitsown":         "This task will not resume on its own (/rate-limit-options to try again)",
		"willnotresumehereonitsown":     "The task will not resume here on its own when the usage limit resets (continue it in the cloud session)",
	}
	if len(noResume) != len(noResumePhrases) {
		t.Errorf("%d examples for %d no-resume phrases", len(noResume), len(noResumePhrases))
	}
	for i, p := range noResumePhrases {
		line, ok := noResume[p]
		if !ok {
			t.Errorf("no-resume phrase %q has no example", p)
			continue
		}
		screen := strings.Replace(base, "● Automatic continue cancelled · /rate-limit-options to re-arm", "● "+line, 1)
		got := Classify(screen)
		saved := noResumePhrases
		noResumePhrases = slices.Delete(slices.Clone(saved), i, i+1)
		without := Classify(screen)
		noResumePhrases = saved
		if got.State != Limited || !got.NoResume {
			t.Errorf("%q: got %s/%s no resume %v (%q), want limited, no resume", line, got.State, got.Reason, got.NoResume, got.Evidence)
		}
		if without.NoResume {
			t.Errorf("%q: still no resume without %q", line, p)
		}
	}
	// An answer that talks about limits is an answer.
	lines := strings.Split(cut(base), "\n")
	for i, l := range lines {
		if strings.Contains(l, orig) {
			lines[i] = "● The handler retries until you've hit your limit · see docs"
		}
	}
	said := strings.Join(lines, "\n")
	if got := Classify(said); got.State == Limited {
		t.Errorf("an answer about limits read as %s/%s", got.State, got.Reason)
	}
}

func TestResolveReset(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	now := time.Date(2026, 12, 3, 22, 10, 0, 0, time.UTC)
	tests := []struct {
		text string
		want string // RFC 3339, "" when not a time
	}{
		{"11:24am (UTC)", "2026-12-04T11:24:00Z"},
		{"10:05pm (UTC)", "2026-12-03T22:05:00Z"}, // just passed: still today
		{"2am (UTC)", "2026-12-04T02:00:00Z"},
		{"12am (UTC)", "2026-12-04T00:00:00Z"},
		{"12pm (UTC)", "2026-12-04T12:00:00Z"},
		{"14:00 (Europe/Berlin)", "2026-12-04T14:00:00+01:00"},
		{"5pm", "2026-12-04T17:00:00+01:00"}, // no zone: loc's
		{"Dec 9 at 7pm (UTC)", "2026-12-09T19:00:00Z"},
		{"Jan 2 at 7pm (UTC)", "2027-01-02T19:00:00Z"},
		{"Jan 2, 2027 at 9am (UTC)", "2027-01-02T09:00:00Z"},
		{"soon", ""},
		{"25:00", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := ResolveReset(tt.text, now, berlin)
		s := ""
		if ok {
			s = got.Format(time.RFC3339)
		}
		if s != tt.want {
			t.Errorf("ResolveReset(%q) = %q, want %q", tt.text, s, tt.want)
		}
	}
	for _, tt := range []struct{ screen, want string }{
		{"You've hit your 5-hour limit · resets 11:24am (UTC)\n", "11:24am (UTC)"},
		{"Usage limit reached · limit resets 11:24am\n Continuing automatically at 11:24am", "11:24am"},
		{"You've hit your weekly limit · resets Sep 15 at 7pm\n", "Sep 15 at 7pm"},
		{"nothing here", ""},
	} {
		if got := resetText(tt.screen); got != tt.want {
			t.Errorf("resetText(%q) = %q, want %q", tt.screen, got, tt.want)
		}
	}
}

// TestLimitDialog checks the /rate-limit-options dialog: with the limit
// message above it, alone (the message scrolled away), for a weekly limit,
// in the "Stop" form of usage-based plans; and that another dialog with the
// same title is still a chooser. Its options stay answerable (ParseDialog,
// IsLimitDialog).
func TestLimitDialog(t *testing.T) {
	capture := time.Date(2026, 12, 3, 11, 23, 10, 0, time.UTC)
	base := readScreen(t, "98-limit-options-dialog.txt")
	const msg = "  ⎿  You've hit your 5-hour limit · resets 11:24am (UTC)\n"
	if !strings.Contains(base, msg) {
		t.Fatal("fixture changed")
	}
	// Without the "Wait here" option (no reset known to the CLI).
	noWait := strings.NewReplacer("    2. Wait here, then continue automatically at 11:24am\n", "",
		"3. Switch", "2. Switch", "4. Add", "3. Add", "5. Upgrade", "4. Upgrade").Replace(base)
	tests := []struct {
		name      string
		text      string
		state     State
		reason    Reason
		resetText string
		resetsAt  string
	}{
		{"with the limit message", base, Limited, ReasonUsageLimit, "11:24am (UTC)", "2026-12-03T11:24:00Z"},
		{"dialog alone", strings.Replace(base, msg, "", 1), Limited, ReasonUsageLimit, "11:24am", "2026-12-03T11:24:00Z"},
		{"weekly", strings.Replace(base, "5-hour limit · resets 11:24am (UTC)", "weekly limit · resets Dec 7 at 7pm (UTC)", 1), Limited, ReasonWeeklyLimit, "Dec 7 at 7pm (UTC)", "2026-12-07T19:00:00Z"},
		{"Stop form", strings.Replace(noWait, "Stop and wait for limit to reset", "Stop", 1), Limited, ReasonUsageLimit, "11:24am (UTC)", "2026-12-03T11:24:00Z"},
		{"other dialog of that title", strings.NewReplacer(msg, "", "Stop and wait for limit to reset", "Keep going").Replace(noWait), NeedsInput, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyAt(tt.text, capture, time.UTC)
			if got.State != tt.state || got.Reason != tt.reason || got.ResetText != tt.resetText || got.ResetsAt != tt.resetsAt {
				t.Errorf("got %s/%s reset %q → %q (evidence %q); want %s/%s %q → %q", got.State, got.Reason, got.ResetText, got.ResetsAt, got.Evidence, tt.state, tt.reason, tt.resetText, tt.resetsAt)
			}
			d, ok := ParseDialog(tt.text)
			if !ok || len(d.Options) < 2 || d.Options[0].N != 1 {
				t.Fatalf("ParseDialog = %+v, %v; want the dialog's options", d, ok)
			}
			if tt.state == Limited && !IsLimitDialog(d) {
				t.Errorf("IsLimitDialog(%+v) = false, want true", d)
			}
		})
	}
	if d, ok := ParseDialog(readScreen(t, "61-permission.txt")); !ok || IsLimitDialog(d) {
		t.Errorf("permission prompt: ParseDialog ok %v, IsLimitDialog true; want a dialog that is not the limit's", ok)
	}
}
