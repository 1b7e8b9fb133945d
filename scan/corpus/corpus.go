// Package corpus writes a file tree with planted keys for testing and
// benchmarking okv scan: OpenAI keys of every shape, vault values plain,
// JSON-escaped, base64-encoded (both alphabets, all alignments) and wrapped
// across lines, and decoys that no rule may match (UUIDs, random base64,
// "sk-learn" in prose, sha256 hex, JWT-like tokens, the OpenAI marker
// without a key around it). Every key is random, generated at run time.
// The manifest says what was planted where.
package corpus

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/okvault/okv/scan"
)

// Options says how big a tree to write.
type Options struct {
	Dir     string // created if missing; must be empty or new
	Files   int    // number of files; 0 means 1000
	Size    int64  // total bytes, roughly; 0 means 4 KiB per file
	Seed    uint64 // 0 picks a random seed (recorded in the manifest)
	Workers int    // 0 means 4
}

// Plant is a secret written into the tree that a scan must find.
type Plant struct {
	File     string `json:"file"` // slash-separated, relative to Dir
	Line     int    `json:"line"`
	Rule     string `json:"rule"`
	Profile  string `json:"profile,omitempty"`
	Name     string `json:"name,omitempty"`
	Encoding string `json:"encoding,omitempty"` // as scan reports it
	Secret   string `json:"secret"`             // random, never a real key
	// Literal says a key of a shape rule (OpenAI's, Anthropic's, …) stands in the file as it is, so a
	// shape rule (gitleaks' for one) can find it.
	Literal bool `json:"literal"`
}

// Decoy is text that looks a little like a secret and must not match.
type Decoy struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Kind string `json:"kind"`
}

// Manifest records what Generate wrote.
type Manifest struct {
	Seed   uint64       `json:"seed"`
	Files  int          `json:"files"`
	Bytes  int64        `json:"bytes"`
	Known  []scan.Known `json:"known"`
	Plants []Plant      `json:"plants"`
	Decoys []Decoy      `json:"decoys"`
	// Binary files hold a key behind a NUL byte: a scan skips them.
	Binary []string `json:"binary"`
}

// WriteFile saves the manifest as JSON.
func (m *Manifest) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ReadManifest loads a manifest saved by WriteFile.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// Forms of a vault value.
const (
	formPlain       = "plain"
	formJSON        = "json"
	formB64         = "b64"
	formB64URL      = "b64url"
	formWrapIndent  = "wrap-indent"
	formWrapBSlash  = "wrap-backslash"
	formWrapComment = "wrap-comment"
	formWrapProse   = "wrap-prose"
	formB64Wrapped  = "b64-wrapped"
)

type combo struct {
	known int    // index into Known, or -1 for a bare OpenAI key
	shape string // for bare keys
	form  string
	align int
	ctx   int
}

