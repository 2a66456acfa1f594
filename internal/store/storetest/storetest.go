// Package storetest is the conformance suite of toolgate's store interfaces:
// one test per interface, run by every backend's tests (store/sqlite,
// store/postgres) against a real database, so the backends behave the same
// by construction. Several handles on one state stand for several processes
// or replicas: whatever the store promises across them (never overspend,
// decide and use an approval once, one audit chain, history in commit
// order) is tested across them.
package storetest

import (
	"testing"

	"github.com/toolgate/toolgate/internal/store"
)

// Store is every interface a backend implements.
type Store = store.Backend

// Backend opens stores for the suite.
type Backend struct {
	// Open returns a store on a new, empty state. The suite closes it.
	Open func(t *testing.T) Store
	// Again opens another handle on the state of s: another process or
	// replica, or the same one after a restart. The suite closes it.
	Again func(t *testing.T, s Store) Store
}

// Run runs every suite.
func Run(t *testing.T, b Backend) {
	t.Run("Audit", func(t *testing.T) { Audit(t, b) })
	t.Run("Tasks", func(t *testing.T) { Tasks(t, b) })
	t.Run("Budgets", func(t *testing.T) { Budgets(t, b) })
	t.Run("Approvals", func(t *testing.T) { Approvals(t, b) })
	t.Run("History", func(t *testing.T) { History(t, b) })
	t.Run("Docs", func(t *testing.T) { Docs(t, b) })
}

func open(t *testing.T, b Backend) Store {
	t.Helper()
	s := b.Open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func again(t *testing.T, b Backend, s Store) Store {
	t.Helper()
	s2 := b.Again(t, s)
	t.Cleanup(func() { s2.Close() })
	return s2
}
