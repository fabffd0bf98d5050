package qm

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

// scoringForm has every kind of group the rules name: weighted groups,
// a critical question, a fatal one, a conditional one, a text question,
// an empty group and a group that can be all N/A (the API's tests use it
// too).
var scoringForm = func() string {
	b, err := os.ReadFile("testdata/service-form.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func mustForm(t *testing.T, doc string) vault.Form {
	t.Helper()
	f, err := ParseForm([]byte(doc))
	if err != nil {
		t.Fatalf("ParseForm: %v", err)
	}
	return f
}

func pick(question, answer string) vault.AnswerValue {
	return vault.AnswerValue{Question: question, Answer: &answer}
}

func na(question string) vault.AnswerValue { return vault.AnswerValue{Question: question, NA: true} }

func ptr(v float64) *float64 { return &v }

func sameScore(got, want *float64) bool {
	if got == nil || want == nil {
		return got == want
	}
	return math.Abs(*got-*want) < 1e-9
}

func show(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%.4f", *p)
}

// TestScore checks the scoring rules of DESIGN.md against values worked
// out by hand (shown in each case's comment).
func TestScore(t *testing.T) {
	f := mustForm(t, scoringForm)
	cases := []struct {
		name     string
		answers  []vault.AnswerValue
		total    *float64
		critical *float64
		fatal    bool
	}{{
		// Greeting (2+1)/(2+3) = 0.6 ×1; Compliance (1+1)/(1+1) = 1 ×2;
		// Empty and Closing (N/A: 0 of 0) left out:
		// total (0.6 + 2)/3 = 86.67; critical: Greeting q2 1/3 ×1,
		// Compliance q3 1/1 ×2: (1/3 + 2)/3 = 77.78.
		name:    "weighted groups, N/A group left out",
		answers: []vault.AnswerValue{pick("q1", "yes"), pick("q2", "ok"), pick("q3", "yes"), pick("q4", "yes"), na("q6")},
		total:   ptr(260.0 / 3), critical: ptr((1.0/3 + 2) / 3 * 100),
	}, {
		// q3 answered with its lowest answer: fatal, total 0; q4 is
		// hidden (q3 is not yes), its answer ignored. Critical: Greeting
		// q2 3/3 ×1, Compliance q3 0/1 ×2: 1/3 = 33.33.
		name:    "fatal answer",
		answers: []vault.AnswerValue{pick("q1", "yes"), pick("q2", "good"), pick("q3", "no"), pick("q4", "yes")},
		total:   ptr(0), critical: ptr(100.0 / 3), fatal: true,
	}, {
		// Greeting: q2 N/A, q1 0/2 = 0 ×1; Compliance (1+0)/2 = 0.5 ×2;
		// Closing 1/1 ×3: (0 + 1 + 3)/6 = 66.67. Critical: Greeting's
		// only critical question is N/A (left out); Compliance q3 1/1:
		// 100.
		name:    "N/A counts as zero of zero",
		answers: []vault.AnswerValue{pick("q1", "no"), na("q2"), pick("q3", "yes"), pick("q4", "no"), pick("q6", "yes")},
		total:   ptr(400.0 / 6), critical: ptr(100),
	}, {
		// Nothing counts: no total, no critical score.
		name:    "all N/A",
		answers: []vault.AnswerValue{na("q2"), na("q6")},
		total:   nil, critical: nil,
	}, {
		// q4 shown (q3 yes) but unanswered: Compliance 1/1 ×2;
		// Greeting 0/2 ×1: 2/3 = 66.67. Critical: q3 only: 100.
		name:    "shown conditional question unanswered",
		answers: []vault.AnswerValue{pick("q1", "no"), pick("q3", "yes")},
		total:   ptr(200.0 / 3), critical: ptr(100),
	}, {
		// A text answer scores nothing: Greeting 2/2 alone: 100; no
		// critical question answered.
		name:    "text question has no points",
		answers: []vault.AnswerValue{pick("q1", "yes"), {Question: "q5", Text: "polite"}},
		total:   ptr(100), critical: nil,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Score(&f, c.answers)
			if !sameScore(got.Total, c.total) || !sameScore(got.Critical, c.critical) || got.Fatal != c.fatal {
				t.Errorf("score = total %s critical %s fatal %v; want total %s critical %s fatal %v",
					show(got.Total), show(got.Critical), got.Fatal, show(c.total), show(c.critical), c.fatal)
			}
		})
	}
}

func TestScoreZeroWeights(t *testing.T) {
	f := mustForm(t, strings.Replace(strings.Replace(strings.Replace(scoringForm, `"weight": 1`, `"weight": 0`, 1),
		`"weight": 2`, `"weight": 0`, 1), `"weight": 3`, `"weight": 0`, 1))
	s := Score(&f, []vault.AnswerValue{pick("q1", "yes"), pick("q3", "yes")})
	if s.Total != nil {
		t.Errorf("total with every weight 0 = %s, want nil (no weight to divide by)", show(s.Total))
	}
}

