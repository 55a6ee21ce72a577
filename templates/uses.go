package templates

import (
	"context"
	"text/template/parse"
)

// UsesCoupon says whether the mail prints {{ .Coupon }} anywhere (subject,
// preheader, Markdown or layout), so a sender can refuse a mail that would
// go out with an empty code: a coupon needs a pool to come from.
func (t *Template) UsesCoupon() bool { return t.usesCoupon }

// UsesLoyalty says whether the mail prints {{ .Points }} or
// {{ .ReferralURL }}, so a sender reads the balances only for such mails.
func (t *Template) UsesLoyalty() bool { return t.usesLoyalty }

// Loyalty is what a mail shows of the bonus programme (package loyalty).
type Loyalty struct {
	Points      int64
	ReferralURL string
}

// LoyaltyOf reads the bonus programme of subscribers; senders take it as a
// hook (campaigns.Config.Loyalty, flows.Config.Loyalty) from cmd/treu.
type LoyaltyOf func(ctx context.Context, ids []int64) (map[int64]Loyalty, error)

func usesField(name string, trees ...*parse.Tree) bool {
	found := false
	var walk func(n parse.Node)
	walkPipe := func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		for _, c := range p.Cmds {
			walk(c)
		}
	}
	walk = func(n parse.Node) {
		if found || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walkPipe(n.Pipe)
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.PipeNode:
			walkPipe(n)
		case *parse.FieldNode:
			found = len(n.Ident) > 0 && n.Ident[0] == name
		case *parse.VariableNode:
			found = len(n.Ident) > 1 && n.Ident[0] == "$" && n.Ident[1] == name
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walkPipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	for _, t := range trees {
		if t != nil {
			walk(t.Root)
		}
	}
	return found
}
