// Package pathfacts classifies file paths: the cleaned absolute path, and
// whether it stays inside the configured roots once "..", "~",
// percent-encoding, Unicode normalisation and symbolic links are taken into
// account; and whether it names a sensitive file (SSH keys, .env files,
// cloud credentials, /etc/shadow, …).
//
// Paths follow POSIX rules. Where a tool might read the string differently
// from the kernel (percent-decoding it, treating "\" as a separator, folding
// Unicode compatibility forms) every reading is checked: "inside" holds only
// if all readings are inside, "sensitive" if any reading is sensitive.
package pathfacts

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/toolgate/toolgate/internal/facts"
)

// Name is the key of these facts under context.facts.
const Name = "path"

func init() {
	facts.Register(Name, facts.Kind{
		New:        func(o facts.Options) (facts.Classifier, error) { return New(o) },
		Merge:      Merge,
		Unanalysed: unanalysed,
	})
}

// maxComponents bounds symlink resolution, which costs a lookup per
// component and per shorter prefix tried.
const maxComponents = 256

// maxDecode bounds percent-decoding of double- and triple-encoded input.
const maxDecode = 3

type root struct {
	configured string // as given, for the "root" fact
	clean      string // absolute and cleaned
	resolved   string // with symlinks resolved, when it exists here
	exists     bool   // it exists here (and resolved is its real place)
}

// Classifier is the path classifier for one set of roots.
type Classifier struct {
	opts  facts.Options
	roots []root
	home  string
	work  string
}

// New builds a path classifier. Roots must be absolute, or relative to the
// process's working directory; they are resolved once here, so a root that
// is itself a symlink (/tmp on macOS) still matches.
func New(opts facts.Options) (*Classifier, error) {
	c := &Classifier{opts: opts.WithDefaults()}
	for _, r := range opts.Roots {
		if r == "" || strings.IndexByte(r, 0) >= 0 {
			return nil, fmt.Errorf("pathfacts: invalid root %q", r)
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("pathfacts: root %q: %w", r, err)
		}
		rt := root{configured: r, clean: abs, resolved: abs}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			rt.resolved, rt.exists = real, true
		}
		c.roots = append(c.roots, rt)
	}
	c.home = opts.HomeDir
	if c.home == "" {
		c.home, _ = os.UserHomeDir()
	}
	if c.home != "" {
		c.home = filepath.Clean(c.home)
	}
	c.work = opts.WorkDir
	if c.work == "" && len(c.roots) > 0 {
		c.work = c.roots[0].clean
	}
	if c.work == "" {
		c.work, _ = os.Getwd()
	}
	if c.work != "" {
		abs, err := filepath.Abs(c.work)
		if err != nil {
			return nil, fmt.Errorf("pathfacts: work dir %q: %w", c.work, err)
		}
		c.work = abs
	}
	return c, nil
}

// Name implements facts.Classifier.
func (c *Classifier) Name() string { return Name }

func zero() facts.Facts {
	return facts.Facts{
		"path":            "",
		"resolved":        "",
		"paths":           []string{},
		"inside":          false,
		"root":            "",
		"sensitive":       false,
		"sensitive_kind":  "",
		"sensitive_kinds": []string{},
		"parse_error":     false,
	}
}

// unanalysed is the answer for a path that was not analysed: it may be
// anywhere, and it may be a sensitive file.
func unanalysed() facts.Facts {
	f := zero()
	f["sensitive"] = true
	return f
}

// Classify implements facts.Classifier.
func (c *Classifier) Classify(p string) facts.Facts {
	return facts.Run(c.opts, p, unanalysed, func(b *facts.Budget) facts.Facts {
		f, err := c.classify(p, b)
		if err != nil {
			return facts.Fail(unanalysed(), err.Error())
		}
		return f
	})
}

