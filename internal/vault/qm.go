package vault

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Quality management: evaluation forms (a draft and immutable published
// versions), evaluations of recordings against a form version, their
// sign-off and disputes, calibrations and plans. The rules (validation,
// scoring, deviations, periods) are in internal/qm; these are the types
// and the store's part.

// Question types.
const (
	QuestionYesNo  = "yesno"
	QuestionChoice = "choice"
	QuestionText   = "text"
)

// Form is an evaluation form: the working draft (Version 0) or a
// published, immutable version (Version ≥ 1).
type Form struct {
	Tenant         string          `json:"-"`
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Description    string          `json:"description,omitempty"`
	QuestionGroups []QuestionGroup `json:"questionGroups"`
	Version        int             `json:"version"`
	// The draft: who changed it last and when. A version: who published
	// it and when.
	UpdatedBy string    `json:"updatedBy,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// QuestionGroup is a weighted group of questions.
type QuestionGroup struct {
	Name      string     `json:"name"`
	Weight    float64    `json:"weight"`
	Questions []Question `json:"questions"`
}

// Question is one question of a form.
type Question struct {
	ID          string       `json:"id"`
	Text        string       `json:"text"`
	Help        string       `json:"help,omitempty"`
	Type        string       `json:"type"` // yesno | choice | text
	Answers     []Choice     `json:"answers"`
	NAAllowed   bool         `json:"naAllowed"`
	Required    bool         `json:"required"`
	Critical    bool         `json:"critical"`
	Fatal       bool         `json:"fatal"`
	VisibleWhen *VisibleWhen `json:"visibleWhen,omitempty"`
}

// Choice is one answer a question offers, with its points.
type Choice struct {
	ID     string  `json:"id"`
	Text   string  `json:"text"`
	Points float64 `json:"points"`
}

// VisibleWhen shows a question only when an earlier question is answered
// with the given answer.
type VisibleWhen struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// FormInfo describes a form in lists: its draft's name and its versions.
type FormInfo struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Description   string        `json:"description,omitempty"`
	LatestVersion int           `json:"latestVersion"` // 0: never published
	Versions      []FormVersion `json:"versions"`
	UpdatedBy     string        `json:"updatedBy,omitempty"`
	UpdatedAt     time.Time     `json:"updatedAt"`
	CreatedAt     time.Time     `json:"createdAt"`
}

// FormVersion names one published version.
type FormVersion struct {
	Version     int       `json:"version"`
	Name        string    `json:"name"`
	PublishedBy string    `json:"publishedBy"`
	PublishedAt time.Time `json:"publishedAt"`
}

// Evaluation states.
const (
	EvalAssigned  = "assigned"  // created, nothing saved yet
	EvalDraft     = "draft"     // answers saved, not submitted
	EvalSubmitted = "submitted" // scored; waiting for the agent
	EvalSignedOff = "signedOff" // the agent accepted it
	EvalDisputed  = "disputed"  // the agent disputed it
	EvalRetracted = "retracted" // replaced by a rescore
)

// EvalStates lists the states in their order.
var EvalStates = []string{EvalAssigned, EvalDraft, EvalSubmitted, EvalSignedOff, EvalDisputed, EvalRetracted}

// Evaluation kinds: an evaluation of an agent's call, or one evaluator's
// part of a calibration (not counted in the agents' reports).
const (
	KindEvaluation  = "evaluation"
	KindCalibration = "calibration"
)

// AnswerValue is an evaluator's answer to one question.
type AnswerValue struct {
	Question string  `json:"question"`
	Answer   *string `json:"answer"` // a Choice id; nil when N/A, unanswered or text
	NA       bool    `json:"na"`
	Text     string  `json:"text,omitempty"`    // a text question's answer
	Comment  string  `json:"comment,omitempty"` // the evaluator's note
	AtMs     *int64  `json:"atMs,omitempty"`    // the playback time it refers to
}

// Score is an evaluation's result: percentages 0–100, nil when no
// question counts (everything N/A, or no critical questions).
type Score struct {
	Total    *float64 `json:"total"`
	Critical *float64 `json:"critical"`
	Fatal    bool     `json:"fatal"`
}

// Note is a comment by someone at a time (sign-off, dispute, decline).
type Note struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Evaluation is one evaluator's assessment of one recording with one
// form version.
type Evaluation struct {
	Tenant      string `json:"-"`
	ID          string `json:"id"`
	RecordingID string `json:"recordingId"`
	Agent       string `json:"agent"`
	// Team is the agent's hierarchy when assigned (reports roll it up).
	Team          string        `json:"team,omitempty"`
	Evaluator     string        `json:"evaluator"`
	FormID        string        `json:"formId"`
	Version       int           `json:"version"`
	Kind          string        `json:"kind"` // evaluation | calibration
	CalibrationID string        `json:"calibrationId,omitempty"`
	PlanID        string        `json:"planId,omitempty"`
	PeriodStart   time.Time     `json:"periodStart,omitzero"`
	State         string        `json:"state"`
	Revision      int           `json:"revision"`             // 1, and one more per rescore
	Supersedes    string        `json:"supersedes,omitempty"` // the evaluation a rescore replaces
	SupersededBy  string        `json:"supersededBy,omitempty"`
	Answers       []AnswerValue `json:"answers"`
	Comment       string        `json:"comment,omitempty"` // the evaluator's summary
	Score         *Score        `json:"score"`
	SignOff       *Note         `json:"signOff,omitempty"`
	Dispute       *Note         `json:"dispute,omitempty"`
	Declined      *Note         `json:"declined,omitempty"` // the evaluator kept the score
	CreatedBy     string        `json:"createdBy"`
	CreatedAt     time.Time     `json:"createdAt"`
	UpdatedAt     time.Time     `json:"updatedAt"`
	SubmittedAt   time.Time     `json:"submittedAt,omitzero"`
}

// Calibration has several evaluators and one expert evaluate the same
// recording with the same form version; the expert's answers are the
// index the others are measured against.
type Calibration struct {
	Tenant      string    `json:"-"`
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	RecordingID string    `json:"recordingId"`
	FormID      string    `json:"formId"`
	Version     int       `json:"version"`
	Expert      string    `json:"expert"`
	Evaluators  []string  `json:"evaluators"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Plan periods.
const (
	EveryWeek  = "week"
	EveryMonth = "month"
)

// PlanFilter narrows the recordings a plan picks from.
type PlanFilter struct {
	// StartFrom and StartTo bound the recordings' start times besides
	// the period (zero: no bound).
	StartFrom time.Time `json:"startFrom,omitzero"`
	StartTo   time.Time `json:"startTo,omitzero"`
	Partition string    `json:"partition,omitempty"`
	// MinDurationSec: only calls at least this long.
	MinDurationSec int `json:"minDurationSec,omitempty"`
	// Category: only calls speech analytics put in this category.
	Category string `json:"category,omitempty"`
}

// Plan creates PerAgent evaluations per agent per period, of random
// eligible recordings started in the period, once the period is over,
// for the evaluators in turn. Agents are user names or hierarchy groups
// ("/Anthony/John": every agent under it).
type Plan struct {
	Tenant      string     `json:"-"`
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	FormID      string     `json:"formId"`
	FormVersion int        `json:"formVersion"` // 0: the latest published at each run
	Evaluators  []string   `json:"evaluators"`
	Agents      []string   `json:"agents"`
	PerAgent    int        `json:"perAgent"`
	Every       string     `json:"every"` // week | month
	Filter      PlanFilter `json:"filter"`
	// FirstPeriod is the start of the first period the plan covers.
	FirstPeriod time.Time `json:"firstPeriod"`
	Active      bool      `json:"active"`
	// DoneThrough is the end of the last period evaluations were created
	// for (zero: none yet).
	DoneThrough time.Time `json:"doneThrough,omitzero"`
	LastRun     *PlanRun  `json:"lastRun,omitempty"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
	// UpdatedBy is who last set the plan up: its runs pick only calls
	// this user's access groups see.
	UpdatedBy string    `json:"updatedBy"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PlanRun is what one period's run did.
type PlanRun struct {
	PeriodStart time.Time `json:"periodStart"`
	PeriodEnd   time.Time `json:"periodEnd"`
	Created     int       `json:"created"`
	// Short names agents with fewer eligible recordings than PerAgent,
	// with how many were missing.
	Short map[string]int `json:"short,omitempty"`
	At    time.Time      `json:"at"`
}

// EvaluationViewer is who looks at evaluations: a row is visible when
// Access may see its recording, or Self is its evaluator, or Self is its
// agent and it is neither assigned nor a draft nor a calibration.
type EvaluationViewer struct {
	Access Access
	Self   string
}

// EvaluationFilter narrows an evaluation list. Zero fields do not filter.
type EvaluationFilter struct {
	RecordingID   string
	Agent         string
	Evaluator     string
	FormID        string
	PlanID        string
	CalibrationID string
	Kind          string
	States        []string
	// CreatedFrom/To bound the creation time (half-open).
	CreatedFrom, CreatedTo time.Time
	Viewer                 EvaluationViewer
	Limit                  int
	// After is the cursor: results come newest first (created time, id),
	// strictly after this position.
	After *Cursor
}

// Report intervals: UTC days, weeks from Monday, months.
const (
	IntervalDay   = "day"
	IntervalWeek  = "week"
	IntervalMonth = "month"
)

// IntervalStart is the start (UTC) of the interval that holds t.
func IntervalStart(interval string, t time.Time) time.Time {
	t = t.UTC()
	switch interval {
	case IntervalMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case IntervalWeek:
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ScoreBucket sums the scores of one agent's evaluations submitted in one
// interval (submitted, signed off or disputed; kind evaluation).
type ScoreBucket struct {
	Agent    string    `json:"agent"`
	Team     string    `json:"team"`
	Start    time.Time `json:"start"` // of the interval, UTC
	Count    int64     `json:"count"`
	TotalSum float64   `json:"totalSum"` // over Totals evaluations with a total
	Totals   int64     `json:"totals"`
	// CriticalSum is over Criticals evaluations with a critical score.
	CriticalSum float64 `json:"criticalSum"`
	Criticals   int64   `json:"criticals"`
	Fatal       int64   `json:"fatal"`
}

// QMStore is the part of the metadata store that keeps quality
// management. Evaluations and calibrations are deleted with their
// recording.
type QMStore interface {
	// CreateForm stores a new form's draft; ErrConflict if the id exists.
	CreateForm(ctx context.Context, f Form, fx Effects) error
	// UpdateForm reads a form's draft, lets fn change it and return the
	// effects to write with it, and saves it, in one transaction; fn's
	// error aborts and is returned; ErrNotFound.
	UpdateForm(ctx context.Context, tenant, id string, fn func(f *Form) (Effects, error)) (Form, error)
	// Form returns a form's draft and what is known of its versions;
	// ErrNotFound.
	Form(ctx context.Context, tenant, id string) (Form, FormInfo, error)
	// Forms lists a tenant's forms, sorted by id.
	Forms(ctx context.Context, tenant string) ([]FormInfo, error)
	// PublishForm stores the draft as the next version, immutable, and
	// returns it; fx gives the effects to write with it; ErrNotFound.
	PublishForm(ctx context.Context, tenant, id, by string, at time.Time, fx func(v Form) Effects) (Form, error)
	// FormVersion returns one published version (0: the latest);
	// ErrNotFound.
	FormVersion(ctx context.Context, tenant, id string, version int) (Form, error)

	// CreateEvaluations stores new evaluations with the effects, all or
	// none; ErrNotFound when a recording is gone, ErrConflict when an id
	// exists or a plan would evaluate a recording twice.
	CreateEvaluations(ctx context.Context, list []Evaluation, fx Effects) error
	// UpdateEvaluations reads the named evaluations (ErrNotFound if one
	// is missing), lets fn change them (in the order given) and return
	// new ones to create and the effects, and saves it all in one
	// transaction; fn's error aborts and is returned. It returns the
	// named evaluations as saved, in the order given, then the new ones.
	UpdateEvaluations(ctx context.Context, tenant string, ids []string, fn func(list []*Evaluation) ([]Evaluation, Effects, error)) ([]Evaluation, error)
	// Evaluation returns one evaluation (the caller checks who may see
	// it); ErrNotFound.
	Evaluation(ctx context.Context, tenant, id string) (Evaluation, error)
	// Evaluations lists the evaluations matching f that f.Viewer may see,
	// newest first, up to f.Limit, after f.After.
	Evaluations(ctx context.Context, tenant string, f EvaluationFilter) ([]Evaluation, error)
	// EvaluationCounts counts the evaluations matching f (Limit and After
	// ignored) that f.Viewer may see, by state.
	EvaluationCounts(ctx context.Context, tenant string, f EvaluationFilter) (map[string]int64, error)
	// ScoreBuckets sums, per agent, team and interval (IntervalDay,
	// IntervalWeek or IntervalMonth, as IntervalStart cuts them), the
	// scores of kind evaluation submitted in [from, to) (states
	// submitted, signedOff, disputed) that viewer may see, sorted by
	// agent, start and team. A zero to is no upper bound.
	ScoreBuckets(ctx context.Context, tenant string, from, to time.Time, interval string, viewer EvaluationViewer) ([]ScoreBucket, error)

	// CreateCalibration stores a calibration and its evaluations, all or
	// none; ErrNotFound when the recording is gone, ErrConflict for an id
	// taken.
	CreateCalibration(ctx context.Context, c Calibration, list []Evaluation, fx Effects) error
	// Calibration returns one; ErrNotFound.
	Calibration(ctx context.Context, tenant, id string) (Calibration, error)
	// Calibrations lists a tenant's calibrations, newest first.
	Calibrations(ctx context.Context, tenant string) ([]Calibration, error)

	// CreatePlan stores a plan; ErrConflict if the id exists.
	CreatePlan(ctx context.Context, p Plan, fx Effects) error
	// UpdatePlan reads a plan, lets fn change it and return the
	// evaluations to create and the effects, and saves it all in one
	// transaction (a period's run: the evaluations and DoneThrough
	// together); fn's error aborts and is returned; ErrNotFound.
	UpdatePlan(ctx context.Context, tenant, id string, fn func(p *Plan) ([]Evaluation, Effects, error)) (Plan, error)
	// Plan returns one; ErrNotFound.
	Plan(ctx context.Context, tenant, id string) (Plan, error)
	// Plans lists a tenant's plans, sorted by id.
	Plans(ctx context.Context, tenant string) ([]Plan, error)
	// DeletePlan removes a plan (its evaluations stay); ErrNotFound.
	DeletePlan(ctx context.Context, tenant, id string, fx Effects) error
	// PlanRecordings lists the ids of the recordings the plan has
	// evaluations of (so a period never picks one twice).
	PlanRecordings(ctx context.Context, tenant, planID string) ([]string, error)
}

// SortScoreBuckets sorts buckets in the order ScoreBuckets returns them
// (agent, start, team).
func SortScoreBuckets(list []ScoreBucket) {
	slices.SortFunc(list, func(a, b ScoreBucket) int {
		return cmp.Or(strings.Compare(a.Agent, b.Agent), a.Start.Compare(b.Start), strings.Compare(a.Team, b.Team))
	})
}
