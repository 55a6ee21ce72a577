package main

import (
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/tracking"
)

// config is every setting of `treu serve`, from flags and TREU_* variables.
type config struct {
	Listen        string
	Data          string
	Database      string // "" = SQLite in Data; postgres://... = PostgreSQL (database.go)
	SecretFile    string // the link-signing key shared by instances; "" = Data/secret.key
	BaseURL       string
	SMTPURL       string
	From          string
	FromName      string
	ShopName      string
	Impressum     string
	FlowTick      time.Duration
	PendingTTL    time.Duration
	MailRetention time.Duration
	LogLevel      string
	LogFormat     string
	TrustProxy    bool
	Workers       int
	DKIMKey       string
	DKIMSelector  string
	DKIMDomain    string
	Timezone      string
	Stages        stageFlags
	Loyalty       loyalty.Config // bonus points, rewards and referrals
	UTM           string         // query added to tracked links' targets; "off" for none
	Attribution   time.Duration  // an order this long after a click or open is credited to the mail

	// The contact policy for marketing mail (package contact); 0 or "off"
	// turns a part off.
	ContactPerDay  int
	ContactPerWeek int
	QuietHours     string
	// Contact is the policy the three above make, in Location; nil when
	// all three are off.
	Contact *contact.Policy

	// Location is Timezone loaded: cron expressions, send times typed in the
	// UI and every time the UI shows are in this zone.
	Location *time.Location

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
	databaseFlags(fs, cfg)
	fs.StringVar(&cfg.BaseURL, "base-url", "", "public URL used in every link in a mail (default http://LISTEN)")
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "smtp://user:pass@host:port?tls=starttls|tls|none&max_conns=N&rate=N; several separated by spaces; empty captures mail in the outbox")
	fs.StringVar(&cfg.From, "from", "newsletter@localhost", "sender address, or name and address: \"Shop <news@shop.example>\"")
	fs.StringVar(&cfg.FromName, "from-name", "", "sender display name (default: the name in --from, else the shop name)")
	fs.StringVar(&cfg.ShopName, "shop-name", "Treu Shop", "the shop's name, shown in mails and pages")
	fs.StringVar(&cfg.Impressum, "impressum", "", `the shop's Impressum for every mail footer (name, postal address, ...; "\n" separates lines)`)
	fs.DurationVar(&cfg.FlowTick, "flow-tick", 30*time.Second, "how often the scheduler looks for due flow steps and scheduled campaigns")
	fs.DurationVar(&cfg.PendingTTL, "pending-ttl", 7*24*time.Hour, "unconfirmed subscribers are deleted after this long (at most 14 days)")
	fs.DurationVar(&cfg.MailRetention, "mail-retention", 720*time.Hour, "sent and failed mail and the outbox are deleted after this long")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", false, "take client IPs from X-Forwarded-For set by a proxy on loopback or a private network")
	fs.IntVar(&cfg.Workers, "queue-workers", 4, "workers delivering single mails (confirmations, flows, tests)")
	fs.StringVar(&cfg.DKIMKey, "dkim-key", "", "PEM file with the DKIM private key (RSA or Ed25519); empty: no signing")
	fs.StringVar(&cfg.DKIMSelector, "dkim-selector", "treu", "DKIM selector")
	fs.StringVar(&cfg.DKIMDomain, "dkim-domain", "", "DKIM signing domain (default: the --from domain)")
	fs.StringVar(&cfg.Timezone, "timezone", "Europe/Berlin", "the shop's time zone (IANA name): cron expressions, send times and every time in the UI are in it")
	fs.IntVar(&cfg.Stages.RegularOrders, "stage-regular-orders", 4, "orders that make a customer a regular")
	fs.IntVar(&cfg.Stages.RegularMonths, "stage-regular-months", 3, "... or 30-day months with an order out of the last 6")
	fs.IntVar(&cfg.Stages.PromoterScore, "stage-promoter-score", 9, "lowest NPS score (0-10) of a promoter (who also has 2+ orders)")
	fs.Float64Var(&cfg.Stages.LapsingFactor, "stage-lapsing-factor", 2, "lapsing after this many times the customer's usual gap between orders ...")
	fs.IntVar(&cfg.Stages.LapsingDays, "stage-lapsing-days", 90, "... but at least this many days without an order")
	fs.IntVar(&cfg.Stages.LostDays, "stage-lost-days", 365, "days without an order after which a customer is lost")
	fs.Float64Var(&cfg.Loyalty.PointsPerEuro, "points-per-euro", 0, "bonus points an order earns per unit of the shop's currency; 0: no points")
	fs.Int64Var(&cfg.Loyalty.RewardPoints, "reward-points", 0, "a points balance this large becomes a coupon code of --reward-pool; 0: never")
	fs.StringVar(&cfg.Loyalty.RewardPool, "reward-pool", "", "coupon pool (slug) the codes for points come from")
	fs.Int64Var(&cfg.Loyalty.ReferralPoints, "referral-points", 0, "points a subscriber earns when a friend who enrolled through their referral link first orders")
	fs.StringVar(&cfg.Loyalty.ReferralPool, "referral-pool", "", "coupon pool (slug) a referrer also gets a code of at the friend's first order; empty: none")
	fs.StringVar(&cfg.UTM, "utm", tracking.DefaultUTM, `query added to every tracked link's target ({slug}: the campaign's or flow's, {id}: the campaign id); "off" adds none`)
	fs.DurationVar(&cfg.Attribution, "attribution-window", 5*24*time.Hour, "an order this long after a click (or open) on a campaign or flow mail is credited to it")
	fs.IntVar(&cfg.ContactPerDay, "contact-per-day", contact.DefaultPerDay, "at most this many marketing mails (campaigns and flows) per subscriber per day in the shop's zone; 0: no daily cap")
	fs.IntVar(&cfg.ContactPerWeek, "contact-per-week", contact.DefaultPerWeek, "... and per week (that day and the six before); 0: no weekly cap")
	fs.StringVar(&cfg.QuietHours, "quiet-hours", contact.DefaultQuiet, `no marketing mail between these times in the shop's zone (flow steps and waiting campaigns go on when they end); "off" for none`)
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

