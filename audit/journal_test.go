package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "AUDIT_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// fakeClock hands out times one second apart.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 4, 2, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openT(t *testing.T, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendT(t *testing.T, j *Journal, r Record) {
	t.Helper()
	if err := j.Append(r); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func readT(t *testing.T, dir string) []Record {
	t.Helper()
	recs, err := ReadAll(dir, time.Time{})
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return recs
}

func ptr[T any](v T) *T { return &v }

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "fleetwarden")
	clock := newClock()
	j := openT(t, dir, Options{Now: clock.Now})
	at := time.Date(2025, 3, 4, 16, 3, 0, 0, time.FixedZone("KST", 9*3600))
	in := []Record{
		{Kind: KindStart, Actor: "fleetwarden", Message: "fleetwarden started"},
		{Kind: KindTransition, Agents: []string{"builder", "tester"}, From: "working", To: "auth_failed",
			Reason: "expired", Message: "Login expired · Please run /login <&>"},
		{Time: at, Kind: KindDelivery, Route: "webhook:ops", OK: ptr(false), Error: "500",
			Fields: map[string]string{"attempt": "2", "alert": "a1"}},
		{Kind: KindCommand, Actor: "telegram:111", Action: "/restart", OK: ptr(true)},
	}
	for _, r := range in {
		appendT(t, j, r)
	}
	if got, want := j.Path(), filepath.Join(dir, "journal.jsonl"); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	got := readT(t, dir)
	if len(got) != len(in) {
		t.Fatalf("got %d records, want %d", len(got), len(in))
	}
	ticks := 0
	for i := range in {
		want := in[i]
		if want.Time.IsZero() {
			ticks++
			want.Time = time.Date(2025, 3, 4, 2, 0, ticks, 0, time.UTC)
		}
		if !got[i].Time.Equal(want.Time) {
			t.Errorf("record %d: time %v, want %v", i, got[i].Time, want.Time)
		}
		got[i].Time, want.Time = time.Time{}, time.Time{}
		gj, _ := json.Marshal(got[i])
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("record %d:\n got %s\nwant %s", i, gj, wj)
		}
	}

	// Only the owner may read the journal: it names people and agents.
	for path, want := range map[string]os.FileMode{dir: 0o700, j.Path(): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}

	// since filters by record time.
	recs, err := ReadAll(dir, time.Date(2025, 3, 4, 2, 0, 2, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []Kind
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if want := []Kind{KindTransition, KindDelivery, KindCommand}; !slices.Equal(kinds, want) {
		t.Errorf("since: got kinds %v, want %v", kinds, want)
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := j.Append(Record{Kind: KindStop}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Append after Close: got %v, want os.ErrClosed", err)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestOneWriterAtATime(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: got %v, want ErrLocked", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2 := openT(t, dir, Options{})
	appendT(t, j2, Record{Kind: KindStart})
}

func TestOpenBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", filepath.Join(file, "sub")} {
		if _, err := Open(dir, Options{}); err == nil {
			t.Errorf("Open(%q): got nil error, want one", dir)
		}
	}
	if _, err := ReadAll(filepath.Join(t.TempDir(), "missing"), time.Time{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadAll of a missing dir: got %v, want ErrNotExist", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	const writers, each = 50, 100
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for n := range each {
				r := Record{Kind: KindReport, Actor: fmt.Sprintf("w%d", w),
					Message: strings.Repeat("x", n), Fields: map[string]string{"n": strconv.Itoa(n)}}
				if err := j.Append(r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}

	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != writers*each {
		t.Fatalf("got %d lines, want %d", len(lines), writers*each)
	}
	seen := map[string]bool{}
	for i, l := range lines {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %d is not valid JSON: %v: %.80q", i+1, err, l)
		}
		if len(r.Message) != atoi(t, r.Fields["n"]) {
			t.Fatalf("line %d: message of %d bytes, want %s: records interleaved", i+1, len(r.Message), r.Fields["n"])
		}
		seen[r.Actor+"/"+r.Fields["n"]] = true
	}
	if len(seen) != writers*each {
		t.Errorf("got %d distinct records, want %d", len(seen), writers*each)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		appendT(t, j, Record{Kind: KindReport, Message: strconv.Itoa(i)})
	}
	path := j.Path()
	j.Close()

	// A crash in the middle of a write leaves half a line.
	appendRaw(t, path, `{"time":"2025-03-04T02:00:00Z","kind":"rep`)
	if got := messages(readT(t, dir)); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("with a torn tail: got %v, want [0 1 2]", got)
	}

	j = openT(t, dir, Options{})
	appendT(t, j, Record{Kind: KindReport, Message: "3"})
	if got := messages(readT(t, dir)); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Fatalf("after reopening: got %v, want [0 1 2 3]", got)
	}
	assertAllLinesValid(t, path)
	j.Close()

	// A whole record that only lacks its newline is kept.
	appendRaw(t, path, `{"time":"2025-03-04T02:00:00Z","kind":"report","message":"4"}`)
	j = openT(t, dir, Options{})
	appendT(t, j, Record{Kind: KindReport, Message: "5"})
	if got := messages(readT(t, dir)); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5"}) {
		t.Fatalf("after a complete unterminated record: got %v, want [0 … 5]", got)
	}
	assertAllLinesValid(t, path)
}

func TestCorruptLineInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	appendT(t, j, Record{Kind: KindReport, Message: "a"})
	appendRaw(t, j.Path(), "this is not json\n")
	appendT(t, j, Record{Kind: KindReport, Message: "b"})
	appendRaw(t, j.Path(), "{}\n")
	appendT(t, j, Record{Kind: KindReport, Message: "c"})

	recs, err := ReadAll(dir, time.Time{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got error %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "2 bad line(s), first at line 2") {
		t.Errorf("error %q does not say where", err)
	}
	if got := messages(recs); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %v, want [a b c] despite the corruption", got)
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func messages(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Message)
	}
	return out
}

func assertAllLinesValid(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("%s does not end in a newline", path)
	}
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("%s line %d is not valid JSON: %q", path, i+1, l)
		}
	}
}

func TestRotation(t *testing.T) {
	const maxBytes, keep, total = 1000, 2, 60
	dir := t.TempDir()
	clock := newClock()
	j := openT(t, dir, Options{MaxBytes: maxBytes, Keep: keep, Now: clock.Now})
	for i := range total {
		appendT(t, j, Record{Kind: KindReport, Message: fmt.Sprintf("%03d", i), Fields: map[string]string{"pad": strings.Repeat("p", 100)}})
	}
	rotated, err := filepath.Glob(filepath.Join(dir, "journal-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != keep {
		t.Fatalf("got %d rotated files %v, want %d", len(rotated), rotated, keep)
	}
	for _, p := range append(rotated, j.Path()) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxBytes {
			t.Errorf("%s has %d bytes, more than MaxBytes %d", filepath.Base(p), st.Size(), maxBytes)
		}
		assertAllLinesValid(t, p)
	}
	// What is left is the newest records, in order, without a gap.
	got := messages(readT(t, dir))
	if len(got) == 0 || got[len(got)-1] != fmt.Sprintf("%03d", total-1) {
		t.Fatalf("got %v, want a run ending with the last record", got)
	}
	first := atoi(t, got[0])
	for k, m := range got {
		if want := fmt.Sprintf("%03d", first+k); m != want {
			t.Fatalf("record %d is %s, want %s (got %v)", k, m, want, got)
		}
	}
	if n := len(got); n < 10 || n >= total {
		t.Errorf("kept %d records: expected 3 files' worth", n)
	}

	// ReadAll with since skips rotated files that are entirely older.
	all := readT(t, dir)
	since := all[len(all)-3].Time
	recs, err := ReadAll(dir, since)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Time.Before(since) {
			t.Errorf("record at %v is before since %v", r.Time, since)
		}
	}
	if len(recs) != 3 {
		t.Errorf("since the last 3 s: got %d records, want 3", len(recs))
	}
}

func TestRedaction(t *testing.T) {
	const (
		oauth   = "sk-ant-oat01-AbCdEf0123456789_-xyzXYZ0123456789abcdefghij"
		refresh = "sk-ant-ort01-ZZZZ0123456789abcdefghijklmnop"
		bot     = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	)
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	fields := map[string]string{"credentials": `{"accessToken":"` + oauth + `"}`}
	appendT(t, j, Record{
		Kind:    KindDelivery,
		Route:   "telegram",
		Error:   "Post https://api.telegram.org/bot" + bot + "/sendMessage: 500",
		Message: "token " + refresh + " refused",
		Agents:  []string{"builder"},
		Fields:  fields,
	})
	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{oauth, refresh, bot, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "oat01-AbCd"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("journal contains secret %q: %s", secret, data)
		}
	}
	r := readT(t, dir)[0]
	if want := "token sk-ant-ort01-…[redacted] refused"; r.Message != want {
		t.Errorf("Message = %q, want %q", r.Message, want)
	}
	if want := "Post https://api.telegram.org/bot123456789:…[redacted]/sendMessage: 500"; r.Error != want {
		t.Errorf("Error = %q, want %q", r.Error, want)
	}
	if fields["credentials"] != `{"accessToken":"`+oauth+`"}` {
		t.Errorf("Append changed the caller's Fields map")
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"key sk-ant-api03-abc_DEF-123", "key sk-ant-api03-…[redacted]"},
		{"Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "Authorization: Bearer …[redacted]"},
		{"https://x/cb?token=s3cr3tvalue&state=1", "https://x/cb?token=…[redacted]&state=1"},
		{"MTA4NjY3NzQ1MTIzNDU2Nzg5MA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789", "MTA4…[redacted]"},
		{"builder: login expired at 12:34:56", "builder: login expired at 12:34:56"},
		{"pane %3 at fleet:builder.0", "pane %3 at fleet:builder.0"},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// crashChild appends records from several goroutines and prints each
// sequence number once Append has returned, until it is killed.
func crashChild(dir string) {
	j, err := Open(dir, Options{MaxBytes: 256 << 10, Keep: 1000})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var seq atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Minute) // in case the parent is gone
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n := seq.Add(1)
				r := Record{Kind: KindReport, Message: strings.Repeat("m", 1500), Fields: map[string]string{"seq": strconv.FormatInt(n, 10)}}
				if err := j.Append(r); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Fprintf(os.Stdout, "ack %d\n", n)
			}
		})
	}
	wg.Wait()
	os.Exit(3)
}

