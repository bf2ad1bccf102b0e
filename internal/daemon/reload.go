package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/config"
)

// A reload reads the config file again, says what would change, and
// applies it: at once when nothing widens who or what is reached, else
// after an admin's button. Applying ends this generation of the daemon and
// starts the next on the new config; state.dir carries everything over.

// controlSocket, in state.dir, is where `fleetwarden reload` reaches the
// running daemon.
const controlSocket = "control.sock"

// controlRequest is one line a `fleetwarden reload` sends.
type controlRequest struct {
	Cmd    string `json:"cmd"`    // "reload"
	Config string `json:"config"` // the file to read; "" = the one running
	Yes    bool   `json:"yes"`    // apply widening changes without a button
}

// controlReply is the daemon's answer.
type controlReply struct {
	OK   bool   `json:"ok"`
	Text string `json:"text"`
}

func (d *daemon) registerReload(h *commands.Handler) {
	h.Register(commands.Command{Name: "reload", Help: "read the config file again: shows the changes; widening ones wait for your button",
		Role: commands.RoleAdmin, Run: d.cmdReload})
}

// prepareReload loads the file (path, else the running one) and compares it
// with the running config.
func (d *daemon) prepareReload(path string) (*config.Config, config.Changes, error) {
	if path == "" {
		path = d.rt.cfg.Path
	}
	if path == "" {
		return nil, nil, errors.New("fleetwarden runs on the embedded default: there is no file to reload (start it with --config FILE)")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	ch := config.Diff(d.rt.cfg, cfg)
	for i, c := range ch {
		if strings.HasPrefix(c.Text, "~ console.") {
			// The console reads the terminal for the life of the process.
			ch[i].Text += " (at the next start)"
		}
	}
	if len(d.boot.notes) > 0 {
		ch = append(ch, config.Change{Text: "~ the file loads again: the last good config steps down"})
	}
	if d.boot.safe != "" {
		ch = append(ch, config.Change{Text: "~ safe mode ends: everything starts again"})
	}
	return cfg, ch, nil
}

// refused journals a file that does not load and says so, every error on
// its own line.
func (d *daemon) refused(by string, err error) error {
	msg := configErrors(err, "\n")
	_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload_invalid", Message: msg})
	return fmt.Errorf("the config does not load; still running on the current one:\n%s", msg)
}

func reloadHead(cfg *config.Config, ch config.Changes) string {
	return claude.Redact(fmt.Sprintf("Config reload of %s:\n%s", cfg.Path, ch))
}

// apply hands the new config to the next generation.
func (d *daemon) apply(cfg *config.Config, ch config.Changes, by string) error {
	if !d.reloading.TryLock() {
		return errors.New("a reload is being applied already")
	}
	_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload", Message: ch.String()})
	d.reloadc <- &boot{cfg: cfg, reload: &reloadDone{by: by, changes: ch}}
	return nil
}

func (d *daemon) cmdReload(ctx context.Context, c *commands.Call) error {
	if len(c.Args) > 0 {
		return commands.Usagef("")
	}
	by := c.Req.Actor()
	cfg, ch, err := d.prepareReload("")
	if err != nil {
		return d.refused(by, err)
	}
	if len(ch) == 0 {
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload_unchanged"})
		return c.Reply(ctx, fmt.Sprintf("No changes in %s.", cfg.Path))
	}
	if !ch.NeedConfirm() {
		if err := c.Reply(ctx, reloadHead(cfg, ch)+"\n\nApplying now."); err != nil {
			d.log.Warn("reload reply", "err", err)
		}
		return d.apply(cfg, ch, by)
	}
	_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload_waiting", Message: ch.String()})
	return c.Confirm(ctx, reloadHead(cfg, ch)+"\n\nApply these changes?", func(ctx context.Context, c *commands.Call) error {
		// The file may have changed since the question.
		now, ch, err := d.prepareReload(cfg.Path)
		if err != nil {
			return d.refused(c.Req.Actor(), err)
		}
		if !bytes.Equal(now.Raw, cfg.Raw) {
			return errors.New("the file changed since you asked; send /reload again to see what changes now")
		}
		if err := c.Reply(ctx, "Applying the new config…"); err != nil {
			d.log.Warn("reload reply", "err", err)
		}
		return d.apply(now, ch, c.Req.Actor())
	})
}

// reloadFrom is a reload asked for by SIGHUP or `fleetwarden reload`: with
// yes, widening changes apply too; without, they wait for an admin in chat.
func (d *daemon) reloadFrom(path string, yes bool, by string) (string, error) {
	cfg, ch, err := d.prepareReload(path)
	if err != nil {
		return "", d.refused(by, err)
	}
	if len(ch) == 0 {
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload_unchanged"})
		return fmt.Sprintf("No changes in %s.", cfg.Path), nil
	}
	head := reloadHead(cfg, ch)
	if ch.NeedConfirm() && !yes {
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: by, Action: "reload_waiting", Message: ch.String()})
		d.tell(head + "\n\nThese wait for an admin: send /reload to review them and confirm with its button.")
		return head + "\n\nNothing applied: these wait for an admin's confirmation in chat (/reload), or run `fleetwarden reload --yes`.", nil
	}
	if err := d.apply(cfg, ch, by); err != nil {
		return "", err
	}
	return head + "\n\nApplying now; the chats hear when the new config runs (or why it could not start).", nil
}

