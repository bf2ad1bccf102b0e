package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fleetwarden/fleetwarden/alert"
	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/bot/console"
	"github.com/fleetwarden/fleetwarden/bot/discord"
	"github.com/fleetwarden/fleetwarden/bot/telegram"
	"github.com/fleetwarden/fleetwarden/claude"
	"github.com/fleetwarden/fleetwarden/commands"
	"github.com/fleetwarden/fleetwarden/credentials"
	"github.com/fleetwarden/fleetwarden/dashboard"
	"github.com/fleetwarden/fleetwarden/fleet"
	"github.com/fleetwarden/fleetwarden/heartbeat"
	"github.com/fleetwarden/fleetwarden/internal/atomicfile"
	"github.com/fleetwarden/fleetwarden/login"
	"github.com/fleetwarden/fleetwarden/scheduler"
	"golang.org/x/sys/unix"
)

// transport is a chat channel: it answers commands and carries alerts.
type transport interface {
	Name() string
	Run(ctx context.Context) error
	Notify(ctx context.Context, text string) error
	// NotifyOnce delivers notification id; a retry goes only to the chats
	// that missed it.
	NotifyOnce(ctx context.Context, id, text string) error
}

// daemon is fleetwarden running: the watchdog, the alert manager, the
// transports and the journal.
type daemon struct {
	limits      *fleet.Limits // the usage-limit policy, fed every scan
	rt          *wiring
	log         *slog.Logger
	journal     *audit.Journal
	disk        *stateDisk // how writes to state.dir go
	handler     *commands.Handler
	console     *console.Console
	watchdog    *fleet.Watchdog
	alerts      *alert.Manager
	transports  []transport
	started     time.Time
	health      health
	metrics     *dashboard.Metrics
	dash        *dashboard.Server
	tap         journalTap
	warnings    *credentials.Warnings
	failingOver sync.Map // agent → true while its failover runs
	sched       *scheduler.Scheduler
	beat        *heartbeat.Switch // the dead man's switch
	synced      sync.Once         // alerts told the first scan is in

	now     func() time.Time
	version string

	boot      *boot            // what this generation started with
	fallback  []alert.Route    // the fallback alert routes, for announce
	leftOut   []string         // safe mode: what did not pass its check, and why
	reloadc   chan *boot       // a reload to apply: this generation ends, the next starts
	reloading sync.Mutex       // one reload at a time
	goodAfter time.Duration    // how long a config runs before it is the last good one
	hup       <-chan os.Signal // SIGHUP
}

// newDaemon builds one generation from rt, in the order its parts need
// each other: the journal and what writes to it; the chat transports (the
// primary alert routes; they read the command list when they start); the
// alert manager over them and the fallback routes; the watchdog feeding
// it; the commands over all of these; the scheduled jobs. Nothing is
// bound late and nothing half-built is reachable: callbacks fire only once
// run starts.
func newDaemon(rt *wiring, b *boot, o Options, withHandler func(*commands.Handler) *console.Console) (_ *daemon, err error) {
	d, err := openDaemon(rt, b, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.journal.Close()
		}
	}()
	d.handler = commands.NewHandler(commands.Options{ACL: rt.acl, Audit: d.tap, Log: rt.log})
	if withHandler != nil {
		d.console = withHandler(d.handler)
	}
	if err := d.buildTransports(); err != nil {
		return nil, err
	}
	if err := d.buildAlerts(); err != nil {
		return nil, err
	}
	d.watchdog = d.newWatchdog()
	d.registerCommands()
	if d.sched, err = d.schedule(); err != nil {
		return nil, err
	}
	return d, nil
}

// openDaemon opens the journal and builds what records and shows: the
// state-disk watch, the warnings' memory, the dashboard, the metrics tap,
// the dead man's switch and the usage-limit policy.
func openDaemon(rt *wiring, b *boot, o Options) (*daemon, error) {
	cfg := rt.cfg
	disk := newStateDisk(cfg.State.Dir, rt.log)
	j, err := audit.Open(cfg.State.Dir, audit.Options{
		MaxBytes: int64(cfg.State.JournalMaxMB) << 20,
		Keep:     cfg.State.JournalKeep,
		OnError:  func(err error) { disk.report("journal", err) },
	})
	if err != nil {
		return nil, fmt.Errorf("opening the journal: %w", err)
	}
	d := &daemon{rt: rt, log: rt.log, journal: j, started: b.started, metrics: b.metrics, now: o.Now, version: o.Version,
		goodAfter: o.GoodAfter, warnings: credentials.LoadWarnings(cfg.State.Dir, disk.report), boot: b, reloadc: make(chan *boot, 1), disk: disk}
	d.beat = heartbeat.New(heartbeat.Options{URL: cfg.Heartbeat.URL, Every: cfg.Heartbeat.Interval.Duration, Alive: d.scanning, Log: rt.log})
	d.limits = newLimits(cfg, rt.log)
	if cfg.Dashboard.Enabled() {
		srv, err := dashboard.New(dashboard.Options{Listen: cfg.Dashboard.Listen, Token: cfg.Dashboard.Token.Value(), Hosts: cfg.Dashboard.Hosts,
			Snapshot: d.snapshot, Ready: d.ready, Metrics: d.metrics, Log: rt.log})
		if err != nil {
			j.Close()
			return nil, err
		}
		d.dash = srv
	}
	d.tap = journalTap{j: j, m: d.metrics, d: d.dash}
	return d, nil
}

