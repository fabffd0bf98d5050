package qm

import (
	"fmt"

	"callvault/internal/vault"
)

// MaxAtMs bounds an answer's playback time (a day).
const MaxAtMs = 24 * 3600 * 1000

// CheckAnswers validates an evaluator's answers against the form: known
// questions, each once; a choice the question offers; N/A only where
// allowed; text only for text questions; lengths. It returns them in the
// form's order.
func CheckAnswers(f *vault.Form, answers []vault.AnswerValue) ([]vault.AnswerValue, error) {
	byID := map[string]*vault.Question{}
	for _, q := range Questions(f) {
		byID[q.ID] = q
	}
	given := map[string]vault.AnswerValue{}
	for i, a := range answers {
		q, ok := byID[a.Question]
		if !ok {
			return nil, invalid("answer %d names question %q, which the form does not have", i+1, printable(a.Question))
		}
		where := fmt.Sprintf("question %q", q.ID)
		if _, dup := given[q.ID]; dup {
			return nil, invalid("%s is answered twice", where)
		}
		if a.NA && !q.NAAllowed {
			return nil, invalid("%s does not allow N/A", where)
		}
		if a.Answer != nil {
			if a.NA {
				return nil, invalid("%s: an answer and N/A at once", where)
			}
			if q.Type == vault.QuestionText {
				return nil, invalid("%s is a text question: give text, not an answer id", where)
			}
			if findChoice(q, *a.Answer) == nil {
				return nil, invalid("%s has no answer %q", where, printable(*a.Answer))
			}
		}
		if a.Text != "" && q.Type != vault.QuestionText {
			return nil, invalid("%s is not a text question", where)
		}
		if err := checkText(where+"'s text", a.Text, MaxCommentLen, false); err != nil {
			return nil, err
		}
		if err := checkText(where+"'s comment", a.Comment, MaxCommentLen, false); err != nil {
			return nil, err
		}
		if a.AtMs != nil && (*a.AtMs < 0 || *a.AtMs > MaxAtMs) {
			return nil, invalid("%s: atMs %d is not a playback time", where, *a.AtMs)
		}
		given[q.ID] = a
	}
	out := make([]vault.AnswerValue, 0, len(given))
	for _, q := range Questions(f) {
		if a, ok := given[q.ID]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// Visible reports which questions are shown given the answers: a question
// with visibleWhen is shown when its condition question is shown and
// answered with the named answer (N/A does not count).
func Visible(f *vault.Form, answers map[string]vault.AnswerValue) map[string]bool {
	shown := map[string]bool{}
	for _, q := range Questions(f) { // conditions name earlier questions only
		c := q.VisibleWhen
		if c == nil {
			shown[q.ID] = true
			continue
		}
		a, ok := answers[c.Question]
		shown[q.ID] = shown[c.Question] && ok && !a.NA && a.Answer != nil && *a.Answer == c.Answer
	}
	return shown
}

// ByQuestion indexes answers by question id.
func ByQuestion(answers []vault.AnswerValue) map[string]vault.AnswerValue {
	m := make(map[string]vault.AnswerValue, len(answers))
	for _, a := range answers {
		m[a.Question] = a
	}
	return m
}

// answered reports whether a counts as an answer to q for "required".
func answered(q *vault.Question, a vault.AnswerValue, ok bool) bool {
	switch {
	case !ok:
		return false
	case a.NA:
		return true
	case q.Type == vault.QuestionText:
		return a.Text != ""
	}
	return a.Answer != nil
}

// Complete returns the answers to submit: those of shown questions
// only, after checking that every shown required question is answered
// (an N/A counts where allowed). The error names the first one missing.
func Complete(f *vault.Form, answers []vault.AnswerValue) ([]vault.AnswerValue, error) {
	by := ByQuestion(answers)
	shown := Visible(f, by)
	var missing []string
	for _, q := range Questions(f) {
		a, ok := by[q.ID]
		if shown[q.ID] && q.Required && !answered(q, a, ok) {
			missing = append(missing, q.ID)
		}
	}
	if len(missing) > 0 {
		return nil, invalid("required questions are not answered: %s", joinIDs(missing))
	}
	out := make([]vault.AnswerValue, 0, len(answers))
	for _, a := range answers {
		if shown[a.Question] {
			out = append(out, a)
		}
	}
	return out, nil
}

func joinIDs(ids []string) string {
	const show = 10
	s := ""
	for i, id := range ids {
		if i == show {
			return s + fmt.Sprintf(" and %d more", len(ids)-show)
		}
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}

// Score scores answers with the form, as DESIGN.md defines it:
//   - a group's score is Σ points of its answered, non-N/A, shown
//     questions ÷ Σ their maximum points (N/A is zero out of zero);
//   - the total is Σ(group score × weight) ÷ Σ(weights of the groups
//     with such a question) × 100;
//   - the critical score is the same over critical questions only;
//   - a shown fatal question answered with its lowest-points answer makes
//     the total 0.
//
// A score no question counts towards is nil.
func Score(f *vault.Form, answers []vault.AnswerValue) vault.Score {
	by := ByQuestion(answers)
	shown := Visible(f, by)
	var all, critical weighted
	var s vault.Score
	for gi := range f.QuestionGroups {
		g := &f.QuestionGroups[gi]
		var got, most, cGot, cMost float64
		for qi := range g.Questions {
			q := &g.Questions[qi]
			a, ok := by[q.ID]
			if !shown[q.ID] || !ok || a.NA || a.Answer == nil || q.Type == vault.QuestionText {
				continue
			}
			c := findChoice(q, *a.Answer)
			if c == nil {
				continue // CheckAnswers refuses it; a stale answer counts for nothing
			}
			low, high := pointRange(q)
			got += c.Points
			most += high
			if q.Critical {
				cGot += c.Points
				cMost += high
			}
			if q.Fatal && c.Points == low {
				s.Fatal = true
			}
		}
		all.add(got, most, g.Weight)
		critical.add(cGot, cMost, g.Weight)
	}
	s.Total = all.percent()
	s.Critical = critical.percent()
	if s.Fatal {
		zero := 0.0
		s.Total = &zero
	}
	return s
}

// weighted sums group scores by weight.
type weighted struct{ sum, weights float64 }

func (w *weighted) add(got, most, weight float64) {
	if most <= 0 {
		return // no counted question with points: the group is left out
	}
	w.sum += got / most * weight
	w.weights += weight
}

func (w *weighted) percent() *float64 {
	if w.weights <= 0 {
		return nil
	}
	p := w.sum / w.weights * 100
	return &p
}

// Points returns the points of a's answer to q and q's maximum, and
// whether it counts (shown, answered, not N/A, a question with points).
func Points(q *vault.Question, a vault.AnswerValue, shown bool) (got, most float64, counts bool) {
	if !shown || a.NA || a.Answer == nil || q.Type == vault.QuestionText {
		return 0, 0, false
	}
	c := findChoice(q, *a.Answer)
	if c == nil {
		return 0, 0, false
	}
	_, high := pointRange(q)
	return c.Points, high, true
}
