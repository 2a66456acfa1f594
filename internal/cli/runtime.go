package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/history"
	"github.com/toolgate/toolgate/internal/keys"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store/postgres"
)

// runtime is what a front door that runs calls (serve, run) is made of: the
// policies, the audit trail and the stateful stages, all in the data
// directory. Both front doors open it the same way, so a stage added here is
// enforced by both.
type runtime struct {
	cfg     *config.Config
	log     *slog.Logger
	dataDir string
	engine  *policy.Engine
	sink    audit.Sink
	tasks   *taskParts
	// approvals is the approve stage: pending approvals in the data
	// directory's database, shared with every toolgate process there.
	approvals *approval.Service
	history   *history.Stage
	// creds is the credential stage: per-call tokens, brokered secrets and
	// token exchange for the servers credentials.servers lists.
	creds *credential.Minter
}

// openRuntime opens every part or none.
func openRuntime(g *globals, cfg *config.Config) (_ *runtime, err error) {
	r := &runtime{cfg: cfg, log: g.logger(cfg)}
	defer func() {
		if err != nil {
			_ = r.Close() // logged; the error that stopped the start is the one to return
		}
	}()
	if r.dataDir, err = g.dataDirFor(cfg, createData); err != nil {
		return nil, err
	}
	if r.engine, err = policy.NewEngine(cfg.Policy, r.log); err != nil {
		return nil, err
	}
	if r.tasks, err = openTaskParts(cfg, r.dataDir, r.log, createData); err != nil {
		return nil, err
	}
	if r.sink, err = openSink(cfg, r.tasks.st, r.log); err != nil {
		return nil, err
	}
	// History (data flow, windows) in the data directory's database, shared
	// by every process of the directory.
	// Windows may be declared beside the policies that read them.
	if err := cfg.LoadPolicyWindows(); err != nil {
		return nil, err
	}
	if r.history, err = history.New(cfg.History, history.Options{Store: r.tasks.db, Dir: r.tasks.st.historyDir(), Log: r.log}); err != nil {
		return nil, err
	}
	if r.approvals, err = openApprovals(cfg, r.tasks, r.engine, r.log); err != nil {
		return nil, err
	}
	if r.creds, err = openCredentials(cfg, r.tasks, r.log); err != nil {
		return nil, err
	}
	return r, nil
}

// pipeline wires the enforcement pipeline over the runtime's parts; opts
// adjust it for the front door (the stdio proxy's pinned catalog, say).
func (r *runtime) pipeline(opts ...func(*enforce.Config)) (*enforce.Pipeline, error) {
	base := []func(*enforce.Config){
		func(ec *enforce.Config) {
			ec.Audit = r.sink
			ec.Log = r.log
			ec.History = r.history
		},
		// Identity (with the local default principal), tasks and budgets.
		r.tasks.stages(defaultPrincipal(r.cfg), true),
		func(ec *enforce.Config) { ec.Approve = r.approvals },
		func(ec *enforce.Config) { ec.Mint = r.creds },
	}
	return newPipeline(r.cfg, r.engine, append(base, opts...)...)
}

// follow makes this replica act on what other replicas of a shared store
// change, as soon as the database says so: a waiting call looks for its
// answer, the signing keys are read again after a rotation. (Each also
// happens on its own schedule; this only makes it prompt.)
func (r *runtime) follow(ctx context.Context) {
	st := r.tasks.st
	st.subscribe(postgres.ChannelApprovals, func(string) { r.approvals.Changed() })
	st.subscribe(postgres.ChannelDocs, func(name string) {
		if name == keys.DocName || name == "" {
			if err := r.tasks.keys.Reload(ctx); err != nil {
				r.log.Warn("keys: cannot re-read the signing keys after another replica changed them", "error", err)
				return
			}
			r.log.Debug("keys: re-read the signing keys after another replica changed them")
		}
	})
	st.listen(ctx)
}

