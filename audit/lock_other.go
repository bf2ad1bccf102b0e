//go:build !unix

package audit

import "os"

func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}

// Directories cannot be synced everywhere; renames are durable enough there.
func syncDirFile(*os.File) error { return nil }

func heldByWriter(string) (bool, error) { return false, nil }
