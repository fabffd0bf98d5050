package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/qm"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
	"callvault/internal/vault"
	"callvault/internal/web"
)

// The evaluation page of a 100-question form (10 groups, a condition
// every fifth question), every question answered with a comment and a
// playback time, as its evaluator opens it:
//
//	go test ./internal/web -run '^$' -bench QMEvaluationPage -benchtime 50x
//
// BenchmarkQMEvaluationPage is server time (handler in-process);
// BenchmarkQMEvaluationPageBrowser is what Chromium takes from the
// navigation to the load event (request, HTML, CSS, qm.js run).

// qmBenchPage sets up a tenant with the big form and a saved evaluation of
// one call, and returns the handler, the admin's session token and the
// evaluation's page path.
func qmBenchPage(b *testing.B) (*server.Server, http.Handler, string, string) {
	b.Helper()
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: b.TempDir(), NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	svc := srv.Svc
	admin, err := svc.InitTenant(ctx, "acme", "admin", adminPassword)
	if err != nil {
		b.Fatal(err)
	}
	rec := testenv.BenchRecording("acme", 7)
	if err := svc.Store.UpdateRecording(ctx, "acme", rec.ID, func(r *vault.Recording, _ []vault.Media) error { *r = rec; return nil }); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateForm(ctx, admin, []byte(testenv.BigQMForm())); err != nil {
		b.Fatal(err)
	}
	form, err := svc.PublishForm(ctx, admin, "big")
	if err != nil {
		b.Fatal(err)
	}
	list, err := svc.Assign(ctx, admin, []service.AssignRequest{{RecordingID: rec.ID, FormID: "big", Evaluator: "admin"}})
	if err != nil {
		b.Fatal(err)
	}
	var answers []vault.AnswerValue
	for i, q := range qm.Questions(form) {
		yes, at := "yes", int64(i*1500)
		answers = append(answers, vault.AnswerValue{Question: q.ID, Answer: &yes, Comment: "Heard it clearly at this point.", AtMs: &at})
	}
	if _, err := svc.SaveEvaluation(ctx, admin, list[0].ID, service.SaveInput{Answers: answers}); err != nil {
		b.Fatal(err)
	}
	logins := service.NewLogins(svc, service.LoginOptions{})
	token, _, err := logins.Login(ctx, "admin@acme", adminPassword, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	return srv, web.New(svc, web.Options{Logins: logins}).Handler(), token, "/qm/evaluations/" + list[0].ID
}

func BenchmarkQMEvaluationPage(b *testing.B) {
	_, h, token, path := qmBenchPage(b)
	size := 0
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: token})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "g9q9") {
			b.Fatalf("status %d, or the last question missing", w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	b.ReportMetric(float64(size), "bytes")
}

func BenchmarkQMEvaluationPageBrowser(b *testing.B) {
	_, h, _, path := qmBenchPage(b)
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromiumPath), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(b.TempDir()),
		chromedp.WindowSize(1280, 900), chromedp.Flag("mute-audio", true), chromedp.Flag("disable-background-networking", true))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	b.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/login"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin@acme"), chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("login-form")), chromedp.WaitVisible(chromedp.ID("search-form"))); err != nil {
		b.Fatal(err)
	}
	var total float64
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+path), chromedp.WaitReady(chromedp.CSS(`fieldset[data-question="g9q9"]`))); err != nil {
			b.Fatal(err)
		}
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise(r => { const n = () => { const e = performance.getEntriesByType("navigation")[0]; e && e.loadEventEnd > 0 ? r(e.loadEventEnd - e.startTime) : setTimeout(n, 5) }; n() })`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		total += loaded
	}
	b.ReportMetric(total/float64(b.N), "ms/load")
}
