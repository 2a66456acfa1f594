package stdio

import (
	"bytes"
	"sync"
)

// batch collects the responses to a client's batch and writes them as one
// JSON array once every request in it is answered, as JSON-RPC asks. The
// batch's messages themselves go upstream one by one (each is enforced on
// its own); only the answers are put back together.
type batch struct {
	mu       sync.Mutex
	write    func([]byte)
	expected int // requests (and invalid items) that will be answered
	sealed   bool
	answers  [][]byte
}

func newBatch(write func([]byte)) *batch { return &batch{write: write} }

// expect counts one more answer to wait for, and returns where it goes.
func (b *batch) expect() func([]byte) {
	b.mu.Lock()
	b.expected++
	b.mu.Unlock()
	return b.add
}

func (b *batch) add(msg []byte) {
	b.mu.Lock()
	b.answers = append(b.answers, msg)
	out := b.ready()
	b.mu.Unlock()
	if out != nil {
		b.write(out)
	}
}

// seal says every item has been counted; a batch of notifications only is
// never answered.
func (b *batch) seal() {
	b.mu.Lock()
	b.sealed = true
	out := b.ready()
	b.mu.Unlock()
	if out != nil {
		b.write(out)
	}
}

// ready returns the array to write, once (b.mu held).
func (b *batch) ready() []byte {
	if !b.sealed || b.expected == 0 || len(b.answers) != b.expected {
		return nil
	}
	b.expected = 0 // written: never again
	return append(append([]byte{'['}, bytes.Join(b.answers, []byte{','})...), ']')
}
