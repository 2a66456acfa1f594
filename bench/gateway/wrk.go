package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk send the benchmark's tools/call with a fresh JSON-RPC
// id per request, each wrk thread on its own MCP session, and print the
// totals and latency percentiles (µs) on one line the harness parses.
const wrkScript = `
local sids = {%s}
local n = 0
local threads = {}
function setup(thread)
  n = n + 1
  table.insert(threads, thread)
  thread:set("sid", sids[((n - 1) %% #sids) + 1])
end
local id = 0
function request()
  id = id + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-06-18",
    ["Mcp-Session-Id"] = sid,
  }, '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}')
end
bad = 0
function response(status, headers, body)
  if status ~= 200 or not body:find('"hello"', 1, true) or body:find('"isError":true', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("bad") end
  io.write(string.format("WRK %%d %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout + bad,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// runWrk loads url with wrk (threads × conns connections) for d; every
// answer is checked in the script's response() hook, at some cost to wrk.
func runWrk(dir, url string, threads, conns int, d time.Duration) *result {
	sids := make([]string, threads)
	for i := range sids {
		sids[i] = strconv.Quote(session(url))
	}
	script := fmt.Sprintf(wrkScript, strings.Join(sids, ","))
	path := filepath.Join(dir, "call.lua")
	must(os.WriteFile(path, []byte(script), 0o600))
	cmd := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds())), "--timeout", "5s", "-s", path, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "wrk: %v\n%s", err, out.String())
		os.Exit(1)
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 8 && f[0] == "WRK" {
			v := make([]int64, 7)
			for i := range v {
				v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
			}
			return &result{
				calls:   int(v[0]),
				elapsed: time.Duration(v[1]) * time.Microsecond,
				errors:  int(v[2]),
				fixed:   []time.Duration{time.Duration(v[3]) * time.Microsecond, time.Duration(v[4]) * time.Microsecond, time.Duration(v[5]) * time.Microsecond, time.Duration(v[6]) * time.Microsecond},
			}
		}
	}
	fmt.Fprintf(os.Stderr, "wrk printed no result line:\n%s", out.String())
	os.Exit(1)
	return nil
}
