package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/server"
	"callvault/internal/vault"
)

// TestDemoFirstRun: the demo's first run sets up every capability on
// show, and speech analytics finds the sample call's topics and
// categories once its job runs; the second run changes nothing.
func TestDemoFirstRun(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	app := &App{Name: "callvault", Stdout: &stdout, Stderr: io.Discard, Now: time.Now}
	m := &demoMain{serveMain: serveMain{app: app}}
	m.flags.dataDir = dir
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := m.setUp(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"login:    admin@demo", "legal hold", "screen recording", "speech analytics: 4 topics and 4 categories",
		"quality management: form \"Customer service call\" v1; the call in speech evaluated: 50.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run output lacks %q:\n%s", want, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.RunJobs(ctx) }()
	defer func() { cancel(); <-done }()

	var a vault.Analysis
	deadline := time.Now().Add(90 * time.Second)
	for {
		a, err = srv.Svc.Store.Analysis(context.Background(), demoTenant, demoAnalyticsID)
		cfg, _ := srv.Svc.Store.AnalyticsConfig(context.Background(), demoTenant)
		if err == nil && a.Status != vault.AnalysisPending && a.Version >= cfg.Version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo call was not analysed: %+v, %v", a, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if a.Status != vault.AnalysisDone {
		t.Fatalf("demo analysis: %+v", a)
	}
	var topics []string
	for _, e := range a.Events {
		if e.Type == vault.EventTopic && !slices.Contains(topics, e.Name) {
			topics = append(topics, e.Name)
		}
	}
	slices.Sort(topics)
	if want := []string{"Cancellation", "Escalation", "Greeting"}; !slices.Equal(topics, want) {
		t.Errorf("demo topics %q, want %q", topics, want)
	}
	if want := []string{"Churn risk", "Angry churn", "Escalated at the end"}; !slices.Equal(a.Categories, want) {
		t.Errorf("demo categories %q, want %q", a.Categories, want)
	}

	stdout.Reset()
	if err := m.setUp(context.Background(), srv); err != nil || !strings.Contains(stdout.String(), "demo tenant exists") {
		t.Errorf("second run: %v, %q", err, stdout.String())
	}
}
