package qm

import (
	"testing"

	"callvault/internal/vault"
)

// FuzzParseForm: any body gives a form or a 400/413, never a panic; a
// form accepted is valid again after a round trip and scores any answers
// it accepts.
func FuzzParseForm(f *testing.F) {
	f.Add([]byte(scoringForm))
	f.Add([]byte(`{"name":"F","questionGroups":[{"name":"G","weight":1,"questions":[{"id":"a","text":"A","type":"text"}]}]}`))
	f.Add([]byte(`{"name":"F","questionGroups":[{"name":"G","weight":1e308,"questions":[]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		form, err := ParseForm(data)
		if err != nil {
			if code := vault.ErrorCode(err); code != vault.EINVALID && code != vault.ETOOLARGE {
				t.Fatalf("error code %s for %q: %v", code, data, err)
			}
			return
		}
		if err := Validate(&form); err != nil {
			t.Fatalf("an accepted form is invalid after normalising: %v", err)
		}
		var answers []vault.AnswerValue
		for _, q := range Questions(&form) {
			if len(q.Answers) > 0 {
				id := q.Answers[len(q.Answers)-1].ID
				answers = append(answers, vault.AnswerValue{Question: q.ID, Answer: &id})
			}
		}
		if _, err := CheckAnswers(&form, answers); err != nil {
			t.Fatalf("answers built from the form refused: %v", err)
		}
		s := Score(&form, answers)
		for _, p := range []*float64{s.Total, s.Critical} {
			if p != nil && (*p < 0 || *p > 100.0000001) {
				t.Fatalf("score %v outside 0–100", *p)
			}
		}
	})
}
