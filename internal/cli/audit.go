package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit verify|tail|query|export",
		Short: "Read and check the audit trail",
		Long: `audit reads the tamper-evident audit trail in the data directory (the sqlite
sink) or, with a PostgreSQL store, the one trail of every replica in the
database (see docs/audit.md and docs/scale-out.md): verify checks its hash chain and signed
checkpoints, tail shows the newest records (and follows with -f), query
selects records, export writes the whole trail as an archive that verify
checks on its own (--archive). Records are printed as JSON lines, byte for byte as stored,
so their hashes can be checked by other tools; --format table is for people.`,
	}
	var db string
	cmd.PersistentFlags().StringVar(&db, "db", "", "trail database (default: the configured one, toolgate.db in the data directory or the PostgreSQL store)")
	// open opens the trail for reading; it creates nothing, so a mistyped
	// --data-dir or --db is an error.
	open := func() (*trailSource, error) {
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, err
		}
		spec, err := config.ResolveStore(cfg)
		if err != nil {
			return nil, err
		}
		if db == "" && config.IsPostgres(spec) && (cfg.Audit.Sink == "" || cfg.Audit.Sink == "sqlite") {
			// The one trail of every replica, with its keys, in the
			// database.
			st, err := openState(cfg, "", readData)
			if err != nil {
				return nil, fmt.Errorf("audit trail: %w", err)
			}
			return &trailSource{AuditLog: st.db, closer: st.Close, where: st.String(),
				publicKeys: func(ctx context.Context) ([]ed25519.PublicKey, string, error) {
					k, err := audit.SharedPublicKeys(ctx, st.db)
					if errors.Is(err, store.ErrNotFound) {
						return nil, "the public keys (" + audit.PublicKeysDoc + ") in " + st.String(), nil
					}
					return k, "", err
				},
				redactionKey: func(ctx context.Context) ([]byte, error) { return audit.SharedRedactionKey(ctx, st.db) },
			}, nil
		}
		path := db
		var dataDir string
		if path != "" {
			// The data directory holds the default keys of verify and
			// --secret; the trail is the file named.
			if dataDir, err = config.ResolveDataDir(g.dataDir, cfg); err != nil {
				return nil, err
			}
		} else {
			if cfg.Audit.Sink != "sqlite" {
				return nil, fmt.Errorf("the audit sink is %q; only the sqlite trail can be read here (or name a trail with --db)", cfg.Audit.Sink)
			}
			if dataDir, err = g.dataDirFor(cfg, readData); err != nil {
				return nil, err
			}
			if path, err = audit.DBPath(cfg.Audit, dataDir); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no audit trail at %s: nothing has been recorded there yet", path)
		}
		d, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
		return &trailSource{AuditLog: d, closer: d.Close, where: path,
			publicKeys: func(context.Context) ([]ed25519.PublicKey, string, error) {
				// A trail nothing was written to yet has no key, and
				// nothing to vouch for.
				def := filepath.Join(dataDir, audit.PublicKeysFile)
				if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
					return nil, def, nil
				} else if err != nil {
					return nil, "", err
				}
				k, err := audit.LoadPublicKeys(def)
				return k, "", err
			},
			redactionKey: func(context.Context) ([]byte, error) { return audit.LoadRedactionKey(dataDir) },
		}, nil
	}
	cmd.AddCommand(newAuditVerifyCmd(g, open), newAuditTailCmd(g, open), newAuditQueryCmd(g, open), newAuditExportCmd(g, open))
	return cmd
}

// trailSource is a trail to read, with the keys its store trusts: the data
// directory's files for SQLite, the documents of a PostgreSQL store.
type trailSource struct {
	store.AuditLog
	closer func() error
	where  string
	// publicKeys are the trusted keys by default; with none, it names
	// what is missing.
	publicKeys   func(context.Context) ([]ed25519.PublicKey, string, error)
	redactionKey func(context.Context) ([]byte, error)
}

func (t *trailSource) Close() error { return t.closer() }

type openTrailFunc func() (*trailSource, error)