// buildTransports builds the chat transports the config names (in safe
// mode, those that pass their check).
func (d *daemon) buildTransports() error {
	cfg, h := d.rt.cfg, d.handler
	if t := cfg.Telegram; t != nil && d.passes(telegram.Platform) {
		bot, err := telegram.New(telegram.Options{
			Token: t.Token.Value(), APIURL: t.APIURL, AlertChats: t.AlertChats,
			Handler: h, Commands: h.Commands, Roles: telegramRoles(t), Log: d.log,
			OnHealth: func(hl telegram.Health) { d.transportHealth(telegram.Platform, hl.State, hl.LastError) },
		})
		if err != nil {
			return err
		}
		d.transports = append(d.transports, bot)
	}
	if dc := cfg.Discord; dc != nil && d.passes(discord.Platform) {
		bot, err := discord.New(discord.Options{
			Token: dc.Token.Value(), APIURL: dc.APIURL, GuildID: dc.GuildID, AlertChannels: dc.AlertChannels,
			Handler: h, Commands: h.Commands, Log: d.log,
			OnHealth: func(hl discord.Health) { d.transportHealth(discord.Platform, hl.State, hl.LastError) },
		})
		if err != nil {
			return err
		}
		d.transports = append(d.transports, bot)
	}
	return nil
}

// buildAlerts builds the alert manager. Chat transports are the primary
// routes; a person at the console sees alerts there too, but that tells
// nobody away from the machine: the console is a mirror, and the fallback
// routes still stand in for a chat that is down.
func (d *daemon) buildAlerts() error {
	cfg := d.rt.cfg
	var primary, mirrors []alert.Route
	if d.console != nil {
		mirrors = append(mirrors, consoleRoute{d.console})
	}
	for _, t := range d.transports {
		primary = append(primary, chatRoute{t: t, h: d.handler})
	}
	fallback, err := d.fallbackRoutes()
	if err != nil {
		return err
	}
	d.fallback = fallback
	d.alerts, err = alert.New(alert.Options{
		GroupWait:       orNow(cfg.Alerts.GroupWait.Duration),
		RepeatInterval:  cfg.Alerts.RepeatInterval.Duration,
		FallbackAfter:   cfg.Alerts.FallbackAfter.Duration,
		Primary:         primary,
		Mirrors:         mirrors,
		Fallback:        fallback,
		QueueDir:        filepath.Join(cfg.State.Dir, "queue"),
		Log:             d.log,
		Journal:         d.tap,
		OnUndeliverable: d.undeliverable,
	})
	return err
}

// fallbackRoutes builds [[alerts.route]] (in safe mode, those that pass
// their check).
func (d *daemon) fallbackRoutes() ([]alert.Route, error) {
	cfg := d.rt.cfg
	var fallback []alert.Route
	for i, r := range cfg.Alerts.Routes {
		route, err := buildRoute(i, r, cfg.Secrets())
		if err != nil {
			return nil, err
		}
		if d.boot.safe != "" && !d.routePasses(route, r) {
			continue
		}
		fallback = append(fallback, route)
	}
	return fallback, nil
}

// undeliverable is an alert no route took: logged, and the dead man's
// switch hears of it.
func (d *daemon) undeliverable(n alert.Notification, errs []error) {
	d.log.Error("alert undeliverable on every route", "alert", n.Summary, "err", errors.Join(errs...))
	go d.beat.Fail(n.Summary)
}

