package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/credential"
	"github.com/toolgate/toolgate/internal/credential/scrub"
	"github.com/toolgate/toolgate/internal/enforce"
	"github.com/toolgate/toolgate/internal/mcp/gate"
	"github.com/toolgate/toolgate/internal/mcp/stdio"
	"github.com/toolgate/toolgate/internal/policy"
)

// TaskTokenEnv names the environment variable that holds the task token
// `toolgate run` presents with every call. It is not passed on to the
// server.
const TaskTokenEnv = "TOOLGATE_TASK_TOKEN"

// LocalPrincipalID is the principal of `toolgate run` when the config names
// none: Agent::"local", acting for the operating-system user.
const LocalPrincipalID = "local"

func newRunCmd(g *globals) *cobra.Command {
	var policyDirs []string
	var name, debugListen string
	cmd := &cobra.Command{
		Use:   "run [--config F] [--policy DIR]... [--name NAME] -- CMD [ARGS...]",
		Short: "Run a stdio MCP server behind toolgate (drop-in for an MCP client's server command)",
		Long: `run starts the MCP server CMD and relays the MCP session between the client
(toolgate's stdin and stdout) and the server. Every tools/call is judged by
the policies first and reaches the server only if allowed; a denied call is
answered with the policy's reason. tools/list hides the tools the principal
can never call. Tool definitions are pinned in the data directory on first
sight; a changed definition is refused until accepted with 'toolgate pin
accept'. Everything else passes through unchanged.

In an MCP client's config, put toolgate in front of the server's command:

  "filesystem": {"command": "toolgate",
                 "args": ["run", "--policy", "/etc/toolgate/policies", "--",
                          "npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"]}

--name is the server's name in policies (Action::"<name>/<tool>",
Server::"<name>"). Without it: the config's server whose command and args
are CMD, else a name derived from CMD (the package or program name without
"mcp-server-"/"server-" prefixes: "npx -y @modelcontextprotocol/server-
filesystem" is "filesystem"). With --name of a configured server, CMD may be
left out and the config's command is run.

Calls are made by the config's principal, else by Agent::"local" acting for
the operating-system user. The task token is read from $` + TaskTokenEnv + `.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if len(policyDirs) > 0 {
				cfg.Policy.Dirs = policyDirs
			}
			command, server, err := runTarget(cfg, name, args)
			if err != nil {
				return err
			}
			if debugListen != "" {
				if err := serveDebug(cmd.Context(), debugListen); err != nil {
					return err
				}
			}
			derived := name == "" && cfg.Server(server) == nil
			return runProxy(cmd, g, cfg, command, server, derived)
		},
	}
	// Everything after the server command belongs to it, even without "--".
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringArrayVar(&policyDirs, "policy", nil, "policy directory or .cedar file (repeatable); replaces the config's policy.dirs")
	cmd.Flags().StringVar(&name, "name", "", "server name in policies (default: from the config, else derived from CMD)")
	cmd.Flags().StringVar(&debugListen, "debug-listen", "", "serve Go's profiling endpoints (/debug/pprof/) on this address; keep it on loopback")
	return cmd
}

// runProxy relays for server; derived says its name was derived from the
// command (no --name, no configured server).
func runProxy(cmd *cobra.Command, g *globals, cfg *config.Config, command []string, server string, derived bool) (err error) {
	if len(cfg.Approvals.Webhooks) > 0 && cfg.Approvals.PublicURL == "" {
		return errors.New("approvals.webhooks need approvals.public_url with `toolgate run`: the address of a `toolgate serve` on the same data directory, where their links are answered")
	}
	rt, err := openRuntime(g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rt.Close()) }()
	log, engine, dataDir := rt.log, rt.engine, rt.dataDir
	pins, err := rt.tasks.st.pins(server)
	if err != nil {
		return err
	}
	tools := gate.NewTools(server, pins, cfg.MCP.Pinning, log) // logs with server=…
	followPins(rt.tasks.st, server, tools, log)
	pipe, err := rt.pipeline(func(ec *enforce.Config) {
		// Pins are checked, and annotations taken from the server's
		// definition, inside the pipeline's describe stage.
		ec.Catalog = tools.Catalog(ec.Catalog)
	})
	if err != nil {
		return err
	}
	principal := runPrincipal(cfg)
	gt, err := gate.New(gate.Options{
		Tools: tools, Pipeline: pipe, Principal: principal,
		TaskToken: os.Getenv(TaskTokenEnv), Denial: cfg.MCP.Denial, Log: log.With("server", server),
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A client that goes away closes toolgate's stdout; writing to it must
	// fail with EPIPE (and the server be stopped properly) rather than kill
	// toolgate with SIGPIPE. A notified signal, unlike an ignored one, is
	// not inherited by the server.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	rt.approvals.Lifetime(ctx) // a stop keeps pending approvals
	rt.follow(ctx)             // what other processes on a shared store change
	if err := rt.watch(ctx, nil); err != nil {
		return err
	}
	if derived {
		warnDerivedName(log, server, command)
	}
	log.Info("toolgate run: relaying", "server", server, "command", strings.Join(command, " "),
		"principal", fmt.Sprintf("%s::%q", principalType(principal), principal.ID),
		"policy_version", policyVersion(engine), "data_dir", dataDir, "config", g.found.String())

	// Brokered secrets go in the server's environment, and are masked in
	// whatever it sends back.
	if err := rt.creds.CheckTransport(server, credential.Transport{Stdio: true}); err != nil {
		return err
	}
	env, err := rt.creds.ProcessEnv(ctx, server, serverEnv())
	if err != nil {
		return err
	}
	return stdio.Run(ctx, stdio.Options{
		Command: command,
		Env:     env,
		Scrub:   rt.creds.Scrub(),
		Gate:    gt,
		Config:  cfg.MCP,
		Log:     log.With("server", server),
		Stderr:  scrub.Writer(g.stderr, rt.creds.Scrub()),
		// Approval by MCP elicitation, when configured and the client can.
		Elicitation: cfg.Approvals.Elicitation,
	}, g.stdin, g.stdout)
}

// runTarget settles what to run and under which server name.
func runTarget(cfg *config.Config, name string, args []string) ([]string, string, error) {
	if len(args) == 0 {
		if name == "" {
			return nil, "", usageError{errors.New("run needs the MCP server's command after --, or --name of a server in the config")}
		}
		s := cfg.Server(name)
		if s == nil || s.Command == "" {
			return nil, "", usageError{fmt.Errorf("no server command given, and the config has no server %q with a command", name)}
		}
		return append([]string{s.Command}, s.Args...), name, nil
	}
	server := name
	if server == "" {
		for _, s := range cfg.Servers {
			if s.Command != "" && s.Command == args[0] && slices.Equal(s.Args, args[1:]) {
				server = s.Name
				break
			}
		}
	}
	if server == "" {
		server = DeriveServerName(args)
	}
	if err := policy.CheckServerName(server); err != nil {
		return nil, "", usageError{fmt.Errorf("--name: %v", err)}
	}
	return args, server, nil
}

// launchers run a program named by one of their arguments.
var launchers = map[string]bool{
	"npx": true, "pnpx": true, "bunx": true, "uvx": true, "pipx": true,
	"node": true, "bun": true, "deno": true, "python": true, "python3": true,
	"uv": true, "npm": true, "pnpm": true, "yarn": true, "docker": true, "podman": true, "go": true,
}

// launcherVerbs are the launchers' subcommands, skipped on the way to the
// program's name.
var launcherVerbs = map[string]bool{"run": true, "exec": true, "dlx": true, "x": true, "tool": true}

// DeriveServerName names a server after its command: the program, or for a
// launcher (npx, uvx, node, python, docker, …) its first argument that is
// not an option or a subcommand; without directories, scope, version and
// extension; without an "mcp-server-", "server-" or "mcp-" prefix or a
// "-mcp-server", "-server" or "-mcp" suffix; lower case, with every run of
// other characters than a-z and 0-9 turned into "-". So
// "npx -y @modelcontextprotocol/server-filesystem /data" is "filesystem" and
// "uvx mcp-server-git" is "git". It is "server" if nothing is left.
func DeriveServerName(args []string) string {
	pick := args[0]
	if launchers[strings.TrimSuffix(strings.ToLower(filepath.Base(pick)), ".exe")] {
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "-") || strings.Contains(a, "=") || launcherVerbs[a] {
				continue
			}
			pick = a
			break
		}
	}
	n := pick
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	if i := strings.LastIndex(n, "@"); i > 0 {
		n = n[:i] // a version: pkg@1.2.3
	}
	n = strings.TrimPrefix(n, "@")
	for _, ext := range []string{".js", ".mjs", ".cjs", ".ts", ".py", ".exe", ".cmd", ".sh"} {
		n = strings.TrimSuffix(n, ext)
	}
	// Lower case, and runs of anything but a-z0-9 become one "-".
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(n) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	n = strings.Trim(b.String(), "-")
	for _, p := range []string{"mcp-server-", "server-", "mcp-"} {
		if rest := strings.TrimPrefix(n, p); rest != n && rest != "" {
			n = rest
			break
		}
	}
	for _, s := range []string{"-mcp-server", "-server", "-mcp"} {
		if rest := strings.TrimSuffix(n, s); rest != n && rest != "" {
			n = rest
			break
		}
	}
	if len(n) > 64 {
		n = strings.Trim(n[:64], "-")
	}
	if n == "" {
		return "server"
	}
	return n
}

// runPrincipal is the config's principal, else Agent::"local" acting for the
// operating-system user: a stdio client is a local process of that user.
func runPrincipal(cfg *config.Config) call.Principal {
	if p := cfg.Principal; p != nil {
		return call.Principal{Kind: call.PrincipalKind(p.Kind), ID: p.ID, Groups: p.Groups, Owner: p.Owner, Claims: p.Claims}
	}
	owner := os.Getenv("USER")
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		owner = u.Username
	}
	return call.Principal{Kind: call.KindAgent, ID: LocalPrincipalID, Owner: owner}
}

func principalType(p call.Principal) string {
	if p.Kind == call.KindUser {
		return "User"
	}
	return "Agent"
}

func policyVersion(e *policy.Engine) string {
	if s := e.Current(); s != nil {
		return s.Version
	}
	return ""
}

// serverEnv is toolgate's environment without the task token: it is the
// agent's credential for toolgate, not the server's.
func serverEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, TaskTokenEnv+"=") })
}