func newAuditVerifyCmd(g *globals, open openTrailFunc) *cobra.Command {
	var keyFiles []string
	var asJSON bool
	var archive string
	cmd := &cobra.Command{
		Use:   "verify [--public-key FILE]... [--archive FILE] [--json]",
		Short: "Check the trail's hash chain and signed checkpoints",
		Long: `verify recomputes the hash chain over every record and checks every
checkpoint's Ed25519 signature and the record hash it signs. It names the
first bad record and what happened to it: edited, missing (deleted),
reordered, truncated (signed records gone from the end), rewritten (records
changed and re-chained: only a checkpoint shows it), bad_signature,
malformed.

Records after the last checkpoint chain correctly but nothing signed vouches
for them yet; verify reports how many, since a truncation among them cannot
be detected. A running trail signs every 1000 records or 5 s and at shutdown.

By default the public keys in the data directory (audit-signing.pub) are
trusted (with a PostgreSQL store, the public keys kept in the database).
Anyone who can write the data directory (or the database) can replace them:
for a check that means something, keep a copy elsewhere and pass
--public-key.

--archive checks an archive written by 'toolgate audit export' instead of
the database, from the file alone (pass the public keys with --public-key).

Exit status: 0 if the trail verifies, 1 if it does not or cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var log store.AuditLog
			var where, noKey string
			var trusted []ed25519.PublicKey
			if archive != "" {
				if len(keyFiles) == 0 {
					return usageError{errors.New("--archive needs the trusted public keys: --public-key FILE")}
				}
				a, err := audit.OpenArchive(archive)
				if err != nil {
					return err
				}
				log, where = a, archive
			} else {
				src, err := open()
				if err != nil {
					return err
				}
				defer src.Close()
				if len(keyFiles) == 0 {
					if trusted, noKey, err = src.publicKeys(cmd.Context()); err != nil {
						return err
					}
				}
				log, where = src, src.where
			}
			keys := trusted
			for _, f := range keyFiles {
				k, err := audit.LoadPublicKeys(f)
				if err != nil {
					return err
				}
				keys = append(keys, k...)
			}
			rep, err := audit.Verify(cmd.Context(), log, keys)
			if err != nil {
				return err
			}
			if noKey != "" && (rep.Records > 0 || rep.Checkpoints > 0) {
				// Without the key, unsigned records would "verify": a trail
				// whose key and checkpoints were removed must not.
				return fmt.Errorf("%s: %d records and %d checkpoints, but no public key to check them: %s is missing (pass --public-key)",
					where, rep.Records, rep.Checkpoints, noKey)
			}
			if asJSON {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintln(g.stdout, string(b))
			} else {
				printReport(g.stdout, g.style(), where, rep)
			}
			if !rep.OK {
				return &exitError{code: ExitError}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "public-key", nil, "trusted public keys (PEM file; repeatable; default audit-signing.pub in the data directory)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&archive, "archive", "", "verify an archive file written by 'toolgate audit export' instead of the database")
	return cmd
}

func newAuditExportCmd(g *globals, open openTrailFunc) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Write the whole trail as an archive (JSON lines) that verify can check on its own",
		Long: `export writes every record of the trail, byte for byte as stored, one per
line, and each signed checkpoint after the record it covers, as
{"checkpoint": "<its bytes>", "signature": "<base64>"}. The archive is what to
hand to a SIEM or keep offline: 'toolgate audit verify --archive FILE
--public-key KEYS' checks its chain and signatures without the database.
To stdout, or to --out (written to a temporary file and renamed, so a
partial archive is never left under the name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := open()
			if err != nil {
				return err
			}
			defer db.Close()
			if out == "" {
				_, _, err := audit.WriteArchive(cmd.Context(), db, g.stdout)
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			records, checkpoints, err := audit.WriteArchive(cmd.Context(), db, tmp)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "exported %d records and %d checkpoints to %s\n", records, checkpoints, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the archive to this file (default: standard output)")
	return cmd
}

func printReport(w io.Writer, st style, path string, rep *audit.Report) {
	switch {
	case rep.OK && rep.Records == 0 && rep.Checkpoints == 0:
		fmt.Fprintf(w, "%s: %s: an empty trail (nothing recorded yet)\n", st.green("OK"), path)
	case rep.OK:
		fmt.Fprintf(w, "%s: %s: %d records, %d checkpoints; the last checkpoint signs record %d\n", st.green("OK"), path, rep.Records, rep.Checkpoints, rep.LastCheckpoint)
	default:
		fmt.Fprintf(w, "%s: %s: the first bad record is %d\n", st.red("FAILED"), path, rep.FirstBad)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  record %d: %s: %s\n", p.Seq, p.Kind, p.Message)
		}
		fmt.Fprintf(w, "%d records, %d checkpoints\n", rep.Records, rep.Checkpoints)
	}
	if slices.Contains(rep.Durability, audit.DurabilityOS) {
		fmt.Fprintf(w, "note: checkpoints were signed with audit.durability %s: records were flushed to stable storage up to 50 ms after their calls ran\n", strings.Join(rep.Durability, " and "))
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(w, "note: records %d to %d come after the last checkpoint and are not signed yet: a truncation after record %d could not be detected\n",
			rep.LastSeq-rep.Unsigned+1, rep.LastSeq, rep.LastCheckpoint)
	}
}

// queryFlags are the record filters of tail and query.
type queryFlags struct {
	principal, user, task, server, tool, effect, decision, since, until, secret, format string
	noOutcomes, json                                                                    bool
}

func (q *queryFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&q.principal, "principal", "", "decisions of this principal id (agent or user)")
	f.StringVar(&q.user, "user", "", "decisions made on behalf of this user")
	f.StringVar(&q.task, "task", "", "decisions of this task id")
	f.StringVar(&q.server, "server", "", "decisions about this server's tools")
	f.StringVar(&q.tool, "tool", "", "decisions about this tool (name, or <server>/<tool>)")
	f.StringVar(&q.effect, "effect", "", "decisions with this effect: allow, deny or ask")
	f.StringVar(&q.decision, "decision", "", "the records of this decision id")
	f.StringVar(&q.since, "since", "", "records at or after this time (RFC 3339, or a duration ago such as 1h)")
	f.StringVar(&q.until, "until", "", "records before this time (RFC 3339, or a duration ago)")
	f.StringVar(&q.secret, "secret", "", "records that carry this (redacted) secret value")
	f.BoolVar(&q.noOutcomes, "no-outcomes", false, "leave out the outcome records of matching decisions")
	f.StringVar(&q.format, "format", "", "output: json (the records as stored, one per line) or table (default: table on a terminal, else json)")
	f.BoolVar(&q.json, "json", false, "the same as --format json")
}

func (q *queryFlags) filter(now time.Time) (store.AuditFilter, error) {
	f := store.AuditFilter{
		Principal: q.principal, OnBehalfOf: q.user, TaskID: q.task, Server: q.server, Tool: q.tool,
		Effect: q.effect, DecisionID: q.decision, WithOutcomes: !q.noOutcomes,
	}
	if s, t, ok := strings.Cut(q.tool, "/"); ok {
		f.Server, f.Tool = s, t
	}
	switch q.effect {
	case "", "allow", "deny", "ask":
	default:
		return f, usageError{fmt.Errorf("--effect %q: want allow, deny or ask", q.effect)}
	}
	switch q.format {
	case "", "json", "table":
	default:
		return f, usageError{fmt.Errorf("--format %q: want json or table", q.format)}
	}
	if q.json {
		if q.format == "table" {
			return f, usageError{errors.New("--json and --format table contradict each other")}
		}
		q.format = "json"
	}
	var err error
	if f.Since, err = parseWhen(q.since, now); err != nil {
		return f, usageError{fmt.Errorf("--since: %w", err)}
	}
	if f.Until, err = parseWhen(q.until, now); err != nil {
		return f, usageError{fmt.Errorf("--until: %w", err)}
	}
	return f, nil
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration", s)
	}
	return now.Add(-d), nil
}

