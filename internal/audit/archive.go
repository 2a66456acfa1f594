package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/toolgate/toolgate/internal/store"
)

// An archive is the whole trail as JSON lines, for archiving and for a
// SIEM: every record as its exact stored bytes (each starts with
// {"seq":N,"prev_hash":…), and after the record a checkpoint covers, the
// checkpoint as {"checkpoint": "<its exact bytes>", "signature": "<base64>"}.
// Nothing is re-encoded, so `toolgate audit verify --archive FILE` checks the
// chain and the signatures from the file alone, without the database.

// archiveCheckpoint is a checkpoint line of an archive.
type archiveCheckpoint struct {
	Checkpoint string `json:"checkpoint"`
	Signature  string `json:"signature"`
}

// WriteArchive writes the whole trail to w and reports how many records and
// checkpoints it wrote.
func WriteArchive(ctx context.Context, log store.AuditLog, w io.Writer) (records, checkpoints int, err error) {
	var cps []*store.AuditCheckpoint
	if err := log.AuditCheckpoints(ctx, func(c *store.AuditCheckpoint) error {
		cps = append(cps, c)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	bw := bufio.NewWriter(w)
	writeCheckpoints := func(upTo uint64) error {
		for len(cps) > 0 && cps[0].Seq <= upTo {
			line, err := json.Marshal(archiveCheckpoint{Checkpoint: string(cps[0].Body), Signature: base64.StdEncoding.EncodeToString(cps[0].Signature)})
			if err != nil {
				return err
			}
			bw.Write(line)
			bw.WriteByte('\n')
			cps = cps[1:]
			checkpoints++
		}
		return nil
	}
	err = log.ScanAudit(ctx, store.AuditFilter{}, func(e *store.AuditEntry) error {
		if bytes.ContainsAny(e.Body, "\n\r") {
			return fmt.Errorf("record %d holds a line break and cannot be archived as one line", e.Seq)
		}
		bw.Write(e.Body)
		bw.WriteByte('\n')
		records++
		return writeCheckpoints(e.Seq)
	})
	if err != nil {
		return records, checkpoints, err
	}
	// Checkpoints past the last record (a truncated trail) go out too, so
	// that verify reports the truncation.
	if err := writeCheckpoints(^uint64(0)); err != nil {
		return records, checkpoints, err
	}
	return records, checkpoints, bw.Flush()
}

// Archive is an archive file read as a trail (read only), so that Verify
// runs on it as on the database.
type Archive struct{ path string }

// OpenArchive opens an archive file for reading.
func OpenArchive(path string) (*Archive, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &Archive{path: path}, nil
}

// maxArchiveLine bounds one line of an archive.
const maxArchiveLine = 16 << 20

// lines calls fn for each line of the archive with its 1-based number.
func (a *Archive) lines(fn func(n int, line []byte) error) error {
	f, err := os.Open(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxArchiveLine)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

func isCheckpointLine(line []byte) bool { return bytes.HasPrefix(line, []byte(`{"checkpoint":`)) }

// ScanAudit yields every record line of the archive, as the database
// would hold it. In the database a record's place (its row's seq) and what
// it says (the seq in its body) are two things, which is how verify tells a
// moved record from a deleted one. An archive has only the order of its
// lines, so the places are the sequence numbers the records claim, sorted,
// given out in line order: records that swapped lines are each at the other's
// place ("record 3 holds record 4"), a deleted record leaves its number
// out. A line that is not a record takes the place after the previous one,
// so that Verify reports it as malformed rather than skipping it.
func (a *Archive) ScanAudit(_ context.Context, f store.AuditFilter, fn func(*store.AuditEntry) error) error {
	if f != (store.AuditFilter{}) {
		return errors.New("audit: an archive can only be read whole")
	}
	var places []uint64
	err := a.lines(func(_ int, line []byte) error {
		if h, err := ParseHeader(line); err == nil && !isCheckpointLine(line) {
			places = append(places, h.Seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(places)
	var last uint64
	return a.lines(func(_ int, line []byte) error {
		if isCheckpointLine(line) {
			return nil
		}
		seq := last + 1
		if _, err := ParseHeader(line); err == nil && len(places) > 0 {
			seq, places = places[0], places[1:]
		}
		last = seq
		return fn(&store.AuditEntry{Seq: seq, Body: bytes.Clone(line)})
	})
}

// AuditCheckpoints yields the checkpoint lines of the archive.
func (a *Archive) AuditCheckpoints(_ context.Context, fn func(*store.AuditCheckpoint) error) error {
	return a.lines(func(n int, line []byte) error {
		if !isCheckpointLine(line) {
			return nil
		}
		var ac archiveCheckpoint
		if err := strictJSON(line, &ac); err != nil {
			return fmt.Errorf("archive line %d: not a checkpoint: %v", n, err)
		}
		sig, err := base64.StdEncoding.DecodeString(ac.Signature)
		if err != nil {
			return fmt.Errorf("archive line %d: checkpoint signature: %v", n, err)
		}
		var cp Checkpoint
		_ = json.Unmarshal([]byte(ac.Checkpoint), &cp) // Verify judges the body
		return fn(&store.AuditCheckpoint{Seq: cp.Seq, Body: []byte(ac.Checkpoint), Signature: sig})
	})
}

var errArchiveReadOnly = errors.New("audit: an archive is read only")

// AppendAudit refuses: an archive is not a trail to write.
func (a *Archive) AppendAudit(context.Context, func(store.AuditHead) (store.AuditBatch, error)) error {
	return errArchiveReadOnly
}

// AuditCursor and SetAuditCursor refuse: exporters do not read archives.
func (a *Archive) AuditCursor(context.Context, string) (uint64, error) { return 0, errArchiveReadOnly }
func (a *Archive) SetAuditCursor(context.Context, string, uint64) error {
	return errArchiveReadOnly
}

var _ store.AuditLog = (*Archive)(nil)