// tell sends a notice to the console and every chat transport now, in
// full (an alert carries one line).
func (d *daemon) tell(text string) {
	go d.broadcast(context.Background(), claude.Redact(text))
}

// reloadNotice is the start notice of a generation a reload started.
func (d *daemon) reloadNotice() {
	r := d.boot.reload
	text := fmt.Sprintf("✓ Config reloaded (applied by %s):\n%s", r.by, r.changes)
	if r.failed != "" {
		text = fmt.Sprintf("✗ The reloaded config did not start: %s\nRunning on the previous config again; fix the file and /reload.", r.failed)
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: r.by, Action: "reload_failed", Error: r.failed})
	}
	if n := d.notes(); len(n) > 0 {
		text += "\n\n" + strings.Join(n, "\n")
	}
	d.tell(text)
}

// listenReload answers `fleetwarden reload` on the control socket and
// SIGHUP, until ctx ends.
func (d *daemon) listenReload(ctx context.Context) error {
	path := filepath.Join(d.rt.cfg.State.Dir, controlSocket)
	_ = os.Remove(path) // left by a crash; the journal lock says we are the only one
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		d.log.Warn("no control socket: `fleetwarden reload` cannot reach this daemon; SIGHUP and /reload still work", "err", err)
		ln = nil
	} else {
		_ = os.Chmod(path, 0o600)
		go func() {
			<-ctx.Done()
			ln.Close()
		}()
		go d.serveControl(ctx, ln)
	}
	for {
		select {
		case <-ctx.Done():
			if ln != nil {
				_ = os.Remove(path)
			}
			return nil
		case <-d.hup:
			d.log.Info("SIGHUP: reloading the config")
			text, err := d.reloadFrom("", false, "SIGHUP")
			if err != nil {
				d.log.Error("reload", "err", err)
				d.tell("✗ SIGHUP: " + err.Error() + "\nFix the file and /reload.")
				continue
			}
			d.log.Info("reload", "result", text)
		}
	}
}

func (d *daemon) serveControl(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			var req controlRequest
			line, err := bufio.NewReader(c).ReadBytes('\n')
			if err == nil {
				err = json.Unmarshal(line, &req)
			}
			var rep controlReply
			switch {
			case err != nil:
				rep.Text = "bad request: " + err.Error()
			case req.Cmd != "reload":
				rep.Text = fmt.Sprintf("unknown request %q", req.Cmd)
			default:
				rep.Text, err = d.reloadFrom(req.Config, req.Yes, "command line")
				rep.OK = err == nil
				if err != nil {
					rep.Text = err.Error()
				}
			}
			_ = json.NewEncoder(c).Encode(rep)
		}()
	}
}

