package cli

import (
	"context"
	"fmt"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// demoForm is the demo's evaluation form: two weighted groups, a critical
// and fatal identity check, a conditional question, N/A, and a note.
const demoForm = `{
  "id": "customer-service",
  "name": "Customer service call",
  "description": "The demo's form: greeting, compliance and resolution.",
  "questionGroups": [
    {"name": "Greeting", "weight": 1, "questions": [
      {"id": "greeting", "text": "Did the agent thank the caller and give their name?", "type": "yesno", "required": true,
       "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]}
    ]},
    {"name": "Compliance", "weight": 2, "questions": [
      {"id": "identity", "text": "Was the caller's identity verified before the account was discussed?", "type": "yesno",
       "required": true, "critical": true, "fatal": true, "naAllowed": true,
       "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]}
    ]},
    {"name": "Resolution", "weight": 2, "questions": [
      {"id": "retention", "text": "How well did the agent handle the cancellation?", "type": "choice", "required": true, "critical": true,
       "answers": [{"id": "saved", "text": "Offered an alternative and kept the customer", "points": 3},
                   {"id": "offered", "text": "Offered an alternative", "points": 2},
                   {"id": "processed", "text": "Processed it without an offer", "points": 0}]},
      {"id": "escalation", "text": "Was the escalation handed over politely?", "type": "yesno", "naAllowed": true,
       "visibleWhen": {"question": "retention", "answer": "processed"},
       "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]},
      {"id": "notes", "text": "Coaching notes", "type": "text"}
    ]}
  ]
}`

// demoQM shows quality management on the demo's first run: a published
// form, the call in speech evaluated and submitted (agent1 may sign it
// off or dispute it), the screen call assigned to the admin, and a weekly
// plan for agent1.
func demoQM(ctx context.Context, svc *service.Service, admin *vault.User) (string, error) {
	if _, err := svc.CreateForm(ctx, admin, []byte(demoForm)); err != nil {
		return "", fmt.Errorf("cannot create the demo form: %w", err)
	}
	form, err := svc.PublishForm(ctx, admin, "customer-service")
	if err != nil {
		return "", fmt.Errorf("cannot publish the demo form: %w", err)
	}
	list, err := svc.Assign(ctx, admin, []service.AssignRequest{
		{RecordingID: demoAnalyticsID, FormID: form.ID, Evaluator: admin.Name},
		{RecordingID: demoScreenID, FormID: form.ID, Evaluator: admin.Name},
	})
	if err != nil {
		return "", fmt.Errorf("cannot assign the demo evaluations: %w", err)
	}
	answer := func(question, id, comment string, atMs int64) vault.AnswerValue {
		return vault.AnswerValue{Question: question, Answer: &id, Comment: comment, AtMs: &atMs}
	}
	answers := []vault.AnswerValue{
		answer("greeting", "yes", "Thanked the caller at once.", 500),
		{Question: "identity", NA: true, Comment: "No account details were discussed."},
		answer("retention", "processed", "No alternative offered before the customer asked for a manager.", 9000),
		answer("escalation", "yes", "", 20000),
		{Question: "notes", Text: "Practise the retention offer."},
	}
	ev, err := svc.SubmitEvaluation(ctx, admin, list[0].ID, service.SaveInput{Answers: answers})
	if err != nil {
		return "", fmt.Errorf("cannot submit the demo evaluation: %w", err)
	}
	if _, err := svc.CreatePlan(ctx, admin, vault.Plan{Name: "agent1 weekly", FormID: form.ID, Evaluators: []string{admin.Name},
		Agents: []string{"agent1"}, PerAgent: 1, Every: vault.EveryWeek}); err != nil {
		return "", fmt.Errorf("cannot create the demo plan: %w", err)
	}
	return fmt.Sprintf("form %q v%d; the call in speech evaluated: %.1f%% (agent1 may sign it off or dispute it), the screen call assigned to admin; a weekly plan for agent1 (Quality)",
		form.Name, form.Version, *ev.Score.Total), nil
}
