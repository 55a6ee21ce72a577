package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// config is every setting of `treu serve`, from flags and TREU_* variables.
type config struct {
	Listen       string
	Data         string
	BaseURL      string
	SMTPURL      string
	From         string
	FromName     string
	ShopName     string
	Impressum    string
	FlowTick     time.Duration
	PendingTTL   time.Duration
	LogLevel     string
	LogFormat    string
	TrustProxy   bool
	Workers      int
	DKIMKey      string
	DKIMSelector string
	DKIMDomain   string

	// Feedback (package feedback): bounces and complaints.
	BounceDomain     string
	BounceListen     string
	SoftBounceLimit  int
	SoftBounceWindow time.Duration
	// Relays' event webhooks; each empty setting leaves its endpoint off.
	SESTopicARN         string
	SendGridWebhookKey  string
	MailgunWebhookKey   string
	WebhookBasicSecret  string
	WebhookAllowPrivate bool

	baseURLDefaulted bool // no --base-url: links point at the listening address
}

// newFlagSet declares the settings; each flag --x-y also reads TREU_X_Y.
func newFlagSet(name string, cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.Data, "data", "./treu-data", "data folder (database, secret key)")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "public URL used in every link in a mail (default http://LISTEN)")
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "smtp://user:pass@host:port?tls=starttls|tls|none&max_conns=N&rate=N; several separated by spaces; empty captures mail in the outbox")
	fs.StringVar(&cfg.From, "from", "newsletter@localhost", "sender address")
	fs.StringVar(&cfg.FromName, "from-name", "", "sender display name (default: shop name)")
	fs.StringVar(&cfg.ShopName, "shop-name", "Treu Shop", "the shop's name, shown in mails and pages")
	fs.StringVar(&cfg.Impressum, "impressum", "", `the shop's Impressum for every mail footer (name, postal address, ...; "\n" separates lines)`)
	fs.DurationVar(&cfg.FlowTick, "flow-tick", 30*time.Second, "how often the scheduler looks for due flow steps and scheduled campaigns")
	fs.DurationVar(&cfg.PendingTTL, "pending-ttl", 7*24*time.Hour, "unconfirmed subscribers are deleted after this long (at most 14 days)")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", false, "take client IPs from X-Forwarded-For set by a proxy on loopback or a private network")
	fs.IntVar(&cfg.Workers, "queue-workers", 4, "workers delivering single mails (confirmations, flows, tests)")
	fs.StringVar(&cfg.DKIMKey, "dkim-key", "", "PEM file with the DKIM private key (RSA or Ed25519); empty: no signing")
	fs.StringVar(&cfg.DKIMSelector, "dkim-selector", "treu", "DKIM selector")
	fs.StringVar(&cfg.DKIMDomain, "dkim-domain", "", "DKIM signing domain (default: the --from domain)")
	fs.StringVar(&cfg.BounceDomain, "bounce-domain", "", "domain of the VERP return path bounces+TOKEN@DOMAIN on every mail (default: the --from domain)")
	fs.StringVar(&cfg.BounceListen, "bounce-listen", "", "address of the SMTP server that receives bounces and complaints for the bounce domain, e.g. 127.0.0.1:2526; empty: off")
	fs.IntVar(&cfg.SoftBounceLimit, "soft-bounce-limit", 3, "soft bounces within --soft-bounce-window that suppress an address")
	fs.DurationVar(&cfg.SoftBounceWindow, "soft-bounce-window", 30*24*time.Hour, "the window in which soft bounces are counted")
	fs.StringVar(&cfg.SESTopicARN, "ses-topic-arn", "", "SNS topic ARN(s), comma-separated, whose SES notifications POST /webhooks/ses accepts; empty: off")
	fs.StringVar(&cfg.SendGridWebhookKey, "sendgrid-webhook-key", "", "SendGrid Event Webhook verification key (base64); empty: /webhooks/sendgrid off")
	fs.StringVar(&cfg.MailgunWebhookKey, "mailgun-webhook-key", "", "Mailgun HTTP webhook signing key; empty: /webhooks/mailgun off")
	fs.StringVar(&cfg.WebhookBasicSecret, "webhook-basic-secret", "", "password the Postmark and Brevo webhook URLs carry as HTTP Basic auth; empty: those endpoints off")
	fs.BoolVar(&cfg.WebhookAllowPrivate, "webhook-allow-private", false, "let the shop's webhooks call loopback and private network addresses")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "text or json")
	return fs
}

// parseFlags parses args, then fills every flag not given from its TREU_*
// variable: a flag wins over the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "TREU_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

func (c *config) validate() error {
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
		c.baseURLDefaulted = true
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--base-url %q must be an absolute http(s) URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.PendingTTL <= 0 || c.PendingTTL > 14*24*time.Hour {
		return fmt.Errorf("--pending-ttl %s must be between 0 and 14 days", c.PendingTTL)
	}
	if c.FlowTick < time.Second {
		return fmt.Errorf("--flow-tick %s must be at least 1s", c.FlowTick)
	}
	if c.FromName == "" {
		c.FromName = c.ShopName
	}
	c.Impressum = strings.ReplaceAll(c.Impressum, `\n`, "\n")
	if c.BounceDomain == "" {
		c.BounceDomain = c.From[strings.LastIndexByte(c.From, '@')+1:]
	}
	if c.SoftBounceLimit < 1 || c.SoftBounceLimit > 100 {
		return fmt.Errorf("--soft-bounce-limit %d must be 1 to 100", c.SoftBounceLimit)
	}
	if c.SoftBounceWindow < time.Hour {
		return fmt.Errorf("--soft-bounce-window %s must be at least 1h", c.SoftBounceWindow)
	}
	return nil
}