// newWatchdog builds the watchdog over the fleet: with control mode, tmux
// tells it when a pane writes.
func (d *daemon) newWatchdog() *fleet.Watchdog {
	cfg, rt := d.rt.cfg, d.rt
	var activity fleet.Activity
	remote := map[string]fleet.Activity{}
	if controlMode(cfg) {
		activity = rt.tmux
		for name, c := range rt.remote {
			remote[name] = c
		}
	}
	return fleet.NewWatchdog(rt.fleet, fleet.WatchOptions{
		Activity:     activity,
		Remote:       remote,
		Debounce:     cfg.Watchdog.Debounce.Duration,
		Interval:     cfg.Watchdog.Interval.Duration,
		StuckAfter:   cfg.Watchdog.StuckAfter.Duration,
		InputAfter:   cfg.Watchdog.InputAfter.Duration,
		OnTransition: d.transition,
		OnScan:       d.onScan,
		OnEvent:      d.event,
		Log:          d.log,
	})
}

// registerCommands registers every chat command on the handler, over the
// fleet, the alert manager and the watchdog built before.
func (d *daemon) registerCommands() {
	rt, h, cfg := d.rt, d.handler, d.rt.cfg
	commands.RegisterFleet(h, rt.fleet, rt.credentialStatuses, d.authUse)
	h.SetStatusNote(func() string { return strings.Join(d.notes(), "\n") })
	d.registerReload(h)
	lg := rt.login()
	commands.RegisterRecovery(h, commands.Recovery{
		Fleet:      rt.fleet,
		StartLogin: func(ctx context.Context) (commands.LoginSession, error) { return startLogin(ctx, lg) },
		Verify:     lg.Verify,
		AfterLogin: cfg.Login.Restart,
		Restarter:  restarter{rt},
		Timeout:    cfg.Claude.LoginTimeout.Duration,
		Rescan:     func(ctx context.Context) { d.watchdog.ScanOnce(ctx) },
	})
	commands.RegisterUnblock(h, rt.fleet, rt.fleet)
	commands.RegisterSilence(h, d.alerts, rt.agentNames)
	commands.RegisterHistory(h, func(since time.Time) ([]audit.Record, error) {
		return audit.ReadAll(cfg.State.Dir, since)
	}, Location(cfg.Schedule.Timezone), d.report)
}

// startLogin starts a login for /login; a driver's error is no session.
func startLogin(ctx context.Context, lg *login.Driver) (commands.LoginSession, error) {
	s, err := lg.Start(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *daemon) since(t time.Time) time.Duration { return d.now().Sub(t) }

func (d *daemon) close() {
	if err := d.journal.Close(); err != nil {
		d.log.Error("closing the journal", "err", err)
	}
}

// run runs the daemon until ctx ends, or until a reload is applied: then
// it returns what the next generation starts with. Its phases: journal
// the start, start everything around the watchdog, run the watchdog, and
// stop in the order that loses no alert.
func (d *daemon) run(ctx context.Context) (*boot, error) {
	defer d.close()
	gap := d.journalStart()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nextc := d.awaitReload(ctx, cancel)
	// Know the fleet before anyone can ask about it.
	d.watchdog.ScanOnce(ctx)
	// The chat transports outlive ctx until the alert manager has flushed
	// its queue on the way out: SIGTERM must not cut off the very routes
	// the flush delivers through.
	tctx, stopTransports := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTransports()
	g := &group{log: d.log}
	alertsDone := g.start(ctx, "alerts", d.alerts.Run)
	d.startServices(ctx, g)
	defer d.sched.Stop()
	for _, t := range d.transports {
		g.start(tctx, t.Name(), t.Run)
	}
	g.start(ctx, "alive", d.keepAlive)
	if d.boot.reload != nil {
		d.reloadNotice()
	} else {
		d.startNotice(gap)
	}
	d.disk.setNotify(d.announce) // a full state.dir is told from here on
	d.watchdog.Run(ctx)
	next := <-nextc
	d.stop(next, alertsDone, stopTransports, g)
	return next, nil
}

// journalStart journals this generation's start (the process's, or a
// reload's) and how it runs; it returns how long nothing watched before a
// start of the process.
func (d *daemon) journalStart() away {
	var gap away
	if d.boot.reload == nil {
		gap = d.lastSeen()
		_ = d.journal.Append(audit.Record{Kind: audit.KindStart, Actor: "fleetwarden", Message: "fleetwarden " + d.version + " started"})
	}
	d.journalNotes()
	if d.boot.safe != "" {
		n := d.notes()
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: "fleetwarden", Action: "safe_mode", Message: n[len(n)-1]})
	}
	return gap
}

// awaitReload ends the generation (cancel) when a reload is applied; the
// channel then gives the next generation's boot, or nil when ctx ended.
func (d *daemon) awaitReload(ctx context.Context, cancel context.CancelFunc) <-chan *boot {
	nextc := make(chan *boot, 1)
	go func() {
		select {
		case b := <-d.reloadc:
			nextc <- b
			cancel()
		case <-ctx.Done():
			nextc <- nil
		}
	}()
	return nextc
}

