package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// instance is a whole Treu started in-process on a free port with its data in
// a temp dir: the real binary minus os.Exit.
type instance struct {
	t     *testing.T
	base  string
	data  string
	token string
	stop  func()
}

func startTreu(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	data := t.TempDir()
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--data", data, "--name", "test"}, getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())

	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- serve(ctx, append([]string{"--data", data, "--listen", "127.0.0.1:0"}, args...), getenv, io.Discard, logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	in := &instance{t: t, base: "http://" + addr, data: data, token: tok}
	in.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}
	t.Cleanup(func() {
		if in.stop != nil {
			in.stop()
		}
	})
	return in
}

// do sends a request with the API token and decodes a JSON answer into out.
func (in *instance) do(method, path string, body any, out any) int {
	in.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, in.base+path, r)
	req.Header.Set("Authorization", "Bearer "+in.token)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			in.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestHealthMetricsAndAuth(t *testing.T) {
	in := startTreu(t, nil)
	var h map[string]string
	if st := in.do("GET", "/healthz", nil, &h); st != 200 || h["status"] != "ok" {
		t.Fatalf("healthz = %d %v", st, h)
	}
	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "treu_http_requests_total") {
		t.Fatalf("metrics = %d\n%s", resp.StatusCode, body)
	}

	for _, auth := range []string{"", "Bearer ", "Bearer treu_wrong", "Basic abc"} {
		req, _ := http.NewRequest("GET", in.base+"/api/subscribers/1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 401 || e.Error == "" {
			t.Errorf("auth %q: status %d error %q; want 401 with a JSON error", auth, resp.StatusCode, e.Error)
		}
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	var cfg config
	fs := newFlagSet("serve", &cfg)
	env := map[string]string{"TREU_LISTEN": "0.0.0.0:9", "TREU_SHOP_NAME": "Env Shop", "TREU_FLOW_TICK": "5s"}
	if err := parseFlags(fs, []string{"--listen", "127.0.0.1:7"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7" || cfg.ShopName != "Env Shop" || cfg.FlowTick != 5*time.Second {
		t.Fatalf("cfg = %+v", cfg)
	}
	if err := parseFlags(newFlagSet("serve", &cfg), nil, func(k string) string {
		return map[string]string{"TREU_FLOW_TICK": "soon"}[k]
	}); err == nil || !strings.Contains(err.Error(), "TREU_FLOW_TICK") {
		t.Fatalf("bad env value: err = %v; want one naming TREU_FLOW_TICK", err)
	}
}
