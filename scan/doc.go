// Package scan finds API keys where they must not be: OpenAI key shapes
// and, above all, the exact values of the keys in the vault, in a file tree,
// a git index (the staged diff) or a git history.
//
// It never prints and never returns a secret: findings carry a redacted form
// (sk-proj-…Ab3d) and a fingerprint that hashes the secret.
//
// # What is found
//
// OpenAI keys are found by shape, keyed on the "T3BlbkFJ" marker (see
// rules.go for how the rule compares with gitleaks' and trufflehog's). The
// values passed as [Known] are found as they are, with JSON/JavaScript
// string escapes (\/, \u002d, \", \xHH), base64-encoded in the standard and
// URL alphabets at any of the three alignments inside a larger encoded
// document, in UTF-16 (either byte order), and hard-wrapped across lines
// (with indentation, a trailing `\` continuation or a leading comment
// marker on the continuation lines), base64 forms included. Values that
// would match everywhere (short ones, words, values neither named nor
// shaped like a secret) are not looked for: see [Searched]; the result
// lists them in NotSearched.
//
// # Which files
//
// [Scan] walks each path. Inside a git work tree (and unless
// Options.NoIgnore is set) the file list comes from
// `git ls-files -z --cached --others --exclude-standard`, so .gitignore,
// .git/info/exclude and the global excludes file mean exactly what they mean
// to git; tracked files are scanned even if they match an ignore pattern,
// since they are committed anyway. Outside a work tree, and with NoIgnore,
// the tree is walked and every file is scanned: like ripgrep, .gitignore
// files are honoured only where git would honour them. A path named
// explicitly is always scanned. The `.git` folder, symbolic links, files
// whose first 8 KiB hold a NUL byte (binary, unless the file starts with a
// UTF-16 byte order mark) and files larger than MaxFileSize are skipped;
// the last two are counted in the summary.
//
// [ScanStaged] reads the staged blobs (`git cat-file --batch`) and skips
// none: binary files are searched like text, and files over MaxFileSize are
// searched in chunks for exact values and key shapes. [ScanHistory] reads
// `git log -p --cc --all`: added lines, commit messages, and the lines a
// merge's conflict resolution adds.
//
// # Allowlist
//
// A `.okvignore` file at the top of the git work tree (or in the scanned
// folder outside git) lists fingerprints to ignore, one per line; `#`
// starts a comment. A fingerprint is sha256(path ":" rule ":"
// sha256(secret)) in hex, cut to 32 digits, where path is the file's
// slash-separated path relative to the top of the work tree (relative to
// the scanned folder outside git). It does not change when the secret moves
// within the file or from commit to commit.
//
// # Exit codes
//
// The CLI maps a scan to an exit code with [ExitCode]: 4 ([ExitFailed])
// when the scan failed, else 1 when there is any finding that is not
// allowlisted, else 4 when some file could not be read (a clean result
// would be incomplete), else 0. A known leak is reported as a leak even if
// other files failed. 4 is distinct from okv's usage error (2) and locked
// vault (3).
package scan
