// Package atomicfile writes a state file so that a crash or a full disk
// leaves either the old contents or the new, never a torn or empty file:
// temporary file in the same directory, fsync, rename, fsync of the
// directory.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempMark is in the name of every temporary file Write creates.
const tempMark = ".tmp-"

// IsTemp reports whether a directory entry's name is a temporary file of
// Write's, left behind by a crash mid-write; such a file is safe to delete.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMark)
}

// Write replaces path with data (mode perm for a new file).
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMark+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (a rename, a new file) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
