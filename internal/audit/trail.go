package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/sqlite"
)

func init() { Register("sqlite", openSQLite) }

// ErrClosed is returned by writes to a closed trail.
var ErrClosed = errors.New("audit: the trail is closed")

// maxBatch bounds one group commit, so one transaction stays short.
const maxBatch = 2048

// outcomeLinger is how long outcome records (which nobody waits for) wait
// for a decision record to share their commit.
const outcomeLinger = 5 * time.Millisecond

// maxRetained bounds the outcome records kept for retry after failed
// commits; past it the oldest are dropped (and logged).
const maxRetained = 10000

// Trail is the tamper-evident audit trail: a hash chain of records in a
// store, signed by checkpoints. Concurrent writes are group-committed: one
// goroutine appends everything waiting in one transaction, and each
// WriteDecision returns once the transaction holding its record committed.
type Trail struct {
	log     store.AuditLog
	closer  func() error // closes the store, if the trail opened it
	red     *Redactor
	key     ed25519.PrivateKey
	every   int
	ival    time.Duration
	logger  *slog.Logger
	now     func() time.Time
	started time.Time

	// durability is DurabilityFlush or DurabilityOS. With "os", flush makes
	// what was committed durable; the flusher calls it every FlushInterval
	// once something was committed since the last flush.
	durability string
	flush      func() error
	committed  atomic.Uint64 // commits that added records
	flushStop  chan struct{}
	flushDone  chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *pending
	done   chan struct{}

	errMu    sync.Mutex
	err      error // the last commit's error; nil once a commit succeeds
	flushErr error // the last flush's error ("os"); nil once a flush succeeds

	exporters []*Exporter
}

// pending is a record waiting for the writer.
type pending struct {
	entry   store.AuditEntry // Seq and Body are set by the writer
	payload []byte           // the record's JSON, without seq and prev_hash
	done    chan error       // nil for outcomes: nobody waits for them
}

// TrailOptions are what a Trail needs besides its store.
type TrailOptions struct {
	Redactor   *Redactor
	SigningKey ed25519.PrivateKey
	Checkpoint CheckpointConfig
	Logger     *slog.Logger
	// Durability is Config.Durability ("" is "flush"). "os" needs Flush.
	Durability string
	// Flush makes every commit made before it started durable (for "os").
	Flush func() error
	// Now is the clock (tests).
	Now func() time.Time
}

// NewTrail starts a trail on an open store.
func NewTrail(log store.AuditLog, opt TrailOptions) (*Trail, error) {
	if opt.Redactor == nil || opt.SigningKey == nil {
		return nil, errors.New("audit: a trail needs a redactor and a signing key")
	}
	mode, err := Config{Durability: opt.Durability}.DurabilityMode()
	if err != nil {
		return nil, err
	}
	if mode == DurabilityOS && opt.Flush == nil {
		return nil, errors.New("audit: durability \"os\" needs a store whose commits can be flushed later")
	}
	t := &Trail{
		log: log, red: opt.Redactor, key: opt.SigningKey,
		every: opt.Checkpoint.Records, ival: opt.Checkpoint.Interval,
		logger: opt.Logger, now: opt.Now,
		reqs: make(chan *pending, 4*maxBatch), done: make(chan struct{}),
		durability: mode,
	}
	if t.every <= 0 {
		t.every = DefaultCheckpointRecords
	}
	if t.ival <= 0 {
		t.ival = DefaultCheckpointInterval
	}
	if t.logger == nil {
		t.logger = slog.Default() // failures must be seen somewhere
	}
	if t.now == nil {
		t.now = time.Now
	}
	t.started = t.now()
	if mode == DurabilityOS {
		t.flush = opt.Flush
		t.flushStop, t.flushDone = make(chan struct{}), make(chan struct{})
		go t.flusher()
	}
	go t.run()
	return t, nil
}

// Durability is the trail's durability mode: DurabilityFlush or
// DurabilityOS.
func (t *Trail) Durability() string { return t.durability }

