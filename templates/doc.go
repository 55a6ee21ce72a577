// Package templates turns a mail's Markdown into personalised HTML and plain
// text. It is the one renderer behind preview, test send and real send, for
// campaigns, flows and the built-in system mails (double opt-in, welcome).
//
// Compile does all the expensive work once per mail: the Go template actions
// in subject, preheader and Markdown are checked (syntax, and unknown fields
// by executing against sample recipients) and reported as errs.Invalid with
// the field and line; the actions are swapped for inert tokens so goldmark
// (GFM), bluemonday (raw HTML is sanitised, never passed through) and the CSS
// inliner (go-premailer) cannot mangle them; the result is spliced into the
// layout, CSS is inlined, and the actions are put back into one html/template
// for the HTML part and one text/template for the plain-text part, which is
// written from the Markdown tree rather than stripped from HTML.
//
// Render then only executes, a few microseconds per recipient. Values are
// escaped by html/template for their context; a missing value renders as ""
// (or its {{ default }}), never "<no value>". Footer strings follow each
// recipient's locale (de/en).
//
// Executing through html/template costs a microsecond or more per action
// (reflection), so Compile also builds a program per footer language from
// the escaped parse trees (exec.go): the layout, footer and everything else
// that is the same for all recipients of a language becomes static text,
// and the recipient's values run through a direct interpreter with copies of
// html/template's escapers. What it does not implement (variables, JS or
// CSS contexts, a pointer value ...) runs on html/template and text/template
// as before, for the whole mail or for one recipient; the output is
// byte-identical either way, which Compile checks on sample recipients and
// the tests and fuzzer check broadly. Render uses pooled buffers; RenderTo
// with one Buffers per send worker avoids even that.
//
// Layouts are HTML templates with exactly one {{ content }}; the campaigns
// package stores them, this package validates and compiles them. The footer
// (Impressum, preference and unsubscribe links) is always in the mail: where
// a layout places {{ footer }}, or else before its </body>, or at its end; a
// {{ footer }} inside a condition, or one the rendered HTML does not show, is
// refused (footer.go). A recipient mailed as an existing customer (UWG § 7
// (3), Data.ExistingCustomer) gets, instead of the sign-up reason, the
// footer's notice that they may object at any time at no cost beyond base
// rates (Strings.Customer), in their language. Data.Points and
// Data.ReferralURL come from package loyalty through the LoyaltyOf hook of
// the senders, which read them only for mails that print them
// (Template.UsesLoyalty). Besides the
// recipient's Data a layout sees .Subject, .Preheader, .Shop (Name, LogoURL,
// Impressum lines) and .L (the footer strings in the recipient's language).
//
// A control action on a line of its own ({{ range .Cart.Items }}, {{ if }},
// {{ end }}) wraps whole blocks: table rows and list items between them are
// repeated inside one table or list.
//
// The package writes no tables; it has no state beyond a small cache of
// compiled system mails.
package templates
