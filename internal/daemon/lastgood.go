package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetwarden/fleetwarden/audit"
	"github.com/fleetwarden/fleetwarden/config"
)

// lastGoodFile, in state.dir, is the last config fleetwarden ran on for a
// minute: what it starts on when the file no longer loads.
const lastGoodFile = "config.last-good.toml"

// lastGoodAfter is how long a config must run to be the last good one.
const lastGoodAfter = time.Minute

// lastGood is where a last good config came from.
type lastGood struct {
	source string    // the file it was read from
	at     time.Time // when it had run for a minute
}

const (
	lgHead   = "# fleetwarden: the last config that ran well; fleetwarden starts on it when the file does not load.\n"
	lgSource = "# source: "
	lgAt     = "# good since: "
)

// saveLastGood keeps cfg's bytes as the last good config (0600), with its
// source and time in comments, unless it is kept already.
func saveLastGood(cfg *config.Config, now time.Time) (bool, error) {
	if cfg.Path == "" || cfg.Raw == nil {
		return false, nil // the embedded default needs no keeping
	}
	path := filepath.Join(cfg.State.Dir, lastGoodFile)
	if old, err := os.ReadFile(path); err == nil {
		if body, meta := splitLastGood(old); bytes.Equal(body, cfg.Raw) && meta.source == cfg.Path {
			return false, nil
		}
	}
	var b bytes.Buffer
	b.WriteString(lgHead)
	b.WriteString(lgSource + cfg.Path + "\n")
	b.WriteString(lgAt + now.UTC().Format(time.RFC3339) + "\n")
	b.Write(cfg.Raw)
	if err := os.MkdirAll(cfg.State.Dir, 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(cfg.State.Dir, lastGoodFile+".*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	// CreateTemp makes it 0600 already; the config may hold literal secrets.
	return true, os.Rename(tmp.Name(), path)
}

// splitLastGood separates the comments saveLastGood adds from the file's bytes.
func splitLastGood(data []byte) ([]byte, lastGood) {
	var meta lastGood
	rest := data
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			break
		}
		s := string(line)
		switch {
		case s+"\n" == lgHead:
		case strings.HasPrefix(s, lgSource):
			meta.source = strings.TrimPrefix(s, lgSource)
		case strings.HasPrefix(s, lgAt):
			meta.at, _ = time.Parse(time.RFC3339, strings.TrimPrefix(s, lgAt))
		default:
			return rest, meta
		}
		rest = after
	}
	return rest, meta
}

// loadLastGood loads the last good config kept in stateDir.
func loadLastGood(stateDir string) (*config.Config, lastGood, error) {
	path := filepath.Join(stateDir, lastGoodFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, lastGood{}, fmt.Errorf("no last good config to run on (%s does not exist)", path)
	}
	if err != nil {
		return nil, lastGood{}, err
	}
	body, meta := splitLastGood(data)
	if meta.source == "" {
		return nil, meta, fmt.Errorf("%s: no source line", path)
	}
	cfg, err := config.LoadCopy(path, meta.source, body)
	if err != nil {
		return nil, meta, fmt.Errorf("the last good config does not load either: %w", err)
	}
	return cfg, meta, nil
}

// keepLastGood keeps the running config as the last good one once it has
// run for a while. Safe mode and a config that is the last good one
// already prove nothing new.
func (d *daemon) keepLastGood(ctx context.Context) error {
	if d.boot.safe != "" || len(d.boot.notes) > 0 {
		return nil
	}
	after := d.goodAfter
	if after <= 0 {
		after = lastGoodAfter
	}
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
	}
	saved, err := saveLastGood(d.rt.cfg, d.now())
	if err != nil {
		return fmt.Errorf("keeping the last good config: %w", err)
	}
	if saved {
		d.log.Info("config kept as the last good one", "file", filepath.Join(d.rt.cfg.State.Dir, lastGoodFile))
	}
	return nil
}

// CheckLastGood is what `check` adds for a config file: how it differs
// from the last good config fleetwarden would fall back on.
func CheckLastGood(stateDir string, cfg *config.Config) string {
	lg, meta, err := loadLastGood(stateDir)
	if err != nil {
		return ""
	}
	changes := config.Diff(lg, cfg)
	when := meta.at.In(Location(cfg.Schedule.Timezone)).Format("Mon 2 Jan 15:04")
	if len(changes) == 0 {
		return fmt.Sprintf("same as the last good config (from %s)", when)
	}
	return fmt.Sprintf("differs from the last good config (from %s):\n%s", when, changes)
}

// journalNotes records that the file did not load and the last good
// config runs instead.
func (d *daemon) journalNotes() {
	for _, n := range d.boot.notes {
		_ = d.tap.Append(audit.Record{Kind: audit.KindConfig, Actor: "fleetwarden", Action: "last_good_used", Message: n})
	}
}

// LastGoodInstead tells, for a config file that does not load, what `run`
// would start on instead.
func LastGoodInstead(path string, w io.Writer) {
	if path == "" {
		path, _ = config.Find()
	}
	if path == "" {
		return
	}
	dir := config.StateDirHint(path)
	if dir == "" {
		return
	}
	lg, meta, err := loadLastGood(dir)
	if err != nil {
		fmt.Fprintf(w, "fleetwarden run would exit: %v\n", err)
		return
	}
	fmt.Fprintf(w, "fleetwarden run would start on the last good config from %s instead (%s)\n",
		meta.at.In(Location(lg.Schedule.Timezone)).Format("Mon 2 Jan 15:04"), filepath.Join(dir, lastGoodFile))
}