// flusher flushes, every FlushInterval, what was committed since the last
// flush (durability "os").
func (t *Trail) flusher() {
	defer close(t.flushDone)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	var flushed uint64
	for {
		select {
		case <-t.flushStop:
			return
		case <-tick.C:
		}
		if n := t.committed.Load(); n != flushed && t.flushNow() == nil {
			flushed = n
		}
	}
}

// flushNow flushes and records the outcome: while flushes fail, records
// are refused (see commit), as when they cannot be committed.
func (t *Trail) flushNow() error {
	err := t.flush()
	t.errMu.Lock()
	prev := t.flushErr
	t.flushErr = err
	t.errMu.Unlock()
	switch {
	case err != nil && prev == nil:
		t.logger.Error("audit: cannot flush the trail; calls are denied until it can", "error", err)
	case err == nil && prev != nil:
		t.logger.Info("audit: the trail can be flushed again")
	}
	return err
}

// DBPath is where the sqlite sink keeps its database.
func DBPath(cfg Config, dataDir string) (string, error) {
	if cfg.Path != "" {
		return cfg.Path, nil
	}
	if dataDir == "" {
		return "", errors.New("audit: no path for the sqlite sink and no data directory")
	}
	return filepath.Join(dataDir, sqlite.FileName), nil
}

// openSQLite is the "sqlite" sink: the trail in the data directory's
// database, keys beside it.
func openSQLite(cfg Config, dataDir string) (Sink, error) {
	return OpenSQLite(cfg, dataDir, nil)
}

// OpenLogged is Open with a logger for the sink's own messages (the trail
// failing and recovering, export retries); sinks that have none ignore it.
func OpenLogged(cfg Config, dataDir string, logger *slog.Logger) (Sink, error) {
	if cfg.Sink == "" || cfg.Sink == "sqlite" {
		return OpenSQLite(cfg, dataDir, logger)
	}
	return Open(cfg, dataDir)
}

// OpenSQLite opens the sqlite trail and starts its exporters; logger may be
// nil.
func OpenSQLite(cfg Config, dataDir string, logger *slog.Logger) (*Trail, error) {
	path, err := DBPath(cfg, dataDir)
	if err != nil {
		return nil, err
	}
	keyDir := dataDir
	if keyDir == "" {
		keyDir = filepath.Dir(path)
	}
	redKey, err := LoadOrCreateRedactionKey(keyDir)
	if err != nil {
		return nil, err
	}
	red, err := NewRedactor(cfg.Redact, redKey)
	if err != nil {
		return nil, err
	}
	sig, err := LoadOrCreateSigningKey(keyDir)
	if err != nil {
		return nil, err
	}
	mode, err := cfg.DurabilityMode()
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(path, sqlite.Options{NoSync: mode == DurabilityOS})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	t, err := startTrail(cfg, db, red, sig, keyDir, logger, db.SyncWAL)
	if err != nil {
		db.Close()
		return nil, err
	}
	t.closer = db.Close
	return t, nil
}

// SharedStore is a store that replicas share: the trail and its keys.
type SharedStore interface {
	store.AuditLog
	store.Docs
}

// OpenShared opens the trail in a store that replicas share (PostgreSQL),
// with the signing and redaction keys kept in the store too, so every
// replica signs checkpoints of the one trail with the same key and redacts
// the same value to the same token. The caller closes db after the trail.
// dataDir is where relative export paths point.
func OpenShared(ctx context.Context, cfg Config, db SharedStore, dataDir string, logger *slog.Logger) (*Trail, error) {
	if mode, err := cfg.DurabilityMode(); err != nil {
		return nil, err
	} else if mode != DurabilityFlush {
		return nil, fmt.Errorf("audit: durability %q is for a trail in the data directory; on a shared store every record is committed by the database (its synchronous_commit says how durably)", mode)
	}
	sig, redKey, err := LoadOrCreateSharedKeys(ctx, db)
	if err != nil {
		return nil, err
	}
	red, err := NewRedactor(cfg.Redact, redKey)
	if err != nil {
		return nil, err
	}
	return startTrail(cfg, db, red, sig, dataDir, logger, nil)
}

