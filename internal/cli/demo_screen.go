package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// demoScreenID is the demo's call with a screen recording.
const demoScreenID = "01DEMOSCREEN0000000000000000A"

// demoScreen shows screen recording on the demo's first run, through the
// same calls srs and a recorder make: the agent's srs is present (its
// first poll) when a call of the agent starts, so the server asks it for
// a capture; the screen file comes with a PCI pause in its masks; the call
// stops and its audio comes; the mux job then adds the audio to the
// screen video (with ffmpeg on PATH; without it the job fails, logged, and
// the page shows the screen video as not muxed yet).
func demoScreen(ctx context.Context, srv *server.Server, admin *vault.User, agentPassword string) error {
	svc := srv.Svc
	first, last, hierarchy := "Alex", "Agent", "/Demo/Alex"
	if _, err := svc.CreateUser(ctx, admin, service.UserInput{UserName: "agent1", Password: &agentPassword, Roles: []vault.Role{vault.RoleAgent},
		FirstName: &first, LastName: &last, AgentHierarchy: &hierarchy}); err != nil {
		return fmt.Errorf("cannot create the demo agent: %w", err)
	}
	agent, err := svc.User(ctx, admin, "agent1")
	if err != nil {
		return err
	}
	if _, err := svc.ScreenCommands(ctx, agent, -1, 0); err != nil {
		return fmt.Errorf("cannot register the demo agent's srs: %w", err)
	}
	stop := time.Now().UTC().Truncate(time.Second)
	start := stop.Add(-46 * time.Second)
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000+0000") }
	joined := map[string]any{"occurredAt": ts(start), "event": "Joined", "calluuid": demoScreenID,
		"contact": map[string]any{"type": "User", "userName": "agent1", "firstName": "Alex", "lastName": "Agent", "phoneNumber": "+15550100"}}
	call := map[string]any{"id": demoScreenID, "callerPhoneNumber": "+15555550123", "dialedPhoneNumber": "+15550100",
		"startTime": ts(start), "eventHistory": []any{joined}}
	if err := putDemoDoc(ctx, svc, admin, call); err != nil {
		return err
	}
	capture, err := svc.Store.OpenScreenCaptureOf(ctx, admin.Tenant, "agent1")
	if err != nil {
		return fmt.Errorf("the demo call did not start a screen capture: %w", err)
	}
	video := samples.ScreenVideo()
	if _, err := svc.PutMedia(ctx, agent, service.PutMediaInput{RecordingID: demoScreenID, MediaID: capture.MediaID,
		ContentType: "video/mp4", Size: int64(len(video)), Body: bytes.NewReader(video)}); err != nil {
		return fmt.Errorf("cannot store the demo screen recording: %w", err)
	}
	screen := map[string]any{"id": demoScreenID, "mediaFiles": []any{map[string]any{
		"mediaId": capture.MediaID, "type": "video/mp4", "startTime": ts(start), "stopTime": ts(stop), "duration": "0:00:46",
		"parameters": map[string]any{"agentID": "agent1", "virtualWidth": "320", "virtualHeight": "180",
			"originalVirtualWidth": "1920", "originalVirtualHeight": "1080", "callRecordingId": demoScreenID,
			"monitors": []any{map[string]any{"name": "monitor_0", "primary": true, "originalPositions": "[0, 0, 1920, 1080]", "actualPositions": "[0, 0, 320, 180]"}},
			"contact":  map[string]any{"userName": "agent1", "firstName": "Alex", "lastName": "Agent"}},
		"masks": []any{map[string]any{"time": ts(start.Add(20 * time.Second)), "type": "pause"},
			map[string]any{"time": ts(start.Add(28 * time.Second)), "type": "resume"}},
	}}}
	if err := putDemoDoc(ctx, svc, agent, screen); err != nil {
		return err
	}
	audio := samples.CallAudio()
	const audioID = demoScreenID + "_call.mp3"
	if _, err := svc.PutMedia(ctx, admin, service.PutMediaInput{RecordingID: demoScreenID, MediaID: audioID,
		ContentType: "audio/mp3", Size: int64(len(audio)), Body: bytes.NewReader(audio)}); err != nil {
		return fmt.Errorf("cannot store the demo call audio: %w", err)
	}
	call["stopTime"] = ts(stop)
	call["mediaFiles"] = []any{map[string]any{"mediaId": audioID, "type": "audio/mp3", "startTime": ts(start), "stopTime": ts(stop),
		"channels": 1, "parameters": map[string]any{"username": "agent1", "agentId": "agent1"}}}
	call["eventHistory"] = []any{joined, map[string]any{"occurredAt": ts(stop), "event": "Left", "calluuid": demoScreenID,
		"contact": joined["contact"]}}
	return putDemoDoc(ctx, svc, admin, call)
}

func putDemoDoc(ctx context.Context, svc *service.Service, caller *vault.User, doc map[string]any) error {
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if _, _, err := svc.PutMetadata(ctx, caller, demoScreenID, body); err != nil {
		return fmt.Errorf("cannot store the demo screen recording's metadata: %w", err)
	}
	return nil
}
