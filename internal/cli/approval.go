package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/call"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/store"
)

func newApprovalCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval list|show|approve|deny",
		Short: "List and answer the calls that wait for a human's approval",
		Long: `approval lists and answers pending approvals in the data directory, as its
operator: like 'toolgate task', the command works on the data directory's
database directly, so it may answer what an admin may, and no Approve policy
is asked. The rules no policy changes still hold: with approvals.four_eyes,
the person an agent acts for (here: the operating-system user) cannot
approve its calls. Answers are recorded as User::"<operating-system user>".
A 'toolgate run' or 'toolgate serve' on the same data directory sees the
answer within approvals.poll_interval. People use the HTTP API of 'toolgate
serve' instead (GET /v1/approvals, POST /v1/approvals/{id}/approve|deny);
see docs/approvals.md.`,
	}
	cmd.AddCommand(newApprovalListCmd(g), newApprovalShowCmd(g),
		newApprovalAnswerCmd(g, true), newApprovalAnswerCmd(g, false))
	return cmd
}

// openApprovalsLocal opens the approval service of the data directory for
// the operator. No policies are loaded: the operator is not asked about.
func (g *globals) openApprovalsLocal(access dataAccess) (*approval.Service, func(), error) {
	p, cfg, err := g.openLocal(access)
	if err != nil {
		return nil, nil, err
	}
	ac := cfg.Approvals
	ac.Webhooks = nil // the CLI answers; it never announces
	o := approval.Options{Store: p.db, Policies: policy.NewStaticEngine()}
	if access != readData {
		// An answer's comment is redacted with the trail's key, as the
		// records of serve and run are.
		key, err := p.st.redactionKey()
		if err == nil {
			o.Redactor, err = audit.NewRedactor(cfg.Audit.Redact, key)
		}
		if err != nil {
			p.Close()
			return nil, nil, err
		}
	}
	svc, err := approval.New(ac, o)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return svc, func() { p.Close() }, nil
}

// operator is the local operator as an approver.
func operator() approval.Approver {
	name := os.Getenv("USER")
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "operator"
	}
	return approval.Approver{Principal: call.Principal{Kind: call.KindUser, ID: name}, Channel: approval.ChannelCLI, Operator: true}
}

func newApprovalListCmd(g *globals) *cobra.Command {
	var all, asJSON bool
	var state string
	cmd := &cobra.Command{
		Use:   "list [--all | --state S] [--json]",
		Short: "Show pending approvals (newest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.ApprovalFilter{State: store.ApprovalPending}
			if all {
				f.State = ""
			} else if state != "" {
				f.State = state
			}
			svc, done, err := g.openApprovalsLocal(readData)
			if err != nil {
				return err
			}
			defer done()
			views, err := svc.List(cmd.Context(), nil, f)
			if err != nil {
				return err
			}
			if asJSON {
				return approval.WriteJSON(g.stdout, map[string]any{"approvals": views})
			}
			if len(views) == 0 {
				fmt.Fprintln(g.stdout, "no approvals")
				return nil
			}
			for _, v := range views {
				printApproval(g.stdout, g.style(), v, false)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every approval, answered or not")
	cmd.Flags().StringVar(&state, "state", "", "only approvals in this state: pending, approved, denied, expired, cancelled")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newApprovalShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one approval with the call's arguments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, done, err := g.openApprovalsLocal(readData)
			if err != nil {
				return err
			}
			defer done()
			v, _, err := svc.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return approval.WriteJSON(g.stdout, v)
			}
			printApproval(g.stdout, g.style(), v, true)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newApprovalAnswerCmd(g *globals, approve bool) *cobra.Command {
	var comment string
	var similar bool
	use, short := "deny ID [--comment TEXT]", "Deny a pending call (the agent reads the comment)"
	if approve {
		use, short = "approve ID [--comment TEXT] [--similar]", "Approve a pending call: that exact call runs, once"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, done, err := g.openApprovalsLocal(updateData)
			if err != nil {
				return err
			}
			defer done()
			v, err := svc.Decide(cmd.Context(), args[0], operator(), approval.Answer{Approve: approve, Comment: comment, Similar: similar})
			if err != nil {
				return err
			}
			what := "denied"
			if approve {
				what = "approved"
				if similar {
					what += fmt.Sprintf(" (and similar calls of task %s until %s)", v.Task.ID, v.ExpiresAt.Local().Format(time.RFC3339))
				}
			}
			fmt.Fprintf(g.stdout, "%s %s: %s by %s\n", what, v.ID, v.Tool, v.Principal)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (recorded in the audit trail; a denied agent reads it)")
	if approve {
		cmd.Flags().BoolVar(&similar, "similar", false, "also approve similar calls: the same agent calling the same tool in the same task, with any arguments, for approvals.similar_ttl (audited)")
	}
	return cmd
}

func printApproval(w io.Writer, st style, v *approval.View, full bool) {
	v = v.Display() // hidden characters (bidi controls, zero-width, …) as escapes
	who := v.Principal
	if v.Owner != "" {
		who += " for " + v.Owner
	}
	state := fmt.Sprintf("%-9s", v.State)
	fmt.Fprintf(w, "%s  %s %s  %s", st.bold(v.ID), st.effect(strings.TrimSpace(state))+state[len(strings.TrimSpace(state)):], v.Tool, who)
	if v.Task != nil {
		fmt.Fprintf(w, "  task %s", v.Task.ID)
		if v.Task.Purpose != "" {
			fmt.Fprintf(w, " %q", v.Task.Purpose)
		}
	}
	switch {
	case v.State == store.ApprovalPending:
		fmt.Fprintf(w, "  until %s", v.ExpiresAt.Local().Format(time.RFC3339))
	case v.Answer != nil:
		fmt.Fprintf(w, "  by %s", v.Answer.Approver)
	}
	fmt.Fprintln(w)
	if len(v.Reasons) > 0 {
		fmt.Fprintf(w, "    why: %s\n", strings.Join(v.Reasons, "; "))
	}
	args := string(v.Arguments)
	if !full && len(args) > 200 {
		args = args[:200] + "…"
	}
	if full {
		if b, err := json.MarshalIndent(v.Arguments, "    ", "  "); err == nil {
			args = string(b)
		}
		fmt.Fprintf(w, "    arguments (sha256 %s):\n    %s\n", v.ArgsSHA256, args)
		if v.Answer != nil && v.Answer.Comment != "" {
			fmt.Fprintf(w, "    comment: %s\n", v.Answer.Comment)
		}
		return
	}
	fmt.Fprintf(w, "    arguments: %s\n", args)
}