// startServices starts what runs beside the watchdog: the dashboard,
// systemd's watchdog, the scheduled jobs, and (not in safe mode) the dead
// man's switch and the first auth check; the last good config and reload.
func (d *daemon) startServices(ctx context.Context, g *group) {
	if d.dash != nil {
		g.start(ctx, "dashboard", d.dash.Run)
	}
	g.start(ctx, "systemd", func(ctx context.Context) error { d.notifySystemd(ctx); return nil })
	if d.boot.safe == "" {
		g.start(ctx, "heartbeat", d.beat.Run)
	}
	d.sched.Start(ctx)
	if d.boot.safe == "" {
		// Check the credentials once at start, independently of the schedule.
		g.start(ctx, "auth check", func(ctx context.Context) error { d.authCheck(ctx); return nil })
	}
	g.start(ctx, "last good config", d.keepLastGood)
	g.start(ctx, "reload", d.listenReload)
}

// stop ends the generation: logins first, then the alert manager's
// shutdown flush while the transports still run, then everything else; a
// last flush, and the stop record when the process stops (next is nil).
func (d *daemon) stop(next *boot, alertsDone <-chan struct{}, stopTransports context.CancelFunc, g *group) {
	if next == nil {
		sdStopping()
	}
	d.handler.Close() // no login process outlives us (the admin hears so)
	<-alertsDone      // its shutdown flush is over (ShutdownGrace at most)
	stopTransports()
	g.wg.Wait()
	// Flush what is queued so a stop loses nothing that could be sent now.
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	d.alerts.Flush(fctx)
	fcancel()
	if next == nil {
		_ = d.journal.Append(audit.Record{Kind: audit.KindStop, Actor: "fleetwarden", Message: "fleetwarden stopped"})
	}
}

// group runs a generation's goroutines, logs their errors (not those of
// their end) and waits for them.
type group struct {
	log *slog.Logger
	wg  sync.WaitGroup
}

// start runs f(ctx) in a goroutine; the channel closes when f returns.
func (g *group) start(ctx context.Context, name string, f func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(done)
		if err := f(ctx); err != nil && ctx.Err() == nil {
			g.log.Error(name, "err", err)
		}
	}()
	return done
}

// aliveFile is touched while fleetwarden runs, so that after a crash or a
// kill -9 the next start knows when it stopped watching (to a minute).
const aliveFile = "alive"

// aliveEvery is how often the alive file is touched.
const aliveEvery = 30 * time.Second

// away is how long fleetwarden was not watching before this start.
type away struct {
	gap   time.Duration // < 0: never ran here before
	clean bool          // it stopped itself (a stop record), not a crash
	since time.Time
}

// lastSeen finds when the previous run stopped watching: its stop record,
// else the later of its last record and its last sign of life.
func (d *daemon) lastSeen() away {
	recs, _ := audit.ReadAll(d.rt.cfg.State.Dir, time.Time{})
	if len(recs) == 0 {
		return away{gap: -1}
	}
	last := recs[len(recs)-1]
	a := away{since: last.Time, clean: last.Kind == audit.KindStop}
	if fi, err := os.Stat(filepath.Join(d.rt.cfg.State.Dir, aliveFile)); err == nil && !a.clean && fi.ModTime().After(a.since) {
		a.since = fi.ModTime()
	}
	a.gap = d.since(a.since)
	return a
}

