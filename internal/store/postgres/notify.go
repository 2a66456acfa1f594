package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channels of the notifications the store sends when another replica
// should look again: the payload names what changed.
const (
	// ChannelApprovals: an approval was decided or closed (payload: its id).
	ChannelApprovals = "toolgate_approvals"
	// ChannelDocs: a document changed (payload: its name).
	ChannelDocs = "toolgate_docs"
)

// notify tells the replicas listening on channel. A notification only
// makes a replica look sooner: each also looks on its own schedule, so a
// notification lost (a replica reconnecting) delays, never breaks, it.
func (d *DB) notify(ctx context.Context, channel, payload string) {
	ctx, cancel := d.op(ctx)
	defer cancel()
	_, _ = d.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
}

// Subscribe calls fn with the payload of each notification on channel
// (and with "" after a reconnection, when some may have been missed), from
// the time Listen runs. Subscribe before Listen.
func (d *DB) Subscribe(channel string, fn func(payload string)) {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	if d.subs == nil {
		d.subs = map[string][]func(string){}
	}
	d.subs[channel] = append(d.subs[channel], fn)
}

// Listen holds one connection that listens on every subscribed channel,
// until ctx ends, reconnecting (with a pause that grows to retryMax) when
// the connection is lost. ready, if not nil, is closed once it listens.
func (d *DB) Listen(ctx context.Context, ready chan<- struct{}) {
	d.subMu.Lock()
	subs := make(map[string][]func(string), len(d.subs))
	for c, fns := range d.subs {
		subs[c] = append([]func(string){}, fns...)
	}
	d.subMu.Unlock()
	var once sync.Once
	signal := func() {
		if ready != nil {
			once.Do(func() { close(ready) })
		}
	}
	pause := retryMin
	for first := true; ctx.Err() == nil; first = false {
		err := d.listenOnce(ctx, subs, func() {
			signal()
			pause = retryMin
			if !first {
				for _, fns := range subs {
					for _, fn := range fns {
						fn("")
					}
				}
			}
		})
		if ctx.Err() != nil {
			return
		}
		_ = err // the next attempt says whether the database is back
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, retryMax)
	}
}

const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

func (d *DB) listenOnce(ctx context.Context, subs map[string][]func(string), listening func()) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection listens for as long as it lives: it is never given
	// back to the pool, where a LISTEN would outlive its purpose.
	c := conn.Hijack()
	defer c.Close(context.Background())
	for ch := range subs {
		if _, err := c.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	listening()
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		for _, fn := range subs[n.Channel] {
			fn(n.Payload)
		}
	}
}
