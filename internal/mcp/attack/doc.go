// Package attack is toolgate's own attack suite for its MCP front doors
// (tests only). Every attack is sent through the real `toolgate run` and
// `toolgate serve` binaries to a deliberately lax MCP server that reads as
// permissively as real servers do — it splits lines at every line break any
// reader knows, matches member names and methods in any letter case (the
// last one wins), acts on tool calls sent as notifications and on methods
// no specification names — and records everything it would carry out.
//
// After each attack the suite checks one property: nothing the server
// carried out was not judged allowed, exactly as carried out, and recorded
// in the audit trail, whose hash chain must verify. Attacks against the real
// @modelcontextprotocol/server-filesystem check the same on a real file
// tree, and FuzzRelay checks the property on inputs the fuzzer makes.
//
// The classes of the second review that an agent can try through the MCP
// front door (windows passed by calls side by side, service accounts judged
// as people, a flood of tokens with unknown key ids) are attacked the same
// way, with a real OpenID provider (review_test.go); the test names the
// packages where the other classes are attacked.
//
// TOOLGATE_TEST_BINARY runs the suite against another build, to see an
// attack succeed on older code.
//
// The lax server is a test double by design: no real server is this
// permissive in every way at once, and the point is to stand for all of
// them.
package attack