func (c *Classifier) classify(p string, b *facts.Budget) (facts.Facts, error) {
	if p == "" {
		return nil, errors.New("empty path")
	}
	if strings.IndexByte(p, 0) >= 0 || strings.Contains(strings.ToLower(p), "%00") {
		// The kernel stops at a NUL while a tool may not: two different files.
		return nil, errors.New("NUL byte in path")
	}
	if strings.HasPrefix(strings.ToLower(p), "file:") {
		u, err := url.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("file URL: %v", err)
		}
		if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
			return nil, fmt.Errorf("file URL names a remote host %q", u.Host)
		}
		if u.Opaque != "" {
			return nil, errors.New("file URL without an absolute path")
		}
		p = u.Path
		if p == "" {
			return nil, errors.New("file URL without a path")
		}
	}
	if isWindowsPath(p) {
		return nil, errors.New("a Windows drive or UNC path; paths are read with POSIX rules")
	}

	// The first reading is the string as the kernel takes it; the others
	// are how a tool might read it.
	readings := []string{p}
	add := func(s string) {
		if !slices.Contains(readings, s) {
			readings = append(readings, s)
		}
	}
	cur := p
	for i := 0; i < maxDecode && strings.IndexByte(cur, '%') >= 0; i++ {
		dec, err := url.PathUnescape(cur)
		if err != nil || dec == cur {
			break
		}
		if strings.IndexByte(dec, 0) >= 0 {
			return nil, errors.New("NUL byte in percent-decoded path")
		}
		if !utf8.ValidString(dec) {
			// Overlong forms (%c0%ae is "." to some decoders) and other
			// invalid UTF-8: tools disagree on what they mean.
			return nil, errors.New("percent-decoded path is not valid UTF-8")
		}
		add(dec)
		cur = dec
	}
	for _, r := range slices.Clone(readings) {
		if strings.IndexByte(r, '\\') >= 0 {
			add(strings.ReplaceAll(r, "\\", "/"))
		}
	}
	for _, r := range slices.Clone(readings) {
		add(norm.NFC.String(r))
		add(norm.NFKC.String(r))
	}

	var (
		out       facts.Facts
		inside    = len(c.roots) > 0
		kinds     []string
		firstKind string
	)
	for i, r := range readings {
		if b.Spend(len(r)) {
			return nil, errors.New(facts.ErrSteps)
		}
		abs, err := c.absolute(r)
		if err != nil {
			return nil, err
		}
		lexical := filepath.Clean(abs)
		resolved, err := c.resolve(abs, b)
		if err != nil {
			return nil, err
		}
		// Tools that clean a path before opening it (Node's
		// path.resolve, Go's filepath.Clean) open the lexical form, where
		// "missing/../link" goes through link: that landing counts too.
		cleaned := resolved
		if lexical != abs {
			if cleaned, err = c.resolve(lexical, b); err != nil {
				return nil, err
			}
		}
		rt, ok := c.inside(lexical, resolved)
		if _, ok2 := c.inside(lexical, cleaned); !ok || !ok2 {
			ok, inside = false, false
		}
		for _, cand := range []string{lexical, resolved, cleaned} {
			if k := sensitiveKind(cand); k != "" {
				kinds = append(kinds, k)
				if firstKind == "" {
					firstKind = k
				}
			}
		}
		if i == 0 {
			out = zero()
			out["path"] = lexical
			out["resolved"] = resolved
			out["paths"] = []string{lexical}
			if ok {
				out["root"] = rt
			}
		}
	}
	out["inside"] = inside
	if !inside {
		out["root"] = ""
	}
	out["sensitive"] = len(kinds) > 0
	out["sensitive_kind"] = firstKind
	out["sensitive_kinds"] = facts.SortedSet(kinds)
	return out, nil
}

func isWindowsPath(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z'))
}

// absolute expands "~" and makes p absolute, without cleaning it: ".."
// must be applied after symlinks, as the kernel does.
func (c *Classifier) absolute(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if c.home == "" {
			return "", errors.New("path starts with ~ but no home directory is known")
		}
		p = c.home + p[1:]
	} else if strings.HasPrefix(p, "~") {
		// ~user needs the user database, whose lookups may go to the
		// network; such paths are rare enough to refuse.
		return "", errors.New("~user paths are not supported")
	}
	if !strings.HasPrefix(p, "/") {
		if c.work == "" {
			return "", errors.New("relative path and no working directory known")
		}
		p = c.work + "/" + p
	}
	return p, nil
}

