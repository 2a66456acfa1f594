package approval

import (
	"context"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// Progress tells the client that made a call that the call still waits for
// a person: MCP front doors send it as notifications/progress when the
// client's request carries a progress token, so that clients that reset
// their request timeout on progress keep waiting instead of giving up. n
// counts the notifications of the call (1, 2, …): MCP asks progress to
// increase with each one.
type Progress func(n int, message string)

type progressKey struct{}

// WithProgress returns ctx carrying p for the approve stage.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// progress counts a call's notifications across its waits (a call whose
// approval another call used waits again).
type progress struct {
	p Progress
	n int
}

func progressOf(ctx context.Context) *progress {
	p, _ := ctx.Value(progressKey{}).(Progress)
	if p == nil {
		return nil
	}
	return &progress{p: p}
}

// tell sends one notification about the pending approval a (nil-safe).
func (p *progress) tell(a *store.Approval) {
	if p == nil {
		return
	}
	p.n++
	p.p(p.n, fmt.Sprintf("waiting for a person to approve this call (approval %s, until %s)",
		a.ID, a.ExpiresAt.UTC().Format(time.RFC3339)))
}
