// Package e2e runs toolgate as replicas: three `toolgate serve` processes
// on one real PostgreSQL (started by the test), behind a small round-robin
// load balancer in the test, driven by the official MCP Go SDK client, in
// front of a scripted MCP server (the test binary, one per replica) that
// writes down every call it really runs.
package e2e
