//go:build claude_e2e

package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/internal/fakes/anthropictest"
)

// The usage-limit cycle against the real CLI: both agents hit the 5-hour
// limit (the fake answers 429 rejected with the unified headers) and read
// as limited with resets_at; one notice names both; one is restarted by
// fleetwarden during the wait, so its CLI will not go on by itself; the
// other continues by itself after the reset and is reported back; the
// restarted one gets the resume prompt once, after the reset, and works.
func TestUsageLimitCycle(t *testing.T) {
	eachRenderer(t, func(t *testing.T, e *env, rd renderer) {
		e.login()
		waits, relaunched := e.startAgent("waits"), e.startAgent("relaunched")
		e.waitReady(waits)
		e.waitReady(relaunched)
		f := e.fleet("waits", "relaunched")
		l := fleet.NewLimits(fleet.LimitOptions{AutoResume: true, Prompt: "continue", Grace: 5 * time.Second})

		reset := time.Now().Add(50 * time.Second)
		e.api.Script(anthropictest.UsageLimit(anthropictest.ClaimFiveHour, reset))
		e.prompt(waits, "first task")
		e.prompt(relaunched, "second task")
		for _, p := range []string{waits, relaunched} {
			r, _ := e.waitState(p, claude.Limited, claude.ReasonUsageLimit, turnTimeout)
			e.seen("limited", r)
		}
		sts := e.scan(f)
		for _, n := range []string{"waits", "relaunched"} {
			at, err := time.Parse(time.RFC3339, sts[n].ResetsAt)
			// The CLI shows minutes: the reset on screen is within a minute of the real one.
			if err != nil || at.Sub(reset).Abs() > time.Minute {
				t.Errorf("%s: resets_at %q, want about %s", n, sts[n].ResetsAt, reset.Format(time.RFC3339))
			}
		}
		var actions []fleet.LimitAction
		observe := func() {
			st, err := f.Scan(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range l.Observe(st, time.Now()) {
				e.t.Logf("policy: %s %v", a.Kind, a.Agents)
				actions = append(actions, a)
				if a.Kind == fleet.LimitResume {
					if err := f.ResumeLimited(t.Context(), a.Agents[0], "continue"); err != nil {
						t.Errorf("resume %s: %v", a.Agents[0], err)
					}
				}
			}
		}
		observe()
		if len(actions) != 1 || actions[0].Kind != fleet.LimitNotice || !slices.Equal(actions[0].Agents, []string{"relaunched", "waits"}) && !slices.Equal(actions[0].Agents, []string{"waits", "relaunched"}) {
			t.Fatalf("first look: actions %+v, want one notice naming both", actions)
		}

		// fleetwarden restarts one during the wait.
		res := f.Restart(t.Context(), []string{"relaunched"}, fleet.RestartOptions{ConfigDir: e.configDir, Timeout: startTimeout})
		if !res[0].OK || res[0].State != claude.Limited {
			t.Errorf("restart during the wait: ok=%v state=%s err=%q, want back, limited", res[0].OK, res[0].State, res[0].Err)
		}
		r, _ := e.waitFor(relaunched, startTimeout, "the relaunched CLI not resuming", func(r claude.Result, _ string) bool {
			return r.State == claude.Limited && r.NoResume
		})
		e.seen("relaunched", r)

		// Through the reset: both must end up working again.
		deadline := time.Now().Add(4 * time.Minute)
		back := map[string]bool{}
		for len(back) < 2 && time.Now().Before(deadline) {
			observe()
			for _, a := range actions {
				if a.Kind == fleet.LimitBack {
					for _, n := range a.Agents {
						back[n] = true
					}
				}
			}
			if time.Now().Before(reset) {
				if _, ok := lastPrompt(e.api, "continue"); ok {
					t.Fatalf("a prompt went in before the reset")
				}
			}
			time.Sleep(time.Second)
		}
		var notices, resumes []fleet.LimitAction
		for _, a := range actions {
			switch a.Kind {
			case fleet.LimitNotice:
				notices = append(notices, a)
			case fleet.LimitResume:
				resumes = append(resumes, a)
			}
		}
		if len(notices) != 1 {
			t.Errorf("%d notices, want 1: %+v", len(notices), notices)
		}
		if len(resumes) != 1 || resumes[0].Agents[0] != "relaunched" {
			t.Errorf("resume prompts %+v, want one, for relaunched", resumes)
		}
		if !back["waits"] || !back["relaunched"] {
			t.Errorf("back after the limit: %v, want both", back)
		}
		if req, ok := lastPrompt(e.api, "continue"); !ok || req.Time.Before(reset) || req.Status != 200 {
			t.Errorf("the resume prompt: %+v %v, want answered after the reset", req, ok)
		}
	})
}