// RequestReload is `fleetwarden reload`: it asks the daemon running on the
// state.dir of the config at path (found as config.Find does when "") to
// read its config again, and returns its answer. A config.Find error is
// returned as it is; the others say what went wrong in full.
func RequestReload(ctx context.Context, path string, yes bool) (string, error) {
	file := path
	if file == "" {
		found, err := config.Find()
		if err != nil {
			return "", err
		}
		file = found
	}
	var stateDir string
	if file == "" {
		stateDir = config.Default().State.Dir
	} else if cfg, err := config.Load(file); err == nil {
		stateDir = cfg.State.Dir
	} else {
		// The daemon says what is wrong with it, in full.
		stateDir = config.StateDirHint(file)
	}
	req := controlRequest{Cmd: "reload", Yes: yes}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", fmt.Errorf("fleetwarden: %w", err)
		}
		req.Config = abs
	}
	sock := filepath.Join(stateDir, controlSocket)
	var dl net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := dl.DialContext(dctx, "unix", sock)
	if err != nil {
		return "", fmt.Errorf("fleetwarden: no fleetwarden runs on %s (%w)", stateDir, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return "", fmt.Errorf("fleetwarden: %w", err)
	}
	var rep controlReply
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return "", fmt.Errorf("fleetwarden: no answer from the running fleetwarden: %w", err)
	}
	if !rep.OK {
		return "", errors.New(rep.Text)
	}
	return rep.Text, nil
}

// notes say how this generation runs when not simply as configured.
func (d *daemon) notes() []string {
	out := append([]string(nil), d.boot.notes...)
	if d.boot.safe != "" {
		out = append(out, d.safeNote())
	}
	return out
}

// safeNote says why safe mode runs and what it left out, first: an alert
// carries 300 characters.
func (d *daemon) safeNote() string {
	s := "Safe mode: " + d.boot.safe + "."
	if len(d.leftOut) > 0 {
		s += " Left out: " + strings.Join(d.leftOut, "; ") + "."
	}
	return s + " Running only the tmux watch, the console, the dashboard and the alert routes that passed their check. Leave it with /reload or a restart."
}

// passes reports whether a chat transport starts: always, except in safe
// mode, where it must pass its check.
func (d *daemon) passes(platform string) bool {
	if d.boot.safe == "" {
		return true
	}
	if err := safeCheck(context.Background(), d.rt.cfg, platform); err != nil {
		d.leftOut = append(d.leftOut, fmt.Sprintf("%s (%s)", platform, claude.Redact(err.Error())))
		return false
	}
	return true
}

// routePasses is passes for a fallback alert route.
func (d *daemon) routePasses(route alert.Route, r config.Route) bool {
	name := route.Name()
	if err := checkRoute(context.Background(), r); err != nil {
		d.leftOut = append(d.leftOut, fmt.Sprintf("alert route %s (%s)", name, claude.Redact(err.Error())))
		return false
	}
	return true
}

// announce says something on every route that works: the chats the way
// alerts go (queued, the fallback routes standing in when chat is down),
// and every fallback route at once.
func (d *daemon) announce(reason, text string) {
	now := d.now()
	d.alerts.Observe(alert.Event{Time: now, Kind: alert.KindInfo, Reason: reason, Evidence: text, Active: true})
	summary := reason
	if first, _, _ := strings.Cut(reason, " "); !strings.Contains(first, ".") { // a config key keeps its case
		summary = strings.ToUpper(reason[:1]) + reason[1:]
	}
	n := alert.Notification{ID: fmt.Sprintf("notice-%d", now.UnixNano()), AlertKey: "info/" + reason, Status: "firing",
		Severity: alert.SeverityInfo, Kind: alert.KindInfo, Reason: reason, Summary: summary,
		Evidence: claude.Redact(text), StartsAt: now, Time: now}
	for _, r := range d.fallback {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.Deliver(ctx, n); err != nil {
				d.log.Warn("notice not delivered", "route", r.Name(), "err", err)
			}
		}()
	}
}
