// Package version reports toolgate's version: set at link time
// (-ldflags "-X github.com/toolgate/toolgate/internal/version.Version=v1.2.3"),
// else taken from the Go build information.
package version

import "runtime/debug"

// Version is set at link time for releases.
var Version = ""

// String returns the version, the VCS revision when known, and the Go version.
func String() string {
	v := Version
	info, ok := debug.ReadBuildInfo()
	if v == "" {
		v = "devel"
		if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if !ok {
		return v
	}
	out := v
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			out += " (" + s.Value[:12] + ")"
		}
	}
	return out + " " + info.GoVersion
}
