package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"callvault/internal/postgres"
	"callvault/internal/qm"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// The QM benchmarks, on the backends CALLVAULT_TEST_BACKEND names
// (default SQLite and files):
//
//	go test ./internal/httpapi -run '^$' -bench 'QM' -benchtime 20x
//	CALLVAULT_TEST_BACKEND=postgres-minio go test ./internal/httpapi -run '^$' -bench 'QM' -benchtime 20x

// qmBenchEvaluations is how many evaluations the report benchmark
// stores: 5 of each of 20,000 calls of 200 agents in 40 teams, submitted
// over a year.
const qmBenchEvaluations = 100_000

func qmBenchServer(b *testing.B) (*server.Server, *vault.User) {
	b.Helper()
	be := testenv.Backend(b)
	srv, err := server.Open(context.Background(), server.Config{DataDir: b.TempDir(), DB: be.DB, Blob: be.Blob,
		NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	admin, err := srv.Svc.InitTenant(context.Background(), "bench", "admin", "bench-password")
	if err != nil {
		b.Fatal(err)
	}
	srv.Svc.DisableAudit = true // seeding only; the requests timed write none
	return srv, admin
}

func benchGet(b *testing.B, h http.Handler, path, login, password string) int {
	b.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.SetBasicAuth(login, password)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, w.Code, w.Body.String())
	}
	return w.Body.Len()
}

// BenchmarkQMAgentReport is GET /qm/reports/agents over a year of
// 100,000 evaluations by week: as an admin (every agent and team) and as a
// supervisor of one site (half of them, through the access rule).
func BenchmarkQMAgentReport(b *testing.B) {
	srv, admin := qmBenchServer(b)
	ctx := context.Background()
	const calls = qmBenchEvaluations / 5
	for i := range calls {
		r := testenv.BenchRecording("bench", i)
		if err := srv.Svc.Store.UpdateRecording(ctx, "bench", r.ID, func(x *vault.Recording, _ []vault.Media) error { *x = r; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	year := 365 * 24 * time.Hour
	batch := make([]vault.Evaluation, 0, 1000)
	for j := range qmBenchEvaluations {
		r := testenv.BenchRecording("bench", j%calls)
		at := testenv.BenchStart.Add(time.Duration(j) * (year / qmBenchEvaluations))
		total, critical := float64(40+j%61), float64(j%101)
		state := []string{vault.EvalSubmitted, vault.EvalSignedOff, vault.EvalDisputed, vault.EvalSignedOff, vault.EvalAssigned}[j%5]
		e := vault.Evaluation{Tenant: "bench", ID: fmt.Sprintf("ev%06d", j), RecordingID: r.ID, Agent: r.Agents[0], Team: r.Groups[1],
			Evaluator: "admin", FormID: "f", Version: 1, Kind: vault.KindEvaluation, State: state, Revision: 1,
			Answers: []vault.AnswerValue{}, CreatedBy: "admin", CreatedAt: at, UpdatedAt: at}
		if state != vault.EvalAssigned {
			e.SubmittedAt = at
			e.Score = &vault.Score{Total: &total, Critical: &critical, Fatal: j%97 == 0}
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := srv.Svc.Store.CreateEvaluations(ctx, batch, vault.Effects{}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if pg, ok := srv.Svc.Store.(*postgres.Store); ok {
		// A year of evaluations has been vacuumed by autovacuum; a table
		// filled a second ago has not (every index-only scan would visit
		// the heap).
		if _, err := pg.Pool().Exec(ctx, "VACUUM ANALYZE qm_evaluations"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := srv.Svc.CreateUser(ctx, admin, service.UserInput{UserName: "site0", Password: ptrTo("site0-password"),
		Roles: []vault.Role{vault.RoleSupervisor}, AccessGroups: []string{"/Site0"}}); err != nil {
		b.Fatal(err)
	}
	q := url.Values{"from": {testenv.BenchStart.Format(time.RFC3339)}, "to": {testenv.BenchStart.Add(year).Format(time.RFC3339)}, "interval": {"week"}}
	path := "/api/v2/qm/reports/agents?" + q.Encode()
	h := srv.Handler()
	for _, who := range []struct{ name, login, password string }{{"admin", "admin@bench", "bench-password"}, {"supervisor", "site0@bench", "site0-password"}} {
		b.Run("viewer="+who.name, func(b *testing.B) {
			benchGet(b, h, path, who.login, who.password) // the password check (argon2), untimed
			b.ResetTimer()
			for b.Loop() {
				benchGet(b, h, path, who.login, who.password)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
		})
	}
}

// BenchmarkQMEvaluationOpen is GET /qm/evaluations/{id} of an evaluation
// of a 100-question form with every question answered and commented: the
// evaluation, its form version and the viewer check.
func BenchmarkQMEvaluationOpen(b *testing.B) {
	srv, admin := qmBenchServer(b)
	id := qmBenchEvaluation(b, srv, admin)
	h := srv.Handler()
	path := "/api/v2/qm/evaluations/" + id
	size := benchGet(b, h, path, "admin@bench", "bench-password")
	b.ResetTimer()
	for b.Loop() {
		benchGet(b, h, path, "admin@bench", "bench-password")
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/open")
	b.ReportMetric(float64(size), "bytes")
}

// qmBenchEvaluation stores a call, the 100-question form and a saved
// evaluation of it answering everything, and returns its id.
func qmBenchEvaluation(b *testing.B, srv *server.Server, admin *vault.User) string {
	b.Helper()
	ctx := context.Background()
	r := testenv.BenchRecording("bench", 1)
	if err := srv.Svc.Store.UpdateRecording(ctx, "bench", r.ID, func(x *vault.Recording, _ []vault.Media) error { *x = r; return nil }); err != nil {
		b.Fatal(err)
	}
	if _, err := srv.Svc.CreateForm(ctx, admin, []byte(testenv.BigQMForm())); err != nil {
		b.Fatal(err)
	}
	form, err := srv.Svc.PublishForm(ctx, admin, "big")
	if err != nil {
		b.Fatal(err)
	}
	list, err := srv.Svc.Assign(ctx, admin, []service.AssignRequest{{RecordingID: r.ID, FormID: "big", Evaluator: "admin"}})
	if err != nil {
		b.Fatal(err)
	}
	var answers []vault.AnswerValue
	for i, q := range qm.Questions(form) {
		yes := "yes"
		at := int64(i * 1500)
		answers = append(answers, vault.AnswerValue{Question: q.ID, Answer: &yes, Comment: "Heard it clearly at this point.", AtMs: &at})
	}
	if _, err := srv.Svc.SaveEvaluation(ctx, admin, list[0].ID, service.SaveInput{Answers: answers}); err != nil {
		b.Fatal(err)
	}
	return list[0].ID
}

func ptrTo[T any](v T) *T { return &v }
