package scan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/okvault/okv/scan"
)

const (
	projKey   = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9qRs2tUv5wXy8zAb1dEf4hIjT3BlbkFJ7kLm0nOp3qRs6tUv9wXy2zAb5dEf8hIj1kLm4nOp7qRs0tUv3wXy6zAb9dEf2hIj5kLm8nOp1qRs4tUv7wXA"
	otherPass = "Tr0ub4dor&3/correct\"horse-battery?>~staple"
)

var known = []scan.Known{
	{Profile: "dev", Name: "OPENAI_API_KEY", Value: projKey},
	{Profile: "prod", Name: "DB_PASSWORD", Value: otherPass},
	{Profile: "dev", Name: "PIN", Value: "1234"}, // too short: never looked for
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func scanDir(t *testing.T, opts scan.Options) scan.Result {
	t.Helper()
	if opts.Known == nil {
		opts.Known = known
	}
	res, err := scan.Scan(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// got lists findings as "file:line:col rule name encoding", file relative to dir.
func got(t *testing.T, dir string, res scan.Result) []string {
	t.Helper()
	var out []string
	for _, f := range res.Findings {
		rel, err := filepath.Rel(dir, f.File)
		if err != nil {
			rel = f.File
		}
		s := filepath.ToSlash(rel) + ":" + itoa(f.Line) + ":" + itoa(f.Column) + " " + f.Rule
		if f.Name != "" {
			s += " " + f.Profile + "/" + f.Name + " " + f.Encoding
		}
		if f.Commit != "" {
			s += " @" + f.Commit[:7]
		}
		out = append(out, s)
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func b64at(v string, align int, enc *base64.Encoding) string {
	return enc.EncodeToString([]byte(strings.Repeat("#", align) + v + "\ntrailer"))
}

func wrap(s string, n int, indent, cont string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		b.WriteString(indent + s[i:min(len(s), i+n)])
		if i+n < len(s) {
			b.WriteString(cont)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestKnownValueForms(t *testing.T) {
	dir := t.TempDir()
	jsonKey := strings.ReplaceAll(projKey, "-", `\u002D`)
	write(t, dir, "a_plain.env", "# config\nOPENAI_API_KEY="+projKey+"\n")
	write(t, dir, "b_json.json", "{\n  \"key\": \""+jsonKey+"\",\n  \"pw\": \"Tr0ub4dor&3\\/correct\\\"horse-battery?>~staple\"\n}\n")
	var b64 strings.Builder
	for a := 0; a < 3; a++ {
		b64.WriteString("std" + itoa(a) + ": " + b64at(otherPass, a, base64.StdEncoding) + "\n")
		b64.WriteString("url" + itoa(a) + ": " + b64at(otherPass, a, base64.RawURLEncoding) + "\n")
	}
	write(t, dir, "c_base64.yaml", b64.String())
	write(t, dir, "d_wrapped_indent.yaml", "key: |\n"+wrap(projKey, 40, "    ", ""))
	write(t, dir, "e_wrapped_backslash.sh", "export OPENAI_API_KEY=\""+wrap(projKey, 50, "", "\\")[:]+"\"\n")
	write(t, dir, "f_wrapped_crlf.txt", strings.ReplaceAll("note: "+wrap(projKey, 33, "", ""), "\n", "\r\n"))
	write(t, dir, "g_mime.txt", "Content-Transfer-Encoding: base64\n\n"+wrap(base64.StdEncoding.EncodeToString([]byte("From: x\nOPENAI_API_KEY="+projKey+"\n")), 76, "", ""))
	write(t, dir, "h_comment.py", "# key:\n"+wrap(projKey, 60, "# ", ""))
	write(t, dir, "i_pin.txt", "PIN=1234\n")
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{
		"a_plain.env:2:16 vault-value dev/OPENAI_API_KEY plain",
		"b_json.json:2:11 vault-value dev/OPENAI_API_KEY json-escaped",
		"b_json.json:3:10 vault-value prod/DB_PASSWORD json-escaped",
		"c_base64.yaml:1:7 vault-value prod/DB_PASSWORD base64",
		"c_base64.yaml:2:7 vault-value prod/DB_PASSWORD base64url",
		"c_base64.yaml:3:9 vault-value prod/DB_PASSWORD base64",
		"c_base64.yaml:4:9 vault-value prod/DB_PASSWORD base64url",
		"c_base64.yaml:5:10 vault-value prod/DB_PASSWORD base64",
		"c_base64.yaml:6:10 vault-value prod/DB_PASSWORD base64url",
		"d_wrapped_indent.yaml:2:5 vault-value dev/OPENAI_API_KEY wrapped",
		"e_wrapped_backslash.sh:1:24 vault-value dev/OPENAI_API_KEY wrapped",
		"f_wrapped_crlf.txt:1:7 vault-value dev/OPENAI_API_KEY wrapped",
		"g_mime.txt:3:32 vault-value dev/OPENAI_API_KEY base64+wrapped",
		"h_comment.py:2:3 vault-value dev/OPENAI_API_KEY wrapped",
	})
	for _, f := range res.Findings {
		if strings.Contains(f.Redacted, projKey[8:20]) || strings.Contains(f.Fingerprint, projKey[8:20]) {
			t.Errorf("finding shows the secret: %+v", f)
		}
	}
	if res.Summary.Files != 9 || res.Summary.Findings != len(res.Findings) {
		t.Errorf("summary %+v", res.Summary)
	}
}

func TestOpenAIRuleAndVaultOverlap(t *testing.T) {
	dir := t.TempDir()
	other := "sk-svcacct-" + strings.Repeat("Zq_9-", 15) + "T3BlbkFJ" + strings.Repeat("y8X-w", 15)
	write(t, dir, "k.env", "A="+projKey+"\nB="+other+"\n")
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{
		"k.env:1:3 vault-value dev/OPENAI_API_KEY plain",
		"k.env:2:3 openai-service-account-key",
	})
	if r := res.Findings[1].Redacted; r != "sk-svcacct-…8X-w" {
		t.Errorf("redacted %q", r)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitEnv isolates git from the user's and the system's configuration.
func gitEnv(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "t")
	t.Setenv("GIT_AUTHOR_EMAIL", "t@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "t")
	t.Setenv("GIT_COMMITTER_EMAIL", "t@example.com")
}

func newRepo(t *testing.T) string {
	gitEnv(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	return dir
}

func TestGitignore(t *testing.T) {
	dir := newRepo(t)
	line := "key=" + projKey + "\n"
	write(t, dir, ".gitignore", "ignored.txt\nbuild/\n")
	write(t, dir, "tracked.txt", line)
	write(t, dir, "forced.txt", line) // tracked although ignored below
	git(t, dir, "add", "tracked.txt", "forced.txt")
	git(t, dir, "commit", "-q", "-m", "one")
	write(t, dir, ".git/info/exclude", "forced.txt\n")
	write(t, dir, "untracked.txt", line)
	write(t, dir, "ignored.txt", line)
	write(t, dir, "build/out.txt", line)
	write(t, dir, ".git/okv-test", line) // git internals: never scanned

	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{
		"forced.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"tracked.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"untracked.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
	})
	res = scanDir(t, scan.Options{Paths: []string{dir}, NoIgnore: true})
	equal(t, got(t, dir, res), []string{
		"build/out.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"forced.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"ignored.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"tracked.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
		"untracked.txt:1:5 vault-value dev/OPENAI_API_KEY plain",
	})
	// A subfolder and a file named outright.
	res = scanDir(t, scan.Options{Paths: []string{filepath.Join(dir, "build"), filepath.Join(dir, "ignored.txt")}})
	equal(t, got(t, dir, res), []string{"ignored.txt:1:5 vault-value dev/OPENAI_API_KEY plain"})
}

func TestOutsideGitEveryFileIsScanned(t *testing.T) {
	gitEnv(t)
	dir := t.TempDir()
	write(t, dir, ".gitignore", "ignored.txt\n")
	write(t, dir, "ignored.txt", projKey)
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{"ignored.txt:1:1 vault-value dev/OPENAI_API_KEY plain"})
}

func TestBinaryAndLargeFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "bin.dat", "\x00\x01\x02"+projKey)
	write(t, dir, "big.txt", strings.Repeat("x", 2000)+projKey)
	write(t, dir, "small.txt", projKey)
	res := scanDir(t, scan.Options{Paths: []string{dir}, MaxFileSize: 1000})
	equal(t, got(t, dir, res), []string{"small.txt:1:1 vault-value dev/OPENAI_API_KEY plain"})
	if s := res.Summary; s.SkippedBinary != 1 || s.SkippedLarge != 1 || s.Files != 1 {
		t.Errorf("summary %+v", s)
	}
}

// A UTF-16 file with a byte order mark is text, not binary: what
// PowerShell 5 writes for `echo "KEY=…" > .env`.
func TestUTF16FilesScanned(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ps.env", utf16Text("# keys\r\nOPENAI_API_KEY="+projKey+"\r\n", binary.LittleEndian, true))
	write(t, dir, "be.txt", utf16Text("pw: "+otherPass, binary.BigEndian, true))
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{
		"be.txt:1:5 vault-value prod/DB_PASSWORD utf-16be",
		"ps.env:2:16 vault-value dev/OPENAI_API_KEY utf-16le",
	})
	if s := res.Summary; s.SkippedBinary != 0 || s.Files != 2 {
		t.Errorf("summary %+v", s)
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	dir := t.TempDir()
	outside := write(t, t.TempDir(), "secret.txt", projKey)
	if err := os.Symlink(outside, filepath.Join(dir, "link.txt")); err != nil {
		t.Skip(err)
	}
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), nil)
}

func TestAllowlist(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.txt", projKey+"\n")
	write(t, dir, "b.txt", projKey+"\n")
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	if len(res.Findings) != 2 {
		t.Fatalf("want 2 findings, got %v", got(t, dir, res))
	}
	fp := res.Findings[0].Fingerprint
	if fp == res.Findings[1].Fingerprint {
		t.Fatal("two files share a fingerprint")
	}
	write(t, dir, ".okvignore", "# test fixture\n\n"+fp+"  # a.txt is fine\n")
	res = scanDir(t, scan.Options{Paths: []string{dir}})
	equal(t, got(t, dir, res), []string{"b.txt:1:1 vault-value dev/OPENAI_API_KEY plain"})
	if res.Summary.Allowlisted != 1 {
		t.Errorf("allowlisted = %d", res.Summary.Allowlisted)
	}
	// The fingerprint survives the secret moving within the file.
	write(t, dir, "a.txt", "moved down\n\n"+projKey+"\n")
	res = scanDir(t, scan.Options{Paths: []string{dir}})
	if len(res.Findings) != 1 || res.Summary.Allowlisted != 1 {
		t.Errorf("after move: %v", got(t, dir, res))
	}
}

func TestMissingPath(t *testing.T) {
	_, err := scan.Scan(context.Background(), scan.Options{Paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if err == nil {
		t.Fatal("want error")
	}
	if got := scan.ExitCode(scan.Result{}, err); got != scan.ExitFailed {
		t.Errorf("exit code %d", got)
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	dir := t.TempDir()
	p := write(t, dir, "locked.txt", projKey)
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	if len(res.Errors) != 1 || scan.ExitCode(res, nil) != scan.ExitFailed {
		t.Errorf("errors %v", res.Errors)
	}
}

func TestExitCode(t *testing.T) {
	f := []scan.Finding{{Rule: "x"}}
	e := []scan.FileError{{File: "x"}}
	for _, c := range []struct {
		r    scan.Result
		err  error
		want int
	}{
		{scan.Result{}, nil, 0},
		{scan.Result{Findings: f}, nil, 1},
		{scan.Result{Errors: e}, nil, 4},
		{scan.Result{Findings: f, Errors: e}, nil, 1},
		{scan.Result{}, context.Canceled, 4},
	} {
		if got := scan.ExitCode(c.r, c.err); got != c.want {
			t.Errorf("ExitCode(%+v, %v) = %d, want %d", c.r, c.err, got, c.want)
		}
	}
}

func TestScanStaged(t *testing.T) {
	dir := newRepo(t)
	// Staging in a repository without commits works too.
	write(t, dir, "first.txt", "hello\n"+projKey+"\n")
	git(t, dir, "add", ".")
	res, err := scan.ScanStaged(context.Background(), dir, scan.Options{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got(t, dir, res), []string{"first.txt:2:1 vault-value dev/OPENAI_API_KEY plain"})
	git(t, dir, "commit", "-q", "-m", "one")

	write(t, dir, "app/config.py", "a = 1\nb = 2\nc = 3\nd = 4\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "two")
	write(t, dir, "app/config.py", "a = 1\nb = 2\nKEY = '"+otherPass+"'\nc = 3\nd = 4\n")
	write(t, dir, "new file.json", `{"k": "`+strings.ReplaceAll(projKey, "-", `\u002d`)+`"}`+"\n")
	write(t, dir, "unstaged.txt", projKey+"\n")
	write(t, dir, "image.bin", "\x00\x00"+projKey)
	git(t, dir, "add", "app/config.py", "new file.json", "image.bin")
	res, err = scan.ScanStaged(context.Background(), filepath.Join(dir, "app"), scan.Options{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	var gotLines []string
	for _, f := range res.Findings {
		gotLines = append(gotLines, f.File+":"+itoa(f.Line)+":"+itoa(f.Column)+" "+f.Name+" "+f.Encoding)
	}
	// A binary file is searched too: the hook reads every staged blob.
	equal(t, gotLines, []string{
		"app/config.py:3:8 DB_PASSWORD plain",
		"image.bin:1:3 OPENAI_API_KEY plain",
		"new file.json:1:8 OPENAI_API_KEY json-escaped",
	})
	if s := res.Summary; s.SkippedBinary != 0 || s.SkippedLarge != 0 || s.Files != 3 {
		t.Errorf("summary %+v", res.Summary)
	}
	if _, err := scan.ScanStaged(context.Background(), t.TempDir(), scan.Options{}); err == nil {
		t.Error("want an error outside a repository")
	}
}

func TestScanHistory(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "a.txt", "one\ntwo\n"+projKey+"\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "add key")
	c1 := git(t, dir, "rev-parse", "HEAD")
	write(t, dir, "a.txt", "one\ntwo\n")
	write(t, dir, "b.yaml", "x: 1\nkey: |\n"+wrap(projKey, 30, "  ", ""))
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "remove key, wrap it elsewhere")
	c2 := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "-b", "side", c1)
	write(t, dir, "c.env", "PW="+otherPass+"\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "side branch")
	c3 := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "-q", "main")
	write(t, dir, "a.txt", "now clean\n")

	res, err := scan.ScanHistory(context.Background(), dir, scan.Options{Known: known})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Commits != 3 {
		t.Errorf("commits %d", res.Summary.Commits)
	}
	want := map[string]string{
		c1: "a.txt:3:1 OPENAI_API_KEY plain",
		c2: "b.yaml:3:3 OPENAI_API_KEY wrapped",
		c3: "c.env:1:4 DB_PASSWORD plain",
	}
	if len(res.Findings) != 3 {
		t.Fatalf("findings %v", got(t, dir, res))
	}
	for _, f := range res.Findings {
		if w := want[f.Commit]; w != f.File+":"+itoa(f.Line)+":"+itoa(f.Column)+" "+f.Name+" "+f.Encoding {
			t.Errorf("commit %s: got %+v, want %s", f.Commit[:7], f, w)
		}
	}
	if res.Findings[2].Commit != c1 {
		t.Error("the oldest commit should come last")
	}
}

func TestWriters(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a b/k.env", "K="+projKey+"\nP=\""+otherPass+"\"\n")
	res := scanDir(t, scan.Options{Paths: []string{dir}})
	if len(res.Findings) != 2 {
		t.Fatalf("findings %v", got(t, dir, res))
	}
	res.Findings[0].Commit = "0123456789abcdef0123456789abcdef01234567"
	res.Findings[1].Vault = "project"

	var text, js, sarif, sum bytes.Buffer
	for _, err := range []error{
		scan.WriteText(&text, res), scan.WriteJSON(&js, res), scan.WriteSARIF(&sarif, res), scan.WriteSummary(&sum, res),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range map[string]*bytes.Buffer{"text": &text, "json": &js, "sarif": &sarif, "summary": &sum} {
		for _, k := range known[:2] {
			if strings.Contains(b.String(), k.Value) {
				t.Errorf("%s output holds a secret", name)
			}
		}
	}
	if !strings.Contains(text.String(), "k.env:1:3: vault-value sk-proj-…7wXA dev/OPENAI_API_KEY commit 0123456789abcdef0123456789abcdef01234567 fingerprint ") {
		t.Errorf("text:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "k.env:2:4: vault-value …aple project:prod/DB_PASSWORD fingerprint ") {
		t.Errorf("text does not name the vault:\n%s", text.String())
	}
	if !strings.HasPrefix(sum.String(), "2 findings in 1 file (") {
		t.Errorf("summary: %s", sum.String())
	}

	var back scan.Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Findings) != 2 || back.Findings[1].Name != "DB_PASSWORD" {
		t.Errorf("json round trip: %v %+v", err, back)
	}

	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarif.Bytes(), &log); err != nil {
		t.Fatalf("sarif is not JSON: %v", err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-schema-2.1.0") || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "okv" {
		t.Fatalf("sarif header: %+v", log)
	}
	run := log.Runs[0]
	if len(run.Results) != 2 {
		t.Fatalf("sarif results: %+v", run.Results)
	}
	for i, r := range run.Results {
		f := res.Findings[i]
		loc := r.Locations[0].PhysicalLocation
		if r.RuleID != f.Rule || run.Tool.Driver.Rules[r.RuleIndex].ID != f.Rule || r.Level != "error" ||
			loc.Region.StartLine != f.Line || loc.Region.StartColumn != f.Column ||
			r.PartialFingerprints["okv/v1"] != f.Fingerprint || r.Message.Text == "" {
			t.Errorf("sarif result %d: %+v", i, r)
		}
		if want := "file://" + filepath.ToSlash(dir) + "/a%20b/k.env"; loc.ArtifactLocation.URI != want {
			t.Errorf("uri %q, want %q", loc.ArtifactLocation.URI, want)
		}
	}
}

func TestContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := scan.Scan(ctx, scan.Options{Paths: []string{t.TempDir()}}); err == nil {
		t.Error("want error")
	}
}

// A finding has the same fingerprint whether the tree, a subfolder, a file
// or the staged diff is scanned, so one .okvignore line covers them all.
func TestFingerprintStableAcrossScans(t *testing.T) {
	dir := newRepo(t)
	p := write(t, dir, "sub/a.txt", "x\n"+projKey+"\n")
	git(t, dir, "add", ".")
	var fps []string
	for _, path := range []string{dir, filepath.Join(dir, "sub"), p} {
		res := scanDir(t, scan.Options{Paths: []string{path}})
		if len(res.Findings) != 1 {
			t.Fatalf("scan %s: %v", path, got(t, dir, res))
		}
		fps = append(fps, res.Findings[0].Fingerprint)
	}
	res, err := scan.ScanStaged(context.Background(), dir, scan.Options{Known: known})
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("staged: %v %v", err, res.Findings)
	}
	fps = append(fps, res.Findings[0].Fingerprint)
	for _, fp := range fps[1:] {
		if fp != fps[0] {
			t.Fatalf("fingerprints differ: %v", fps)
		}
	}
	write(t, dir, ".okvignore", fps[0]+"\n")
	if res := scanDir(t, scan.Options{Paths: []string{filepath.Join(dir, "sub")}}); len(res.Findings) != 0 {
		t.Errorf("allowlisted finding reported: %v", got(t, dir, res))
	}
	if res, _ := scan.ScanStaged(context.Background(), dir, scan.Options{Known: known}); len(res.Findings) != 0 || res.Summary.Allowlisted != 1 {
		t.Errorf("allowlisted staged finding reported: %+v", res)
	}
}
