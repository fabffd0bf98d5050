package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/qm"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// qmRoutes are quality management: forms and their versions,
// evaluations and their life, calibrations, plans and the agents' report.
func (s *Server) qmRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/qm/forms", s.authed(s.listForms))
	mux.HandleFunc("POST /api/v2/qm/forms", s.authed(s.createForm))
	mux.HandleFunc("GET /api/v2/qm/forms/{id}", s.authed(s.getForm))
	mux.HandleFunc("PUT /api/v2/qm/forms/{id}", s.authed(s.updateForm))
	mux.HandleFunc("POST /api/v2/qm/forms/{id}/publish", s.authed(s.publishForm))
	mux.HandleFunc("GET /api/v2/qm/forms/{id}/versions", s.authed(s.formVersions))
	mux.HandleFunc("GET /api/v2/qm/forms/{id}/versions/{version}", s.authed(s.formVersion))

	mux.HandleFunc("POST /api/v2/qm/evaluations", s.authed(s.assignEvaluations))
	mux.HandleFunc("GET /api/v2/qm/evaluations", s.authed(s.listEvaluations))
	mux.HandleFunc("GET /api/v2/qm/evaluations/{id}", s.authed(s.getEvaluation))
	mux.HandleFunc("PUT /api/v2/qm/evaluations/{id}", s.authed(s.saveEvaluation(false)))
	mux.HandleFunc("POST /api/v2/qm/evaluations/{id}/submit", s.authed(s.saveEvaluation(true)))
	mux.HandleFunc("POST /api/v2/qm/evaluations/{id}/signoff", s.authed(s.noteEvaluation(s.Svc.SignOff)))
	mux.HandleFunc("POST /api/v2/qm/evaluations/{id}/dispute", s.authed(s.noteEvaluation(s.Svc.Dispute)))
	mux.HandleFunc("POST /api/v2/qm/evaluations/{id}/decline", s.authed(s.noteEvaluation(s.Svc.Decline)))
	mux.HandleFunc("POST /api/v2/qm/evaluations/{id}/rescore", s.authed(s.rescoreEvaluation))

	mux.HandleFunc("POST /api/v2/qm/calibrations", s.authed(s.createCalibration))
	mux.HandleFunc("GET /api/v2/qm/calibrations", s.authed(s.listCalibrations))
	mux.HandleFunc("GET /api/v2/qm/calibrations/{id}", s.authed(s.getCalibration))

	mux.HandleFunc("POST /api/v2/qm/plans", s.authed(s.createPlan))
	mux.HandleFunc("GET /api/v2/qm/plans", s.authed(s.listPlans))
	mux.HandleFunc("GET /api/v2/qm/plans/{id}", s.authed(s.getPlan))
	mux.HandleFunc("PUT /api/v2/qm/plans/{id}", s.authed(s.updatePlan))
	mux.HandleFunc("DELETE /api/v2/qm/plans/{id}", s.authed(s.deletePlan))

	mux.HandleFunc("GET /api/v2/qm/reports/agents", s.authed(s.agentReport))
}

// qmBodyLimit bounds an evaluation's answers, a plan or a calibration; a
// form has qm.MaxFormBytes.
const qmBodyLimit = 1 << 20

// formJSON is a form's draft with its versions.
type formJSON struct {
	*vault.Form
	LatestVersion int                 `json:"latestVersion"`
	Versions      []vault.FormVersion `json:"versions"`
	CreatedAt     time.Time           `json:"createdAt"`
}

func (s *Server) listForms(w http.ResponseWriter, r *http.Request, u *vault.User) {
	list, err := s.Svc.Forms(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []vault.FormInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"forms": list})
}

