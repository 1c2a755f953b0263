package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// tokensFileMode is a new tokens file's mode: readable by its group, which
// is the service user's (switchd runs as User=switchd, while `switchd
// token add` is run as root), never by others. The file holds only hashes,
// but a leaked hash still tells who may do what.
const tokensFileMode = 0o640

// shareTokensFile gives the tokens file at path to group (a name or a
// number; "": the group of the file's folder, as for /etc/switchd owned
// root:switchd) and, when created just now, tokensFileMode. A file that
// existed keeps its mode: someone chose it.
func shareTokensFile(path, group string, created bool) error {
	gid := -1
	switch {
	case group != "":
		g, err := lookupGroup(group)
		if err != nil {
			return err
		}
		gid = g
	case created:
		st, err := os.Stat(filepath.Dir(path))
		if err != nil {
			return err
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			gid = int(sys.Gid)
		}
	}
	if created {
		if err := os.Chmod(path, tokensFileMode); err != nil {
			return err
		}
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			return fmt.Errorf("giving %s to group %d: %w", path, gid, err)
		}
	}
	return nil
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("-group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// fileExists reports whether path names something; an error other than
// "not there" counts as there, and AddToken reports it.
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
