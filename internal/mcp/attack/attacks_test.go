package attack

import (
	"strconv"
	"strings"
)

// attack is one attempt: messages a client sends after initializing. Each
// message is one line over stdio, one POST body over HTTP.
type attack struct {
	name  string
	class string
	// version is the protocol version the client asks for (batches need
	// 2025-03-26).
	version string
	msgs    []string
	// refused is how many tools/call sent as notifications must be
	// recorded as refused (mcp.notification_call).
	refused int
	// httpOnly: the message holds a raw line feed, which over stdio ends
	// the line before toolgate reads it whole.
	httpOnly bool
}

// hidden is a tools/call that no policy allows; a server that carries it
// out was reached by something toolgate did not judge.
const hidden = `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`

const hiddenNotification = `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`

// allowedCall is a call the policy allows, with extra params members.
func allowedCall(id, extra string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a"}` + extra + `}}`
}

func attacks() []attack {
	var as []attack
	add := func(class, name string, msgs ...string) *attack {
		as = append(as, attack{name: name, class: class, msgs: msgs})
		return &as[len(as)-1]
	}

	// 1. Requests that are not judged: tools/call without an id.
	add("notification", "tools/call as a notification", hiddenNotification).refused = 1
	add("notification", "an allowed tool as a notification", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a"}}}`).refused = 1
	add("notification", "escaped method name", `{"jsonrpc":"2.0","method":"tools\/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`).refused = 1
	add("notification", "unicode-escaped method name", `{"jsonrpc":"2.0","method":"tools\u002fcall","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`).refused = 1
	add("notification", "method in capitals", `{"jsonrpc":"2.0","method":"TOOLS/CALL","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("notification", "method with a trailing space", `{"jsonrpc":"2.0","method":"tools/call ","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("notification", "no params", `{"jsonrpc":"2.0","method":"tools/call"}`).refused = 1
	add("notification", "id null", `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("notification", "several in a row", hiddenNotification, hiddenNotification, hiddenNotification).refused = 3
	b := add("notification", "in a batch", `[`+hiddenNotification+`,{"jsonrpc":"2.0","id":1,"method":"ping"}]`)
	b.version, b.refused = "2025-03-26", 1
	b = add("notification", "a batch of notifications only", `[`+hiddenNotification+`,`+hiddenNotification+`]`)
	b.version, b.refused = "2025-03-26", 2
	add("notification", "a batch in a protocol without batches", `[`+hiddenNotification+`]`)
	add("notification", "a request method as a notification", `{"jsonrpc":"2.0","method":"vendor/exec","params":{"cmd":"rm -rf /"}}`)
	add("method", "a method no specification names", `{"jsonrpc":"2.0","id":5,"method":"vendor/exec","params":{"cmd":"rm -rf /"}}`)
	add("method", "a method in capitals", `{"jsonrpc":"2.0","id":6,"method":"Tools/Call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("method", "a response nobody asked for", `{"jsonrpc":"2.0","id":"srv-1","result":{"content":[]}}`, `{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"x"}}`)

	// 2. Framing smuggling: a second message where a lax reader splits.
	for _, sep := range []struct{ name, s string }{{"CR", "\r"}, {"CR CR", "\r\r"}, {"CR and spaces", " \r \t"}} {
		add("framing", "hidden after "+sep.name+" in an array of an allowed call",
			allowedCall("10", `,"z":[`+sep.s+hidden+sep.s+`]`))
		add("framing", "hidden after "+sep.name+" in a ping's params",
			`{"jsonrpc":"2.0","id":11,"method":"ping","params":{"z":[`+sep.s+hidden+sep.s+`]}}`)
		add("framing", "hidden after "+sep.name+" in a notification",
			`{"jsonrpc":"2.0","method":"notifications/initialized","params":{"z":[`+sep.s+hidden+sep.s+`]}}`)
		add("framing", "hidden notification after "+sep.name,
			`{"jsonrpc":"2.0","id":12,"method":"ping","params":{"z":[`+sep.s+hiddenNotification+sep.s+`]}}`)
		add("framing", "hidden after "+sep.name+" in the arguments",
			`{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a","z":[`+sep.s+hidden+sep.s+`]}}}`)
	}
	for _, lb := range []struct{ name, s string }{{"U+2028", "\u2028"}, {"U+2029", "\u2029"}, {"U+0085", "\u0085"}} {
		add("framing", "raw "+lb.name+" in an allowed call's string", allowedCall("14", `,"z":"a`+lb.s+`b"`))
		add("framing", "raw "+lb.name+" in an argument", `{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a`+lb.s+`"}}}`)
	}
	for _, lf := range []string{"\n", "\r\n", "\n\n"} {
		a := add("framing", "hidden after a raw "+strings.ReplaceAll(strings.ReplaceAll(lf, "\r", "CR"), "\n", "LF")+" in a notification body",
			`{"jsonrpc":"2.0","method":"notifications/initialized","params":{"z":[`+lf+hidden+lf+`]}}`)
		a.httpOnly = true
		a = add("framing", "hidden after a raw "+strings.ReplaceAll(strings.ReplaceAll(lf, "\r", "CR"), "\n", "LF")+" in an allowed call",
			allowedCall("16", `,"z":[`+lf+hidden+lf+`]`))
		a.httpOnly = true
	}

	// 2. Member names repeated in another letter case.
	add("case", "NAME beside name", `{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"read_file","NAME":"delete_file","arguments":{"path":"/safe/a"}}}`)
	add("case", "Name beside name", `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"Name":"delete_file","name":"read_file","arguments":{"path":"/safe/a"}}}`)
	add("case", "ARGUMENTS beside arguments", `{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a"},"ARGUMENTS":{"path":"/etc/passwd"}}}`)
	add("case", "Path beside path", `{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a","Path":"/etc/passwd"}}}`)
	add("case", "PARAMS beside params", allowedCall("24", "")[:len(allowedCall("24", ""))-1]+`,"PARAMS":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("case", "PARAMS alone", `{"jsonrpc":"2.0","id":25,"method":"tools/call","PARAMS":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("case", "NAME alone", `{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"NAME":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("case", "ARGUMENTS alone", `{"jsonrpc":"2.0","id":27,"method":"tools/call","params":{"name":"read_file","ARGUMENTS":{"path":"/etc/passwd"}}}`)
	add("case", "Method beside method", `{"jsonrpc":"2.0","id":28,"method":"ping","Method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("case", "METHOD alone", `{"jsonrpc":"2.0","id":29,"METHOD":"tools/call","params":{"name":"delete_file","arguments":{"path":"/etc/passwd"}}}`)
	add("case", "Kelvin sign", `{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a","k":"1","\u212a":"2"}}}`)
	add("case", "escaped name beside name", `{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"read_file","n\u0041me":"delete_file","arguments":{"path":"/safe/a"}}}`)
	add("case", "exact duplicate name", `{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"read_file","name":"delete_file","arguments":{"path":"/safe/a"}}}`)
	add("case", "exact duplicate path", `{"jsonrpc":"2.0","id":33,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/safe/a","path":"/etc/passwd"}}}`)

	// 3. Reserved _meta keys, in every spelling.
	for i, key := range []string{`toolgate/txn-token`, `toolgate\/txn-token`, `\u0074oolgate/txn-token`, `TOOLGATE/TXN-TOKEN`, `Toolgate/Access-Token`, `toolgate/task`, `toolgate/anything`} {
		add("meta", "reserved key "+key, allowedCall(strconv.Itoa(40+i), `,"_meta":{"`+key+`":"forged","progressToken":"p"}`))
	}
	add("meta", "reserved key under _META", allowedCall("50", `,"_META":{"toolgate/txn-token":"forged"}`))
	add("meta", "reserved key in a ping", `{"jsonrpc":"2.0","id":51,"method":"ping","params":{"_meta":{"toolgate/txn-token":"forged"}}}`)

	// Malformed input: a clear error, nothing carried out.
	add("malformed", "invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":60,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"/safe/\xff\"}}}")
	add("malformed", "byte order mark", "\ufeff"+hidden)
	add("malformed", "two values on one line", allowedCall("61", "")+" "+hidden)
	add("malformed", "too deep", `{"jsonrpc":"2.0","id":62,"method":"tools/call","params":{"name":"delete_file","arguments":{"a":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}}}`)
	add("malformed", "trailing garbage", hidden+"]")
	return as
}
