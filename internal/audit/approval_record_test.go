package audit_test

import (
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
)

// TestNewRecordCopiesTheApproval: the human answer the approve stage puts on
// a decision reaches the audit record.
func TestNewRecordCopiesTheApproval(t *testing.T) {
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	c := &call.Call{Server: call.Server{Name: "bank"}, Tool: call.Tool{Name: "pay"}, Principal: call.Principal{Kind: call.KindAgent, ID: "a"}}
	d := &call.Decision{ID: "d1", Effect: call.Allow, Stage: "approve", Approval: &call.Approval{
		ID: "ap1", Approver: `User::"carol"`, Channel: "api", Approved: true, Time: at,
		Comment: "ok", Waited: 1500 * time.Millisecond,
	}}
	r := audit.NewRecord(c, d, nil)
	want := audit.Approval{Approver: `User::"carol"`, Time: at.UTC(), Comment: "ok", WaitedMS: 1500, ID: "ap1", Answer: "approved", Channel: "api"}
	if r.Approval == nil || *r.Approval != want {
		t.Fatalf("approval = %+v, want %+v", r.Approval, want)
	}
	d.Approval.Approved = false
	if r := audit.NewRecord(c, d, nil); r.Approval.Answer != "denied" {
		t.Fatalf("a denial is recorded as %q", r.Approval.Answer)
	}
	d.Approval = nil
	if r := audit.NewRecord(c, d, nil); r.Approval != nil {
		t.Fatal("no approval, yet the record has one")
	}
}