// startTrail starts a trail on log and the exporters cfg names.
func startTrail(cfg Config, log store.AuditLog, red *Redactor, sig ed25519.PrivateKey, dataDir string, logger *slog.Logger, flush func() error) (*Trail, error) {
	t, err := NewTrail(log, TrailOptions{Redactor: red, SigningKey: sig, Checkpoint: cfg.Checkpoint, Logger: logger,
		Durability: cfg.Durability, Flush: flush})
	if err != nil {
		return nil, err
	}
	if o := cfg.Export.OTLP; o != nil {
		xs, err := NewOTLPExporters(log, *o, logger)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.exporters = append(t.exporters, xs...)
	}
	if j := cfg.Export.JSONL; j != nil {
		x, err := NewJSONLExporter(log, *j, dataDir, logger)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.exporters = append(t.exporters, x)
	}
	return t, nil
}

// WriteDecision implements Sink: it returns once the record is committed.
func (t *Trail) WriteDecision(ctx context.Context, r *Record) error {
	p, err := t.decision(r)
	if err != nil {
		return err
	}
	p.done = make(chan error, 1)
	if err := t.enqueue(ctx, p); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The record may still be committed; the call will not run.
		return ctx.Err()
	}
}

// WriteOutcome implements Sink. The outcome is queued for the next group
// commit and not waited for: the call has already happened, and making its
// answer wait for an fsync would only add latency. Close flushes the queue.
func (t *Trail) WriteOutcome(ctx context.Context, o *OutcomeRecord) error {
	rec := *o
	rec.Type = "outcome"
	if rec.Error != "" {
		rec.Error, _ = t.red.Text(rec.Error)
	}
	payload, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("audit: encode outcome: %w", err)
	}
	p := &pending{payload: payload, entry: store.AuditEntry{
		Kind: "outcome", DecisionID: rec.DecisionID, Time: rec.Time, Status: string(rec.Status),
	}}
	return t.enqueue(ctx, p)
}

// decision redacts and encodes a decision record.
func (t *Trail) decision(r *Record) (*pending, error) {
	rec := redactRecord(t.red, r)
	payload, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("audit: encode decision: %w", err)
	}
	return &pending{payload: payload, entry: store.AuditEntry{
		Kind: "decision", DecisionID: rec.DecisionID, Time: rec.Time,
		Principal: rec.Principal.ID, OnBehalfOf: rec.OnBehalfOf, TaskID: rec.TaskID,
		Server: rec.Server, Tool: rec.Tool, Effect: string(rec.Effect),
	}}, nil
}

// redactRecord returns a redacted copy of r. The caller's record (and the
// call's arguments it points to) stay as they are: the policy engine and the
// upstream see the real arguments; only the trail gets the redacted ones.
func redactRecord(red *Redactor, r *Record) *Record {
	rec := *r
	rec.Type = "decision"
	rec.Time = rec.Time.UTC()
	rec.Arguments = red.Arguments(r.Server, r.Tool, r.Arguments)
	rec.Purpose, _ = red.Text(rec.Purpose)
	if reasonsNeedRedaction(red, rec.Reasons) {
		rec.Reasons = append([]call.Reason(nil), rec.Reasons...)
		for i := range rec.Reasons {
			rec.Reasons[i].Message, _ = red.Text(rec.Reasons[i].Message)
		}
	}
	if diagnosticsNeedRedaction(red, rec.Diagnostics) {
		rec.Diagnostics = append([]call.Diagnostic(nil), rec.Diagnostics...)
		for i := range rec.Diagnostics {
			rec.Diagnostics[i].Message, _ = red.Text(rec.Diagnostics[i].Message)
		}
	}
	if rec.Approval != nil && rec.Approval.Comment != "" {
		a := *rec.Approval
		a.Comment, _ = red.Text(a.Comment)
		rec.Approval = &a
	}
	return &rec
}