// printer writes records in the chosen format; for the secret filter it
// drops the records that do not carry the token.
type printer struct {
	w      io.Writer
	st     style
	table  *table // nil: JSON lines
	header bool   // the table's header is written
	token  []byte
}

func newPrinter(g *globals, q *queryFlags, src *trailSource) (*printer, error) {
	p := &printer{w: g.stdout, st: g.style()}
	if q.secret != "" {
		key, err := src.redactionKey(context.Background())
		if err != nil {
			return nil, fmt.Errorf("--secret needs the redaction key: %w", err)
		}
		red, err := audit.NewRedactor(audit.RedactConfig{}, key)
		if err != nil {
			return nil, err
		}
		p.token = []byte(red.Token([]byte(q.secret)))
	}
	if q.format == "table" || q.format == "" && p.st.tty {
		p.table = p.st.newTable(auditColumns...)
	}
	return p, nil
}

var auditColumns = []string{"SEQ", "TIME", "TYPE", "EFFECT", "PRINCIPAL", "TOOL", "TASK", "DECISION"}

func (p *printer) print(e *store.AuditEntry) error {
	if p.token != nil && !bytes.Contains(e.Body, p.token) {
		return nil
	}
	if p.table == nil {
		_, err := fmt.Fprintf(p.w, "%s\n", e.Body)
		return err
	}
	what, tool := e.Effect, ""
	if e.Kind == "outcome" {
		what = e.Status
	}
	if e.Server != "" || e.Tool != "" {
		tool = e.Server + "/" + e.Tool
	}
	p.table.add(fmt.Sprint(e.Seq), e.Time.Local().Format(time.RFC3339), p.st.dim(e.Kind), p.st.effect(what),
		dash(e.Principal), dash(tool), dash(e.TaskID), e.DecisionID)
	return nil
}

