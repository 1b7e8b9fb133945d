package cmd

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestBuildInfo(t *testing.T) {
	vcs := func(main string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: main}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		read                  func() (*debug.BuildInfo, bool)
		want                  BuildInfo
	}{
		{"link time wins", "1.2.3", "abc", "2026-01-02T03:04:05Z", vcs("v9.9.9", rev),
			BuildInfo{Version: "1.2.3", Commit: "abc", Date: "2026-01-02T03:04:05Z"}},
		{"go install module@version", "dev", "", "", vcs("v1.4.0"),
			BuildInfo{Version: "1.4.0"}},
		{"make build at a tag", "v1.4.0-2-gabcdef0", "abc", "", vcs("(devel)"),
			BuildInfo{Version: "1.4.0-2-gabcdef0", Commit: "abc"}},
		{"make build without a tag", "5d355e2-dirty", "", "", vcs("(devel)"),
			BuildInfo{Version: "5d355e2-dirty"}},
		{"go build in a checkout", "dev", "", "", vcs("(devel)", rev, dirty),
			BuildInfo{Version: "dev", Commit: rev.Value + "-dirty"}},
		{"no build info", "dev", "", "", func() (*debug.BuildInfo, bool) { return nil, false },
			BuildInfo{Version: "dev"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Go, tc.want.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
			if got := buildInfo(tc.version, tc.commit, tc.date, tc.read); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