func (o *Options) defaults() {
	if o.Files <= 0 {
		o.Files = 1000
	}
	if o.Size <= 0 {
		o.Size = int64(o.Files) * 4096
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
}

// Generate writes the tree and returns its manifest.
func Generate(opts Options) (*Manifest, error) {
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	kr := rand.New(rand.NewPCG(opts.Seed, 0x6b6e6f776e))
	known := []scan.Known{
		{Profile: "dev", Name: "OPENAI_API_KEY", Value: OpenAIKey(kr, ShapeProject)},
		{Profile: "prod", Name: "OPENAI_API_KEY", Value: OpenAIKey(kr, ShapeProject)},
		{Profile: "prod", Name: "OPENAI_ADMIN_KEY", Value: OpenAIKey(kr, ShapeAdmin)},
		{Profile: "ci", Name: "OPENAI_API_KEY", Value: OpenAIKey(kr, ShapeService)},
		{Profile: "dev", Name: "OPENAI_LEGACY_KEY", Value: OpenAIKey(kr, ShapeLegacy)},
		{Profile: "dev", Name: "ANTHROPIC_API_KEY", Value: anthropicKey(kr)},
		{Profile: "dev", Name: "DATABASE_PASSWORD", Value: password(kr)},
		{Profile: "prod", Name: "WEBHOOK_SECRET", Value: webhookSecret(kr)},
	}

	var combos []combo
	for k := range known {
		for _, f := range []string{formPlain, formJSON, formWrapIndent, formWrapBSlash, formWrapComment, formWrapProse, formB64Wrapped} {
			combos = append(combos, combo{known: k, form: f})
		}
		for a := 0; a < 3; a++ {
			combos = append(combos, combo{known: k, form: formB64, align: a}, combo{known: k, form: formB64URL, align: a})
		}
	}
	for _, s := range Shapes {
		for c := 0; c < len(bareContexts); c++ {
			combos = append(combos, combo{known: -1, shape: s, form: formPlain, ctx: c})
		}
	}
	nPlants := max(2*len(combos), opts.Files/25)
	nBinary := 0
	if opts.Files >= 10 {
		nBinary = opts.Files/500 + 1
	}

	m := &Manifest{Seed: opts.Seed, Files: opts.Files, Known: known}
	dirs := map[string]bool{}
	for i := 0; i < opts.Files; i++ {
		dirs[filepath.Dir(filePath(i))] = true
	}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}

	type out struct {
		plants []Plant
		decoys []Decoy
		binary string
		bytes  int64
		err    error
	}
	results := make([]out, opts.Files)
	var wg sync.WaitGroup
	next := make(chan int, opts.Workers)
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				g := &fileGen{
					r:     rand.New(rand.NewPCG(opts.Seed, uint64(i)+1)),
					known: known,
					path:  filePath(i),
				}
				// Plants are spread evenly over the files; binary files
				// take the last indexes.
				var cs []combo
				if text := opts.Files - nBinary; i < text {
					lo, hi := i*nPlants/text, (i+1)*nPlants/text
					for p := lo; p < hi; p++ {
						cs = append(cs, combos[p%len(combos)])
					}
				}
				target := opts.Size / int64(opts.Files)
				target = target/2 + g.r.Int64N(target+1)
				var data []byte
				if i >= opts.Files-nBinary {
					data = g.binaryFile(int(target))
					results[i].binary = g.path
				} else {
					data = g.textFile(int(target), cs)
				}
				results[i].plants, results[i].decoys = g.plants, g.decoys
				results[i].bytes = int64(len(data))
				results[i].err = os.WriteFile(filepath.Join(opts.Dir, filepath.FromSlash(g.path)), data, 0o644)
			}
		}()
	}
	for i := 0; i < opts.Files; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		m.Plants = append(m.Plants, r.plants...)
		m.Decoys = append(m.Decoys, r.decoys...)
		if r.binary != "" {
			m.Binary = append(m.Binary, r.binary)
		}
		m.Bytes += r.bytes
	}
	sort.SliceStable(m.Plants, func(i, j int) bool {
		if m.Plants[i].File != m.Plants[j].File {
			return m.Plants[i].File < m.Plants[j].File
		}
		return m.Plants[i].Line < m.Plants[j].Line
	})
	return m, nil
}

var exts = []string{"go", "py", "js", "json", "yaml", "md", "txt", "env", "sh", "toml"}

func filePath(i int) string {
	return fmt.Sprintf("pkg%03d/sub%d/file%05d.%s", i/200, (i/20)%10, i, exts[i%len(exts)])
}

// fileGen writes one file, counting lines.
type fileGen struct {
	r      *rand.Rand
	known  []scan.Known
	path   string
	buf    bytes.Buffer
	line   int // lines written so far
	plants []Plant
	decoys []Decoy
}

func (g *fileGen) writeLine(s string) {
	g.buf.WriteString(s)
	g.buf.WriteByte('\n')
	g.line += 1 + strings.Count(s, "\n")
}

