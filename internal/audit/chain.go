package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The record format (contract, docs/audit.md): each record is one JSON
// object, stored and exported byte for byte, whose first two members are
//
//	{"seq":N,"prev_hash":"<hex SHA-256 of record N-1's bytes>", …}
//
// followed by the members of the decision or outcome record. Record 1's
// prev_hash is GenesisHash. A record's hash is the SHA-256 of its exact bytes,
// so anyone can check the chain without re-encoding anything.

// GenesisHash is the prev_hash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Hash is the SHA-256 of a record's bytes.
type Hash [sha256.Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// HashOf returns the hash of a record's bytes.
func HashOf(line []byte) Hash { return sha256.Sum256(line) }

// chainLine puts seq and prev in front of a record's JSON object (payload,
// which must start with '{').
func chainLine(seq uint64, prev string, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+100)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev_hash":"`...)
	b = append(b, prev...)
	b = append(b, '"')
	if rest := payload[1:]; len(bytes.TrimSpace(rest)) > 1 { // not "}"
		b = append(b, ',')
	}
	return append(b, payload[1:]...)
}

// Header is what verify, queries and exporters read from every record.
type Header struct {
	Seq        uint64 `json:"seq"`
	PrevHash   string `json:"prev_hash"`
	Type       string `json:"type"`
	DecisionID string `json:"decision_id"`
	Time       time.Time
}

// ParseHeader reads the chain members of a stored record. It is strict
// where the chain depends on it: seq and prev_hash must be the first two
// members, in that order, as chainLine writes them, so two encodings of one
// record cannot both verify.
func ParseHeader(line []byte) (Header, error) {
	var h Header
	prefix := []byte(`{"seq":`)
	if !bytes.HasPrefix(line, prefix) {
		return h, errors.New(`record does not start with its "seq" member`)
	}
	rest := line[len(prefix):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 20 || (i > 1 && rest[0] == '0') {
		return h, errors.New("record has a malformed seq")
	}
	seq, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return h, fmt.Errorf("record has a malformed seq: %w", err)
	}
	rest = rest[i:]
	pp := []byte(`,"prev_hash":"`)
	if !bytes.HasPrefix(rest, pp) || len(rest) < len(pp)+len(GenesisHash)+1 {
		return h, errors.New("record has no prev_hash after seq")
	}
	prev := rest[len(pp) : len(pp)+len(GenesisHash)]
	if rest[len(pp)+len(GenesisHash)] != '"' {
		return h, errors.New("record has a malformed prev_hash")
	}
	if _, err := hex.DecodeString(string(prev)); err != nil || bytes.ContainsAny(prev, "ABCDEF") {
		return h, errors.New("record's prev_hash is not lower-case hex")
	}
	var body struct {
		Seq        uint64    `json:"seq"`
		Type       string    `json:"type"`
		DecisionID string    `json:"decision_id"`
		Time       time.Time `json:"time"`
	}
	if err := json.Unmarshal(line, &body); err != nil {
		return h, fmt.Errorf("record is not valid JSON: %w", err)
	}
	if body.Seq != seq {
		return h, errors.New("record has seq twice")
	}
	h.Seq, h.PrevHash, h.Type, h.DecisionID, h.Time = seq, string(prev), body.Type, body.DecisionID, body.Time
	return h, nil
}

// Checkpoint is the signed statement that the trail's record Seq has hash
// Hash (and so, through the chain, every record before it).
type Checkpoint struct {
	Type  string    `json:"type"` // "checkpoint"
	Seq   uint64    `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	KeyID string    `json:"key_id"`
	// Durability is the audit.durability of the process that signed the
	// checkpoint ("flush" or "os"); empty in checkpoints written before the
	// setting existed, which were all "flush".
	Durability string `json:"durability,omitempty"`
}

// signCheckpoint returns the checkpoint's bytes and their Ed25519 signature.
// The signature is over the exact bytes, which are stored beside it.
func signCheckpoint(key ed25519.PrivateKey, seq uint64, h Hash, t time.Time, durability string) ([]byte, []byte, error) {
	body, err := json.Marshal(Checkpoint{Type: "checkpoint", Seq: seq, Hash: h.String(), Time: t.UTC(), KeyID: KeyID(key.Public().(ed25519.PublicKey)), Durability: durability})
	if err != nil {
		return nil, nil, err
	}
	return body, ed25519.Sign(key, body), nil
}
