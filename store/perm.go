package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// fileMode is the mode of the database and its -wal and -shm files: they hold
// every subscriber's address and consent record, so only Treu's own user may
// read them, whatever the folder's mode or the process's umask.
const fileMode fs.FileMode = 0o600

// ownerOnly creates the database file with fileMode before SQLite opens it,
// and takes an older database and its companions down to fileMode. SQLite
// creates -wal and -shm with the database file's mode (and fchmods them past
// the umask), so setting the main file right covers all three; the main file
// itself SQLite would create 0644 minus the umask.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		// A umask such as 0277 takes bits off even our own 0600: set it outright.
		if st.Mode().Perm() != fileMode {
			if err := os.Chmod(p, fileMode); err != nil {
				return fmt.Errorf("store: make %s readable by its owner only: %w", p, err)
			}
		}
	}
	return nil
}
