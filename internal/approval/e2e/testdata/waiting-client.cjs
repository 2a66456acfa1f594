// A real MCP client (the official TypeScript SDK, installed by
// scripts/test-deps.sh) that makes one call to the bank's pay tool through
// toolgate and reports, one JSON line each on stdout, every progress
// notification it gets (with the milliseconds since the call started, by
// its own clock) and how the call ended; it then stays connected until its
// stdin ends.
//
//   node waiting-client.cjs stdio TIMEOUT_MS RESET -- TOOLGATE ARGS...
//   node waiting-client.cjs http  TIMEOUT_MS RESET URL BEARER
//
// TIMEOUT_MS is the client's request timeout; RESET ("true"/"false") is
// the SDK's resetTimeoutOnProgress.
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function main() {
  const [mode, timeoutArg, resetArg, ...rest] = process.argv.slice(2);
  let transport;
  if (mode === "stdio") {
    const cmd = rest.slice(rest.indexOf("--") + 1);
    transport = new StdioClientTransport({ command: cmd[0], args: cmd.slice(1), env: process.env, stderr: "inherit" });
  } else {
    const [url, bearer] = rest;
    transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: "Bearer " + bearer } },
    });
  }
  const client = new Client({ name: "waiting-client", version: "1" });
  await client.connect(transport);
  say({ event: "connected" });
  const start = Date.now();
  try {
    const res = await client.callTool({ name: "pay", arguments: { amount: 7, to: "acct-wait" } }, undefined, {
      timeout: Number(timeoutArg),
      resetTimeoutOnProgress: resetArg === "true",
      onprogress: (p) => say({ event: "progress", progress: p.progress, message: p.message, elapsed: Date.now() - start }),
    });
    say({ event: "result", result: res, elapsed: Date.now() - start });
  } catch (e) {
    say({ event: "error", code: e.code, message: String(e.message), elapsed: Date.now() - start });
  }
  // Stay connected, as a client that goes on working would, until stdin
  // ends: closing at once could abort the cancellation the SDK sent.
  await new Promise((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.resume();
  });
  await client.close();
}

main().catch((e) => {
  say({ event: "fatal", message: String(e && e.stack) });
  process.exit(1);
});