func TestComplete(t *testing.T) {
	f := mustForm(t, scoringForm)
	// q1 is required; q4 is required only while shown (q3 yes).
	if _, err := Complete(&f, []vault.AnswerValue{pick("q3", "no")}); err == nil || !strings.Contains(err.Error(), "q1") {
		t.Errorf("without q1: %v, want an error naming q1", err)
	}
	if _, err := Complete(&f, []vault.AnswerValue{pick("q1", "yes"), pick("q3", "yes")}); err == nil || !strings.Contains(err.Error(), "q4") {
		t.Errorf("q3 yes without q4: %v, want an error naming q4", err)
	}
	got, err := Complete(&f, []vault.AnswerValue{pick("q1", "yes"), pick("q3", "no"), pick("q4", "no")})
	if err != nil {
		t.Fatalf("q4 hidden: %v", err)
	}
	for _, a := range got {
		if a.Question == "q4" {
			t.Errorf("a hidden question's answer was kept: %+v", a)
		}
	}
}

func TestCheckAnswers(t *testing.T) {
	f := mustForm(t, scoringForm)
	at := int64(-5)
	bad := []struct {
		name    string
		answers []vault.AnswerValue
		want    string
	}{
		{"unknown question", []vault.AnswerValue{pick("zz", "yes")}, `question "zz"`},
		{"unknown answer", []vault.AnswerValue{pick("q1", "maybe")}, `no answer "maybe"`},
		{"N/A not allowed", []vault.AnswerValue{na("q1")}, "does not allow N/A"},
		{"twice", []vault.AnswerValue{pick("q1", "yes"), pick("q1", "no")}, "answered twice"},
		{"text on a choice", []vault.AnswerValue{{Question: "q1", Text: "x"}}, "not a text question"},
		{"id on a text question", []vault.AnswerValue{pick("q5", "yes")}, "text question"},
		{"negative time", []vault.AnswerValue{{Question: "q1", AtMs: &at}}, "playback time"},
	}
	for _, c := range bad {
		if _, err := CheckAnswers(&f, c.answers); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	got, err := CheckAnswers(&f, []vault.AnswerValue{pick("q3", "yes"), pick("q1", "no")})
	if err != nil || len(got) != 2 || got[0].Question != "q1" {
		t.Errorf("good answers: %v %+v, want them in the form's order", err, got)
	}
}

func TestValidateForm(t *testing.T) {
	q := func(extra string) string {
		return `{"name":"F","questionGroups":[{"name":"G","weight":1,"questions":[` + extra + `]}]}`
	}
	yes := `{"id":"a","text":"A","type":"yesno","answers":[{"id":"y","text":"Y","points":1},{"id":"n","text":"N","points":0}]}`
	cases := []struct{ name, doc, want string }{
		{"no groups", `{"name":"F","questionGroups":[]}`, "no question groups"},
		{"no questions", `{"name":"F","questionGroups":[{"name":"G","weight":1,"questions":[]}]}`, "no questions"},
		{"no name", `{"questionGroups":[{"name":"G","weight":1,"questions":[` + yes + `]}]}`, "name is empty"},
		{"no answers", q(`{"id":"a","text":"A","type":"yesno","answers":[]}`), "has no answers"},
		{"choice of one", q(`{"id":"a","text":"A","type":"choice","answers":[{"id":"x","text":"X","points":1}]}`), "at least two"},
		{"negative weight", `{"name":"F","questionGroups":[{"name":"G","weight":-1,"questions":[` + yes + `]}]}`, "weight must not be negative"},
		{"negative points", q(`{"id":"a","text":"A","type":"yesno","answers":[{"id":"y","text":"Y","points":-1},{"id":"n","text":"N","points":0}]}`), "must not be negative"},
		{"duplicate question id", q(yes + `,` + yes), "used twice"},
		{"duplicate across groups", `{"name":"F","questionGroups":[{"name":"G","weight":1,"questions":[` + yes + `]},{"name":"H","weight":1,"questions":[` + yes + `]}]}`, "used twice"},
		{"duplicate answer id", q(`{"id":"a","text":"A","type":"yesno","answers":[{"id":"y","text":"Y","points":1},{"id":"y","text":"N","points":0}]}`), `answer id "y" is used twice`},
		{"condition on a missing question", q(strings.Replace(yes, `"type"`, `"visibleWhen":{"question":"zz","answer":"y"},"type"`, 1)), "not an earlier question"},
		{"condition on a later question", q(strings.Replace(yes, `"type"`, `"visibleWhen":{"question":"b","answer":"y"},"type"`, 1) + `,` + strings.Replace(yes, `"id":"a"`, `"id":"b"`, 1)), "not an earlier question"},
		{"condition on itself", q(strings.Replace(yes, `"type"`, `"visibleWhen":{"question":"a","answer":"y"},"type"`, 1)), "itself"},
		{"condition on a missing answer", q(yes + `,` + strings.Replace(strings.Replace(yes, `"id":"a"`, `"id":"b"`, 1), `"type"`, `"visibleWhen":{"question":"a","answer":"maybe"},"type"`, 1)), `answer "maybe"`},
		{"text with answers", q(`{"id":"a","text":"A","type":"text","answers":[{"id":"y","text":"Y","points":1}]}`), "no answers to choose"},
		{"critical text", q(`{"id":"a","text":"A","type":"text","critical":true}`), "cannot be critical"},
		{"unknown type", q(`{"id":"a","text":"A","type":"scale","answers":[]}`), "not yesno, choice or text"},
		{"no type", q(`{"id":"a","text":"A","answers":[]}`), "has no type"},
		{"fatal without a lowest answer", q(`{"id":"a","text":"A","type":"yesno","fatal":true,"answers":[{"id":"y","text":"Y","points":1},{"id":"n","text":"N","points":1}]}`), "fewer points"},
		{"bad id", q(strings.Replace(yes, `"id":"a"`, `"id":"../a"`, 1)), "question id"},
		{"unknown field", `{"name":"F","colour":"red","questionGroups":[]}`, `unknown field "colour"`},
		{"two values", `{"name":"F"} {}`, "more than one"},
		{"not JSON", `{"name":`, "ends too early"},
		{"wrong type", `{"name":5}`, "must be a string"},
	}
	for _, c := range cases {
		_, err := ParseForm([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || vault.ErrorCode(err) != vault.EINVALID {
			t.Errorf("%s: %v (code %s), want a 400 with %q", c.name, err, vault.ErrorCode(err), c.want)
		}
	}
}

func TestPeriods(t *testing.T) {
	day := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	// 2026-12-02 is a Wednesday.
	if got := PeriodStart(vault.EveryWeek, day("2026-12-02").Add(13*time.Hour)); !got.Equal(day("2026-11-30")) {
		t.Errorf("week start = %v, want Monday 2026-11-30", got)
	}
	if got := PeriodStart(vault.EveryWeek, day("2026-11-29")); !got.Equal(day("2026-11-23")) {
		t.Errorf("a Sunday's week start = %v, want 2026-11-23", got)
	}
	if got := PeriodStart(vault.EveryMonth, day("2026-12-31")); !got.Equal(day("2026-12-01")) {
		t.Errorf("month start = %v", got)
	}
	if got := PeriodEnd(vault.EveryMonth, day("2027-01-01")); !got.Equal(day("2027-02-01")) {
		t.Errorf("month end = %v", got)
	}
	p := vault.Plan{Every: vault.EveryWeek, FirstPeriod: day("2026-11-02")}
	due := DuePeriods(&p, day("2026-11-17").Add(time.Hour))
	if len(due) != 2 || !due[0].Equal(day("2026-11-02")) || !due[1].Equal(day("2026-11-09")) {
		t.Errorf("due = %v, want the weeks of Nov 2 and Nov 9", due)
	}
	p.DoneThrough = day("2026-11-16")
	if due := DuePeriods(&p, day("2026-11-22")); len(due) != 0 {
		t.Errorf("due after doneThrough = %v, want none (the week of Nov 16 is not over)", due)
	}
	if due := DuePeriods(&p, day("2026-11-23")); len(due) != 1 || !due[0].Equal(day("2026-11-16")) {
		t.Errorf("due = %v, want the week of Nov 16", due)
	}
	long := vault.Plan{Every: vault.EveryWeek, FirstPeriod: day("2020-01-06")}
	if due := DuePeriods(&long, day("2026-11-23")); len(due) != MaxCatchUp {
		t.Errorf("catch-up = %d periods, want %d", len(due), MaxCatchUp)
	}
}

func TestShuffleIsRepeatable(t *testing.T) {
	a := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	b := append([]string(nil), a...)
	c := append([]string(nil), a...)
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	Shuffle(a, "plan1", at, "Agent1")
	Shuffle(b, "plan1", at, "Agent1")
	Shuffle(c, "plan1", at.AddDate(0, 0, 7), "Agent1")
	if strings.Join(a, "") != strings.Join(b, "") {
		t.Errorf("the same plan, period and agent shuffled differently: %v %v", a, b)
	}
	if strings.Join(a, "") == strings.Join(c, "") {
		t.Errorf("two periods shuffled alike: %v", a)
	}
}

func TestCalibrate(t *testing.T) {
	f := mustForm(t, scoringForm)
	score := func(answers ...vault.AnswerValue) *vault.Score { s := Score(&f, answers); return &s }
	expertAnswers := []vault.AnswerValue{pick("q1", "yes"), pick("q2", "good"), pick("q3", "yes"), pick("q4", "yes"), pick("q6", "yes")}
	expert := vault.Evaluation{ID: "e0", Evaluator: "expert", State: vault.EvalSubmitted, Answers: expertAnswers, Score: score(expertAnswers...)}
	// Ann agrees but for q2 (ok, 1 of 3: −66.67) and q6 (N/A).
	annAnswers := []vault.AnswerValue{pick("q1", "yes"), pick("q2", "ok"), pick("q3", "yes"), pick("q4", "yes"), na("q6")}
	ann := vault.Evaluation{ID: "e1", Evaluator: "ann", State: vault.EvalSubmitted, Answers: annAnswers, Score: score(annAnswers...)}
	bob := vault.Evaluation{ID: "e2", Evaluator: "bob", State: vault.EvalDraft}
	rep := Calibrate(&f, expert, []vault.Evaluation{ann, bob})
	if !rep.ExpertReady || len(rep.Evaluators) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	r := rep.Evaluators[0]
	// Expert 100; Ann (0.6×1 + 1×2)/3 = 86.67 → −13.33.
	if !sameScore(r.TotalDeviation, ptr(260.0/3-100)) {
		t.Errorf("total deviation = %s", show(r.TotalDeviation))
	}
	// Questions compared: q1 q2 q3 q4 q6 (5); same: q1 q3 q4 → 60 %.
	if !sameScore(r.Agreement, ptr(60)) {
		t.Errorf("agreement = %s, want 60", show(r.Agreement))
	}
	// |deviations| where both count: q1 0, q2 66.67, q3 0, q4 0 → 16.67.
	if !sameScore(r.MeanAbsDeviation, ptr(200.0/3/4)) {
		t.Errorf("mean |deviation| = %s", show(r.MeanAbsDeviation))
	}
	if rep.Evaluators[1].TotalDeviation != nil || rep.Evaluators[1].Questions != nil {
		t.Errorf("a draft got deviations: %+v", rep.Evaluators[1])
	}
	for _, q := range rep.Questions {
		if q.Question == "q2" && !sameScore(q.MeanAbsDeviation, ptr(200.0/3)) {
			t.Errorf("q2 mean |deviation| = %s", show(q.MeanAbsDeviation))
		}
	}
}

func TestBuildReport(t *testing.T) {
	day := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	buckets := []vault.ScoreBucket{
		{Agent: "Agent1", Team: "/Anthony/John", Start: day("2026-11-02"), Count: 2, Totals: 2, TotalSum: 150, Criticals: 1, CriticalSum: 100},
		{Agent: "Agent1", Team: "/Anthony/John", Start: day("2026-11-10"), Count: 1, Totals: 1, TotalSum: 90},
		{Agent: "Agent3", Team: "/Anthony/Paul", Start: day("2026-11-03"), Count: 1, Totals: 1, TotalSum: 0, Fatal: 1},
	}
	rep := BuildReport(day("2026-11-01"), day("2026-12-01"), IntervalWeek, buckets, map[string]int64{"submitted": 4})
	if len(rep.Agents) != 2 || rep.Agents[0].Agent != "Agent1" {
		t.Fatalf("agents = %+v", rep.Agents)
	}
	a1 := rep.Agents[0]
	if a1.Count != 3 || !sameScore(a1.Total, ptr(80)) || !sameScore(a1.Critical, ptr(100)) || len(a1.Points) != 2 {
		t.Errorf("Agent1 = %+v, want 3 evaluations averaging 80, critical 100, two weeks", a1)
	}
	if !a1.Points[0].Start.Equal(day("2026-11-02")) || !sameScore(a1.Points[0].Total, ptr(75)) {
		t.Errorf("Agent1's first week = %+v", a1.Points[0])
	}
	teams := map[string]ReportRow{}
	for _, r := range rep.Teams {
		teams[r.Team] = r
	}
	if len(teams) != 3 || teams["/Anthony"].Count != 4 || !sameScore(teams["/Anthony"].Total, ptr(60)) || teams["/Anthony/Paul"].Fatal != 1 {
		t.Errorf("teams = %+v, want /Anthony (4, 60), /Anthony/John, /Anthony/Paul (1 fatal)", rep.Teams)
	}
	if rep.States["submitted"] != 4 || rep.States["draft"] != 0 {
		t.Errorf("states = %v", rep.States)
	}
}
