package stdio

import (
	"encoding/json"
	"errors"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/jsonrpc"
	"github.com/toolgate/toolgate/txntoken"
)

// CredentialMeta is the params._meta of an allowed tools/call to a stdio
// server: the per-call token under txntoken.MetaKey and an exchanged access
// token under txntoken.AccessTokenMetaKey (nil for no credential).
func CredentialMeta(cred *call.Credential) map[string]string {
	if cred == nil {
		return nil
	}
	meta := map[string]string{}
	if cred.Token != "" {
		meta[txntoken.MetaKey] = cred.Token
	}
	if cred.AccessToken != "" {
		meta[txntoken.AccessTokenMetaKey] = cred.AccessToken
	}
	return meta
}

// WithCredential returns a tools/call request (toolgate's encoding) as it
// goes to a stdio server: with the call's credential in params._meta
// (CredentialMeta). Every reserved key (gate.IsReserved, any letter case)
// is removed first, with or without a credential: only toolgate puts a
// credential there. The arguments are not touched, so the token's
// input_sha256 still matches them.
func WithCredential(raw []byte, cred *call.Credential) ([]byte, error) {
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
	for k := range meta {
		if gate.IsReserved(k) {
			delete(meta, k)
		}
	}
	for k, v := range CredentialMeta(cred) {
		meta[k], _ = json.Marshal(v)
	}
	var err error
	if len(meta) == 0 {
		delete(params, "_meta")
	} else if params["_meta"], err = jsonrpc.Marshal(meta); err != nil {
		return nil, err
	}
	if msg["params"], err = jsonrpc.Marshal(params); err != nil {
		return nil, err
	}
	return jsonrpc.Marshal(msg)
}
