package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time by goreleaser and by `make build` / `make install`:
//
//	-X github.com/okvault/okv/cmd.Version=1.2.3
//	-X github.com/okvault/okv/cmd.Commit=<full commit hash>
//	-X github.com/okvault/okv/cmd.Date=<build time, RFC 3339>
var (
	Commit = ""
	Date   = ""
)

// BuildInfo says what this binary was built from.
type BuildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// ReadBuildInfo returns the values set at link time. Where none were set
// (`go install github.com/okvault/okv/cmd/okv@v1.2.3`, `go build`), it
// falls back on what the Go toolchain embeds: the module version, and the
// VCS revision when built in a checkout. The build date has no fallback:
// Go does not record one, and okv does not guess.
func ReadBuildInfo() BuildInfo {
	return buildInfo(Version, Commit, Date, debug.ReadBuildInfo)
}

func buildInfo(version, commit, date string, read func() (*debug.BuildInfo, bool)) BuildInfo {
	bi := BuildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := read()
	if !ok {
		return bi
	}
	if bi.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		bi.Version = info.Main.Version
	}
	var modified bool
	var rev string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if bi.Commit == "" && rev != "" {
		bi.Commit = rev
		if modified {
			bi.Commit += "-dirty"
		}
	}
	// Tags are v1.2.3, goreleaser's version is 1.2.3: print one form.
	if len(bi.Version) > 1 && bi.Version[0] == 'v' && bi.Version[1] >= '0' && bi.Version[1] <= '9' {
		bi.Version = bi.Version[1:]
	}
	return bi
}

func (a *App) newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print okv's version, commit, build date and Go version",
		Long: `Print what this okv was built from: its version, the commit, the build
date, the Go version and the platform. Release builds set them at link
time; a plain 'go build' or 'go install' reports what Go recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi := ReadBuildInfo()
			if asJSON {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(bi)
			}
			_, err := fmt.Fprintf(a.Stdout, "okv %s\ncommit:   %s\nbuilt:    %s\ngo:       %s\nplatform: %s\n",
				bi.Version, orUnknown(bi.Commit), orUnknown(bi.Date), bi.Go, bi.Platform)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