// cur is the number of the next line to be written.
func (g *fileGen) cur() int { return g.line + 1 }

func (g *fileGen) ext() string { return g.path[strings.LastIndexByte(g.path, '.')+1:] }

func (g *fileGen) textFile(target int, cs []combo) []byte {
	nDecoys := g.r.IntN(4)
	blocks := len(cs) + nDecoys
	approxLines := max(target/48, 1)
	at := make([]int, blocks)
	for i := range at {
		at[i] = g.r.IntN(approxLines)
	}
	sort.Ints(at)
	order := g.r.Perm(blocks)
	bi := 0
	for li := 0; g.buf.Len() < target || bi < blocks; li++ {
		for bi < blocks && (at[bi] <= li || g.buf.Len() >= target) {
			if k := order[bi]; k < len(cs) {
				g.plant(cs[k])
			} else {
				g.decoy()
			}
			bi++
		}
		if g.buf.Len() < target {
			g.writeLine(g.filler())
		}
	}
	return g.buf.Bytes()
}

func (g *fileGen) binaryFile(target int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	b = append(b, randBytes(g.r, target/2)...)
	b = append(b, OpenAIKey(g.r, ShapeProject)...)
	b = append(b, randBytes(g.r, target/2)...)
	return b
}

var words = strings.Fields(`the a of to and in is it for on with as by at from this that be are was
 config value server client request response handler timeout retry cache user token session model
 prompt completion stream buffer index table query result error status build deploy test release
 version module package import export function return if else while switch case default struct
 interface map list array string number boolean null true false undefined async await promise
 resolve reject callback event emitter listener socket http https url path file folder read write
 open close flush sync lock unlock mutex channel worker queue task job batch limit rate budget`)

var idents = strings.Fields(`maxRetries baseURL apiVersion userID requestTimeout cacheSize logLevel
 modelName temperature topP maxTokens streamMode workerCount batchSize rateLimit projectID orgID`)

func (g *fileGen) sentence(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[g.r.IntN(len(words))])
	}
	return b.String()
}

func (g *fileGen) ident() string { return idents[g.r.IntN(len(idents))] }

// filler is one ordinary line in the style of the file.
func (g *fileGen) filler() string {
	r := g.r
	switch g.ext() {
	case "go":
		switch r.IntN(5) {
		case 0:
			return fmt.Sprintf("\t%s := %d // %s", g.ident(), r.IntN(10000), g.sentence(5))
		case 1:
			return fmt.Sprintf("\tfmt.Printf(\"%%s: %%d\\n\", %q, %s)", g.sentence(2), g.ident())
		case 2:
			return fmt.Sprintf("func %s(ctx context.Context) error { return nil }", g.ident())
		case 3:
			return fmt.Sprintf("\tre := regexp.MustCompile(\"^\\\\d+\\\\s*%s$\")", g.ident())
		}
		return "\t// " + g.sentence(8)
	case "py":
		if r.IntN(3) == 0 {
			return fmt.Sprintf("    %s = %q  # %s", strings.ToLower(g.ident()), g.sentence(3), g.sentence(3))
		}
		return fmt.Sprintf("def %s(self, x):\n    return x  # %s", strings.ToLower(g.ident()), g.sentence(4))
	case "js":
		return fmt.Sprintf("const %s = %q; // %s", g.ident(), g.sentence(3), g.sentence(4))
	case "json":
		return fmt.Sprintf("  %q: %q,", g.ident(), g.sentence(4))
	case "yaml":
		return fmt.Sprintf("  %s: %s", g.ident(), g.sentence(3))
	case "env":
		return fmt.Sprintf("%s=%s", strings.ToUpper(g.ident()), randString(r, alnum, 12))
	case "sh":
		return fmt.Sprintf("echo \"%s\" | grep -E '\\b%s\\b'", g.sentence(4), g.ident())
	case "toml":
		return fmt.Sprintf("%s = %q", g.ident(), g.sentence(3))
	}
	return g.sentence(6 + r.IntN(8))
}

