package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/treu-mail/treu/tracking"
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
	UTM          string        // query added to tracked links' targets; "off" for none
	Attribution  time.Duration // an order this long after a click or open is credited to the mail

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
	fs.StringVar(&cfg.UTM, "utm", tracking.DefaultUTM, `query added to every tracked link's target ({slug}: the campaign's or flow's, {id}: the campaign id); "off" adds none`)
	fs.DurationVar(&cfg.Attribution, "attribution-window", 5*24*time.Hour, "an order this long after a click (or open) on a campaign or flow mail is credited to it")
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
	if c.UTM = strings.TrimSpace(c.UTM); c.UTM == "off" || c.UTM == "none" {
		c.UTM = ""
	}
	if q, err := url.ParseQuery(strings.NewReplacer("{slug}", "s", "{id}", "1").Replace(c.UTM)); err != nil || strings.ContainsAny(c.UTM, "?# ") {
		return fmt.Errorf("--utm %q must be a URL query such as %s", c.UTM, tracking.DefaultUTM)
	} else if len(q) == 0 && c.UTM != "" {
		return fmt.Errorf("--utm %q names no parameter", c.UTM)
	}
	if c.Attribution < time.Hour || c.Attribution > 90*24*time.Hour {
		return fmt.Errorf("--attribution-window %s must be between 1h and 90 days", c.Attribution)
	}
	return nil
}
