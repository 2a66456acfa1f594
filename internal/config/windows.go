package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/internal/history"
)

// WindowsFileSuffix names the files, beside the policies, that declare the
// history windows those policies read (context.windows.<name>).
const WindowsFileSuffix = ".windows.yaml"

// windowsFile is the content of a *.windows.yaml file.
type windowsFile struct {
	Windows map[string]history.Window `yaml:"windows"`
}

// LoadPolicyWindows adds the windows declared in *.windows.yaml files of the
// policy directories (every layer's) to history.windows, so that a policy
// and the windows it reads can live side by side. A name declared twice is
// an error naming both places.
func (c *Config) LoadPolicyWindows() error {
	where := map[string]string{}
	for name := range c.History.Windows {
		where[name] = c.fileOrConfig() + ": history.windows"
	}
	dirs := append([]string(nil), c.Policy.Dirs...)
	for _, l := range c.Policy.Layers {
		dirs = append(dirs, l.Dirs...)
	}
	var files []string
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue // the policy loader reports what is wrong with it
		}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), WindowsFileSuffix) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var wf windowsFile
		if err := DecodeStrict(f, b, &wf); err != nil {
			return err
		}
		names := make([]string, 0, len(wf.Windows))
		for n := range wf.Windows {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if prev, dup := where[n]; dup {
				return fmt.Errorf("%s: window %q is already declared in %s", f, n, prev)
			}
			where[n] = f
			if c.History.Windows == nil {
				c.History.Windows = map[string]history.Window{}
			}
			c.History.Windows[n] = wf.Windows[n]
		}
	}
	if errs := c.History.Validate(); len(errs) > 0 {
		for i := range errs {
			errs[i] = "history." + errs[i]
		}
		return fmt.Errorf("windows: %s", strings.Join(errs, "\n"))
	}
	return nil
}

func (c *Config) fileOrConfig() string {
	if c.file == "" {
		return "config"
	}
	return c.file
}
