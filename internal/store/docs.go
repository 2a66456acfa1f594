package store

import "context"

// Docs stores small named documents that every process sharing the store
// reads and changes by read-modify-write: toolgate's signing keys, the audit
// trail's keys, tool pins. A document is kept byte for byte; its format
// belongs to the package that writes it.
//
// With SQLite the data directory keeps these as files; replicas on
// PostgreSQL keep them here, so that they share one set.
type Docs interface {
	// Doc returns the named document, or ErrNotFound.
	Doc(ctx context.Context, name string) ([]byte, error)
	// UpdateDoc runs change on the named document (nil if there is none)
	// while no other process can update it, and stores what change
	// returns. If change returns nil bytes (nothing to store) or an error,
	// the document is left as it was.
	UpdateDoc(ctx context.Context, name string, change func(cur []byte) ([]byte, error)) error
	// DocNames lists the names that start with prefix, in order.
	DocNames(ctx context.Context, prefix string) ([]string, error)
}