// Contexts for bare OpenAI keys; each keeps a quote, a space or the end of
// the line after the key, as gitleaks' rule requires.
var bareContexts = []string{
	"OPENAI_API_KEY=%s",
	"client = OpenAI(api_key=\"%s\")",
	"  \"apiKey\": \"%s\",",
	"Use `%s` for the staging project.",
	"curl -H \"Authorization: Bearer %s\" https://api.openai.com/v1/models",
	"openai_api_key: '%s'",
}

func (g *fileGen) plant(c combo) {
	if c.known < 0 {
		key := OpenAIKey(g.r, c.shape)
		g.plants = append(g.plants, Plant{File: g.path, Line: g.cur(), Rule: shapeRule(c.shape), Secret: key, Literal: true})
		g.writeLine(fmt.Sprintf(bareContexts[c.ctx], key))
		return
	}
	k := g.known[c.known]
	v := k.Value
	p := Plant{File: g.path, Rule: scan.RuleVaultValue, Profile: k.Profile, Name: k.Name, Secret: v}
	r := g.r
	switch c.form {
	case formPlain:
		p.Line, p.Encoding, p.Literal = g.cur(), scan.EncPlain, scan.ProviderKeyRule([]byte(v)) != ""
		g.writeLine(fmt.Sprintf("%s='%s'", k.Name, v))
	case formJSON:
		g.writeLine("{")
		p.Line, p.Encoding = g.cur(), scan.EncJSONEscaped
		if jsonEscape(v) == v {
			p.Encoding = scan.EncPlain
		}
		g.writeLine(fmt.Sprintf("  \"%s\": \"%s\",", strings.ToLower(k.Name), jsonEscape(v)))
		g.writeLine(fmt.Sprintf("  \"note\": %q", g.sentence(4)))
		g.writeLine("}")
	case formB64, formB64URL:
		// The value inside a larger encoded document, at the wanted alignment.
		prefix := fmt.Sprintf("%s_%d=", strings.ToLower(k.Name), r.IntN(1000))
		for len(prefix)%3 != c.align {
			prefix = "x" + prefix
		}
		blob := prefix + v + "\n" + g.sentence(3+r.IntN(5))
		enc := base64.StdEncoding
		if c.form == formB64URL {
			enc = base64.RawURLEncoding
		}
		_, p.Encoding = b64Middle(v, c.align, c.form == formB64URL)
		p.Line = g.cur()
		g.writeLine(fmt.Sprintf("  %s_B64: %s", k.Name, enc.EncodeToString([]byte(blob))))
	case formB64Wrapped:
		prefix := strings.Repeat("y", r.IntN(90))
		blob := prefix + k.Name + "=" + v + "\n" + g.sentence(10)
		s := base64.StdEncoding.EncodeToString([]byte(blob))
		off := len(prefix) + len(k.Name) + 1
		mid, enc := b64Middle(v, off%3, false)
		ms := strings.Index(s, mid)
		const width = 76
		g.writeLine("-----BEGIN OKV TEST BUNDLE-----")
		p.Line = g.cur() + ms/width
		p.Encoding = enc
		if ms/width != (ms+len(mid)-1)/width {
			p.Encoding = enc + "+" + scan.EncWrapped
		}
		for i := 0; i < len(s); i += width {
			g.writeLine("    " + s[i:min(len(s), i+width)])
		}
		g.writeLine("-----END OKV TEST BUNDLE-----")
	default: // wrapped forms
		width := 16 + r.IntN(25)
		var parts []string
		for i := 0; i < len(v); i += width {
			parts = append(parts, v[i:min(len(v), i+width)])
		}
		if len(parts) < 2 {
			parts = []string{v[:len(v)/2], v[len(v)/2:]}
		}
		p.Encoding = scan.EncWrapped
		switch c.form {
		case formWrapIndent:
			g.writeLine(strings.ToLower(k.Name) + ": |")
			p.Line = g.cur()
			for _, s := range parts {
				g.writeLine("  " + s)
			}
		case formWrapBSlash:
			p.Line = g.cur()
			for i, s := range parts {
				switch {
				case i == 0:
					g.writeLine("export " + k.Name + "=\"" + s + "\\")
				case i == len(parts)-1:
					g.writeLine(s + "\"")
				default:
					g.writeLine(s + "\\")
				}
			}
		case formWrapComment:
			g.writeLine("# " + g.sentence(5))
			p.Line = g.cur()
			for _, s := range parts {
				g.writeLine("# " + s)
			}
		case formWrapProse:
			// Hard-wrapped text: the key starts mid-line.
			lead := "The " + strings.ToLower(k.Name) + " for this box is "
			text := lead + v + " and it " + g.sentence(6)
			p.Line = g.cur()
			for i := 0; i < len(text); i += width + len(lead) {
				g.writeLine(text[i:min(len(text), i+width+len(lead))])
			}
			if len(lead)+len(v) <= width+len(lead) {
				p.Encoding = scan.EncPlain
			}
		}
	}
	g.plants = append(g.plants, p)
}