// maxLinks is how many symbolic links one path may go through, as Linux
// allows (ELOOP past it).
const maxLinks = 40

// resolve follows p the way the kernel does when a tool opens it, even to
// create it: component by component, every symbolic link that exists is
// followed, dangling ones too (creating a file through a dangling link
// creates its target), and ".." applies to the directory reached so far.
// Below a component that does not exist nothing can be a link, so the
// path applies lexically there (the kernel would fail; a tool that cleans
// the path first, or creates the directories, goes on from where ".."
// leads back).
//
// A path under a root starts from the root's resolved form: roots are
// resolved once, when the classifier is built.
func (c *Classifier) resolve(p string, b *facts.Budget) (string, error) {
	if strings.Count(p, "/") > maxComponents {
		return "", fmt.Errorf("path has more than %d components", maxComponents)
	}
	var done []string // components of the directory reached, from /
	todo := strings.Split(p, "/")
	for _, r := range c.roots {
		if rest, ok := strings.CutPrefix(p, r.clean+"/"); ok && r.clean != "/" && r.exists {
			done = strings.Split(strings.TrimPrefix(r.resolved, "/"), "/")
			todo = strings.Split(rest, "/")
			break
		}
	}
	// missing is the depth of the first component that does not exist
	// (0: all exist so far); nothing below it can be a link, but ".."
	// back above it reaches directories that exist again.
	links, missing := 0, 0
	for len(todo) > 0 {
		if b.Spend(1) {
			return "", errors.New(facts.ErrSteps)
		}
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			if len(done) < missing {
				missing = 0
			}
			continue
		}
		next := "/" + strings.Join(append(done, c), "/")
		if missing == 0 {
			fi, err := os.Lstat(next)
			switch {
			case err == nil && fi.Mode()&os.ModeSymlink != 0:
				if links++; links > maxLinks {
					return "", fmt.Errorf("more than %d symbolic links", maxLinks)
				}
				target, err := os.Readlink(next)
				if err != nil {
					return "", fmt.Errorf("reading a symbolic link on the path: %v", cause(err))
				}
				if strings.HasPrefix(target, "/") {
					done = done[:0]
				}
				todo = append(strings.Split(target, "/"), todo...)
				if len(todo) > maxComponents*(maxLinks+1) {
					return "", errors.New("symbolic links expand the path too far")
				}
				continue
			case err == nil:
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
				missing = len(done) + 1
			default:
				// Permission denied, a name too long and the like: where
				// the path leads cannot be known from here.
				return "", fmt.Errorf("cannot resolve the path: %v", cause(err))
			}
		}
		done = append(done, c)
	}
	return "/" + strings.Join(done, "/"), nil
}

// cause drops the path from a file system error: the path can be 64 KiB.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// inside reports whether both the lexical and the resolved path lie in one
// root; the lexical check catches a tool that does not follow links the
// way the kernel does, the resolved one a symlink that leads out.
func (c *Classifier) inside(lexical, resolved string) (string, bool) {
	for _, r := range c.roots {
		if within(lexical, r.clean) && (within(resolved, r.resolved) || within(resolved, r.clean)) {
			return r.configured, true
		}
	}
	return "", false
}

func within(p, root string) bool {
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == root || (strings.HasPrefix(p, root) && p[len(root)] == '/')
}

var mergeRules = facts.Rules{
	"paths": facts.Union, "inside": facts.All, "root": facts.Same, "sensitive": facts.Any,
	"sensitive_kinds": facts.Union, "parse_error": facts.Any,
}

// Merge combines the facts of several path arguments of one call (a copy's
// source and destination): inside only if every path is inside.
func Merge(fs []facts.Facts) facts.Facts {
	out := facts.MergeWith(mergeRules, zero, fs)
	if len(fs) > 1 {
		if k, _ := out["sensitive_kind"].(string); k == "" {
			for _, f := range fs {
				if k, _ := f["sensitive_kind"].(string); k != "" {
					out["sensitive_kind"] = k
					break
				}
			}
		}
	}
	return out
}
