package dashboard

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromium = "/usr/bin/chromium"

// serve runs s on its loopback listener until the test ends and returns the
// page's URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	ln, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + s.Addr() + "/"
}

// browser is one headless Chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing in CI: the test script must apt-get install chromium", chromium)
		}
		t.Skipf("%s not installed (apt-get install -y chromium): skipping the browser test", chromium)
	}
	// Without these flags Chromium reaches for the network (component and
	// safe-browsing updates, QUIC probes) and stalls on a machine without it.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	b := &browser{t: t, ctx: ctx}

	// Collect what the page logs: a CSP violation, a failed request or a
	// script error shows up here.
	messages := chromedp.Console(ctx) // starts the browser
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m.String())
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs one step with its own deadline.
func (b *browser) do(name string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(10*time.Second)))
}

func (b *browser) noConsoleMessages() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		b.t.Errorf("browser console: %s", m)
	}
}

// TestBrowser opens the dashboard in a real headless Chromium on a phone-sized
// viewport, checks what a person sees, changes an agent's state and waits
// for the page to show it without reloading.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	f := newFleet()
	s := newServer(t, f, nil)
	url := serve(t, s)

	b.do("open the page",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-agent="reviewer"][data-state="idle"] .state.st-idle`)),
	)
	rows := b.eval(`[...document.querySelectorAll('#agents tbody tr')].map(r => r.dataset.agent + '=' + r.querySelector('.state').textContent).join(',')`)
	if want := "builder=working,reviewer=idle,docs=auth_failed,<script>x</script>=needs_input"; rows != want {
		t.Errorf("agent rows: got %q, want %q", rows, want)
	}
	// The inline style applied (the CSP nonce works): states have colours.
	if c := b.eval(`getComputedStyle(document.querySelector('tr[data-agent="docs"] .state')).backgroundColor`); c != "rgb(207, 34, 46)" {
		t.Errorf("auth_failed badge colour: got %q, want red rgb(207, 34, 46)", c)
	}
	// Readable on a phone: no sideways scrolling, rows laid out as cards.
	if w := b.eval(`document.documentElement.scrollWidth + 'x' + window.innerWidth`); w != "390x390" {
		t.Errorf("page width x viewport: got %s, want 390x390 (no horizontal scroll)", w)
	}
	if d := b.eval(`getComputedStyle(document.querySelector('#agents thead')).display`); d != "none" {
		t.Errorf("table header on a phone: got display %q, want none (card layout)", d)
	}

	// The stream is up, then the state changes on the server.
	b.waitFor("event stream connects", `document.getElementById('conn').textContent === 'live'`)
	loadedAt := b.eval(`String(window.fleetwardenLoadedAt)`)
	f.set("reviewer", "auth_failed", "revoked")
	s.Changed()
	b.do("page shows the new state", chromedp.WaitVisible(chromedp.CSS(`tr[data-agent="reviewer"][data-state="auth_failed"] .state.st-auth_failed`)))
	if got := b.eval(`document.querySelector('tr[data-agent="reviewer"] .reason').textContent`); got != "revoked" {
		t.Errorf("reviewer reason: got %q, want revoked", got)
	}
	if got := b.eval(`String(window.fleetwardenLoadedAt)`); got != loadedAt {
		t.Errorf("page reloaded: load marker %s became %s, want it kept (update in place)", loadedAt, got)
	}
	if got := b.eval(`document.querySelector('.chips').textContent`); !strings.Contains(got, "2 auth_failed") {
		t.Errorf("state summary: got %q, want it to count 2 auth_failed", got)
	}

	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot (390x844 phone viewport, after reviewer went idle → auth_failed): %s", abs)
	b.noConsoleMessages()
}

// TestBrowserPollFallback: a browser without EventSource (or behind a proxy
// that swallows the stream) still follows changes by polling.
func TestBrowserPollFallback(t *testing.T) {
	b := startBrowser(t)
	f := newFleet()
	s := newServer(t, f, nil)
	s.pollEvery = 100 * time.Millisecond
	url := serve(t, s)

	b.do("open the page without EventSource",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.EventSource;`})
			return err
		}),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-agent="builder"][data-state="working"]`)),
	)
	if got := b.eval(`typeof window.EventSource`); got != "undefined" {
		t.Fatalf("EventSource still there: %s", got)
	}
	loadedAt := b.eval(`String(window.fleetwardenLoadedAt)`)
	f.set("builder", "api_error", "overloaded")
	b.do("page shows the new state", chromedp.WaitVisible(chromedp.CSS(`tr[data-agent="builder"][data-state="api_error"] .state.st-api_error`)))
	if got := b.eval(`document.getElementById('conn').textContent`); got != "polling" {
		t.Errorf("connection badge: got %q, want polling", got)
	}
	if got := b.eval(`String(window.fleetwardenLoadedAt)`); got != loadedAt {
		t.Errorf("page reloaded: load marker %s became %s, want it kept", loadedAt, got)
	}
	b.noConsoleMessages()
}
