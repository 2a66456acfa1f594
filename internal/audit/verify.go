package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/toolgate/toolgate/internal/store"
)

// Kinds of problems verify finds.
const (
	ProblemMalformed    = "malformed" // a record or checkpoint cannot be read
	ProblemEdited       = "edited"    // a record's bytes changed
	ProblemMissing      = "missing"   // records were deleted from the middle
	ProblemReordered    = "reordered" // a record is not where its seq says
	ProblemTruncated    = "truncated" // records a checkpoint signs are gone from the end
	ProblemBadSignature = "bad_signature"
	ProblemRewritten    = "rewritten" // a signed record differs from what its checkpoint signed
)

// Problem is one inconsistency. Seq is the first record it concerns.
type Problem struct {
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Report is the result of verifying a trail.
type Report struct {
	OK          bool   `json:"ok"`
	Records     uint64 `json:"records"`
	LastSeq     uint64 `json:"last_seq"`
	Checkpoints int    `json:"checkpoints"`
	// LastCheckpoint is the seq the newest valid checkpoint signs.
	LastCheckpoint uint64 `json:"last_checkpoint"`
	// Unsigned counts the records after the last checkpoint. They chain
	// correctly, but nothing signed says the trail went on to them, so
	// verify cannot tell whether records after them were removed.
	Unsigned uint64 `json:"unsigned"`
	// Durability lists the audit.durability modes the valid checkpoints
	// were signed under ("flush", "os"; checkpoints older than the
	// setting count as "flush").
	Durability []string `json:"durability,omitempty"`
	// FirstBad is the first record verify finds wrong (0 if none).
	FirstBad uint64    `json:"first_bad,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

// maxProblems bounds the report: past the first few, later problems are
// mostly echoes of the first.
const maxProblems = 100

// Verify checks the hash chain of every record and every checkpoint's
// signature (against keys) and hash.
func Verify(ctx context.Context, log store.AuditLog, keys []ed25519.PublicKey) (*Report, error) {
	rep := &Report{}
	add := func(seq uint64, kind, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
		}
	}
	byID := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		byID[KeyID(k)] = k
	}

	// Checkpoints first: the good ones say what the records must hash to.
	signed := map[uint64]string{}
	var signedSeqs []uint64
	err := log.AuditCheckpoints(ctx, func(c *store.AuditCheckpoint) error {
		rep.Checkpoints++
		var cp Checkpoint
		if err := strictJSON(c.Body, &cp); err != nil || cp.Type != "checkpoint" || cp.Seq != c.Seq || len(cp.Hash) != len(GenesisHash) {
			add(c.Seq, ProblemMalformed, "checkpoint %d cannot be read or does not match its position", c.Seq)
			return nil
		}
		k, ok := byID[cp.KeyID]
		if !ok {
			add(c.Seq, ProblemBadSignature, "checkpoint %d is signed by key %s, which is not a trusted key", c.Seq, cp.KeyID)
			return nil
		}
		if !ed25519.Verify(k, c.Body, c.Signature) {
			add(c.Seq, ProblemBadSignature, "checkpoint %d has an invalid signature: it was forged or changed", c.Seq)
			return nil
		}
		signed[cp.Seq] = cp.Hash
		signedSeqs = append(signedSeqs, cp.Seq)
		mode := cp.Durability
		if mode == "" {
			mode = DurabilityFlush
		}
		if !slices.Contains(rep.Durability, mode) {
			rep.Durability = append(rep.Durability, mode)
			slices.Sort(rep.Durability)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(signedSeqs, func(i, j int) bool { return signedSeqs[i] < signedSeqs[j] })

	expect := uint64(1)
	prevHash := GenesisHash
	prevOK := true        // the previous record was read and is where it belongs
	lastGood := uint64(0) // the newest checkpoint that matched
	// Checkpoint mismatches are reported only where no more specific
	// problem (an edit that broke the chain, a deletion) explains them.
	var rewritten []Problem
	var rewrittenTo []uint64
	err = log.ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
		rep.Records++
		if e.Seq < expect {
			// Only an archive can hold a record twice (the database's seq
			// is a key).
			add(e.Seq, ProblemReordered, "record %d appears again after record %d: records were copied or moved", e.Seq, expect-1)
			prevOK = false
			return nil
		}
		rep.LastSeq = e.Seq
		if e.Seq != expect {
			if expect+1 == e.Seq {
				add(expect, ProblemMissing, "record %d is missing: it was deleted", expect)
			} else {
				add(expect, ProblemMissing, "records %d to %d are missing: they were deleted", expect, e.Seq-1)
			}
			prevOK = false
		}
		expect = e.Seq + 1
		hash := HashOf(e.Body).String()
		defer func() { prevHash = hash }()
		h, err := ParseHeader(e.Body)
		if err != nil {
			add(e.Seq, ProblemMalformed, "record %d cannot be read: %v", e.Seq, err)
			prevOK = false
			return nil
		}
		if h.Seq != e.Seq {
			add(e.Seq, ProblemReordered, "record %d holds record %d: records were moved", e.Seq, h.Seq)
			prevOK = false
			return nil
		}
		if h.Type != "decision" && h.Type != "outcome" {
			add(e.Seq, ProblemMalformed, "record %d has an unknown type %q", e.Seq, h.Type)
		}
		if prevOK && h.PrevHash != prevHash {
			if e.Seq == 1 {
				add(1, ProblemEdited, "record 1 does not start the chain (its prev_hash is not the genesis hash)")
			} else {
				add(e.Seq-1, ProblemEdited, "record %d was changed: it does not match the hash that record %d holds of it", e.Seq-1, e.Seq)
			}
		}
		prevOK = true
		if want, ok := signed[e.Seq]; ok {
			if want != hash {
				rewritten = append(rewritten, Problem{Seq: lastGood + 1, Kind: ProblemRewritten,
					Message: fmt.Sprintf("record %d differs from the one checkpoint %d signed: records %d to %d were rewritten", e.Seq, e.Seq, lastGood+1, e.Seq)})
				rewrittenTo = append(rewrittenTo, e.Seq)
			} else {
				lastGood = e.Seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, rw := range rewritten {
		explained := false
		for _, p := range rep.Problems {
			explained = explained || (p.Seq >= rw.Seq && p.Seq <= rewrittenTo[i])
		}
		if !explained {
			add(rw.Seq, rw.Kind, "%s", rw.Message)
		}
	}
	for _, s := range signedSeqs {
		if s > rep.LastSeq {
			add(rep.LastSeq+1, ProblemTruncated, "the trail was truncated: checkpoint %d signs record %d, but the trail ends at record %d", s, s, rep.LastSeq)
			break
		}
	}
	if n := len(signedSeqs); n > 0 {
		rep.LastCheckpoint = signedSeqs[n-1]
	}
	if rep.LastSeq > rep.LastCheckpoint {
		rep.Unsigned = rep.LastSeq - rep.LastCheckpoint
	}
	if len(rep.Problems) > 0 {
		sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
		rep.FirstBad = rep.Problems[0].Seq
		if rep.FirstBad == 0 {
			rep.FirstBad = 1
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// strictJSON decodes b into v, refusing unknown members and trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
