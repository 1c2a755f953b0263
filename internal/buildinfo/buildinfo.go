// Package buildinfo says which version of switchd a binary is, from what
// the Go toolchain recorded in it: the module version for `go install
// …@v1.2.3`, the commit (and whether the checkout had changes) for a build
// from a checkout; a release's -ldflags -X value wins over both.
package buildinfo

import "runtime/debug"

// Version returns set when a build gave it (-ldflags "-X …Version=v1.2.3";
// "" and "dev" mean it did not), else what the binary's build information
// says, else "dev".
func Version(set string) string {
	if set != "" && set != "dev" {
		return set
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo is Version's reading of bi: the main module's version when
// it has one (go install …@v1.2.3; a build from a checkout gets a
// pseudo-version from Go 1.24 on), else the VCS commit, cut to 12 hex
// digits and with "+dirty" when the checkout had changes, else "dev".
func FromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel-" + rev
	if modified == "true" {
		v += "+dirty"
	}
	return v
}
