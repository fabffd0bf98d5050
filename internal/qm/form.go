// Package qm holds the rules of quality management: what makes an
// evaluation form valid, how an evaluation is scored, how a calibration's
// evaluators deviate from the expert, the periods of a plan and the
// roll-up of the agents' report. It stores nothing; internal/service
// wires it to the store and the queue.
package qm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"callvault/internal/vault"
)

// Limits of a form: far above any real one, low enough that a hostile
// body cannot make a page or a score costly.
const (
	MaxFormBytes  = 1 << 20
	MaxGroups     = 50
	MaxQuestions  = 500 // in all groups
	MaxAnswers    = 20  // per question
	MaxNameLen    = 200
	MaxTextLen    = 2000 // question text, help, description
	MaxCommentLen = 4000 // an answer's comment or text, an evaluation's
	maxWeight     = 1000
	maxPoints     = 1000
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckID validates an id of a form, question, answer, plan or evaluation
// given by a client.
func CheckID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return vault.Errorf(vault.EINVALID, "%s id %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, printable(id))
	}
	return nil
}

// ParseForm reads a form from JSON (unknown fields refused) and validates
// it.
func ParseForm(data []byte) (vault.Form, error) {
	var f vault.Form
	if len(data) > MaxFormBytes {
		return f, vault.Errorf(vault.ETOOLARGE, "the form is over %d bytes", MaxFormBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return vault.Form{}, vault.Errorf(vault.EINVALID, "cannot read the form: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return vault.Form{}, vault.Errorf(vault.EINVALID, "cannot read the form: more than one JSON value")
	}
	if err := Validate(&f); err != nil {
		return vault.Form{}, err
	}
	return f, nil
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("bad JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + printable(strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	return "bad JSON"
}

// Validate checks a form and normalises it (trimmed names, empty lists
// instead of null). Every problem is a 400 naming the group, question or
// answer.
func Validate(f *vault.Form) error {
	f.Name = strings.TrimSpace(f.Name)
	if err := checkText("the form's name", f.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := checkText("the form's description", f.Description, MaxTextLen, false); err != nil {
		return err
	}
	if len(f.QuestionGroups) == 0 {
		return invalid("the form has no question groups")
	}
	if len(f.QuestionGroups) > MaxGroups {
		return invalid("the form has %d question groups; at most %d", len(f.QuestionGroups), MaxGroups)
	}
	seen := map[string]*vault.Question{} // questions before the current one
	count := 0
	for gi := range f.QuestionGroups {
		g := &f.QuestionGroups[gi]
		g.Name = strings.TrimSpace(g.Name)
		where := fmt.Sprintf("question group %d", gi+1)
		if err := checkText(where+"'s name", g.Name, MaxNameLen, true); err != nil {
			return err
		}
		where = fmt.Sprintf("question group %q", g.Name)
		if math.IsNaN(g.Weight) || math.IsInf(g.Weight, 0) || g.Weight < 0 {
			return invalid("%s: the weight must not be negative", where)
		}
		if g.Weight > maxWeight {
			return invalid("%s: the weight is over %d", where, maxWeight)
		}
		if g.Questions == nil {
			g.Questions = []vault.Question{}
		}
		count += len(g.Questions)
		if count > MaxQuestions {
			return invalid("the form has more than %d questions", MaxQuestions)
		}
		for qi := range g.Questions {
			q := &g.Questions[qi]
			if err := validateQuestion(q, seen); err != nil {
				return err
			}
			seen[q.ID] = q
		}
	}
	if count == 0 {
		return invalid("the form has no questions")
	}
	return nil
}

func validateQuestion(q *vault.Question, before map[string]*vault.Question) error {
	if q.ID == "" {
		return invalid("a question has no id")
	}
	if err := CheckID("question", q.ID); err != nil {
		return err
	}
	where := fmt.Sprintf("question %q", q.ID)
	if _, dup := before[q.ID]; dup {
		return invalid("%s: the id is used twice", where)
	}
	q.Text = strings.TrimSpace(q.Text)
	if err := checkText(where+"'s text", q.Text, MaxTextLen, true); err != nil {
		return err
	}
	if err := checkText(where+"'s help", q.Help, MaxTextLen, false); err != nil {
		return err
	}
	if q.Answers == nil {
		q.Answers = []vault.Choice{}
	}
	switch q.Type {
	case vault.QuestionYesNo, vault.QuestionChoice:
		if len(q.Answers) == 0 {
			return invalid("%s has no answers", where)
		}
		if q.Type == vault.QuestionYesNo && len(q.Answers) != 2 {
			return invalid("%s: a yes/no question has two answers, not %d", where, len(q.Answers))
		}
		if q.Type == vault.QuestionChoice && len(q.Answers) < 2 {
			return invalid("%s: a multiple choice question needs at least two answers", where)
		}
	case vault.QuestionText:
		if len(q.Answers) > 0 {
			return invalid("%s: a text question has no answers to choose", where)
		}
		if q.Fatal || q.Critical {
			return invalid("%s: a text question scores no points, so it cannot be critical or fatal", where)
		}
	case "":
		return invalid("%s has no type (yesno, choice or text)", where)
	default:
		return invalid("%s: type %q is not yesno, choice or text", where, printable(q.Type))
	}
	if len(q.Answers) > MaxAnswers {
		return invalid("%s has %d answers; at most %d", where, len(q.Answers), MaxAnswers)
	}
	ids := map[string]bool{}
	for ai := range q.Answers {
		a := &q.Answers[ai]
		if a.ID == "" {
			return invalid("%s: answer %d has no id", where, ai+1)
		}
		if err := CheckID("answer", a.ID); err != nil {
			return vault.Errorf(vault.EINVALID, "%s: %s", where, err.(*vault.Error).Message)
		}
		if ids[a.ID] {
			return invalid("%s: answer id %q is used twice", where, a.ID)
		}
		ids[a.ID] = true
		a.Text = strings.TrimSpace(a.Text)
		if err := checkText(fmt.Sprintf("%s: answer %q's text", where, a.ID), a.Text, MaxNameLen, true); err != nil {
			return err
		}
		if math.IsNaN(a.Points) || math.IsInf(a.Points, 0) || a.Points < 0 {
			return invalid("%s: answer %q: points must not be negative", where, a.ID)
		}
		if a.Points > maxPoints {
			return invalid("%s: answer %q: points over %d", where, a.ID, maxPoints)
		}
	}
	if q.Fatal && len(q.Answers) > 0 {
		low, high := pointRange(q)
		if low == high {
			return invalid("%s: a fatal question needs an answer with fewer points than the others", where)
		}
	}
	if c := q.VisibleWhen; c != nil {
		if c.Question == q.ID {
			return invalid("%s: visibleWhen names the question itself", where)
		}
		cond, ok := before[c.Question]
		if !ok {
			return invalid("%s: visibleWhen names question %q, which is not an earlier question of the form", where, printable(c.Question))
		}
		if findChoice(cond, c.Answer) == nil {
			return invalid("%s: visibleWhen names answer %q, which question %q does not have", where, printable(c.Answer), c.Question)
		}
	}
	return nil
}

// pointRange is the lowest and highest points of a question's answers.
func pointRange(q *vault.Question) (low, high float64) {
	for i, a := range q.Answers {
		if i == 0 || a.Points < low {
			low = a.Points
		}
		if i == 0 || a.Points > high {
			high = a.Points
		}
	}
	return low, high
}

func findChoice(q *vault.Question, id string) *vault.Choice {
	for i := range q.Answers {
		if q.Answers[i].ID == id {
			return &q.Answers[i]
		}
	}
	return nil
}

// Questions lists a form's questions in order.
func Questions(f *vault.Form) []*vault.Question {
	var out []*vault.Question
	for gi := range f.QuestionGroups {
		for qi := range f.QuestionGroups[gi].Questions {
			out = append(out, &f.QuestionGroups[gi].Questions[qi])
		}
	}
	return out
}

func checkText(what, s string, limit int, required bool) error {
	if required && s == "" {
		return invalid("%s is empty", what)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return invalid("%s is %d characters; at most %d", what, n, limit)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' { // browsers post CRLF
			return invalid("%s holds a control character", what)
		}
	}
	return nil
}

// CheckComment checks a comment or note: UTF-8, no control characters
// but line breaks and tabs, at most MaxCommentLen characters.
func CheckComment(what, s string) error { return checkText(what, s, MaxCommentLen, false) }

func invalid(format string, args ...any) error {
	return vault.Errorf(vault.EINVALID, format, args...)
}

// printable shortens and cleans a client's string for an error message.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64]) + "…"
	}
	return s
}
