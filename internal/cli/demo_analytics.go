package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"callvault/internal/samples"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// demoAnalyticsID is the demo's call in speech, for speech analytics.
const demoAnalyticsID = "01DEMOANALYTICS00000000000A"

// demoTopics are the demo's topics and categories: what the sample call
// says, and one phrase it does not.
var demoTopics = []struct {
	topic           vault.Topic
	strictnessGiven bool
}{
	{vault.Topic{Name: "Greeting", Speaker: vault.SpeakerAgent, Phrases: []vault.Phrase{{Text: "thank you for calling"}}}, false},
	{vault.Topic{Name: "Cancellation", Speaker: vault.SpeakerCustomer, Phrases: []vault.Phrase{{Text: "cancel my subscription"}, {Text: "close my account"}}}, false},
	{vault.Topic{Name: "Escalation", Speaker: vault.SpeakerAny, Phrases: []vault.Phrase{{Text: "speak to a manager"}, {Text: "speak to your supervisor"}}}, false},
	{vault.Topic{Name: "Moving house", Speaker: vault.SpeakerCustomer, Phrases: []vault.Phrase{{Text: "change my address"}}}, false},
}

var demoCategories = []vault.Category{
	{Name: "Churn risk", Any: []string{"Cancellation"}},
	{Name: "Angry churn", All: []string{"Cancellation", "Escalation"}},
	{Name: "Escalated at the end", Any: []string{"Escalation"}, Within: &vault.Window{FromSec: 0, ToSec: 20, FromEnd: true}},
	{Name: "No greeting", None: []string{"Greeting"}, Within: &vault.Window{FromSec: 0, ToSec: 10}},
}

// demoAnalytics shows speech analytics on the demo's first run: topics
// and categories, then a call in speech (agent1 with a customer) whose
// analysis job runs as soon as the demo serves. Without the recogniser
// (pocketsphinx and its en-US model) the topics cannot be checked: the
// demo says so and goes on without them.
func demoAnalytics(ctx context.Context, svc *service.Service, admin *vault.User) (string, error) {
	for _, t := range demoTopics {
		if _, err := svc.PutTopic(ctx, admin, t.topic.Name, t.topic, t.strictnessGiven, true); err != nil {
			if vault.ErrorCode(err) == vault.EUNAVAILABLE {
				return "speech analytics is off: " + vault.ErrorMessage(err) + " (install pocketsphinx and pocketsphinx-en-us)", nil
			}
			return "", fmt.Errorf("cannot create the demo topic %s: %w", t.topic.Name, err)
		}
	}
	for _, c := range demoCategories {
		if _, err := svc.PutCategory(ctx, admin, c.Name, c, true); err != nil {
			return "", fmt.Errorf("cannot create the demo category %s: %w", c.Name, err)
		}
	}
	audio := samples.SpeechCall()
	const mediaID = demoAnalyticsID + "_call.mp3"
	if _, err := svc.PutMedia(ctx, admin, service.PutMediaInput{RecordingID: demoAnalyticsID, MediaID: mediaID,
		ContentType: "audio/mp3", Size: int64(len(audio)), Body: bytes.NewReader(audio)}); err != nil {
		return "", fmt.Errorf("cannot store the demo call in speech: %w", err)
	}
	stop := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	start := stop.Add(-32 * time.Second)
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000+0000") }
	contact := map[string]any{"type": "User", "userName": "agent1", "firstName": "Alex", "lastName": "Agent", "phoneNumber": "+15550100"}
	doc := map[string]any{"id": demoAnalyticsID, "callerPhoneNumber": "+15555550188", "dialedPhoneNumber": "+15550100",
		"startTime": ts(start), "stopTime": ts(stop),
		"eventHistory": []any{
			map[string]any{"occurredAt": ts(start), "event": "Joined", "calluuid": demoAnalyticsID, "contact": contact},
			map[string]any{"occurredAt": ts(stop), "event": "Left", "calluuid": demoAnalyticsID, "contact": contact}},
		"mediaFiles": []any{map[string]any{"mediaId": mediaID, "type": "audio/mp3", "startTime": ts(start), "stopTime": ts(stop),
			"channels": 2, "parameters": map[string]any{"username": "agent1", "agentId": "agent1"}}}}
	body, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	if _, _, err := svc.PutMetadata(ctx, admin, demoAnalyticsID, body); err != nil {
		return "", fmt.Errorf("cannot store the demo call in speech: %w", err)
	}
	return fmt.Sprintf("%d topics and %d categories (Topics, Categories, Trends); call %s in speech is analysed by a job (pocketsphinx, ffmpeg)",
		len(demoTopics), len(demoCategories), demoAnalyticsID), nil
}
