package qm

import (
	"math"

	"callvault/internal/vault"
)

// CalibrationReport measures each evaluator of a calibration against the
// expert, whose answers are the index.
type CalibrationReport struct {
	Expert      EvaluatorResult   `json:"expert"`
	Evaluators  []EvaluatorResult `json:"evaluators"`
	Questions   []QuestionSummary `json:"questions"`
	ExpertReady bool              `json:"expertSubmitted"`
}

// EvaluatorResult is one evaluator's part.
type EvaluatorResult struct {
	Evaluator    string       `json:"evaluator"`
	EvaluationID string       `json:"evaluationId"`
	State        string       `json:"state"`
	Score        *vault.Score `json:"score"`
	// TotalDeviation is the evaluator's total minus the expert's (points
	// of percent); nil until both are submitted with a total.
	TotalDeviation *float64 `json:"totalDeviation"`
	// CriticalDeviation is the same for the critical score.
	CriticalDeviation *float64 `json:"criticalDeviation"`
	// MeanAbsDeviation is the mean over questions of |deviation|.
	MeanAbsDeviation *float64 `json:"meanAbsDeviation"`
	// Agreement is the share (0–100) of questions answered as the
	// expert answered them.
	Agreement *float64            `json:"agreement"`
	Questions []QuestionDeviation `json:"questions,omitempty"`
}

// QuestionDeviation compares one question's answer with the expert's.
type QuestionDeviation struct {
	Question string `json:"question"`
	Answer   string `json:"answer"` // an answer id, "na", or "" (not answered or hidden)
	Expert   string `json:"expert"`
	Same     bool   `json:"same"`
	// Deviation is (points − expert's points) ÷ the question's maximum ×
	// 100, when both count.
	Deviation *float64 `json:"deviation"`
}

// QuestionSummary is one question over all evaluators.
type QuestionSummary struct {
	Question         string   `json:"question"`
	Text             string   `json:"text"`
	MeanAbsDeviation *float64 `json:"meanAbsDeviation"`
	Agreement        *float64 `json:"agreement"`
}

func submitted(e *vault.Evaluation) bool {
	return e.State == vault.EvalSubmitted || e.State == vault.EvalSignedOff || e.State == vault.EvalDisputed
}

// answerKey is how an answer compares: its id, "na", or "".
func answerKey(q *vault.Question, a vault.AnswerValue, ok, shown bool) string {
	switch {
	case !ok || !shown:
		return ""
	case a.NA:
		return "na"
	case q.Type == vault.QuestionText:
		if a.Text != "" {
			return "text"
		}
		return ""
	case a.Answer != nil:
		return *a.Answer
	}
	return ""
}

// Calibrate builds the report of a calibration's evaluations with its
// form version. Evaluations not submitted are listed without deviations.
func Calibrate(f *vault.Form, expert vault.Evaluation, others []vault.Evaluation) CalibrationReport {
	rep := CalibrationReport{ExpertReady: submitted(&expert)}
	rep.Expert = EvaluatorResult{Evaluator: expert.Evaluator, EvaluationID: expert.ID, State: expert.State, Score: expert.Score}
	eBy := ByQuestion(expert.Answers)
	eShown := Visible(f, eBy)
	questions := Questions(f)
	type acc struct{ absSum, absN, same, n float64 }
	perQuestion := make([]acc, len(questions))
	for _, o := range others {
		r := EvaluatorResult{Evaluator: o.Evaluator, EvaluationID: o.ID, State: o.State, Score: o.Score}
		if !rep.ExpertReady || !submitted(&o) {
			rep.Evaluators = append(rep.Evaluators, r)
			continue
		}
		if o.Score != nil && expert.Score != nil {
			r.TotalDeviation = diff(o.Score.Total, expert.Score.Total)
			r.CriticalDeviation = diff(o.Score.Critical, expert.Score.Critical)
		}
		oBy := ByQuestion(o.Answers)
		oShown := Visible(f, oBy)
		var absSum, absN, same, n float64
		for i, q := range questions {
			ea, eok := eBy[q.ID]
			oa, ook := oBy[q.ID]
			d := QuestionDeviation{Question: q.ID, Answer: answerKey(q, oa, ook, oShown[q.ID]), Expert: answerKey(q, ea, eok, eShown[q.ID])}
			if d.Answer == "" && d.Expert == "" {
				continue // neither answered it: nothing to compare
			}
			d.Same = d.Answer == d.Expert
			n++
			perQuestion[i].n++
			if d.Same {
				same++
				perQuestion[i].same++
			}
			eGot, most, eCounts := Points(q, ea, eShown[q.ID])
			oGot, _, oCounts := Points(q, oa, oShown[q.ID])
			if eCounts && oCounts && most > 0 {
				v := (oGot - eGot) / most * 100
				d.Deviation = &v
				absSum += math.Abs(v)
				absN++
				perQuestion[i].absSum += math.Abs(v)
				perQuestion[i].absN++
			}
			r.Questions = append(r.Questions, d)
		}
		r.MeanAbsDeviation = ratio(absSum, absN, 1)
		r.Agreement = ratio(same, n, 100)
		rep.Evaluators = append(rep.Evaluators, r)
	}
	for i, q := range questions {
		rep.Questions = append(rep.Questions, QuestionSummary{Question: q.ID, Text: q.Text,
			MeanAbsDeviation: ratio(perQuestion[i].absSum, perQuestion[i].absN, 1),
			Agreement:        ratio(perQuestion[i].same, perQuestion[i].n, 100)})
	}
	return rep
}

func diff(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	v := *a - *b
	return &v
}

func ratio(sum, n, scale float64) *float64 {
	if n == 0 {
		return nil
	}
	v := sum / n * scale
	return &v
}