func (s *Server) createForm(w http.ResponseWriter, r *http.Request, u *vault.User) {
	body, err := readBody(r, qm.MaxFormBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := s.Svc.CreateForm(r.Context(), u, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeForm(w, r, u, f.ID, http.StatusCreated)
}

func (s *Server) writeForm(w http.ResponseWriter, r *http.Request, u *vault.User, id string, status int) {
	f, info, err := s.Svc.Form(r.Context(), u, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, formJSON{Form: f, LatestVersion: info.LatestVersion, Versions: info.Versions, CreatedAt: info.CreatedAt})
}

func (s *Server) getForm(w http.ResponseWriter, r *http.Request, u *vault.User) {
	s.writeForm(w, r, u, r.PathValue("id"), http.StatusOK)
}

func (s *Server) updateForm(w http.ResponseWriter, r *http.Request, u *vault.User) {
	body, err := readBody(r, qm.MaxFormBytes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.Svc.UpdateForm(r.Context(), u, r.PathValue("id"), body); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeForm(w, r, u, r.PathValue("id"), http.StatusOK)
}

func (s *Server) publishForm(w http.ResponseWriter, r *http.Request, u *vault.User) {
	v, err := s.Svc.PublishForm(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) formVersions(w http.ResponseWriter, r *http.Request, u *vault.User) {
	_, info, err := s.Svc.Form(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": info.Versions, "latestVersion": info.LatestVersion})
}

func (s *Server) formVersion(w http.ResponseWriter, r *http.Request, u *vault.User) {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		s.writeError(w, r, vault.Errorf(vault.EINVALID, "version %q: give a published version number", r.PathValue("version")))
		return
	}
	f, err := s.Svc.FormVersion(r.Context(), u, r.PathValue("id"), v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// assignEvaluations takes one request object or an array of them; it
// answers the evaluation, or {"evaluations": [...]} for an array.
func (s *Server) assignEvaluations(w http.ResponseWriter, r *http.Request, u *vault.User) {
	body, err := readBody(r, qmBodyLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var list []service.AssignRequest
	many := len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '['
	if many {
		err = strictJSON(body, &list)
	} else {
		var one service.AssignRequest
		err = strictJSON(body, &one)
		list = []service.AssignRequest{one}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.Svc.Assign(r.Context(), u, list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if many {
		writeJSON(w, http.StatusCreated, map[string]any{"evaluations": out})
		return
	}
	writeJSON(w, http.StatusCreated, out[0])
}

// strictJSON decodes one JSON value, refusing unknown fields.
func strictJSON(body []byte, v any) error {
	r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	return decodeJSON(r, int64(len(body))+1, v)
}

var evaluationParams = map[string]bool{"agent": true, "evaluator": true, "state": true, "recordingId": true, "formId": true,
	"planId": true, "calibrationId": true, "kind": true, "from": true, "to": true, "limit": true, "cursor": true}

func parseEvaluationFilter(q url.Values) (vault.EvaluationFilter, error) {
	var f vault.EvaluationFilter
	for k := range q {
		if !evaluationParams[k] {
			return f, vault.Errorf(vault.EINVALID, "unknown parameter %q", k)
		}
	}
	f.Agent, f.Evaluator, f.RecordingID, f.FormID = q.Get("agent"), q.Get("evaluator"), q.Get("recordingId"), q.Get("formId")
	f.PlanID, f.CalibrationID, f.Kind = q.Get("planId"), q.Get("calibrationId"), q.Get("kind")
	if f.Kind != "" && f.Kind != vault.KindEvaluation && f.Kind != vault.KindCalibration {
		return f, vault.Errorf(vault.EINVALID, "kind %q: use evaluation or calibration", f.Kind)
	}
	for _, st := range q["state"] {
		for _, one := range strings.Split(st, ",") {
			if !containsString(vault.EvalStates, one) {
				return f, vault.Errorf(vault.EINVALID, "state %q: use %s", one, strings.Join(vault.EvalStates, ", "))
			}
			f.States = append(f.States, one)
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.CreatedFrom, err = parseTimeParam("from", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("to"); v != "" {
		if f.CreatedTo, err = parseTimeParam("to", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > service.MaxEvaluationPage {
			return f, vault.Errorf(vault.EINVALID, "limit must be a number from 1 to %d", service.MaxEvaluationPage)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if f.After, err = httpx.DecodeCursor(v); err != nil {
			return f, err
		}
	}
	return f, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) listEvaluations(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	f, err := parseEvaluationFilter(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.Svc.Evaluations(r.Context(), u, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	var next any
	if len(list) == limit {
		last := list[len(list)-1]
		q.Set("cursor", httpx.EncodeCursor(vault.Cursor{StartTime: last.CreatedAt, ID: last.ID}))
		q.Set("limit", strconv.Itoa(limit))
		next = s.Site.Base(r) + "/api/v2/qm/evaluations?" + q.Encode()
	}
	if list == nil {
		list = []vault.Evaluation{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"evaluations": list, "next": next})
}

func (s *Server) getEvaluation(w http.ResponseWriter, r *http.Request, u *vault.User) {
	e, err := s.Svc.Evaluation(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// saveEvaluation is PUT (save) or POST …/submit (an empty body submits
// what is saved).
func (s *Server) saveEvaluation(submit bool) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		var in service.SaveInput
		body, err := readBody(r, qmBodyLimit)
		if err == nil && (len(bytes.TrimSpace(body)) > 0 || !submit) {
			err = strictJSON(body, &in)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var e *service.EvaluationView
		if submit {
			e, err = s.Svc.SubmitEvaluation(r.Context(), u, r.PathValue("id"), in)
		} else {
			e, err = s.Svc.SaveEvaluation(r.Context(), u, r.PathValue("id"), in)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

// noteRequest is a sign-off's, dispute's or decline's body.
type noteRequest struct {
	Comment string `json:"comment"`
}

func (s *Server) noteEvaluation(step func(ctx context.Context, caller *vault.User, id, comment string) (*service.EvaluationView, error)) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		var in noteRequest
		body, err := readBody(r, qmBodyLimit)
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			err = strictJSON(body, &in)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		e, err := step(r.Context(), u, r.PathValue("id"), in.Comment)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (s *Server) rescoreEvaluation(w http.ResponseWriter, r *http.Request, u *vault.User) {
	e, err := s.Svc.Rescore(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) createCalibration(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in service.CalibrationRequest
	if err := decodeJSON(r, qmBodyLimit, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.Svc.CreateCalibration(r.Context(), u, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listCalibrations(w http.ResponseWriter, r *http.Request, u *vault.User) {
	list, err := s.Svc.Calibrations(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []vault.Calibration{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"calibrations": list})
}

func (s *Server) getCalibration(w http.ResponseWriter, r *http.Request, u *vault.User) {
	c, err := s.Svc.Calibration(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// planRequest is a plan as a client gives it: the server owns the rest.
type planRequest struct {
	Name        string           `json:"name"`
	FormID      string           `json:"formId"`
	FormVersion int              `json:"formVersion"`
	Evaluators  []string         `json:"evaluators"`
	Agents      []string         `json:"agents"`
	PerAgent    int              `json:"perAgent"`
	Every       string           `json:"every"`
	Filter      vault.PlanFilter `json:"filter"`
	FirstPeriod *json.RawMessage `json:"firstPeriod"`
	Active      *bool            `json:"active"`
}

func (p planRequest) plan() (vault.Plan, error) {
	out := vault.Plan{Name: p.Name, FormID: p.FormID, FormVersion: p.FormVersion, Evaluators: p.Evaluators, Agents: p.Agents,
		PerAgent: p.PerAgent, Every: p.Every, Filter: p.Filter, Active: p.Active == nil || *p.Active}
	if p.FirstPeriod != nil {
		var text string
		if err := json.Unmarshal(*p.FirstPeriod, &text); err != nil {
			return out, vault.Errorf(vault.EINVALID, "firstPeriod: give an RFC 3339 time")
		}
		t, err := parseTimeParam("firstPeriod", text)
		if err != nil {
			return out, err
		}
		out.FirstPeriod = t
	}
	return out, nil
}

func (s *Server) readPlan(r *http.Request) (vault.Plan, error) {
	var in planRequest
	if err := decodeJSON(r, qmBodyLimit, &in); err != nil {
		return vault.Plan{}, err
	}
	return in.plan()
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request, u *vault.User) {
	in, err := s.readPlan(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.Svc.CreatePlan(r.Context(), u, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listPlans(w http.ResponseWriter, r *http.Request, u *vault.User) {
	list, err := s.Svc.Plans(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []vault.Plan{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": list})
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request, u *vault.User) {
	p, err := s.Svc.Plan(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) updatePlan(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var req planRequest
	if err := decodeJSON(r, qmBodyLimit, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := req.plan()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Active == nil { // left out: as it is
		current, err := s.Svc.Plan(r.Context(), u, r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		in.Active = current.Active
	}
	p, err := s.Svc.UpdatePlan(r.Context(), u, r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) deletePlan(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if err := s.Svc.DeletePlan(r.Context(), u, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var reportParams = map[string]bool{"from": true, "to": true, "interval": true}

func (s *Server) agentReport(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	for k := range q {
		if !reportParams[k] {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "unknown parameter %q", k))
			return
		}
	}
	var from, to time.Time
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = parseTimeParam("from", v); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseTimeParam("to", v); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	rep, err := s.Svc.AgentReport(r.Context(), u, from, to, q.Get("interval"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