// validate checks every setting and fills the derived ones, so that a bad
// value stops `treu serve` before anything is created or started, with an
// error naming its flag, instead of failing each mail later.
func (c *config) validate() error {
	if err := c.checkDatabase(true); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q must be host:port, e.g. 127.0.0.1:8080 or :8080", c.Listen)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
		c.baseURLDefaulted = true
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("--base-url %q must be an absolute http(s) URL without query or fragment, e.g. https://news.shop.example", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	for i, raw := range strings.Fields(c.SMTPURL) {
		// The error never repeats the URL: it holds the password.
		if _, err := mailer.ParseSMTPURL(raw); err != nil {
			return fmt.Errorf("--smtp-url (server %d): %w", i+1, err)
		}
	}
	if c.PendingTTL <= 0 || c.PendingTTL > 14*24*time.Hour {
		return fmt.Errorf("--pending-ttl %s must be between 0 and 14 days", c.PendingTTL)
	}
	if c.MailRetention < time.Hour {
		return fmt.Errorf("--mail-retention %s must be at least 1h", c.MailRetention)
	}
	if c.FlowTick < time.Second || c.FlowTick > time.Hour {
		return fmt.Errorf("--flow-tick %s must be between 1s and 1h", c.FlowTick)
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("--queue-workers %d must be between 1 and 256", c.Workers)
	}
	loc, err := loadLocation(c.Timezone)
	if err != nil {
		return err
	}
	c.Location = loc
	if err := c.parseFrom(); err != nil {
		return err
	}
	if c.DKIMKey != "" {
		pem, err := os.ReadFile(c.DKIMKey)
		if err != nil {
			return fmt.Errorf("--dkim-key: %w", err)
		}
		if c.DKIMDomain == "" {
			c.DKIMDomain = c.From[strings.LastIndexByte(c.From, '@')+1:]
		}
		if _, err := mailer.NewDKIM(c.DKIMDomain, c.DKIMSelector, pem); err != nil {
			return fmt.Errorf("--dkim-key, --dkim-domain or --dkim-selector: %w", err)
		}
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
	if c.ContactPerDay < 0 || c.ContactPerDay > 100 {
		return fmt.Errorf("--contact-per-day %d must be 0 (no cap) to 100", c.ContactPerDay)
	}
	if c.ContactPerWeek < 0 || c.ContactPerWeek > 700 {
		return fmt.Errorf("--contact-per-week %d must be 0 (no cap) to 700", c.ContactPerWeek)
	}
	if c.ContactPerDay > 0 && c.ContactPerWeek > 0 && c.ContactPerWeek < c.ContactPerDay {
		return fmt.Errorf("--contact-per-week %d is below --contact-per-day %d", c.ContactPerWeek, c.ContactPerDay)
	}
	from, to, err := contact.ParseQuiet(c.QuietHours)
	if err != nil {
		return fmt.Errorf("--quiet-hours: %w", err)
	}
	c.Contact = &contact.Policy{PerDay: c.ContactPerDay, PerWeek: c.ContactPerWeek, QuietFrom: from, QuietTo: to, Location: c.Location}
	if !c.Contact.Capped() && from == to {
		c.Contact = nil // all off: nothing to check, nothing worth logging
	}
	if err := c.Stages.retention().Validate(); err != nil {
		return fmt.Errorf("--stage-*: %w", err)
	}
	if err := c.Loyalty.Validate(); err != nil {
		return fmt.Errorf("--%s", err.Error())
	}
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

// parseFrom accepts "news@shop.example" or "Shop <news@shop.example>"
// (net/mail syntax). The name goes to FromName unless --from-name is set;
// without either, the shop name is the sender name. The result is checked
// with the rule every outgoing mail passes, so a sender that would fail each
// enrollment's confirmation mail later fails here, once.
func (c *config) parseFrom() error {
	a, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf(`--from %q must be an address, or a name and an address such as "Shop <news@shop.example>"`, c.From)
	}
	c.From = a.Address
	if c.FromName == "" {
		c.FromName = a.Name
	}
	if c.FromName == "" {
		c.FromName = c.ShopName
	}
	m := mailer.Message{From: c.From, FromName: c.FromName, To: c.From, Subject: "check", Text: "check"}
	if err := m.Validate(); err != nil {
		name := "--from"
		if f, ok := errs.As(err); ok && f.Field == "from_name" {
			name = "--from-name (or --shop-name)"
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// loadLocation reads an IANA zone name. The zone database is embedded in the
// binary (time/tzdata in main.go), so this works on a machine without one,
// such as a scratch container. "Local" is refused: the shop's zone must not
// depend on where the server happens to run.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("--timezone %q must be an IANA zone name such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("--timezone %q is not a known time zone (IANA name such as Europe/Berlin): %w", name, err)
	}
	return loc, nil
}

// stageFlags are the ladder's thresholds (package retention).
type stageFlags struct {
	RegularOrders, RegularMonths, PromoterScore, LapsingDays, LostDays int
	LapsingFactor                                                      float64
}

func (f stageFlags) retention() retention.Config {
	const day = 24 * time.Hour
	return retention.Config{
		RegularOrders: f.RegularOrders,
		RegularMonths: f.RegularMonths,
		PromoterScore: f.PromoterScore,
		LapsingFactor: f.LapsingFactor,
		LapsingMin:    time.Duration(f.LapsingDays) * day,
		LostAfter:     time.Duration(f.LostDays) * day,
	}.WithDefaults()
}