// keepAlive touches the alive file every 30 s until ctx ends. A write that
// fails (a full disk) is reported and tried again at the next tick: the
// loop outlives the failure.
func (d *daemon) keepAlive(ctx context.Context) error {
	path := filepath.Join(d.rt.cfg.State.Dir, aliveFile)
	t := time.NewTicker(aliveEvery)
	defer t.Stop()
	for {
		d.disk.report(aliveFile, atomicfile.Write(path, []byte(d.now().UTC().Format(time.RFC3339)+"\n"), 0o600))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// startNotice says fleetwarden is up, and how long it was not watching, so
// gaps in watching are visible. It goes the way alerts go (queued, with
// the fallback routes): a start is when chat is most likely still down.
func (d *daemon) startNotice(a away) {
	detail := "First start with this state directory."
	if a.gap >= 0 {
		at := a.since.In(Location(d.rt.cfg.Schedule.Timezone)).Format("Mon 2 Jan 15:04")
		if a.clean {
			detail = fmt.Sprintf("after a stop of %s (stopped at %s).", audit.FormatDuration(a.gap), at)
		} else {
			detail = fmt.Sprintf("after a stop of about %s: it ended without stopping (crash, kill or power loss); last seen %s.",
				audit.FormatDuration(a.gap), at)
		}
	}
	reason := "fleetwarden started"
	if d.boot.safe != "" {
		reason = "fleetwarden started in safe mode"
	}
	d.alerts.Observe(alert.Event{Time: d.now(), Kind: alert.KindInfo, Reason: reason, Evidence: detail, Active: true})
	for _, n := range d.boot.notes {
		d.announce("the config file does not load", n)
	}
	if d.boot.safe != "" {
		d.announce("safe mode", d.safeNote())
	}
}

func (d *daemon) transition(tr fleet.Transition) {
	if tr.To.State == claude.AuthFailed {
		d.metrics.AuthFailure(string(tr.To.Reason))
	}
	if d.dash != nil {
		d.dash.Changed()
	}
	d.log.Info("transition", "agent", tr.Agent, "from", tr.From.State, "to", tr.To.State,
		"reason", tr.To.Reason, "evidence", tr.To.Evidence)
	_ = d.journal.Append(audit.Record{Kind: audit.KindTransition, Agents: []string{tr.Agent},
		From: string(tr.From.State), To: string(tr.To.State), Reason: string(tr.To.Reason), Message: tr.To.Evidence})
}

func (d *daemon) event(ev fleet.Event) {
	if ev.Kind == string(claude.AuthFailed) && ev.Active && d.boot.safe == "" {
		if a, ok := d.rt.fleet.Agent(ev.Agent); ok && a.Backup != "" {
			go d.failover(context.Background(), ev.Agent, ev.Reason)
		}
	}
	d.alerts.Observe(alert.Event{Time: ev.Time, Agent: ev.Agent, Kind: alert.Kind(ev.Kind), Reason: ev.Reason,
		Evidence: ev.Evidence, Active: ev.Active, ReloginFixes: ev.ReloginFixes})
}

// transportHealth turns a chat transport going down into an alert carried
// by the other routes.
func (d *daemon) transportHealth(name, state, lastErr string) {
	d.health.setTransport(name, state, lastErr)
	d.metrics.SetTransportUp(name, state == "up" || state == "degraded")
	_ = d.journal.Append(audit.Record{Kind: audit.KindAlert, Actor: "fleetwarden", Action: "transport_" + state, Route: name, Error: lastErr})
	switch state {
	case "down":
		d.alerts.Observe(alert.Event{Time: d.now(), Kind: "transport", Reason: name, Evidence: lastErr, Active: true})
	case "up":
		d.alerts.Observe(alert.Event{Time: d.now(), Kind: "transport", Reason: name, Active: false})
	}
}

// chatRoute delivers alerts through a chat transport.
type chatRoute struct {
	t transport
	h *commands.Handler // the buttons of a needs_input alert; nil: none
}

// buttonNotifier is a transport that can put buttons under an alert.
type buttonNotifier interface {
	NotifyWithButtons(ctx context.Context, id, text string, buttons []commands.Button) error
}

func (c chatRoute) Name() string { return c.t.Name() }
func (c chatRoute) Deliver(ctx context.Context, n alert.Notification) error {
	// An agent waiting on a dialog: the alert carries its options (or, for
	// several agents, their names), so one tap answers it.
	if bn, ok := c.t.(buttonNotifier); ok && c.h != nil && n.Kind == alert.KindNeedsInput && n.Status != "resolved" && len(n.Agents) > 0 {
		if bs := c.h.AlertButtons(ctx, n.Agents); len(bs) > 0 {
			return bn.NotifyWithButtons(ctx, n.ID, n.Text(), bs)
		}
	}
	return c.t.NotifyOnce(ctx, n.ID, n.Text())
}

// consoleRoute prints alerts at the terminal.
type consoleRoute struct{ c *console.Console }

func (consoleRoute) Name() string { return "console" }
func (r consoleRoute) Deliver(ctx context.Context, n alert.Notification) error {
	return r.c.Notify(ctx, n.Text())
}

// isTerminal reports whether r is a terminal (not /dev/null, a pipe or a file).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// login is the login driver claude.login_method asks for.
func (rt *wiring) login() *login.Driver {
	c := rt.cfg.Claude
	return login.New(login.Options{Method: c.LoginMethod, Bin: c.Bin, ConfigDir: c.ConfigDir, Home: userHome(),
		Environ: rt.environ, Timeout: c.LoginTimeout.Duration, TokenFile: c.TokenFile, Tmux: rt.tmux})
}

// orNow turns a configured 0 ("do not wait") into the shortest wait: the
// alert manager reads 0 as "use the default".
func orNow(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Nanosecond
	}
	return d
}