func TestKill9KeepsAcknowledgedRecords(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		if seq, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked[seq] = true
		}
		if len(acked) >= 400 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true // keep reading: acks still in the pipe count too
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d acks: %v\n%s", len(acked), err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", err)
	}

	recs, err := ReadAll(dir, time.Time{})
	if err != nil {
		t.Fatalf("ReadAll after kill -9: %v", err)
	}
	inJournal := map[string]bool{}
	for _, r := range recs {
		inJournal[r.Fields["seq"]] = true
	}
	var missing []string
	for seq := range acked {
		if !inJournal[seq] {
			missing = append(missing, seq)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged records missing after kill -9: %v", len(missing), len(acked), missing)
	}
	t.Logf("%d acknowledged, %d in the journal", len(acked), len(recs))

	// The journal opens again and takes new records cleanly.
	j := openT(t, dir, Options{MaxBytes: 256 << 10, Keep: 1000})
	appendT(t, j, Record{Kind: KindStart})
	if _, err := ReadAll(dir, time.Time{}); err != nil {
		t.Fatalf("ReadAll after reopening: %v", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	j, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	r := Record{Kind: KindTransition, Agents: []string{"builder"}, From: "working", To: "auth_failed",
		Reason: "expired", Message: "Please run /login · API Error: 401 OAuth token has expired"}
	for b.Loop() {
		if err := j.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}

// steppedClock is a wall clock a test can set back, as NTP or a user does.
type steppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func (c *steppedClock) back(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(-d)
}

// TestRotationAfterClockStepsBack: rotated files are pruned oldest first by
// their names; a clock set back a day must not make the newest file look
// oldest and lose it.
func TestRotationAfterClockStepsBack(t *testing.T) {
	dir := t.TempDir()
	clock := &steppedClock{t: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	j := openT(t, dir, Options{MaxBytes: 1000, Keep: 2, Now: clock.Now})
	pad := map[string]string{"pad": strings.Repeat("p", 100)}
	n := 0
	for range 30 {
		appendT(t, j, Record{Kind: KindReport, Message: fmt.Sprintf("%03d", n), Fields: pad})
		n++
	}
	clock.back(24 * time.Hour)
	for range 15 {
		appendT(t, j, Record{Kind: KindReport, Message: fmt.Sprintf("%03d", n), Fields: pad})
		n++
	}
	got := messages(readAllByFile(t, dir))
	if len(got) == 0 {
		t.Fatal("nothing left")
	}
	first := atoi(t, got[0])
	for k, m := range got {
		if want := fmt.Sprintf("%03d", first+k); m != want {
			t.Fatalf("record %d is %s, want %s: the newest rotated records were pruned (got %v)", k, m, want, got)
		}
	}
	if got[len(got)-1] != fmt.Sprintf("%03d", n-1) || len(got) < 10 {
		t.Errorf("got %v, want the newest records", got)
	}
}

// readAllByFile reads every record in the order of the files (oldest rotated
// file first, as ReadAll does), without sorting by record time.
func readAllByFile(t *testing.T, dir string) []Record {
	t.Helper()
	recs, err := ReadAll(dir, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestAppendFailuresAreReported: on a full disk (/dev/full) every failed
// Append reaches OnError, even when the caller drops the error; the first
// one that works again is reported as nil.
func TestAppendFailuresAreReported(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, "journal.jsonl")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []error
	j := openT(t, dir, Options{MaxBytes: 300, OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, err)
	}})
	_ = j.Append(Record{Kind: KindReport, Message: "lost"})
	_ = j.Append(Record{Kind: KindReport, Message: "lost too"})
	mu.Lock()
	if len(got) != 2 || !errors.Is(got[0], syscall.ENOSPC) {
		t.Fatalf("OnError heard %v, want two ENOSPC", got)
	}
	mu.Unlock()
	// The disk has room again (here: a real file takes the device's place).
	if err := os.Remove(filepath.Join(dir, "journal.jsonl")); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	full := j.f
	err := j.openCurrent()
	j.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	full.Close()
	appendT(t, j, Record{Kind: KindReport, Message: "kept"})
	appendT(t, j, Record{Kind: KindReport, Message: "kept too"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[2] != nil {
		t.Errorf("OnError heard %v, want a nil once the journal works again", got)
	}
}