func (t *Trail) enqueue(ctx context.Context, p *pending) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	select {
	case t.reqs <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Probe checks that the trail can be written now, not only that the last
// write worked: it goes through the writer and the store's write
// transaction, with the checks every append makes (the trail was not
// truncated), and adds no record. Concurrent probes share a commit with
// each other and with the records being written. /readyz calls it.
func (t *Trail) Probe(ctx context.Context) error {
	p := &pending{done: make(chan error, 1)}
	if err := t.enqueue(ctx, p); err != nil {
		return fmt.Errorf("audit trail cannot be written: %w", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("audit trail cannot be written: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("audit trail cannot be written: no commit within the probe's time: %w", ctx.Err())
	}
	if t.flush != nil {
		if err := t.flushNow(); err != nil {
			return fmt.Errorf("audit trail cannot be flushed: %w", err)
		}
	}
	return nil
}

// Healthy reports why the last write of the trail failed, or nil.
func (t *Trail) Healthy() error {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	if t.err != nil {
		return fmt.Errorf("audit trail cannot be written: %w", t.err)
	}
	if t.flushErr != nil {
		return fmt.Errorf("audit trail cannot be flushed: %w", t.flushErr)
	}
	return nil
}

// Close flushes every queued record, signs a final checkpoint, stops the
// exporters and closes the store it opened.
func (t *Trail) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.reqs)
	t.mu.Unlock()
	<-t.done
	if t.flush != nil {
		close(t.flushStop)
		<-t.flushDone
		t.flushNow() // what the last commits wrote; Healthy reports a failure
	}
	for _, x := range t.exporters {
		x.Close()
	}
	err := t.Healthy()
	if t.closer != nil {
		if cerr := t.closer(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// run is the writer: it takes everything queued, appends it in one
// transaction, and answers each waiting writer.
func (t *Trail) run() {
	defer close(t.done)
	tick := time.NewTicker(t.ival)
	defer tick.Stop()
	var retained []*pending // outcomes of failed commits, retried first
	unsigned := true        // records this process wrote may lack a checkpoint
	batch := make([]*pending, 0, maxBatch)
	for {
		batch = append(batch[:0], retained...)
		retained = retained[:0]
		open := true
		select {
		case p, ok := <-t.reqs:
			if !ok {
				open = false
				break
			}
			batch = append(batch, p)
			open = t.gather(&batch)
		case <-tick.C:
			if len(batch) == 0 && !unsigned {
				continue // nothing to write and nothing to sign
			}
		}
		left, err := t.commit(batch, !open)
		if err == nil {
			unsigned = left
		}
		if err != nil {
			for _, p := range batch {
				if p.done == nil {
					retained = append(retained, p)
				}
			}
			if n := len(retained) - maxRetained; n > 0 {
				t.logger.Error("audit: dropping outcome records that could not be written", "count", n, "error", err)
				retained = retained[n:]
			}
		}
		for _, p := range batch {
			if p.done != nil {
				p.done <- err
			}
		}
		if !open {
			if len(retained) > 0 {
				t.logger.Error("audit: outcome records lost at close", "count", len(retained), "error", err)
			}
			return
		}
	}
}

// gather adds to batch what is queued. When nobody waits for anything in
// the batch (only outcome records), it waits up to outcomeLinger for a
// decision to share the commit with: a lone caller's outcome and its next
// call's decision then cost one commit, not two, and that next decision
// does not queue behind a commit of outcomes. It reports whether the queue
// is still open.
func (t *Trail) gather(batch *[]*pending) bool {
	var linger <-chan time.Time
	for len(*batch) < maxBatch {
		select {
		case p, ok := <-t.reqs:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
			continue
		default:
		}
		if waited(*batch) {
			return true
		}
		if linger == nil {
			linger = time.After(outcomeLinger)
		}
		select {
		case p, ok := <-t.reqs:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
		case <-linger:
			return true
		}
	}
	return true
}

// waited tells whether a writer waits for a record of batch.
func waited(batch []*pending) bool {
	for _, p := range batch {
		if p.done != nil {
			return true
		}
	}
	return false
}

// commit appends batch (possibly empty) and, when due, a checkpoint; final
// forces a checkpoint over everything not yet signed. It reports whether
// records remain that no checkpoint signs.
func (t *Trail) commit(batch []*pending, final bool) (bool, error) {
	t.errMu.Lock()
	flushErr := t.flushErr
	t.errMu.Unlock()
	if flushErr != nil && t.flushNow() != nil {
		// Records committed now could not be made durable within the
		// promised interval: refuse them, like records that cannot be
		// committed (their calls are denied).
		return false, fmt.Errorf("the trail cannot be flushed: %w", flushErr)
	}
	now := t.now().UTC()
	unsignedLeft := false
	added := false
	err := t.log.AppendAudit(context.Background(), func(head store.AuditHead) (store.AuditBatch, error) {
		var out store.AuditBatch
		seq, prev, last := uint64(0), GenesisHash, Hash{}
		if head.Last != nil {
			last = HashOf(head.Last.Body)
			seq, prev = head.Last.Seq, last.String()
		}
		// The interval counts from the last checkpoint, or from this
		// trail's start if that is later (or there is none yet).
		signedSeq, signedAt := uint64(0), t.started
		if c := head.LastCheckpoint; c != nil {
			signedSeq = c.Seq
			if c.Time.After(signedAt) {
				signedAt = c.Time
			}
		}
		if seq < signedSeq {
			// The trail ends before its last checkpoint: it was truncated.
			// Appending would hide that; refuse, and let verify say why.
			return out, fmt.Errorf("the trail ends at record %d but a checkpoint signs record %d: it was truncated; run toolgate audit verify", seq, signedSeq)
		}
		out.Entries = make([]store.AuditEntry, 0, len(batch))
		for _, p := range batch {
			if p.payload == nil {
				continue // a probe: it only waits for the commit
			}
			seq++
			e := p.entry
			e.Seq = seq
			e.Body = chainLine(seq, prev, p.payload)
			last = HashOf(e.Body)
			prev = last.String()
			out.Entries = append(out.Entries, e)
		}
		if n := seq - signedSeq; n > 0 && (final || n >= uint64(t.every) || now.Sub(signedAt) >= t.ival) {
			body, sig, err := signCheckpoint(t.key, seq, last, now, t.durability)
			if err != nil {
				return out, err
			}
			out.Checkpoint = &store.AuditCheckpoint{Seq: seq, Time: now, Body: body, Signature: sig}
		}
		unsignedLeft = out.Checkpoint == nil && seq > signedSeq
		added = len(out.Entries) > 0 || out.Checkpoint != nil
		return out, nil
	})
	if err == nil && added {
		t.committed.Add(1)
	}
	t.errMu.Lock()
	prevErr := t.err
	t.err = err
	t.errMu.Unlock()
	switch {
	case err != nil && prevErr == nil:
		t.logger.Error("audit: cannot write the trail; calls are denied until it can", "error", err)
	case err == nil && prevErr != nil:
		t.logger.Info("audit: the trail can be written again")
	}
	return unsignedLeft, err
}

func reasonsNeedRedaction(r *Redactor, rs []call.Reason) bool {
	for _, x := range rs {
		if _, ch := r.Text(x.Message); ch {
			return true
		}
	}
	return false
}

func diagnosticsNeedRedaction(r *Redactor, ds []call.Diagnostic) bool {
	for _, x := range ds {
		if _, ch := r.Text(x.Message); ch {
			return true
		}
	}
	return false
}
