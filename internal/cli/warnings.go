package cli

import (
	"log/slog"
	"slices"

	"github.com/toolgate/toolgate/internal/config"
)

// Warnings at start, where a setup that runs is not the setup people think
// they have. Each is logged once, at warn level, with what to do.

// warnServe logs the warnings of `toolgate serve`: loopback says whether
// it listens on loopback only, authenticated whether callers must present
// a token.
func warnServe(log *slog.Logger, cfg *config.Config, loopback, authenticated bool) {
	if !loopback && !authenticated {
		log.Warn("serve listens on an address that is not loopback and no identity is configured: "+
			"anyone who can reach it can ask for decisions, use the MCP gateway and the admin APIs as "+
			"an unauthenticated caller; configure identity.issuers or identity.api_keys, or listen on 127.0.0.1",
			"listen", cfg.Listen)
	}
	if !authenticated && cfg.Principal == nil && len(serverNames(cfg)) > 0 {
		log.Warn("the MCP gateway has servers but no identity is configured and there is no default principal: "+
			"every MCP caller is unauthenticated, so tools/list shows no tools and every call is denied; "+
			"configure identity.issuers or identity.api_keys, or a principal for unauthenticated local callers",
			"servers", serverNames(cfg))
	}
}

// fileLikeNames are names a server gets from a file or launcher rather than
// from what it is: "node build/index.js" is "index".
var fileLikeNames = []string{
	"index", "main", "server", "app", "cli", "run", "start", "dist", "build", "src", "bin", "lib",
	"mcp", "stdio", "node", "npx", "python", "python3", "uvx", "uv", "docker", "podman", "go", "deno", "bun", "sh", "bash",
}

// warnDerivedName logs when `toolgate run` derived a server name that
// names a file or a program, not the server: policies would be written for
// Action::"index/<tool>", and two such servers would share their pins.
func warnDerivedName(log *slog.Logger, name string, command []string) {
	if slices.Contains(fileLikeNames, name) {
		log.Warn("the server's name was derived from its command and says little about it; "+
			"policies name it Action::\""+name+"/<tool>\" and its tool definitions are pinned under that name: give --name",
			"server", name, "command", command)
	}
}
