package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleInChromium: a person signs in through the identity provider,
// sees the agent's call waiting (live, without reloading), approves it,
// and the agent's call completes; a task revoked in the console denies the
// agent's next call; a change without the CSRF token is refused; a person
// without the Cedar permission sees no approvals. Every page is
// photographed.
func TestConsoleInChromium(t *testing.T) {
	w := newWorld(t)
	w.serve()
	ctx := w.browser(false)

	// Sign in as carol (finance, security) through the OP.
	w.signIn(ctx, carol, true)
	w.run(ctx, "the empty inbox", chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Nothing waits for you")]`)))
	w.shot(ctx, "approvals-empty")

	// The agent pays: the call waits, and the open inbox shows it live.
	agent := w.agent("")
	paid := call(agent, "pay", map[string]any{"amount": 100, "to": "acct-rent"})
	w.run(ctx, "the waiting call appears", chromedp.WaitVisible(chromedp.CSS(`article.approval`)))
	card := w.text(ctx, "article.approval")
	for _, want := range []string{"bank/pay", `Agent::"bot"`, `User::"alice"`, "acct-rent", "pay-needs-approval", "payments need a person's approval"} {
		if !strings.Contains(card, want) {
			t.Errorf("the waiting call does not show %q:\n%s", want, card)
		}
	}
	w.shot(ctx, "approvals-waiting")
	select {
	case r := <-paid:
		t.Fatalf("the call ended before anybody answered: %+v", r)
	default:
	}

	// Approve with a comment; the agent's call completes.
	w.run(ctx, "approve",
		chromedp.SendKeys(chromedp.CSS(`article.approval textarea`), "rent for December"),
		chromedp.Click(chromedp.CSS(`article.approval button.approve`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := wait(t, paid); got != "paid 100 to acct-rent" {
		t.Fatalf("the approved call: %q", got)
	}
	if got := w.payments(); got != "100 acct-rent" {
		t.Fatalf("the bank paid: %q", got)
	}
	w.run(ctx, "the answer is listed", chromedp.WaitVisible(chromedp.Search(`//td[contains(., "rent for December")]`)))
	w.shot(ctx, "approvals-answered")

	// Decisions: the approved call, and its full record.
	w.run(ctx, "decisions", chromedp.Navigate(w.base+"/console/decisions?tool=bank/pay"),
		chromedp.WaitVisible(chromedp.CSS(`tr.effect-allow`)))
	w.shot(ctx, "decisions")
	w.run(ctx, "a decision's record", chromedp.Click(chromedp.CSS(`tr.effect-allow a`)), chromedp.WaitVisible(chromedp.CSS(`pre.record`)))
	record := w.text(ctx, "pre.record")
	if !strings.Contains(record, `"approver": "User::\"carol\""`) || !strings.Contains(record, "rent for December") {
		t.Errorf("the record does not show the approval:\n%s", record)
	}
	w.shot(ctx, "decision-record")

	// Audit: verify the chain.
	w.run(ctx, "audit", chromedp.Navigate(w.base+"/console/audit"), chromedp.WaitVisible(chromedp.ID(`verify-status`)),
		chromedp.Click(chromedp.Search(`//button[contains(., "Verify the whole chain")]`)), chromedp.WaitVisible(chromedp.CSS(`p.ok#verify-status`)))
	w.shot(ctx, "audit")

	// A change without the session's CSRF token is refused, from the page
	// itself.
	for _, body := range []string{"confirm=yes&reason=csrf", "confirm=yes&csrf=forged"} {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/console/agents/bot/revoke", {method: "POST",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "`+body+`"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
		if err != nil || status != 403 {
			t.Fatalf("a post from the page without its CSRF token (%s): %d %v", body, status, err)
		}
	}

	// Tasks: the agent works on a task; carol revokes it; the next call is
	// denied.
	token := w.cli("task", "create", "--agent", "bot", "--owner", "alice", "--purpose", "check the balance", "--tool", "bank/*", "--ttl", "1h")
	tasked := w.agent(token)
	if got := wait(t, call(tasked, "balance", nil)); got != "balance 1000" {
		t.Fatalf("the task's first call: %q", got)
	}
	w.run(ctx, "tasks", chromedp.Navigate(w.base+"/console/tasks"), chromedp.WaitVisible(chromedp.Search(`//h3[contains(., "check the balance")]`)))
	w.shot(ctx, "tasks")
	w.run(ctx, "revoke: confirmation", chromedp.Click(chromedp.Search(`//li[contains(@class,"task")][.//h3[contains(., "check the balance")]]//a[contains(., "Revoke")]`)),
		chromedp.WaitVisible(chromedp.ID(`confirm-revoke`)))
	w.shot(ctx, "revoke-confirm")
	w.run(ctx, "revoke", chromedp.SendKeys(chromedp.ID(`reason`), "done checking"), chromedp.Click(chromedp.ID(`confirm-revoke`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := wait(t, call(tasked, "balance", nil)); !strings.Contains(got, "denied") || !strings.Contains(got, "revoked") {
		t.Fatalf("the revoked task's next call: %q", got)
	}

	// Policies, with a dry run; tools.
	w.run(ctx, "policies", chromedp.Navigate(w.base+"/console/policies"), chromedp.WaitVisible(chromedp.ID(`request`)),
		chromedp.SetValue(chromedp.ID(`request`), `{"subject":{"type":"agent","id":"bot"},"action":{"name":"bank/pay"},"resource":{"type":"server","id":"bank"},"context":{"input":{"amount":5,"to":"x"}}}`),
		chromedp.Click(chromedp.ID(`try`)), chromedp.WaitVisible(chromedp.ID(`try-result`)))
	tried := w.text(ctx, "#try-result")
	if !strings.Contains(strings.ToLower(tried), "effect: ask") || !strings.Contains(tried, "pay-needs-approval") {
		t.Errorf("dry run: %s", tried)
	}
	w.shot(ctx, "policies")
	w.run(ctx, "tools", chromedp.Navigate(w.base+"/console/tools"), chromedp.WaitVisible(chromedp.Search(`//summary[contains(., "balance")]`)))
	w.shot(ctx, "tools")

	// Mallory has no Approve permission: a call waits, and she sees none.
	waiting := call(agent, "pay", map[string]any{"amount": 7, "to": "acct-mallory-must-not-see"})
	w.run(ctx, "carol sees the second call", chromedp.Navigate(w.base+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS(`article.approval`)))
	phone := w.browser(true)
	w.signIn(phone, mallory, false)
	w.run(phone, "mallory's inbox", chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Nothing waits for you")]`)))
	inbox := w.text(phone, "main")
	if strings.Contains(inbox, "acct-mallory-must-not-see") || strings.Contains(inbox, "bank/pay") {
		t.Fatalf("mallory sees the call:\n%s", inbox)
	}
	nav := w.text(phone, "header")
	if strings.Contains(nav, "Decisions") || strings.Contains(nav, "Tasks") {
		t.Fatalf("mallory's menu offers what policy does not allow: %s", nav)
	}
	w.shot(phone, "approvals-mallory-phone")
	// Carol on a phone: the inbox fits; deny from there.
	carolPhone := w.browser(true)
	w.signIn(carolPhone, carol, false)
	w.run(carolPhone, "carol's inbox on a phone", chromedp.WaitVisible(chromedp.CSS(`article.approval`)))
	w.shot(carolPhone, "approvals-phone")
	w.run(carolPhone, "deny", chromedp.SendKeys(chromedp.CSS(`article.approval textarea`), "not this one"),
		chromedp.Click(chromedp.CSS(`article.approval button.deny`)), chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := wait(t, waiting); !strings.Contains(got, "denied") || !strings.Contains(got, "not this one") {
		t.Fatalf("the denied call: %q", got)
	}
	// The other open inbox learned of the answer live.
	w.run(ctx, "carol's laptop inbox updates", chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Nothing waits for you")]`)))

	// Sign-out ends the session.
	w.run(ctx, "sign out", chromedp.Click(chromedp.Search(`//button[contains(., "Sign out")]`)), chromedp.WaitVisible(chromedp.ID("oidc")),
		chromedp.Navigate(w.base+"/console/approvals"), chromedp.WaitVisible(chromedp.ID("oidc")))
}
