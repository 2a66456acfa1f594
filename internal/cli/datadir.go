package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

// dataAccess is what a command may do to the data directory. Only the
// commands that make state (serve, run, task create) create it: a command
// that reads (approval list, audit verify, pin list, …) changes nothing,
// so a mistyped --data-dir is an error, not a new empty directory.
type dataAccess int

const (
	// readData reads what is there and writes nothing.
	readData dataAccess = iota
	// updateData changes what is there and creates nothing.
	updateData
	// createData creates the directory, its keys and its database as
	// needed.
	createData
)

// dataDirFor resolves the data directory; unless access is createData, it
// must exist.
func (g *globals) dataDirFor(cfg *config.Config, access dataAccess) (string, error) {
	dir, err := config.ResolveDataDir(g.dataDir, cfg)
	if err != nil {
		return "", err
	}
	if access == createData {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
		return dir, nil
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("data directory %s does not exist (%s); toolgate serve, toolgate run and toolgate task create make it", dir, g.dataDirSource(cfg))
	}
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("data directory %s is not a directory (%s)", dir, g.dataDirSource(cfg))
	}
	return dir, nil
}

// dataDirSource says which setting chose the data directory.
func (g *globals) dataDirSource(cfg *config.Config) string {
	switch {
	case g.dataDir != "":
		return "from --data-dir"
	case os.Getenv(config.DataDirEnv) != "":
		return "from $" + config.DataDirEnv
	case cfg != nil && cfg.DataDir != "":
		return "from data_dir in " + cfg.File()
	}
	return "the default; set --data-dir or $" + config.DataDirEnv
}

// databaseIn is the data directory's database, which must exist unless
// access is createData.
func databaseIn(dataDir string, access dataAccess) (string, error) {
	path := filepath.Join(dataDir, sqlite.FileName)
	if access == createData {
		return path, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no toolgate database in %s: nothing has been recorded there yet", dataDir)
	} else if err != nil {
		return "", err
	}
	return path, nil
}
