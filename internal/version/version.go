// Package version reports toolgate's version and the commit it was built
// from: set at link time (-ldflags "-X
// github.com/toolgate/toolgate/internal/version.Version=v1.2.3 -X
// github.com/toolgate/toolgate/internal/version.Commit=$(git rev-parse HEAD)"),
// else taken from the Go build information (which has the commit when the
// go command stamps it: a build in a git clone, not -buildvcs=false).
package version

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at link time for releases.
var (
	Version = ""
	Commit  = ""
)

// Info is what `toolgate version --json` prints.
type Info struct {
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from ("" if unknown:
	// `go run`, or a build outside a repository).
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time,omitempty"`
	// Modified says the working tree had uncommitted changes.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// Get returns the version information of the running binary.
func Get() Info {
	in := Info{Version: Version, Commit: Commit, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if in.Version == "" {
		in.Version = "devel"
		if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			in.Version = info.Main.Version
		}
	}
	if !ok {
		return in
	}
	in.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if in.Commit == "" {
				in.Commit = s.Value
			}
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String returns the version, the commit (shortened; "+dirty" for a
// modified tree) when known, and the Go version.
func String() string {
	in := Get()
	out := in.Version
	if in.Commit != "" {
		c := in.Commit[:min(12, len(in.Commit))]
		if in.Modified {
			c += "+dirty"
		}
		out += " (" + c + ")"
	} else {
		out += " (commit unknown)"
	}
	return out + " " + in.Go
}
