package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/mcp/pin"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policy/schemagen"
	"github.com/toolgate/toolgate/internal/store/postgres"
)

// A doctor check's outcome.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

// check is one line of the doctor's report.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do about a warning or a failure.
	Fix string `json:"fix,omitempty"`
}

type doctorReport struct {
	Config string  `json:"config"`
	Checks []check `json:"checks"`
	OK     bool    `json:"ok"`
}

func (r *doctorReport) add(name, status, detail, fix string) {
	r.Checks = append(r.Checks, check{Name: name, Status: status, Detail: detail, Fix: fix})
}

func newDoctorCmd(g *globals) *cobra.Command {
	var asJSON, strict bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "doctor [--config F] [--json] [--strict]",
		Short: "Check a setup end to end and say what to fix",
		Long: `doctor checks what 'toolgate serve' and 'toolgate run' will need, without
starting either: the configuration file (which one, and that it is valid);
the policies (they parse, and type-check against the schema of the
configured servers' real tools); each configured server (it starts, or
answers at its url, and lists its tools, and the tools match their pins);
the data directory (writable, and fsync works); the state store and the
signing keys; each identity provider (its discovery document and keys are
reachable); the listen address (free). It changes nothing: a temporary file
in the data directory is written, synced and removed.

It prints one line per check, with what to do about each warning and
failure. Exit status: 0 if nothing failed (warnings included, unless
--strict), 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := g.doctor(cmd.Context(), timeout)
			rep.OK = true
			for _, c := range rep.Checks {
				if c.Status == checkFail || strict && c.Status == checkWarn {
					rep.OK = false
				}
			}
			if asJSON {
				if err := writeJSON(g.stdout, rep); err != nil {
					return err
				}
			} else {
				printDoctor(g.stdout, g.style(), rep)
			}
			if !rep.OK {
				return &exitError{code: ExitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long a server or an identity provider may take to answer")
	return cmd
}

func (g *globals) doctor(ctx context.Context, timeout time.Duration) *doctorReport {
	rep := &doctorReport{}
	cfg, err := g.loadConfig()
	rep.Config = g.found.String()
	if err != nil {
		rep.add("config", checkFail, err.Error(), "fix the file; 'toolgate config validate' lists every problem")
		return rep
	}
	if err := cfg.LoadPolicyWindows(); err != nil {
		rep.add("config", checkFail, err.Error(), "fix the windows file")
		return rep
	}
	rep.add("config", checkOK, g.found.String(), "")
	doctorDurability(rep, cfg)

	layers := doctorPolicies(rep, cfg)
	tools := doctorServers(ctx, rep, cfg, timeout)
	if layers != nil && tools != nil {
		doctorSchema(rep, cfg, layers, tools)
	}
	dataDir := doctorDataDir(rep, g, cfg)
	if dataDir != "" {
		doctorState(rep, cfg, dataDir, tools)
	}
	doctorIdentity(ctx, rep, cfg, timeout)
	doctorListen(rep, cfg)
	return rep
}

func doctorPolicies(rep *doctorReport, cfg *config.Config) []*policy.Set {
	layers, err := policy.Load(cfg.Policy)
	if err != nil {
		rep.add("policies", checkFail, policyErrors(err), "fix the policies; 'toolgate policy validate DIR' shows each error in place")
		return nil
	}
	var parts []string
	for _, l := range layers {
		parts = append(parts, fmt.Sprintf("%s: %d", l.Name, l.Len()))
	}
	where := "the built-in policy set"
	if len(cfg.Policy.Dirs) > 0 {
		where = strings.Join(cfg.Policy.Dirs, ", ")
	}
	rep.add("policies", checkOK, fmt.Sprintf("%s (%s)", where, strings.Join(parts, ", ")), "")
	return layers
}

// doctorServers lists each configured server's tools; nil if one failed
// (the schema check then has nothing complete to check against).
func doctorServers(ctx context.Context, rep *doctorReport, cfg *config.Config, timeout time.Duration) map[string][]listedTool {
	out := map[string][]listedTool{}
	complete := true
	for _, sc := range cfg.Servers {
		name := "server " + sc.Name
		if sc.Command == "" && sc.URL == "" {
			out[sc.Name] = nil
			rep.add(name, checkOK, "described for policies only (no command, no url)", "")
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		tools, err := listTools(cctx, sc)
		cancel()
		if err != nil {
			complete = false
			how := "it is started with: " + strings.Join(append([]string{sc.Command}, sc.Args...), " ")
			if sc.URL != "" {
				how = "it is reached at " + sc.URL
			}
			rep.add(name, checkFail, err.Error(), how+"; check that it runs on its own"+brokeredNote(cfg, sc.Name))
			continue
		}
		out[sc.Name] = tools
		rep.add(name, checkOK, fmt.Sprintf("%d tools listed in %s", len(tools), time.Since(start).Round(time.Millisecond)), "")
	}
	if !complete {
		return nil
	}
	return out
}

func brokeredNote(cfg *config.Config, server string) string {
	if _, ok := cfg.Credentials.Servers[server]; ok {
		return " (doctor starts it without the brokered secrets of credentials.servers." + server + ")"
	}
	return ""
}

// doctorSchema type-checks the policies against the schema of the tools.
func doctorSchema(rep *doctorReport, cfg *config.Config, layers []*policy.Set, tools map[string][]listedTool) {
	if len(cfg.Servers) == 0 {
		return
	}
	in := schemagen.Input{Windows: windowTypes(cfg)}
	for _, sc := range cfg.Servers {
		s := schemagen.Server{Name: sc.Name, AutoFacts: sc.Facts.Auto}
		if sc.Command == "" && sc.URL == "" {
			for _, n := range sortedNames(sc.Tools) {
				t := sc.Tools[n]
				s.Tools = append(s.Tools, schemagen.Tool{Name: n, Annotations: t.Annotations, Labels: t.Labels, Facts: t.Facts})
			}
		}
		for _, t := range tools[sc.Name] {
			over := sc.Tools[t.Name]
			s.Tools = append(s.Tools, schemagen.Tool{Name: t.Name, InputSchema: t.InputSchema,
				Annotations: t.Annotations.Merge(over.Annotations), Labels: over.Labels, Facts: over.Facts})
		}
		in.Servers = append(in.Servers, s)
	}
	text, _ := schemagen.Generate(in)
	sc, err := policy.ParseSchema("generated schema", []byte(text))
	if err != nil {
		rep.add("policy schema", checkFail, err.Error(), "")
		return
	}
	var problems []string
	for _, l := range layers {
		if err := l.Validate(sc); err != nil {
			problems = append(problems, policyErrors(err))
		}
	}
	if len(problems) > 0 {
		rep.add("policy schema", checkWarn, "the policies do not type-check against the servers' tools:\n"+strings.Join(problems, "\n"),
			"a policy names a tool, argument or fact the servers do not have; 'toolgate policy schema -o F' writes the schema to check with 'toolgate policy validate --schema F'")
		return
	}
	rep.add("policy schema", checkOK, "the policies type-check against the servers' tools", "")
}

// doctorDataDir checks the data directory is writable and fsync works;
// it returns it, or "" if it does not exist.
func doctorDataDir(rep *doctorReport, g *globals, cfg *config.Config) string {
	dir, err := config.ResolveDataDir(g.dataDir, cfg)
	if err != nil {
		rep.add("data directory", checkFail, err.Error(), "set --data-dir or $"+config.DataDirEnv)
		return ""
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		rep.add("data directory", checkWarn, dir+" does not exist yet ("+g.dataDirSource(cfg)+")",
			"toolgate serve and toolgate run create it; if it should exist, the setting names the wrong directory")
		return ""
	}
	if err == nil && !st.IsDir() {
		err = fmt.Errorf("%s is not a directory", dir)
	}
	if err == nil {
		err = syncTest(dir)
	}
	if err != nil {
		rep.add("data directory", checkFail, err.Error(), "toolgate needs to write and fsync files there")
		return ""
	}
	if st.Mode().Perm()&0o077 != 0 {
		rep.add("data directory", checkWarn, fmt.Sprintf("%s is writable and fsync works, but its mode %v lets other users in", dir, st.Mode().Perm()),
			"chmod 700 "+dir)
		return dir
	}
	rep.add("data directory", checkOK, dir+": writable, fsync works", "")
	return dir
}

// syncTest writes a file in dir, syncs it and the directory, and removes it.
func syncTest(dir string) error {
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString("toolgate doctor\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync of the directory: %w", err)
	}
	return nil
}

// doctorState opens the store and keys read-only, and compares the tools
// with their pins.
// doctorDurability shows when a decision record counts as written.
func doctorDurability(rep *doctorReport, cfg *config.Config) {
	mode, err := cfg.Audit.DurabilityMode()
	switch {
	case err != nil:
		rep.add("audit durability", checkFail, err.Error(), "set audit.durability to flush or os")
	case mode == audit.DurabilityOS:
		rep.add("audit durability", checkWarn, "os: each decision record is written to the operating system before its call runs and flushed to stable storage within 50 ms; a power loss or kernel crash can lose the last 50 ms of records (a crash of toolgate loses none)",
			"set audit.durability: flush (the default) to have every record on stable storage before its call runs")
	default:
		rep.add("audit durability", checkOK, "flush: each decision record is on stable storage before its call runs", "")
	}
}

func doctorState(rep *doctorReport, cfg *config.Config, dataDir string, tools map[string][]listedTool) {
	st, err := openState(cfg, dataDir, readData)
	if err != nil {
		rep.add("state", checkWarn, err.Error(), "toolgate serve and toolgate run create the database at their first start")
		return
	}
	defer st.Close()
	rep.add("state", checkOK, st.String(), "")
	if st.shared() {
		if w := postgres.TLSWarning(st.pg.URL()); w != "" {
			rep.add("store connection", checkWarn, w, "sslmode=verify-full in the store URL, with sslrootcert naming the CA that signed the database's certificate")
		}
	}
	kp, err := st.keys(cfg, readData)
	if err != nil {
		rep.add("signing keys", checkFail, err.Error(), "")
	} else if k, err := kp.Active(context.Background()); err != nil {
		rep.add("signing keys", checkWarn, err.Error(), "toolgate serve and toolgate run create the first key at start")
	} else {
		rep.add("signing keys", checkOK, fmt.Sprintf("active key %s, created %s (rotated after %s)", k.ID, k.Created.Local().Format(time.RFC3339), cfg.Keys.RotateAfter), "")
	}
	if !st.shared() {
		pub := filepath.Join(dataDir, "audit-signing.pub")
		if _, err := os.Stat(pub); err == nil {
			rep.add("audit trail", checkOK, "signed with the key in "+pub+"; 'toolgate audit verify' checks it", "")
		}
	}
	for _, sc := range cfg.Servers {
		listed, ok := tools[sc.Name]
		if !ok || (sc.Command == "" && sc.URL == "") {
			continue
		}
		ps, err := st.pins(sc.Name)
		if err != nil {
			rep.add("pins "+sc.Name, checkFail, err.Error(), "")
			continue
		}
		f, err := ps.Load()
		if err != nil {
			rep.add("pins "+sc.Name, checkFail, err.Error(), "")
			continue
		}
		if len(f.Tools) == 0 {
			rep.add("pins "+sc.Name, checkOK, "nothing pinned yet: the tools are pinned at the first tools/list", "")
			continue
		}
		var changed, unpinned []string
		for _, t := range listed {
			d, err := pin.Define(t.raw)
			if err != nil {
				continue
			}
			p, ok := f.Tools[t.Name]
			switch {
			case !ok:
				unpinned = append(unpinned, t.Name)
			case p.Digest != d.Digest:
				changed = append(changed, fmt.Sprintf("%s (%s)", t.Name, strings.Join(pin.ChangedFields(p.Definition, d.Canonical), ", ")))
			}
		}
		switch {
		case len(changed) > 0:
			rep.add("pins "+sc.Name, checkWarn, "changed since pinned: "+strings.Join(changed, "; "),
				"look at the change with 'toolgate pin list "+sc.Name+"' after a tools/list, and accept it with 'toolgate pin accept "+sc.Name+"'; until then the tools are refused")
		case len(unpinned) > 0:
			rep.add("pins "+sc.Name, checkOK, fmt.Sprintf("%d tools match their pins; new, pinned at the next tools/list: %s", len(listed)-len(unpinned), strings.Join(unpinned, ", ")), "")
		default:
			rep.add("pins "+sc.Name, checkOK, fmt.Sprintf("%d tools match their pins", len(listed)), "")
		}
	}
}

// doctorIdentity fetches each issuer's discovery document and key set.
func doctorIdentity(ctx context.Context, rep *doctorReport, cfg *config.Config, timeout time.Duration) {
	client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirected; toolgate does not follow redirects of identity providers")
	}}
	for _, is := range cfg.Identity.Issuers {
		name := "identity " + is.Issuer
		jwks := is.JWKSURI
		if jwks == "" {
			var doc struct {
				Issuer  string `json:"issuer"`
				JWKSURI string `json:"jwks_uri"`
			}
			u := strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
			if err := getJSON(ctx, client, u, &doc); err != nil {
				rep.add(name, checkFail, "discovery: "+err.Error(), "the issuer must serve "+u+", or set jwks_uri")
				continue
			}
			if doc.Issuer != is.Issuer {
				rep.add(name, checkFail, fmt.Sprintf("discovery names the issuer %q, not %q", doc.Issuer, is.Issuer), "use the issuer exactly as the provider writes it in tokens")
				continue
			}
			jwks = doc.JWKSURI
		}
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := getJSON(ctx, client, jwks, &set); err != nil {
			rep.add(name, checkFail, "keys: "+err.Error(), "")
			continue
		}
		if len(set.Keys) == 0 {
			rep.add(name, checkFail, jwks+" has no keys", "")
			continue
		}
		rep.add(name, checkOK, fmt.Sprintf("%d keys at %s", len(set.Keys), jwks), "")
	}
	if len(cfg.Identity.Issuers) == 0 && len(cfg.Identity.APIKeys) == 0 {
		switch {
		case cfg.Principal == nil && len(serverNames(cfg)) > 0:
			rep.add("identity", checkWarn, "no identity provider or API key, and no default principal: every MCP caller of toolgate serve is unauthenticated, sees no tools and is denied",
				"configure identity.issuers or identity.api_keys (or a principal for local callers); toolgate run acts as Agent::\"local\" without them")
		default:
			rep.add("identity", checkOK, "none configured: toolgate run acts as the config's principal or Agent::\"local\"; toolgate serve takes unauthenticated callers", "")
		}
	}
}

func getJSON(ctx context.Context, client *http.Client, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// doctorListen checks serve's address is free (and says if it is exposed).
func doctorListen(rep *doctorReport, cfg *config.Config) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		rep.add("listen", checkWarn, fmt.Sprintf("%s: %v", cfg.Listen, err), "is a toolgate serve (or something else) already listening there?")
		return
	}
	loopback := ln.Addr().(*net.TCPAddr).IP.IsLoopback()
	ln.Close()
	authenticated := len(cfg.Identity.Issuers) > 0 || len(cfg.Identity.APIKeys) > 0
	if !loopback && !authenticated {
		rep.add("listen", checkWarn, cfg.Listen+" is free, and not loopback, and no identity is configured: anyone who can reach it is an unauthenticated caller",
			"configure identity.issuers or identity.api_keys, or listen on 127.0.0.1")
		return
	}
	rep.add("listen", checkOK, cfg.Listen+" is free", "")
}

func printDoctor(w io.Writer, st style, rep *doctorReport) {
	counts := map[string]int{}
	width := 0 // of the names column: the longest name, up to 24
	for _, c := range rep.Checks {
		if n := len(c.Name); n > width && n <= 24 {
			width = n
		}
	}
	for _, c := range rep.Checks {
		counts[c.Status]++
		status := c.Status
		switch c.Status {
		case checkOK:
			status = st.green("ok  ")
		case checkWarn:
			status = st.yellow("warn")
		case checkFail:
			status = st.red("FAIL")
		}
		lines := strings.Split(c.Detail, "\n")
		fmt.Fprintf(w, "%s  %-*s  %s\n", status, width, c.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "      %-*s  %s\n", width, "", l)
		}
		if c.Fix != "" {
			fmt.Fprintf(w, "      %-*s  %s %s\n", width, "", st.bold("fix:"), c.Fix)
		}
	}
	summary := fmt.Sprintf("%d ok, %d warnings, %d failed", counts[checkOK], counts[checkWarn], counts[checkFail])
	if rep.OK {
		summary = st.green(summary)
	} else {
		summary = st.red(summary)
	}
	fmt.Fprintln(w, summary)
}
