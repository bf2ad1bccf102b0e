package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/bot/discord"
	"github.com/fleetwarden/fleetwarden/bot/telegram"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/config"
	"github.com/fleetwarden/fleetwarden/internal/atomicfile"
)

// crashesFile, in state.dir, remembers recent crashes: the same one three
// times in ten minutes starts fleetwarden in safe mode.
const crashesFile = "crashes.json"

const (
	crashWindow = 10 * time.Minute
	crashRepeat = 3
)

type crash struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

func readCrashes(dir string, now time.Time) []crash {
	data, err := os.ReadFile(filepath.Join(dir, crashesFile))
	if err != nil {
		return nil
	}
	var all, recent []crash
	_ = json.Unmarshal(data, &all)
	for _, c := range all {
		if now.Sub(c.At) < crashWindow {
			recent = append(recent, c)
		}
	}
	return recent
}

// recordCrash remembers that fleetwarden is about to exit by a crash: a
// panic or a component that could not start.
func recordCrash(dir, what string, now time.Time) {
	what = claude.Redact(clip(strings.SplitN(what, "\n", 2)[0], 300))
	cs := append(readCrashes(dir, now), crash{At: now.UTC(), What: what})
	data, err := json.Marshal(cs)
	if err != nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	_ = atomicfile.Write(filepath.Join(dir, crashesFile), data, 0o600)
}

// crashOutFile, in state.dir, receives the runtime's report of a fatal
// panic in any goroutine (debug.SetCrashOutput); the next start counts it.
const crashOutFile = "crash.out"

// captureCrashes makes the runtime write a fatal panic to state.dir as well
// as to stderr. The caller closes the returned file when done with it.
func captureCrashes(dir string) (io.Closer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, crashOutFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		f.Close()
		return nil, err
	}
	// SetCrashOutput keeps its own descriptor.
	return f, nil
}

// collectCrashOutput counts a crash the previous run's runtime reported:
// its "panic: …" or "fatal error: …" line.
func collectCrashOutput(dir string) {
	path := filepath.Join(dir, crashOutFile)
	data, err := os.ReadFile(path)
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return
	}
	fi, err := os.Stat(path)
	at := time.Now()
	if err == nil {
		at = fi.ModTime()
	}
	what := strings.SplitN(strings.TrimSpace(string(data)), "\n", 2)[0]
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			what = strings.TrimSuffix(l, " [recovered]")
			break
		}
	}
	recordCrash(dir, what, at)
	_ = os.Remove(path)
}

// repeatedCrash says why to start in safe mode: the same crash three times
// in ten minutes; "" when there is no such series.
func repeatedCrash(dir string, now time.Time) string {
	n := map[string]int{}
	for _, c := range readCrashes(dir, now) {
		n[c.What]++
		if n[c.What] >= crashRepeat {
			return fmt.Sprintf("the same crash %d times in 10 minutes: %s", n[c.What], c.What)
		}
	}
	return ""
}

func clearCrashes(dir string) { _ = os.Remove(filepath.Join(dir, crashesFile)) }

// safeCheck probes a chat transport before safe mode starts it: one that
// fails is left out.
func safeCheck(ctx context.Context, cfg *config.Config, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	switch name {
	case telegram.Platform:
		_, err = telegram.Probe(ctx, nil, cfg.Telegram.APIURL, cfg.Telegram.Token.Value())
	case discord.Platform:
		_, err = discord.Probe(ctx, nil, cfg.Discord.APIURL, cfg.Discord.Token.Value())
	}
	return err
}

// checkRoute is safe mode's check of a fallback alert route, without
// sending anything: its server answers, or its program exists.
func checkRoute(ctx context.Context, r config.Route) error {
	dial := func(addr string) error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := d.DialContext(dctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	switch r.Type {
	case config.RouteWebhook:
		u, err := url.Parse(r.URL)
		if err != nil {
			return fmt.Errorf("bad url")
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		return dial(net.JoinHostPort(u.Hostname(), port))
	case config.RouteEmail:
		port := r.Port
		if port == 0 {
			port = 587
		}
		return dial(net.JoinHostPort(r.Host, fmt.Sprint(port)))
	case config.RouteExec:
		if len(r.Command) == 0 {
			return fmt.Errorf("no command")
		}
		_, err := exec.LookPath(r.Command[0])
		return err
	}
	return fmt.Errorf("unknown type %q", r.Type)
}
