package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fleetwarden/fleetwarden/internal/fakes/sshdtest"
	"github.com/fleetwarden/fleetwarden/tmux/tmuxtest"
)

const chromium = "/usr/bin/chromium"

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDashboardInBrowser runs fleetwarden on a private tmux server with
// agents in different states, opens the dashboard in headless Chromium,
// checks the rows, breaks an agent's login and waits for the page to show it
// without a reload, and saves a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI: the test script must install chromium", chromium)
		}
		t.Skipf("%s not installed: skipping the browser test", chromium)
	}
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", agents: map[string]string{
		"builder": "17-busy-7s.txt", "reviewer": "15-busy.txt", "docs": "19-tui-401.txt", "ops": "61-permission.txt"}})
	addr := c.dashAddr()
	url := "http://" + addr + "/"
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		code, body := dashGet(addr, "/readyz")
		return code == 200, fmt.Sprintf("/readyz %d: %s", code, body)
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	// Start the browser on the tab's own context: a step's timeout context
	// must not own (and close) it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	row := func(agent, state string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-agent=%q][data-state=%q]`, agent, state)))
	}
	run("open the dashboard",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(url),
		row("builder", "working"), row("reviewer", "idle"), row("docs", "auth_failed"), row("ops", "needs_input"))
	if got := eval(`document.querySelector('tr[data-agent="docs"] .reason').textContent`); got != "expired" {
		t.Errorf("docs reason on the page: %q, want expired", got)
	}
	loaded := eval(`String(window.fleetwardenLoadedAt)`)

	// The reviewer's login dies: the page follows without a reload.
	c.show("reviewer", "52-tui-401-refreshok.txt")
	run("the page shows reviewer's failure", row("reviewer", "auth_failed"))
	if got := eval(`String(window.fleetwardenLoadedAt)`); got != loaded {
		t.Errorf("the page reloaded (%s → %s); it must update in place", loaded, got)
	}
	if got := eval(`document.querySelector('#alerts').textContent`); !strings.Contains(got, "Login expired") {
		t.Errorf("alerts on the page: %q, want the firing login alert", got)
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	// Kept where FLEETWARDEN_SCREENSHOTS says (to look at the page);
	// otherwise in the test's own directory, which goes with it.
	dir := os.Getenv("FLEETWARDEN_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fleetwarden-dashboard.png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// /metrics of a running fleetwarden counts what it did: alerts by kind, a
// restart, the agents by state.
func TestMetricsOfARunningFleet(t *testing.T) {
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", agents: map[string]string{"alpha": "19-tui-401.txt", "beta": "15-busy.txt"}})
	addr := c.dashAddr()
	c.waitReply(adminChat, 0, "Login expired on alpha")
	c.restartFromChat("alpha")
	want := []string{
		`fleetwarden_alerts_fired_total{kind="auth_failed"} 1`,
		`fleetwarden_restarts_total{result="ok"} 1`,
		`fleetwarden_agents{state="idle"} 2`,
	}
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		_, body := dashGet(addr, "/metrics")
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false, fmt.Sprintf("/metrics lacks %s:\n%s", w, grepLines(body, "fleetwarden_alerts_fired|fleetwarden_restarts|fleetwarden_agents"))
			}
		}
		return true, ""
	})
}

// grepLines keeps the lines of s that match re.
func grepLines(s, re string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if ok, _ := regexp.MatchString(re, l); ok {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /readyz says "no alert route is up" when the chat is down and the
// fallback route fails too: configured is not working.
func TestReadyzKnowsWhenNoRouteWorks(t *testing.T) {
	dead := freeAddr(t) // nothing listens there
	routes := fmt.Sprintf("[[alerts.route]]\ntype = \"webhook\"\nurl = %q\n", "http://"+dead+"/hook")
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", fallbackAfter: "1s", extra: routes, agents: map[string]string{"alpha": "15-busy.txt"}})
	addr := c.dashAddr()
	readyz := func() (int, string) { return dashGet(addr, "/readyz") }
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		code, body := readyz()
		return code == 200, fmt.Sprintf("/readyz %d: %s", code, body)
	})
	c.tg.Down()
	c.show("alpha", "19-tui-401.txt")
	tmuxtest.WaitFor(t, 60*time.Second, func() (bool, string) {
		code, body := readyz()
		return code == 503 && strings.Contains(body, "no alert route is up"), fmt.Sprintf("/readyz %d: %s", code, body)
	})
	c.tg.Up()
}

