package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/store"
)

// Docs is the suite of store.Docs.
func Docs(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("ReadModifyWrite", func(t *testing.T) {
		s := open(t, b)
		if _, err := s.Doc(ctx, "keys"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing document: %v", err)
		}
		body := []byte("first \x00\xff")
		if err := s.UpdateDoc(ctx, "keys", func(cur []byte) ([]byte, error) {
			if cur != nil {
				t.Errorf("a new document has %q", cur)
			}
			return body, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := again(t, b, s).Doc(ctx, "keys"); err != nil || string(got) != string(body) {
			t.Fatalf("doc = %q, %v", got, err)
		}
		// nil from change, or an error, leaves the document as it was.
		s.UpdateDoc(ctx, "keys", func([]byte) ([]byte, error) { return nil, nil })
		boom := errors.New("boom")
		if err := s.UpdateDoc(ctx, "keys", func([]byte) ([]byte, error) { return []byte("lost"), boom }); !errors.Is(err, boom) {
			t.Fatalf("change's error: %v", err)
		}
		if got, _ := s.Doc(ctx, "keys"); string(got) != string(body) {
			t.Fatalf("doc changed to %q", got)
		}
		for _, n := range []string{"pins/b", "pins/a", "pins%", "pin", "pinsx/c"} {
			s.UpdateDoc(ctx, n, func([]byte) ([]byte, error) { return []byte("{}"), nil })
		}
		names, err := s.DocNames(ctx, "pins/")
		if err != nil || !slices.Equal(names, []string{"pins/a", "pins/b"}) {
			t.Fatalf("names = %v, %v", names, err)
		}
		if names, _ := s.DocNames(ctx, "pins%"); !slices.Equal(names, []string{"pins%"}) {
			t.Fatalf("a prefix is not a pattern: %v", names)
		}
	})

	// Updates from several handles (processes, replicas) never lose one
	// another's change, for a new document and an existing one.
	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		s := open(t, b)
		handles := []Store{s, again(t, b, s), again(t, b, s)}
		const writers, per = 6, 10
		for _, name := range []string{"counter", "counter"} {
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						if err := handles[w%len(handles)].UpdateDoc(ctx, name, func(cur []byte) ([]byte, error) {
							n, _ := strconv.Atoi(string(cur))
							return []byte(strconv.Itoa(n + 1)), nil
						}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		if got, _ := s.Doc(ctx, "counter"); string(got) != fmt.Sprint(2*writers*per) {
			t.Fatalf("counter = %s, want %d", got, 2*writers*per)
		}
	})
}
