package stdio

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/txntoken"
)

// WithCredential returns a tools/call request as it goes to a stdio server:
// with the call's per-call token in params._meta["toolgate/txn-token"] and
// an exchanged access token in params._meta["toolgate/access-token"]
// (txntoken.MetaKey, txntoken.AccessTokenMetaKey). Whatever the client put
// under those keys is removed, with or without a credential: only toolgate
// puts a credential there. The arguments are not touched, so the token's
// input_sha256 still matches them.
func WithCredential(raw []byte, cred *call.Credential) ([]byte, error) {
	if cred == nil && !bytes.Contains(raw, []byte("toolgate/")) {
		return raw, nil // nothing to add, nothing to remove: the common case
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msg); err != nil {
		return nil, err
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(msg["params"], &params); err != nil || params == nil {
		return nil, errors.New("the tools/call has no params object")
	}
	meta := map[string]json.RawMessage{}
	if m, ok := params["_meta"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &meta); err != nil || meta == nil {
			return nil, errors.New("the tools/call's params._meta is not an object")
		}
	}
	delete(meta, txntoken.MetaKey)
	delete(meta, txntoken.AccessTokenMetaKey)
	if cred != nil && cred.Token != "" {
		meta[txntoken.MetaKey], _ = json.Marshal(cred.Token)
	}
	if cred != nil && cred.AccessToken != "" {
		meta[txntoken.AccessTokenMetaKey], _ = json.Marshal(cred.AccessToken)
	}
	var err error
	if len(meta) == 0 {
		delete(params, "_meta")
	} else if params["_meta"], err = encodeRaw(meta); err != nil {
		return nil, err
	}
	if msg["params"], err = encodeRaw(params); err != nil {
		return nil, err
	}
	return encodeRaw(msg)
}

// encodeRaw marshals without HTML escaping, so that the arguments keep
// their characters as the client wrote them.
func encodeRaw(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