func shapeRule(shape string) string {
	switch shape {
	case ShapeProject:
		return scan.RuleOpenAIProjectKey
	case ShapeService:
		return scan.RuleOpenAIServiceAccountKey
	case ShapeAdmin:
		return scan.RuleOpenAIAdminKey
	}
	return scan.RuleOpenAIKey
}

var decoyKinds = []string{"uuid", "base64", "sk-prose", "sha256", "jwt", "marker-alone", "sk-no-marker", "near-miss", "wrong-prefix"}

func (g *fileGen) decoy() {
	r := g.r
	kind := decoyKinds[r.IntN(len(decoyKinds))]
	d := Decoy{File: g.path, Line: g.cur(), Kind: kind}
	var s string
	switch kind {
	case "uuid":
		s = fmt.Sprintf("request_id: %s", uuid(r))
	case "base64":
		s = fmt.Sprintf("blob = \"%s\"", base64.StdEncoding.EncodeToString(randBytes(r, 30+r.IntN(90))))
	case "sk-prose":
		s = []string{
			"We trained the baseline with sk-learn (scikit-learn) and a desk-top GPU.",
			"Run the task-runner, then the sk-learn pipeline: risk-free and disk-bound.",
			"See sk-learn docs; ask-me-anything about the whisk-based mask-rcnn.",
		}[r.IntN(3)]
	case "sha256":
		s = fmt.Sprintf("sha256:%s  dist/okv.tar.gz", randString(r, hexAlpha, 64))
	case "jwt":
		s = fmt.Sprintf("Authorization: Bearer %s", jwtLike(r))
	case "marker-alone":
		// base64 of text about OpenAI holds the marker, with no key around it.
		s = fmt.Sprintf("doc_b64: %s", base64.StdEncoding.EncodeToString([]byte("OpenAI "+g.sentence(5))))
	case "sk-no-marker":
		s = fmt.Sprintf("legacy_id = \"sk-%s\"  # not a key: no marker", randString(r, alnum, 48))
	case "near-miss":
		// A vault value with one character changed, of a value that has no
		// key shape (a changed OpenAI or Anthropic key is still a key shape).
		v := []byte(g.known[6+r.IntN(2)].Value)
		i := 4 + r.IntN(len(v)-8)
		if v[i] == 'Q' {
			v[i] = 'R'
		} else {
			v[i] = 'Q'
		}
		s = fmt.Sprintf("old_secret = '%s'", v)
	case "wrong-prefix":
		s = fmt.Sprintf("pk-%sT3BlbkFJ%s", randString(r, alnum, 20), randString(r, alnum, 20))
	}
	g.decoys = append(g.decoys, d)
	g.writeLine(s)
}