// flush writes the table rows collected so far (the header once).
func (p *printer) flush() error {
	if p.table == nil {
		return nil
	}
	t := p.table
	if p.header && len(t.rows) == 0 {
		return nil
	}
	p.table = p.st.newTable()
	p.header = true
	return t.write(p.w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditQueryCmd(g *globals, open openTrailFunc) *cobra.Command {
	var q queryFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "query [filters]",
		Short: "Select audit records",
		Long: `query prints the records that match every filter given, oldest first. The
decision filters (--principal, --user, --task, --server, --tool, --effect)
select decision records, and with them the outcome records of those
decisions (unless --no-outcomes). --secret finds the records in which a
secret value was redacted: it computes the value's token with the data
directory's redaction key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := q.filter(time.Now())
			if err != nil {
				return err
			}
			f.Limit = limit
			db, err := open()
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := newPrinter(g, &q, db)
			if err != nil {
				return err
			}
			if err := db.ScanAudit(cmd.Context(), f, p.print); err != nil {
				return err
			}
			return p.flush()
		},
	}
	q.add(cmd)
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many records")
	return cmd
}

func newAuditTailCmd(g *globals, open openTrailFunc) *cobra.Command {
	var q queryFlags
	var n int
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail [-n N] [-f] [filters]",
		Short: "Print the newest audit records, and follow new ones with -f",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := q.filter(time.Now())
			if err != nil {
				return err
			}
			db, err := open()
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := newPrinter(g, &q, db)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if follow {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			if !follow {
				return tailAudit(ctx, db, f, n, nil, p)
			}
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			return tailAudit(ctx, db, f, n, t.C, p)
		},
	}
	q.add(cmd)
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "how many of the newest records to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records as they are written (until interrupted)")
	return cmd
}

// tailAudit prints the last n matching records and, if polls is not nil,
// every matching record written after them, looking for them at each value
// polls delivers, until ctx ends.
func tailAudit(ctx context.Context, db store.AuditLog, f store.AuditFilter, n int, polls <-chan time.Time, p *printer) error {
	// end is how far the trail has been read: each pass prints matching
	// records up to the trail's end when it began, and the next pass starts
	// after it, so nothing is skipped or printed twice.
	end, err := lastSeq(ctx, db, 0)
	if err != nil {
		return err
	}
	// printUpTo prints the records f selects, up to record last.
	printUpTo := func(f store.AuditFilter, last uint64) error {
		return db.ScanAudit(ctx, f, func(e *store.AuditEntry) error {
			if e.Seq <= last {
				return p.print(e)
			}
			return nil
		})
	}
	if n > 0 {
		first := f
		first.Last = n
		if err := printUpTo(first, end); err != nil {
			return err
		}
	}
	if err := p.flush(); err != nil || polls == nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-polls:
		}
		newEnd, err := lastSeq(ctx, db, end)
		if err != nil || newEnd == end {
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		next := f
		next.AfterSeq = end
		if err := printUpTo(next, newEnd); err != nil {
			return err
		}
		end = newEnd
		if err := p.flush(); err != nil {
			return err
		}
	}
}

// lastSeq is the seq of the trail's newest record if it is after after,
// else after.
func lastSeq(ctx context.Context, db store.AuditLog, after uint64) (uint64, error) {
	last := after
	err := db.ScanAudit(ctx, store.AuditFilter{AfterSeq: after, Last: 1}, func(e *store.AuditEntry) error {
		last = e.Seq
		return nil
	})
	return last, err
}
