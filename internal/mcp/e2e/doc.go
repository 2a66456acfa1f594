// Package e2e holds the end-to-end tests of `toolgate run`: the toolgate
// binary in front of real MCP servers (@modelcontextprotocol/server-filesystem
// and server-everything from npm, installed by scripts/test-deps.sh, and a
// scripted Go server), driven by the official Go MCP SDK client, each
// compared with a direct session to the same server.
package e2e