// watch reloads the policies on change until ctx ends, if configured. If
// the watch cannot start, toolgate does not start: an operator who edits a
// policy must not be left believing it took effect (policy.watch: false
// runs without hot reload, knowingly). onError (nil: none) counts the
// errors of a running watch.
func (r *runtime) watch(ctx context.Context, onError func(error)) error {
	if !r.cfg.Policy.WatchEnabled() {
		return nil
	}
	if err := r.engine.StartWatch(ctx, policy.WatchOptions{OnError: onError}); err != nil {
		return fmt.Errorf("%v (set policy.watch: false to run without hot reload)", err)
	}
	return nil
}

// ready are the readiness checks of /readyz.
func (r *runtime) policiesReady() error {
	if r.engine.Current() == nil {
		return errors.New("no policies loaded")
	}
	if msg := r.engine.WatchError(); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// auditReady probes the trail: a write path that works now, not only a
// last write that worked (an idle trail would otherwise look fine until
// the first call fails).
func (r *runtime) auditReady() error {
	if p, ok := r.sink.(interface{ Probe(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return p.Probe(ctx)
	}
	if h, ok := r.sink.(interface{ Healthy() error }); ok {
		return h.Healthy()
	}
	return nil
}

// openApprovals opens the approve stage over the task parts' database
// (pending approvals), identity verifier (approvers on the admin API) and
// keys (links), with the organisation's policies deciding who may answer.
//
// What is stored of a call is redacted by the trail's rules and key
// (audit.redact), so equal secrets give equal tokens in both.
func openApprovals(cfg *config.Config, tp *taskParts, engine *policy.Engine, log *slog.Logger) (*approval.Service, error) {
	links := keys.NewTokens(tp.keys, cfg.Keys.Issuer)
	links.Leeway = 0 // links expire when they say; this toolgate signs and checks them
	key, err := tp.st.redactionKey()
	if err != nil {
		return nil, err
	}
	red, err := audit.NewRedactor(cfg.Audit.Redact, key)
	if err != nil {
		return nil, err
	}
	return approval.New(cfg.Approvals, approval.Options{
		Store: tp.db, Policies: engine, Identity: tp.ids, Links: links, Limits: cfg.InputLimits(), Log: log,
		Redactor: red,
	})
}

// openCredentials opens the credential stage, signing with the data
// directory's keys; a remote server's default token audience is its url.
func openCredentials(cfg *config.Config, tp *taskParts, log *slog.Logger) (*credential.Minter, error) {
	urls := map[string]string{}
	for _, s := range cfg.Servers {
		if s.URL != "" {
			urls[s.Name] = s.URL
		}
	}
	return credential.New(cfg.Credentials, credential.Options{Keys: tp.keys, Issuer: cfg.Keys.Issuer, URLs: urls, Log: log})
}

// Close closes what was opened. Its error matters: the audit sink's last
// flush and close, or the history's last writes, may fail, and then records
// are missing; it is logged and makes the command fail.
func (r *runtime) Close() error {
	var errs []error
	if r.approvals != nil {
		r.approvals.Close() // webhooks in flight
	}
	if r.history != nil {
		errs = append(errs, r.history.Close()) // before the database it writes to
	}
	if r.sink != nil { // it flushes its queue, possibly into the store below
		if err := r.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("the audit trail did not close cleanly; its last records may be missing: %w", err))
		}
	}
	if r.tasks != nil {
		errs = append(errs, r.tasks.Close())
	}
	err := errors.Join(errs...)
	if err != nil {
		r.log.Error("closing", "error", err)
	}
	return err
}

// openSink opens the audit sink. The default sink keeps the tamper-evident
// trail in the store: the data directory's SQLite database, or, on a shared
// store, the one trail of every replica (with its keys in the store).
func openSink(cfg *config.Config, st *state, log *slog.Logger) (audit.Sink, error) {
	if !st.shared() || (cfg.Audit.Sink != "" && cfg.Audit.Sink != "sqlite") {
		return audit.OpenLogged(cfg.Audit, st.dataDir, log)
	}
	if cfg.Audit.Path != "" {
		return nil, fmt.Errorf("audit.path names a SQLite file, but the store is %s: the trail is kept there (remove audit.path)", st)
	}
	return audit.OpenShared(context.Background(), cfg.Audit, st.db, st.dataDir, log)
}