// A fleet whose agents all run on another host needs no tmux server on
// this machine: /readyz says ready once the host's agents are seen, and
// does not wait for a local server that has no agents.
func TestReadyzWithEveryAgentOnAnotherHost(t *testing.T) {
	sshd := sshdtest.New(t)
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", agents: map[string]string{"alpha": "15-busy.txt"},
		tmuxSocket: fmt.Sprintf("fw-none-%d", time.Now().UnixNano()), agentKeys: "host = \"gpu-box\"\n",
		extraFn: func(e *fleetEnv) string { return hostTOML("gpu-box", sshd, e.tm.Socket()) }})
	c.say(tgAdmin, adminChat, "/status", "1 idle")
	addr := c.dashAddr()
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		code, body := dashGet(addr, "/readyz")
		return code == 200, fmt.Sprintf("/readyz %d: %s", code, body)
	})
	if sshd.Execs() == 0 {
		t.Error("the agent was not reached over SSH")
	}
}

// Emergency mode: with the dashboard unable to start (its port is taken),
// /status and /restart still work from chat.
func TestRecoveryWorksWithTheDashboardBroken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	c := newChatFleet(t, chatOpts{dashboard: taken.Addr().String(), agents: map[string]string{"alpha": "19-tui-401.txt"}})
	c.say(tgAdmin, adminChat, "/status", "1 agents: 1 auth_failed")
	c.restartFromChat("alpha")
	if !strings.Contains(c.stderr.String(), "dashboard") {
		t.Errorf("the broken dashboard left no trace in the log")
	}
}

// restartFromChat asks /restart for agent as the admin, confirms it, and
// waits for the report that it is back.
func (c *chatFleet) restartFromChat(agent string) {
	c.t.Helper()
	q := c.say(tgAdmin, adminChat, "/restart "+agent, "Restart 1 agent")
	yes, ok := q.Button("Yes, do it")
	if !ok {
		c.t.Fatalf("no confirmation button on %q", q.Plain)
	}
	n := len(c.tg.Sent())
	c.tg.PressButton(tgAdmin, adminChat, q.MessageID, yes.CallbackData)
	c.waitReply(adminChat, n, "✓ "+agent)
}

// dashGet fetches path from the dashboard at addr: the status and the body
// (the error's text, with status 0, when the request failed).
func dashGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The dashboard shows the Claude Code found where the agents run, and
// warns when it is newer than any release the real-CLI suite passed on.
func TestDashboardShowsTheClaudeVersion(t *testing.T) {
	c := newChatFleet(t, chatOpts{dashboard: "127.0.0.1:0", agents: map[string]string{"alpha": "15-busy.txt"},
		env: []string{"FAKECLAUDE_VERSION=99.0.1"}})
	addr := c.dashAddr()
	tmuxtest.WaitFor(t, 20*time.Second, func() (bool, string) {
		_, body := dashGet(addr, "/api/status")
		var st struct {
			CLIs []struct{ Host, Version, Warning string } `json:"claude_cli"`
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			return false, err.Error() + ": " + body
		}
		ok := len(st.CLIs) == 1 && st.CLIs[0].Host == "" && st.CLIs[0].Version == "99.0.1" &&
			strings.Contains(st.CLIs[0].Warning, "newer than any release")
		return ok, fmt.Sprintf("claude_cli = %+v", st.CLIs)
	})
	_, page := dashGet(addr, "/")
	if !strings.Contains(page, `<tr data-host="local">`) || !strings.Contains(page, "⚠ Claude Code 99.0.1 is newer") {
		t.Errorf("the page does not show the CLI version with its warning:\n%s", grepLines(page, "claude|Claude"))
	}
}
