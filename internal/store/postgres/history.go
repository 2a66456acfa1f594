package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toolgate/toolgate/internal/store"
)

// History events are numbered from a sequence, but a sequence alone does not
// give commit order: a transaction that took number 10 can commit after one
// that took 11, and a reader that saw 11 would never look below it again.
// So an append takes the history's advisory lock before it numbers its
// events and holds it until it commits: numbers are handed out, and become
// visible, in one order.

var _ store.History = (*DB)(nil)

// AppendHistory implements store.History. A conditional event (Unless) is
// one INSERT … WHERE NOT EXISTS: under the lock, nothing of another origin
// can be stored between its check and its insert.
func (d *DB) AppendHistory(ctx context.Context, evs []store.HistoryEvent) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockHistory)
	for i := range evs {
		e := &evs[i]
		args := params{e.Time.UnixNano(), e.Key, e.Principal, e.Origin, e.Body}
		q := `INSERT INTO history_events (seq, time, key, principal, origin, body)
			SELECT nextval('history_seq'), $1, $2, $3, $4, $5`
		var unless []string
		for _, f := range e.Unless {
			var col, who string
			switch {
			case f.Key != "" && f.Principal == "":
				col, who = "key", f.Key
			case f.Principal != "" && f.Key == "":
				col, who = "principal", f.Principal
			default:
				return errors.New("postgres: history: a condition selects one key or one principal")
			}
			unless = append(unless, `NOT EXISTS (SELECT 1 FROM history_events WHERE `+col+` = `+args.add(who)+
				` AND seq > `+args.add(f.AfterSeq)+` AND origin <> $4)`)
		}
		if len(unless) > 0 {
			q += ` WHERE ` + strings.Join(unless, " AND ")
		}
		b.Queue(q+` RETURNING seq`, args...)
	}
	err := d.tx(ctx, func(tx pgx.Tx) error {
		res := tx.SendBatch(ctx, b)
		if _, err := res.Exec(); err != nil {
			res.Close()
			return err
		}
		for i := range evs {
			e := &evs[i]
			e.Seq, e.Conflict = 0, false
			err := res.QueryRow().Scan(&e.Seq)
			switch {
			case errors.Is(err, pgx.ErrNoRows) && len(e.Unless) > 0:
				e.Conflict = true
			case err != nil:
				res.Close()
				return err
			}
		}
		return res.Close()
	})
	if err != nil {
		for i := range evs {
			evs[i].Seq, evs[i].Conflict = 0, false
		}
		return fmt.Errorf("postgres: append history: %w", err)
	}
	return nil
}

// ScanHistory implements store.History.
func (d *DB) ScanHistory(ctx context.Context, f store.HistoryFilter, fn func(*store.HistoryEvent) error) error {
	var q, who string
	switch {
	case f.Key != "" && f.Principal == "":
		q, who = `SELECT seq, time, key, principal, origin, body FROM history_events WHERE key = $1 AND seq > $2 AND time >= $3 ORDER BY seq`, f.Key
	case f.Principal != "" && f.Key == "":
		q, who = `SELECT seq, time, key, principal, origin, body FROM history_events WHERE principal = $1 AND seq > $2 AND time >= $3 ORDER BY seq`, f.Principal
	default:
		return errors.New("postgres: history: a scan selects one key or one principal")
	}
	var since int64
	if !f.Since.IsZero() {
		since = f.Since.UnixNano()
	}
	// Bounded like every operation on a call's path: a recall waits for the
	// database no longer than the operation timeout, so a replica cut off
	// from it denies the call instead of hanging it.
	ctx, cancel := d.op(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, q, who, f.AfterSeq, since)
	if err != nil {
		return fmt.Errorf("postgres: history: %w", err)
	}
	defer rows.Close()
	var e store.HistoryEvent
	for rows.Next() {
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Key, &e.Principal, &e.Origin, &e.Body); err != nil {
			return fmt.Errorf("postgres: history: %w", err)
		}
		e.Time = time.Unix(0, at)
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: history: %w", err)
	}
	return nil
}

// PruneHistory implements store.History.
func (d *DB) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	n, err := d.update(ctx, `DELETE FROM history_events WHERE time < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune history: %w", err)
	}
	return n, nil
}
