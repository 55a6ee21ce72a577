package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/treu-mail/treu/web"
)

// serve runs Treu until ctx is cancelled. ready, if not nil, receives the
// running app once requests are accepted (tests listen on :0 and drive its
// scheduled work directly instead of waiting for cron).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- *app) error {
	var cfg config
	fs := newFlagSet("serve", &cfg)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := requirePorted(&cfg); err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}

	if cfg.Impressum == "" {
		log.Warn("no --impressum set: German law (§ 5 DDG) wants the shop's name and postal address in every marketing mail")
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if cfg.Database == "" {
		// On PostgreSQL instances are meant to run side by side.
		unlock, err := lockData(cfg.Data)
		if err != nil {
			return err
		}
		defer unlock()
	}
	db, err := openData(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := secretFor(&cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var bounceLn net.Listener
	if cfg.BounceListen != "" {
		if bounceLn, err = net.Listen("tcp", cfg.BounceListen); err != nil {
			return fmt.Errorf("--bounce-listen: %w", err)
		}
		defer bounceLn.Close()
	}
	if cfg.baseURLDefaulted {
		// With --listen :0 the port is known only now; links must carry it.
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	app, err := wire(ctx, cfg, db, secret, log)
	if err != nil {
		return err
	}
	defer app.close()
	srv := web.New(web.Config{BaseURL: cfg.BaseURL, OutboxOnly: cfg.SMTPURL == "", TrustProxy: cfg.TrustProxy,
		Location: cfg.Location}, app.deps)
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Background work stops with workCtx; HTTP drains first, so a request
	// accepted before SIGTERM still finds its workers.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	app.start(workCtx, &wg)
	if bounceLn != nil {
		bl, err := app.feedback.NewListener(hostOf(cfg.BaseURL))
		if err != nil {
			stopWork()
			wg.Wait()
			return err
		}
		wg.Go(func() {
			if err := bl.Serve(workCtx, bounceLn); err != nil {
				log.Error("bounce listener stopped", slog.Any("error", err))
			}
		})
		app.bounceAddr = bounceLn.Addr().String()
		log.Info("receiving bounces", slog.String("listen", app.bounceAddr), slog.String("domain", cfg.BounceDomain))
	}

	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()
	log.Info("treu is running", slog.String("listen", ln.Addr().String()), slog.String("base_url", cfg.BaseURL),
		slog.String("data", cfg.Data), slog.Bool("outbox_only", cfg.SMTPURL == ""))
	if ready != nil {
		app.addr = ln.Addr().String()
		ready <- app
	}

	select {
	case <-ctx.Done():
	case err := <-httpErr:
		stopWork()
		wg.Wait()
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", slog.Any("error", err))
	}
	srv.Close()
	stopWork()
	wg.Wait()
	log.Info("stopped")
	return nil
}

// lockData keeps a second `treu serve` off the same data folder: two
// schedulers would be safe (claims are rows with leases) but an operator who
// starts two by mistake wants to know, not to find out from the logs later.
func lockData(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another treu serve is using %s (%v)", dir, err)
	}
	return func() { f.Close() }, nil
}

func newLogger(cfg config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q must be text or json", cfg.LogFormat)
}

// loadSecret reads the key that signs customer links, creating it on first
// start. Losing it invalidates every link in every mail sent so far, so it
// lives beside the database and goes into backups of the data folder.
func loadSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("secret key %s is shorter than 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	// O_EXCL: two instances starting at once must not write different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return b, nil
}
