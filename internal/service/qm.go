package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"callvault/internal/access"
	"callvault/internal/audit"
	"callvault/internal/qm"
	"callvault/internal/vault"
)

// KindQMPlan creates one plan's evaluations for its periods that are over.
const KindQMPlan = "qm_plan"

// QMPlanArgs are a KindQMPlan job's arguments.
type QMPlanArgs struct {
	Tenant string `json:"tenant"`
	PlanID string `json:"planId"`
}

// MaxAssign is how many evaluations one request may assign.
const MaxAssign = 1000

// MaxEvaluationPage is the longest page of evaluations (each carries its
// answers).
const MaxEvaluationPage = 200

// maxPlanCandidates bounds the recordings one agent's period is drawn
// from (the first ones by start time).
const maxPlanCandidates = 5000

// qmManager fails for callers who may not manage quality (agents,
// recorders).
func qmManager(u *vault.User) error {
	return requireRole(u, vault.RoleAdmin, vault.RoleSupervisor)
}

// managerAccess is what a manager may see for QM: their access groups,
// not the calls they were an agent on.
func managerAccess(u vault.User) vault.Access {
	a := access.ForUser(u)
	a.UserName = ""
	return a
}

// qmRecording is the recording id for a QM manager: by access group, not
// by being an agent on it.
func (s *Service) qmRecording(ctx context.Context, caller *vault.User, id string) (*vault.Recording, error) {
	r, _, err := s.Store.Recording(ctx, caller.Tenant, id, managerAccess(*caller))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("recording", id)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// EvaluationViewer is who the caller is to evaluations: admins and
// supervisors see those of recordings their access groups may see (not
// by being an agent on the call) and their own as evaluator; agents their
// own, once submitted.
func EvaluationViewer(u *vault.User) (vault.EvaluationViewer, error) {
	if _, err := viewer(u); err != nil {
		return vault.EvaluationViewer{}, err
	}
	v := vault.EvaluationViewer{Self: u.Name}
	if u.HasRole(vault.RoleAdmin) || u.HasRole(vault.RoleSupervisor) {
		v.Access = managerAccess(*u)
	}
	return v, nil
}

// canSeeEvaluation applies the viewer rule to one evaluation.
func canSeeEvaluation(v vault.EvaluationViewer, e *vault.Evaluation, r *vault.Recording) bool {
	switch {
	case e.Evaluator == v.Self:
		return true
	case e.Agent == v.Self && e.Kind == vault.KindEvaluation && e.State != vault.EvalAssigned && e.State != vault.EvalDraft:
		return true
	case r == nil:
		return false
	}
	return access.CanSee(v.Access, r.Groups, r.Agents)
}

// --- forms ---

// CreateForm stores a new form's draft from its JSON (admins and
// supervisors). The id is the body's, or a new one.
func (s *Service) CreateForm(ctx context.Context, caller *vault.User, body []byte) (*vault.Form, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	f, err := qm.ParseForm(body)
	if err != nil {
		return nil, err
	}
	if f.ID == "" {
		f.ID = newID()
	} else if err := qm.CheckID("form", f.ID); err != nil {
		return nil, err
	}
	f.Tenant, f.Version, f.UpdatedBy, f.UpdatedAt = caller.Tenant, 0, caller.Name, s.now()
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.form.create", f.ID, vault.OutcomeOK, audit.Details("name", f.Name)))
	if err := s.Store.CreateForm(ctx, f, s.effects(fx)); err != nil {
		if errors.Is(err, vault.ErrConflict) {
			return nil, vault.Errorf(vault.ECONFLICT, "form %q exists; change it with PUT", f.ID)
		}
		return nil, errf(err, "cannot create form %q", f.ID)
	}
	return &f, nil
}

// UpdateForm replaces a form's draft (admins and supervisors); its
// published versions do not change.
func (s *Service) UpdateForm(ctx context.Context, caller *vault.User, id string, body []byte) (*vault.Form, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	in, err := qm.ParseForm(body)
	if err != nil {
		return nil, err
	}
	if in.ID != "" && in.ID != id {
		return nil, vault.Errorf(vault.EINVALID, "the body's id %q is not the path's %q", in.ID, id)
	}
	f, err := s.Store.UpdateForm(ctx, caller.Tenant, id, func(f *vault.Form) (vault.Effects, error) {
		f.Name, f.Description, f.QuestionGroups = in.Name, in.Description, in.QuestionGroups
		f.UpdatedBy, f.UpdatedAt = caller.Name, s.now()
		return s.effects(vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.form.update", id, vault.OutcomeOK, audit.Details("name", f.Name)))), nil
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("form", id)
	}
	if err != nil {
		return nil, errf(err, "cannot change form %q", id)
	}
	return &f, nil
}

// PublishForm makes the draft the form's next immutable version.
func (s *Service) PublishForm(ctx context.Context, caller *vault.User, id string) (*vault.Form, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	v, err := s.Store.PublishForm(ctx, caller.Tenant, id, caller.Name, s.now(), func(v vault.Form) vault.Effects {
		return s.effects(vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.form.publish", id, vault.OutcomeOK,
			audit.Details("version", v.Version, "name", v.Name))))
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("form", id)
	}
	if err != nil {
		return nil, errf(err, "cannot publish form %q", id)
	}
	return &v, nil
}

// Form returns a form's draft and versions (admins and supervisors).
func (s *Service) Form(ctx context.Context, caller *vault.User, id string) (*vault.Form, *vault.FormInfo, error) {
	if err := qmManager(caller); err != nil {
		return nil, nil, err
	}
	f, info, err := s.Store.Form(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil, notVisible("form", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return &f, &info, nil
}

// Forms lists the tenant's forms (admins and supervisors).
func (s *Service) Forms(ctx context.Context, caller *vault.User) ([]vault.FormInfo, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	return s.Store.Forms(ctx, caller.Tenant)
}

// FormVersion returns one published version (0: the latest) to admins and
// supervisors.
func (s *Service) FormVersion(ctx context.Context, caller *vault.User, id string, version int) (*vault.Form, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	return s.formVersion(ctx, caller.Tenant, id, version)
}

func (s *Service) formVersion(ctx context.Context, tenant, id string, version int) (*vault.Form, error) {
	f, err := s.Store.FormVersion(ctx, tenant, id, version)
	if errors.Is(err, vault.ErrNotFound) {
		if version == 0 {
			return nil, vault.Errorf(vault.ENOTFOUND, "form %q has no published version", id)
		}
		return nil, vault.Errorf(vault.ENOTFOUND, "form %q has no version %d", id, version)
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// --- evaluations ---

// AssignRequest asks for one evaluation.
type AssignRequest struct {
	RecordingID string `json:"recordingId"`
	FormID      string `json:"formId"`
	Version     int    `json:"version,omitempty"`
	Evaluator   string `json:"evaluator"`
	Agent       string `json:"agent,omitempty"`
}

// evaluatorOf returns an evaluator who may evaluate r: an enabled admin or
// supervisor whose access groups may see it (the guide's rule: a
// supervisor of /Anthony/John cannot evaluate Paul's calls) and who is
// not an agent on it. Every refusal reads the same, so it tells nothing
// about the user.
func (s *Service) evaluatorOf(ctx context.Context, tenant, name string, r *vault.Recording) (*vault.User, error) {
	refuse := func() error {
		if r == nil {
			return vault.Errorf(vault.EFORBIDDEN, "%q may not evaluate: evaluators are enabled admins or supervisors", name)
		}
		return vault.Errorf(vault.EFORBIDDEN, "%q may not see recording %q, so cannot evaluate it (evaluators are enabled admins or supervisors whose access groups see the call, and not its agents)", name, r.ID)
	}
	u, err := s.Store.User(ctx, tenant, name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, refuse()
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || !(u.HasRole(vault.RoleAdmin) || u.HasRole(vault.RoleSupervisor)) {
		return nil, refuse()
	}
	if r != nil && (!access.CanSee(managerAccess(u), r.Groups, r.Agents) || slices.Contains(r.Agents, name)) {
		return nil, refuse()
	}
	return &u, nil
}

// team is an agent's hierarchy, or "" for a name that is no user.
func (s *Service) team(ctx context.Context, tenant, agent string) string {
	u, err := s.Store.User(ctx, tenant, agent)
	if err != nil {
		return ""
	}
	norm, err := access.NormalizePath(u.AgentHierarchy)
	if err != nil || norm == access.Root {
		return ""
	}
	return norm
}

// newEvaluation checks one request and builds its evaluation.
func (s *Service) newEvaluation(ctx context.Context, caller *vault.User, in AssignRequest, forms map[string]*vault.Form) (vault.Evaluation, error) {
	if err := vault.CheckID("recordingId", in.RecordingID); err != nil {
		return vault.Evaluation{}, err
	}
	if err := qm.CheckID("form", in.FormID); err != nil {
		return vault.Evaluation{}, err
	}
	r, err := s.qmRecording(ctx, caller, in.RecordingID)
	if err != nil {
		return vault.Evaluation{}, err
	}
	key := fmt.Sprintf("%s\x00%d", in.FormID, in.Version)
	f := forms[key]
	if f == nil {
		if f, err = s.formVersion(ctx, caller.Tenant, in.FormID, in.Version); err != nil {
			return vault.Evaluation{}, err
		}
		forms[key] = f
	}
	if _, err := s.evaluatorOf(ctx, caller.Tenant, in.Evaluator, r); err != nil {
		return vault.Evaluation{}, err
	}
	agent := in.Agent
	switch {
	case agent == "" && len(r.Agents) == 0:
		return vault.Evaluation{}, vault.Errorf(vault.EINVALID, "recording %q has no agent to evaluate", r.ID)
	case agent == "":
		agent = r.Agents[0]
	case !slices.Contains(r.Agents, agent):
		return vault.Evaluation{}, vault.Errorf(vault.EINVALID, "%q is not an agent of recording %q", agent, r.ID)
	}
	now := s.now()
	return vault.Evaluation{Tenant: caller.Tenant, ID: newID(), RecordingID: r.ID, Agent: agent, Team: s.team(ctx, caller.Tenant, agent),
		Evaluator: in.Evaluator, FormID: f.ID, Version: f.Version, Kind: vault.KindEvaluation, State: vault.EvalAssigned,
		Revision: 1, Answers: []vault.AnswerValue{}, CreatedBy: caller.Name, CreatedAt: now, UpdatedAt: now}, nil
}

func evaluationDetails(e *vault.Evaluation, more ...any) json.RawMessage {
	kv := []any{"recordingId", e.RecordingID, "agent", e.Agent, "evaluator", e.Evaluator, "form", e.FormID, "version", e.Version, "state", e.State}
	return audit.Details(append(kv, more...)...)
}

// Assign creates evaluations (admins and supervisors), all or none; each
// request is checked and a bad one is named by its position.
func (s *Service) Assign(ctx context.Context, caller *vault.User, list []AssignRequest) ([]vault.Evaluation, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	if len(list) == 0 || len(list) > MaxAssign {
		return nil, vault.Errorf(vault.EINVALID, "assign 1 to %d evaluations at once", MaxAssign)
	}
	forms := map[string]*vault.Form{}
	var (
		out []vault.Evaluation
		fx  vault.Effects
	)
	for i, in := range list {
		e, err := s.newEvaluation(ctx, caller, in, forms)
		if err != nil {
			if len(list) > 1 {
				var ve *vault.Error
				if errors.As(err, &ve) {
					return nil, &vault.Error{Code: ve.Code, Message: fmt.Sprintf("evaluation %d: %s", i+1, ve.Message), Err: ve.Err}
				}
			}
			return nil, err
		}
		out = append(out, e)
		fx = fx.Add(s.entry(ctx, "", caller, "qm.evaluation.assign", e.ID, vault.OutcomeOK, evaluationDetails(&e)))
	}
	if err := s.Store.CreateEvaluations(ctx, out, s.effects(fx)); err != nil {
		return nil, errf(err, "cannot assign evaluations")
	}
	return out, nil
}

// EvaluationView is an evaluation with the form version it uses.
type EvaluationView struct {
	vault.Evaluation
	Form *vault.Form `json:"form,omitempty"`
}

// Evaluation returns one evaluation the caller may see, with its form
// version.
func (s *Service) Evaluation(ctx context.Context, caller *vault.User, id string) (*EvaluationView, error) {
	v, err := EvaluationViewer(caller)
	if err != nil {
		return nil, err
	}
	e, err := s.Store.Evaluation(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("evaluation", id)
	}
	if err != nil {
		return nil, err
	}
	r, _, err := s.Store.Recording(ctx, caller.Tenant, e.RecordingID, vault.Access{All: true})
	var rec *vault.Recording
	if err == nil {
		rec = &r
	}
	if !canSeeEvaluation(v, &e, rec) {
		return nil, notVisible("evaluation", id)
	}
	one := []vault.Evaluation{e}
	if err := s.blindCalibrations(ctx, caller, one); err != nil {
		return nil, err
	}
	e = one[0]
	f, err := s.formVersion(ctx, caller.Tenant, e.FormID, e.Version)
	if err != nil {
		return nil, err
	}
	return &EvaluationView{Evaluation: e, Form: f}, nil
}

// Evaluations lists the evaluations matching f that the caller may see.
func (s *Service) Evaluations(ctx context.Context, caller *vault.User, f vault.EvaluationFilter) ([]vault.Evaluation, error) {
	v, err := EvaluationViewer(caller)
	if err != nil {
		return nil, err
	}
	f.Viewer = v
	if f.Limit <= 0 || f.Limit > MaxEvaluationPage {
		f.Limit = 100
	}
	list, err := s.Store.Evaluations(ctx, caller.Tenant, f)
	if err != nil {
		return nil, err
	}
	return list, s.blindCalibrations(ctx, caller, list)
}

// changeEvaluation runs one step of an evaluation's life in one
// transaction: pre checks the caller against the evaluation as read
// before it (store reads of its own belong there, not in the transaction,
// which holds a connection and a row lock); then it reads the evaluation
// (and the ones also names) again, lets step change them, and writes the
// audit entries.
func (s *Service) changeEvaluation(ctx context.Context, caller *vault.User, id, action string,
	pre func(e *vault.Evaluation) error, also func(e *vault.Evaluation) []string,
	step func(list []*vault.Evaluation, f *vault.Form) ([]vault.Evaluation, []any, error)) (*EvaluationView, error) {
	current, err := s.Evaluation(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		if err := pre(&current.Evaluation); err != nil {
			return nil, err
		}
	}
	ids := []string{id}
	if also != nil {
		ids = append(ids, also(&current.Evaluation)...)
	}
	form := current.Form
	list, err := s.Store.UpdateEvaluations(ctx, caller.Tenant, ids, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
		if list[0].Evaluator != current.Evaluator {
			return nil, vault.Effects{}, vault.Errorf(vault.ECONFLICT, "evaluation %q changed meanwhile; try again", id)
		}
		created, more, err := step(list, form)
		if err != nil {
			return nil, vault.Effects{}, err
		}
		list[0].UpdatedAt = s.now()
		details := append(scoreDetails(list[0].Score), more...)
		fx := vault.Effects{}.Add(s.entry(ctx, "", caller, action, id, vault.OutcomeOK, evaluationDetails(list[0], details...)))
		for _, c := range created {
			fx = fx.Add(s.entry(ctx, "", caller, "qm.evaluation.create", c.ID, vault.OutcomeOK, evaluationDetails(&c, "supersedes", c.Supersedes)))
		}
		return created, s.effects(fx), nil
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("evaluation", id)
	}
	if err != nil {
		return nil, errf(err, "cannot change evaluation %q", id)
	}
	return &EvaluationView{Evaluation: list[0], Form: form}, nil
}

func scoreDetails(sc *vault.Score) []any {
	if sc == nil {
		return nil
	}
	return []any{"total", sc.Total, "critical", sc.Critical, "fatal", sc.Fatal}
}

func stateError(e *vault.Evaluation, doing string) error {
	return vault.Errorf(vault.ECONFLICT, "evaluation %q is %s: cannot %s it", e.ID, e.State, doing)
}

// asEvaluator lets the evaluation's evaluator (with orAdmin, an admin
// too) go on while they may evaluate its call: enabled, a manager, their
// access groups see it.
func (s *Service) asEvaluator(ctx context.Context, caller *vault.User, orAdmin bool) func(e *vault.Evaluation) error {
	return func(e *vault.Evaluation) error {
		if e.Evaluator != caller.Name && !(orAdmin && caller.HasRole(vault.RoleAdmin)) {
			return vault.Errorf(vault.EFORBIDDEN, "only the evaluator %q may do this", e.Evaluator)
		}
		r, _, err := s.Store.Recording(ctx, caller.Tenant, e.RecordingID, vault.Access{All: true})
		if err != nil {
			return notVisible("evaluation", e.ID)
		}
		if _, err := s.evaluatorOf(ctx, caller.Tenant, caller.Name, &r); err != nil {
			return vault.Errorf(vault.EFORBIDDEN, "you may no longer evaluate recording %q", e.RecordingID)
		}
		return nil
	}
}

// SaveInput is an evaluator's save: the answers (all of them) and the
// summary comment.
type SaveInput struct {
	Answers []vault.AnswerValue `json:"answers"`
	Comment *string             `json:"comment"`
}

func applySave(e *vault.Evaluation, f *vault.Form, in SaveInput) error {
	if e.State != vault.EvalAssigned && e.State != vault.EvalDraft {
		return stateError(e, "change")
	}
	if in.Answers != nil {
		answers, err := qm.CheckAnswers(f, in.Answers)
		if err != nil {
			return err
		}
		e.Answers = answers
	}
	if in.Comment != nil {
		if err := qm.CheckComment("the comment", *in.Comment); err != nil {
			return err
		}
		e.Comment = *in.Comment
	}
	e.State = vault.EvalDraft
	return nil
}

// SaveEvaluation saves the evaluator's answers (save and continue).
func (s *Service) SaveEvaluation(ctx context.Context, caller *vault.User, id string, in SaveInput) (*EvaluationView, error) {
	return s.changeEvaluation(ctx, caller, id, "qm.evaluation.save", s.asEvaluator(ctx, caller, false), nil,
		func(list []*vault.Evaluation, f *vault.Form) ([]vault.Evaluation, []any, error) {
			return nil, nil, applySave(list[0], f, in)
		})
}

// SubmitEvaluation saves the answers given (if any), checks the required
// ones and scores the evaluation. A rescore's submission retracts the
// evaluation it replaces, in the same transaction.
func (s *Service) SubmitEvaluation(ctx context.Context, caller *vault.User, id string, in SaveInput) (*EvaluationView, error) {
	also := func(e *vault.Evaluation) []string {
		if e.Supersedes != "" {
			return []string{e.Supersedes}
		}
		return nil
	}
	return s.changeEvaluation(ctx, caller, id, "qm.evaluation.submit", s.asEvaluator(ctx, caller, false), also,
		func(list []*vault.Evaluation, f *vault.Form) ([]vault.Evaluation, []any, error) {
			e := list[0]
			if err := applySave(e, f, in); err != nil {
				return nil, nil, err
			}
			answers, err := qm.Complete(f, e.Answers)
			if err != nil {
				return nil, nil, err
			}
			score := qm.Score(f, answers)
			e.Answers, e.Score, e.State, e.SubmittedAt = answers, &score, vault.EvalSubmitted, s.now()
			if len(list) < 2 {
				return nil, nil, nil
			}
			old := list[1]
			if old.State != vault.EvalDisputed || old.SupersededBy != e.ID || old.Tenant != e.Tenant {
				return nil, nil, vault.Errorf(vault.ECONFLICT, "evaluation %q no longer waits for this rescore", old.ID)
			}
			old.State, old.UpdatedAt = vault.EvalRetracted, s.now()
			return nil, []any{"retracts", old.ID}, nil
		})
}

func checkComment(comment string, required bool) error {
	if required && strings.TrimSpace(comment) == "" {
		return vault.Errorf(vault.EINVALID, "say why in a comment")
	}
	return qm.CheckComment("the comment", comment)
}

// SignOff is the agent accepting a submitted evaluation.
func (s *Service) SignOff(ctx context.Context, caller *vault.User, id, comment string) (*EvaluationView, error) {
	return s.agentStep(ctx, caller, id, "qm.evaluation.signoff", comment, false, func(e *vault.Evaluation, n *vault.Note) {
		e.State, e.SignOff = vault.EvalSignedOff, n
	})
}

// Dispute is the agent disputing a submitted evaluation, with a comment.
// A dispute the evaluator declined cannot be raised again.
func (s *Service) Dispute(ctx context.Context, caller *vault.User, id, comment string) (*EvaluationView, error) {
	return s.agentStep(ctx, caller, id, "qm.evaluation.dispute", comment, true, func(e *vault.Evaluation, n *vault.Note) {
		e.State, e.Dispute = vault.EvalDisputed, n
	})
}

func (s *Service) agentStep(ctx context.Context, caller *vault.User, id, action, comment string, dispute bool, apply func(*vault.Evaluation, *vault.Note)) (*EvaluationView, error) {
	if err := checkComment(comment, dispute); err != nil {
		return nil, err
	}
	return s.changeEvaluation(ctx, caller, id, action, nil, nil, func(list []*vault.Evaluation, _ *vault.Form) ([]vault.Evaluation, []any, error) {
		e := list[0]
		if e.Agent != caller.Name || e.Kind != vault.KindEvaluation {
			return nil, nil, vault.Errorf(vault.EFORBIDDEN, "only the evaluated agent %q may sign off or dispute", e.Agent)
		}
		if e.State != vault.EvalSubmitted {
			return nil, nil, stateError(e, strings.TrimPrefix(action, "qm.evaluation."))
		}
		if dispute && e.Declined != nil {
			return nil, nil, vault.Errorf(vault.ECONFLICT, "the dispute of evaluation %q was declined; sign it off", e.ID)
		}
		apply(e, &vault.Note{By: caller.Name, Comment: comment, At: s.now()})
		return nil, nil, nil
	})
}

// Rescore answers a dispute with a new version of the evaluation (a
// draft with the old answers); the old one is retracted when the new one
// is submitted. The evaluator rescores for themselves; an admin who is not
// the evaluator (one who left, say) becomes the new version's evaluator.
func (s *Service) Rescore(ctx context.Context, caller *vault.User, id string) (*EvaluationView, error) {
	var rescoreID string
	_, err := s.changeEvaluation(ctx, caller, id, "qm.evaluation.rescore", s.asEvaluator(ctx, caller, true), nil,
		func(list []*vault.Evaluation, _ *vault.Form) ([]vault.Evaluation, []any, error) {
			e := list[0]
			if e.State != vault.EvalDisputed {
				return nil, nil, stateError(e, "rescore")
			}
			if e.SupersededBy != "" {
				return nil, nil, vault.Errorf(vault.ECONFLICT, "evaluation %q is being rescored as %q", e.ID, e.SupersededBy)
			}
			now := s.now()
			n := *e
			n.ID, n.Revision, n.Supersedes, n.SupersededBy, n.Evaluator = newID(), e.Revision+1, e.ID, "", caller.Name
			n.State, n.Score, n.SignOff, n.Dispute, n.Declined = vault.EvalDraft, nil, nil, nil, nil
			n.Answers = slices.Clone(e.Answers)
			n.CreatedBy, n.CreatedAt, n.UpdatedAt, n.SubmittedAt = caller.Name, now, now, time.Time{}
			e.SupersededBy = n.ID
			rescoreID = n.ID
			return []vault.Evaluation{n}, []any{"rescore", n.ID}, nil
		})
	if err != nil {
		return nil, err
	}
	return s.Evaluation(ctx, caller, rescoreID)
}

// Decline keeps a disputed evaluation's score: it is submitted again, with
// the evaluator's answer, for the agent to sign off.
func (s *Service) Decline(ctx context.Context, caller *vault.User, id, comment string) (*EvaluationView, error) {
	if err := checkComment(comment, true); err != nil {
		return nil, err
	}
	return s.changeEvaluation(ctx, caller, id, "qm.evaluation.decline", s.asEvaluator(ctx, caller, true), nil,
		func(list []*vault.Evaluation, _ *vault.Form) ([]vault.Evaluation, []any, error) {
			e := list[0]
			if e.State != vault.EvalDisputed || e.SupersededBy != "" {
				return nil, nil, stateError(e, "decline")
			}
			e.State, e.Declined = vault.EvalSubmitted, &vault.Note{By: caller.Name, Comment: comment, At: s.now()}
			return nil, nil, nil
		})
}

// --- calibrations ---

// CalibrationRequest asks several evaluators and one expert to evaluate
// the same recording with the same form version.
type CalibrationRequest struct {
	Name        string   `json:"name"`
	RecordingID string   `json:"recordingId"`
	FormID      string   `json:"formId"`
	Version     int      `json:"version,omitempty"`
	Expert      string   `json:"expert"`
	Evaluators  []string `json:"evaluators"`
}

// CalibrationView is a calibration with its evaluations and report.
type CalibrationView struct {
	vault.Calibration
	Evaluations []vault.Evaluation   `json:"evaluations"`
	Report      qm.CalibrationReport `json:"report"`
}

// CreateCalibration assigns the calibration's evaluations (admins and
// supervisors).
func (s *Service) CreateCalibration(ctx context.Context, caller *vault.User, in CalibrationRequest) (*CalibrationView, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	if len(in.Evaluators) == 0 || len(in.Evaluators) > qm.MaxPlanList {
		return nil, vault.Errorf(vault.EINVALID, "a calibration needs 1 to %d evaluators besides the expert", qm.MaxPlanList)
	}
	if len(in.Name) > qm.MaxNameLen {
		return nil, vault.Errorf(vault.EINVALID, "the name is over %d bytes", qm.MaxNameLen)
	}
	evaluators := slices.Compact(slices.Sorted(slices.Values(in.Evaluators)))
	if slices.Contains(evaluators, in.Expert) {
		return nil, vault.Errorf(vault.EINVALID, "the expert %q is not also one of the evaluators", in.Expert)
	}
	forms := map[string]*vault.Form{}
	c := vault.Calibration{Tenant: caller.Tenant, ID: newID(), Name: strings.TrimSpace(in.Name), RecordingID: in.RecordingID,
		FormID: in.FormID, Version: in.Version, Expert: in.Expert, Evaluators: evaluators, CreatedBy: caller.Name, CreatedAt: s.now()}
	var list []vault.Evaluation
	var fx vault.Effects
	for _, who := range append([]string{in.Expert}, evaluators...) {
		e, err := s.newEvaluation(ctx, caller, AssignRequest{RecordingID: in.RecordingID, FormID: in.FormID, Version: in.Version, Evaluator: who}, forms)
		if err != nil {
			return nil, err
		}
		e.Kind, e.CalibrationID = vault.KindCalibration, c.ID
		c.Version = e.Version
		list = append(list, e)
		fx = fx.Add(s.entry(ctx, "", caller, "qm.evaluation.assign", e.ID, vault.OutcomeOK, evaluationDetails(&e, "calibration", c.ID)))
	}
	fx = fx.Add(s.entry(ctx, "", caller, "qm.calibration.create", c.ID, vault.OutcomeOK,
		audit.Details("recordingId", c.RecordingID, "form", c.FormID, "version", c.Version, "expert", c.Expert, "evaluators", c.Evaluators)))
	if err := s.Store.CreateCalibration(ctx, c, list, s.effects(fx)); err != nil {
		return nil, errf(err, "cannot create the calibration")
	}
	return s.Calibration(ctx, caller, c.ID)
}

// Calibration returns a calibration and its report to admins and
// supervisors whose access groups see its recording. A participant who
// has not submitted sees the others' evaluations without answers or
// scores, and no report: calibrating is blind.
func (s *Service) Calibration(ctx context.Context, caller *vault.User, id string) (*CalibrationView, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	c, err := s.Store.Calibration(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("calibration", id)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.qmRecording(ctx, caller, c.RecordingID); err != nil {
		return nil, notVisible("calibration", id)
	}
	list, err := s.Store.Evaluations(ctx, caller.Tenant, vault.EvaluationFilter{CalibrationID: id, Viewer: vault.EvaluationViewer{Access: vault.Access{All: true}}})
	if err != nil {
		return nil, err
	}
	f, err := s.formVersion(ctx, caller.Tenant, c.FormID, c.Version)
	if err != nil {
		return nil, err
	}
	view := &CalibrationView{Calibration: c, Evaluations: list}
	if blind := blindFor(caller.Name, list); blind {
		for i := range view.Evaluations {
			hideAnswers(&view.Evaluations[i], caller.Name)
		}
		return view, nil
	}
	var expert vault.Evaluation
	var others []vault.Evaluation
	for _, e := range list {
		if e.Evaluator == c.Expert {
			expert = e
		} else {
			others = append(others, e)
		}
	}
	slices.SortFunc(others, func(a, b vault.Evaluation) int { return strings.Compare(a.Evaluator, b.Evaluator) })
	view.Report = qm.Calibrate(f, expert, others)
	return view, nil
}

// blindFor reports whether who takes part in a calibration (one of its
// evaluations list) and has not submitted yet.
func blindFor(who string, list []vault.Evaluation) bool {
	for _, e := range list {
		if e.Evaluator == who && (e.State == vault.EvalAssigned || e.State == vault.EvalDraft) {
			return true
		}
	}
	return false
}

// hideAnswers leaves only the state of an evaluation that is not who's.
func hideAnswers(e *vault.Evaluation, who string) {
	if e.Evaluator != who {
		e.Answers, e.Score, e.Comment = []vault.AnswerValue{}, nil, ""
	}
}

// blindCalibrations hides, in a list of evaluations, the answers of
// calibrations the caller takes part in and has not submitted.
func (s *Service) blindCalibrations(ctx context.Context, caller *vault.User, list []vault.Evaluation) error {
	blind := map[string]bool{}
	for i := range list {
		e := &list[i]
		if e.Kind != vault.KindCalibration || e.Evaluator == caller.Name {
			continue
		}
		hidden, seen := blind[e.CalibrationID]
		if !seen {
			mine, err := s.Store.Evaluations(ctx, caller.Tenant, vault.EvaluationFilter{CalibrationID: e.CalibrationID, Evaluator: caller.Name,
				Viewer: vault.EvaluationViewer{Access: vault.Access{All: true}}})
			if err != nil {
				return err
			}
			hidden = blindFor(caller.Name, mine)
			blind[e.CalibrationID] = hidden
		}
		if hidden {
			hideAnswers(e, caller.Name)
		}
	}
	return nil
}

// Calibrations lists the calibrations whose recordings the caller may see.
func (s *Service) Calibrations(ctx context.Context, caller *vault.User) ([]vault.Calibration, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	list, err := s.Store.Calibrations(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, c := range list {
		if _, err := s.qmRecording(ctx, caller, c.RecordingID); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// --- plans ---

// checkPlan validates a plan against the store: a published form
// version, evaluators who may evaluate, agents who are users or groups,
// all of them within the caller's reach (planCovers).
func (s *Service) checkPlan(ctx context.Context, caller *vault.User, p *vault.Plan) error {
	if err := qm.CheckPlan(p); err != nil {
		return err
	}
	if _, err := s.formVersion(ctx, caller.Tenant, p.FormID, p.FormVersion); err != nil {
		return err
	}
	for _, name := range p.Evaluators {
		if _, err := s.evaluatorOf(ctx, caller.Tenant, name, nil); err != nil {
			return err
		}
	}
	for _, a := range p.Agents {
		if strings.HasPrefix(a, "/") {
			if _, err := access.NormalizePath(a); err != nil {
				return vault.Errorf(vault.EINVALID, "agents: %q is not a hierarchy group", a)
			}
		}
	}
	if !s.planCovers(ctx, caller, p) {
		return vault.Errorf(vault.EFORBIDDEN, "plan only agents under your access groups (names of agents whose hierarchy your groups see, or groups such as /Anthony/John within yours)")
	}
	for _, a := range p.Agents { // covered: only "/" managers get here with a name that is no user
		if !strings.HasPrefix(a, "/") {
			if _, err := s.Store.User(ctx, caller.Tenant, a); err != nil {
				return vault.Errorf(vault.EINVALID, "agents: no user %q (name a user or a hierarchy group such as /Anthony/John)", a)
			}
		}
	}
	return nil
}

// planCovers reports whether every agent of the plan is within u's
// access groups: a group at or under one of u's, or an agent whose
// hierarchy u's groups see. A plan beyond that would pick, count and name
// calls u may not see.
func (s *Service) planCovers(ctx context.Context, u *vault.User, p *vault.Plan) bool {
	mine := managerAccess(*u)
	if mine.All {
		return true
	}
	for _, a := range p.Agents {
		if strings.HasPrefix(a, "/") {
			norm, err := access.NormalizePath(a)
			if err != nil || !slices.ContainsFunc(access.Prefixes(norm), func(g string) bool { return slices.Contains(mine.Groups, g) }) {
				return false
			}
			continue
		}
		agent, err := s.Store.User(ctx, u.Tenant, a)
		if err != nil || !slices.ContainsFunc(access.Prefixes(agent.AgentHierarchy), func(g string) bool { return slices.Contains(mine.Groups, g) }) {
			return false
		}
	}
	return true
}

// CreatePlan stores a plan (admins and supervisors), active or paused as
// given. Its first period is the one holding firstPeriod (default: now);
// evaluations of a period are created when it is over.
func (s *Service) CreatePlan(ctx context.Context, caller *vault.User, p vault.Plan) (*vault.Plan, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	if err := s.checkPlan(ctx, caller, &p); err != nil {
		return nil, err
	}
	now := s.now()
	if p.FirstPeriod.IsZero() {
		p.FirstPeriod = now
	}
	if p.FirstPeriod.Before(now.AddDate(-1, 0, 0)) {
		return nil, vault.Errorf(vault.EINVALID, "firstPeriod is over a year ago")
	}
	p.FirstPeriod = qm.PeriodStart(p.Every, p.FirstPeriod)
	p.Tenant, p.ID, p.DoneThrough, p.LastRun = caller.Tenant, newID(), time.Time{}, nil
	p.CreatedBy, p.CreatedAt, p.UpdatedBy, p.UpdatedAt = caller.Name, now, caller.Name, now
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.plan.create", p.ID, vault.OutcomeOK, planDetails(&p)))
	if p.Active && len(qm.DuePeriods(&p, now)) > 0 {
		fx.Jobs = append(fx.Jobs, planJob(caller.Tenant, p.ID))
	}
	if err := s.Store.CreatePlan(ctx, p, s.effects(fx)); err != nil {
		return nil, errf(err, "cannot create plan %q", p.Name)
	}
	return &p, nil
}

func planDetails(p *vault.Plan) json.RawMessage {
	return audit.Details("name", p.Name, "form", p.FormID, "version", p.FormVersion, "evaluators", p.Evaluators,
		"agents", p.Agents, "perAgent", p.PerAgent, "every", p.Every, "active", p.Active)
}

func planJob(tenant, id string) vault.Job {
	return vault.Job{Tenant: tenant, Kind: KindQMPlan, Args: jobArgs(QMPlanArgs{Tenant: tenant, PlanID: id}), Unique: true}
}

// UpdatePlan changes a plan's settings (not the periods already done).
func (s *Service) UpdatePlan(ctx context.Context, caller *vault.User, id string, in vault.Plan) (*vault.Plan, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	if err := s.checkPlan(ctx, caller, &in); err != nil {
		return nil, err
	}
	if _, err := s.Plan(ctx, caller, id); err != nil {
		return nil, err
	}
	p, err := s.Store.UpdatePlan(ctx, caller.Tenant, id, func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
		p.UpdatedBy = caller.Name
		p.Name, p.FormID, p.FormVersion, p.Evaluators, p.Agents = in.Name, in.FormID, in.FormVersion, in.Evaluators, in.Agents
		p.PerAgent, p.Filter, p.Active, p.UpdatedAt = in.PerAgent, in.Filter, in.Active, s.now()
		if in.Every != p.Every {
			return nil, vault.Effects{}, vault.Errorf(vault.EINVALID, "a plan's period cannot change (it is %s); make a new plan", p.Every)
		}
		fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.plan.update", id, vault.OutcomeOK, planDetails(p)))
		if p.Active && len(qm.DuePeriods(p, s.now())) > 0 {
			fx.Jobs = append(fx.Jobs, planJob(caller.Tenant, id))
		}
		return nil, s.effects(fx), nil
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("plan", id)
	}
	if err != nil {
		return nil, errf(err, "cannot change plan %q", id)
	}
	return &p, nil
}

// Plan returns one plan (admins and supervisors).
func (s *Service) Plan(ctx context.Context, caller *vault.User, id string) (*vault.Plan, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	p, err := s.Store.Plan(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) || err == nil && !s.planCovers(ctx, caller, &p) {
		return nil, notVisible("plan", id)
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Plans lists the plans whose agents are all within the caller's access
// groups (admins and supervisors).
func (s *Service) Plans(ctx context.Context, caller *vault.User) ([]vault.Plan, error) {
	if err := qmManager(caller); err != nil {
		return nil, err
	}
	list, err := s.Store.Plans(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for i := range list {
		if s.planCovers(ctx, caller, &list[i]) {
			out = append(out, list[i])
		}
	}
	return out, nil
}

// DeletePlan removes a plan; the evaluations it created stay.
func (s *Service) DeletePlan(ctx context.Context, caller *vault.User, id string) error {
	if _, err := s.Plan(ctx, caller, id); err != nil {
		return err
	}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "qm.plan.delete", id, vault.OutcomeOK, nil))
	err := s.Store.DeletePlan(ctx, caller.Tenant, id, s.effects(fx))
	if errors.Is(err, vault.ErrNotFound) {
		return notVisible("plan", id)
	}
	return err
}

// queueDuePlans queues the plan job of every active plan with a period
// over (from the tenant's sweep).
func (s *Service) queueDuePlans(ctx context.Context, tenant string) error {
	plans, err := s.Store.Plans(ctx, tenant)
	if err != nil {
		return err
	}
	var fx vault.Effects
	for i := range plans {
		if plans[i].Active && len(qm.DuePeriods(&plans[i], s.now())) > 0 {
			fx.Jobs = append(fx.Jobs, planJob(tenant, plans[i].ID))
		}
	}
	if len(fx.Jobs) == 0 {
		return nil
	}
	return s.Store.Commit(ctx, fx)
}

// planAgents expands the plan's agents: names as they are, hierarchy
// groups to the agents under them.
func (s *Service) planAgents(ctx context.Context, tenant string, p *vault.Plan) ([]string, error) {
	var names []string
	var groups []string
	for _, a := range p.Agents {
		if strings.HasPrefix(a, "/") {
			if norm, err := access.NormalizePath(a); err == nil {
				groups = append(groups, norm)
			}
		} else {
			names = append(names, a)
		}
	}
	if len(groups) > 0 {
		users, err := s.Store.Users(ctx, tenant)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if !u.HasRole(vault.RoleAgent) {
				continue
			}
			for _, g := range groups {
				if g == access.Root || slices.Contains(access.Prefixes(u.AgentHierarchy), g) {
					names = append(names, u.Name)
					break
				}
			}
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(names))), nil
}

// planPeriod picks one period's evaluations: for each agent, up to
// PerAgent random recordings started in the period that pass the filter,
// have a stop time and are in none of the plan's evaluations, each for an
// evaluator (in turn) who may see it.
func (s *Service) planPeriod(ctx context.Context, p *vault.Plan, start time.Time, used map[string]bool) ([]vault.Evaluation, vault.PlanRun, error) {
	end := qm.PeriodEnd(p.Every, start)
	run := vault.PlanRun{PeriodStart: start, PeriodEnd: end, At: s.now()}
	form, err := s.formVersion(ctx, p.Tenant, p.FormID, p.FormVersion)
	if err != nil {
		return nil, run, err
	}
	var evaluators []vault.User
	for _, name := range p.Evaluators {
		u, err := s.Store.User(ctx, p.Tenant, name)
		if err == nil && !u.Disabled && (u.HasRole(vault.RoleAdmin) || u.HasRole(vault.RoleSupervisor)) {
			evaluators = append(evaluators, u)
		}
	}
	agents, err := s.planAgents(ctx, p.Tenant, p)
	if err != nil {
		return nil, run, err
	}
	// The plan picks only calls whoever set it up may see, while they may.
	ownerName := cmp.Or(p.UpdatedBy, p.CreatedBy)
	owner, err := s.Store.User(ctx, p.Tenant, ownerName)
	if err != nil || owner.Disabled || !(owner.HasRole(vault.RoleAdmin) || owner.HasRole(vault.RoleSupervisor)) {
		return nil, run, vault.Errorf(vault.EFORBIDDEN, "plan %q: %q who set it up may no longer plan evaluations", p.ID, ownerName)
	}
	ownerAccess := managerAccess(owner)
	from, to := start, end
	if !p.Filter.StartFrom.IsZero() && p.Filter.StartFrom.After(from) {
		from = p.Filter.StartFrom
	}
	if !p.Filter.StartTo.IsZero() && p.Filter.StartTo.Before(to) {
		to = p.Filter.StartTo
	}
	var out []vault.Evaluation
	turn := 0
	for _, agent := range agents {
		var candidates []vault.Recording
		if from.Before(to) {
			candidates, err = s.Store.SearchRecordings(ctx, p.Tenant, vault.SearchFilter{StartFrom: from, StartTo: to, UserName: agent,
				Partition: p.Filter.Partition, Category: p.Filter.Category, Limit: maxPlanCandidates}, vault.Access{All: true})
			if err != nil {
				return nil, run, err
			}
		}
		byID := map[string]*vault.Recording{}
		var ids []string
		for i := range candidates {
			r := &candidates[i]
			if r.StopTime.IsZero() || used[r.ID] || r.StopTime.Sub(r.StartTime) < time.Duration(p.Filter.MinDurationSec)*time.Second ||
				!access.CanSee(ownerAccess, r.Groups, r.Agents) {
				continue
			}
			byID[r.ID] = r
			ids = append(ids, r.ID)
		}
		qm.Shuffle(ids, p.ID, start, agent)
		picked := 0
		team := s.team(ctx, p.Tenant, agent)
		for _, id := range ids {
			if picked == p.PerAgent {
				break
			}
			r := byID[id]
			var evaluator *vault.User
			for k := range evaluators {
				ev := &evaluators[(turn+k)%len(evaluators)]
				if !slices.Contains(r.Agents, ev.Name) && access.CanSee(managerAccess(*ev), r.Groups, r.Agents) {
					evaluator = ev
					turn = (turn + k + 1) % len(evaluators)
					break
				}
			}
			if evaluator == nil {
				continue
			}
			used[id] = true
			picked++
			now := s.now()
			out = append(out, vault.Evaluation{Tenant: p.Tenant, ID: newID(), RecordingID: id, Agent: agent, Team: team,
				Evaluator: evaluator.Name, FormID: form.ID, Version: form.Version, Kind: vault.KindEvaluation, PlanID: p.ID,
				PeriodStart: start, State: vault.EvalAssigned, Revision: 1, Answers: []vault.AnswerValue{},
				CreatedBy: "plan:" + p.ID, CreatedAt: now, UpdatedAt: now})
		}
		if picked < p.PerAgent {
			if run.Short == nil {
				run.Short = map[string]int{}
			}
			run.Short[agent] = p.PerAgent - picked
		}
	}
	run.Created = len(out)
	return out, run, nil
}

// qmPlanJob creates the evaluations of each of the plan's periods that
// are over, one period per transaction (the period's evaluations and the
// plan's doneThrough together, so a retry never doubles them).
func (s *Service) qmPlanJob(ctx context.Context, run JobRun, a QMPlanArgs) error {
	p, err := s.Store.Plan(ctx, a.Tenant, a.PlanID)
	if errors.Is(err, vault.ErrNotFound) {
		return nil // deleted since it was queued
	}
	if err != nil {
		return err
	}
	due := qm.DuePeriods(&p, s.now())
	created := 0
	for i, start := range due {
		if !run.Until.IsZero() && time.Now().After(run.Until) {
			return ErrContinue // the periods done are committed
		}
		recordings, err := s.Store.PlanRecordings(ctx, a.Tenant, a.PlanID)
		if err != nil {
			return err
		}
		used := map[string]bool{}
		for _, id := range recordings {
			used[id] = true
		}
		list, periodRun, err := s.planPeriod(ctx, &p, start, used)
		if err != nil {
			return err
		}
		p, err = s.Store.UpdatePlan(ctx, a.Tenant, a.PlanID, func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
			if !p.Active || !p.DoneThrough.IsZero() && !p.DoneThrough.Before(periodRun.PeriodEnd) {
				list = nil // paused since, or another run did this period
				return nil, vault.Effects{}, nil
			}
			p.DoneThrough, p.LastRun = periodRun.PeriodEnd, &periodRun
			var fx vault.Effects
			for _, e := range list {
				fx = fx.Add(s.entry(ctx, a.Tenant, nil, "qm.evaluation.assign", e.ID, vault.OutcomeOK, evaluationDetails(&e, "plan", p.ID)))
			}
			fx = fx.Add(s.entry(ctx, a.Tenant, nil, "qm.plan.run", p.ID, vault.OutcomeOK,
				audit.Details("periodStart", periodRun.PeriodStart, "periodEnd", periodRun.PeriodEnd, "created", periodRun.Created, "short", periodRun.Short)))
			return list, s.effects(fx), nil
		})
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot create the evaluations of plan %q for %s: %w", a.PlanID, start.Format(time.DateOnly), err)
		}
		created += len(list)
		if err := s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: int64(i + 1), Total: int64(len(due))}); err != nil {
			s.log().Warn("cannot record plan progress", "job", run.ID, "err", err)
		}
	}
	s.log().Info("plan run", "tenant", a.Tenant, "plan", a.PlanID, "periods", len(due), "created", created)
	return nil
}

// RunDuePlans runs every due plan of the tenant now, outside the queue
// (tests with a fixed clock; `callvault` one-shot commands).
func (s *Service) RunDuePlans(ctx context.Context, tenant string) error {
	plans, err := s.Store.Plans(ctx, tenant)
	if err != nil {
		return err
	}
	for _, p := range plans {
		if p.Active {
			if err := s.qmPlanJob(ctx, JobRun{}, QMPlanArgs{Tenant: tenant, PlanID: p.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- reports ---

// AgentReport averages the scores per agent and team over [from, to) by
// interval, over the evaluations the caller may see (an agent: their
// own), with the evaluations created in the range by state.
func (s *Service) AgentReport(ctx context.Context, caller *vault.User, from, to time.Time, interval string) (*qm.Report, error) {
	v, err := EvaluationViewer(caller)
	if err != nil {
		return nil, err
	}
	switch interval {
	case "":
		interval = qm.IntervalDay
	case qm.IntervalDay, qm.IntervalWeek, qm.IntervalMonth:
	default:
		return nil, vault.Errorf(vault.EINVALID, "interval %q: use day, week or month", interval)
	}
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -30)
	}
	if !to.After(from) {
		return nil, vault.Errorf(vault.EINVALID, "to must be after from")
	}
	if to.Sub(from) > 3*366*24*time.Hour {
		return nil, vault.Errorf(vault.EINVALID, "a report covers at most three years")
	}
	// The two reads are independent: run them side by side (each is one
	// pass over an index of the range).
	var (
		states    map[string]int64
		countsErr error
		counted   = make(chan struct{})
	)
	go func() {
		defer close(counted)
		states, countsErr = s.Store.EvaluationCounts(ctx, caller.Tenant, vault.EvaluationFilter{Kind: vault.KindEvaluation, CreatedFrom: from, CreatedTo: to, Viewer: v})
	}()
	buckets, err := s.Store.ScoreBuckets(ctx, caller.Tenant, from, to, interval, v)
	<-counted
	if err != nil {
		return nil, err
	}
	if countsErr != nil {
		return nil, countsErr
	}
	rep := qm.BuildReport(from, to, interval, buckets, states)
	return &rep, nil
}
