package alert

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A crash mid-write leaves a temporary file; loading the queue deletes it
// and keeps the whole entries.
func TestQueueLoadRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := queueFile("n1", "telegram")
	if err := q.write(name, queued{}); err != nil {
		t.Fatal(err)
	}
	for _, left := range []string{"." + name + ".tmp-123", name + tmpSuffix} {
		if err := os.WriteFile(filepath.Join(dir, left), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, files, err := q.load(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0] != name {
		t.Errorf("loaded %v, want [%s]", files, name)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("queue directory holds %v, want only %s", entries, name)
	}
}
