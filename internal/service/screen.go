package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"sync"
	"time"

	"callvault/internal/audit"
	"callvault/internal/record"
	"callvault/internal/vault"
)

// ScreenPresence is how long after its last request for commands an
// agent's srs counts as present: a long poll lasts up to MaxScreenWait,
// and srs asks again at once.
const ScreenPresence = 90 * time.Second

// MaxScreenWait bounds one long poll for commands.
const MaxScreenWait = 30 * time.Second

// Defaults srs is told to capture with.
const (
	ScreenFrameRate = 5
	ScreenMaxWidth  = 1920
)

// ScreenClientSettings is what an agent's srs needs: whether to record,
// the tenant's screen certificates (PEM) to encrypt for, capture limits.
type ScreenClientSettings struct {
	RecordingWhen string       `json:"recordingWhen"`
	Certificates  []ScreenCert `json:"certificates"`
	FrameRate     int          `json:"frameRate"`
	MaxWidth      int          `json:"maxWidth"`
}

// ScreenCert is one screen certificate as srs gets it.
type ScreenCert struct {
	Alias       string `json:"alias"`
	Certificate string `json:"certificate"`
}

// screenHub wakes the long polls of an agent when a command is issued by
// this process; polls also look at the store every second, for commands
// other replicas issued.
type screenHub struct {
	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

func (h *screenHub) wait(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.waiters == nil {
		h.waiters = map[string][]chan struct{}{}
	}
	h.waiters[key] = append(h.waiters[key], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.waiters[key] = slices.DeleteFunc(h.waiters[key], func(c chan struct{}) bool { return c == ch })
		if len(h.waiters[key]) == 0 {
			delete(h.waiters, key)
		}
	}
}

func (h *screenHub) wake(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.waiters[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func agentKey(tenant, user string) string { return tenant + "\x00" + user }

// ScreenSettingsForAgent answers GET /me/settings/screen-recording.
func (s *Service) ScreenSettingsForAgent(ctx context.Context, caller *vault.User) (*ScreenClientSettings, error) {
	if err := requireRole(caller, vault.RoleAgent, vault.RoleAdmin, vault.RoleSupervisor); err != nil {
		return nil, err
	}
	ss, err := s.Store.ScreenSettings(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	certList, aliases, err := s.encryptionCerts(ctx, caller.Tenant, vault.UsageScreen)
	if err != nil {
		return nil, err
	}
	out := &ScreenClientSettings{RecordingWhen: ss.RecordingWhen, Certificates: []ScreenCert{}, FrameRate: ScreenFrameRate, MaxWidth: ScreenMaxWidth}
	for i, c := range certList {
		out.Certificates = append(out.Certificates, ScreenCert{Alias: aliases[i],
			Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))})
	}
	return out, nil
}

// ScreenSettings returns the tenant's screen-recording settings (admins).
func (s *Service) ScreenSettings(ctx context.Context, caller *vault.User) (vault.ScreenSettings, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return vault.ScreenSettings{}, err
	}
	return s.Store.ScreenSettings(ctx, caller.Tenant)
}

// SetScreenSettings replaces them (admins), with an audit entry. Turning
// recording off starts no new capture; those open run until their call
// stops.
func (s *Service) SetScreenSettings(ctx context.Context, caller *vault.User, ss vault.ScreenSettings) error {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return err
	}
	if ss.RecordingWhen != vault.ScreenWhenVoice && ss.RecordingWhen != vault.ScreenWhenOff {
		return vault.Errorf(vault.EINVALID, "recordingWhen must be %q or %q", vault.ScreenWhenVoice, vault.ScreenWhenOff)
	}
	old, err := s.Store.ScreenSettings(ctx, caller.Tenant)
	if err != nil {
		return err
	}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "settings.screen", caller.Tenant, vault.OutcomeOK,
		audit.Canonical(map[string]any{"from": old, "to": ss})))
	if err := s.Store.SetScreenSettings(ctx, caller.Tenant, ss, s.effects(fx)); err != nil {
		return err
	}
	s.log().Info("screen recording settings changed", "tenant", caller.Tenant, "by", caller.Name, "recordingWhen", ss.RecordingWhen)
	return nil
}

// ScreenCommandsPage is one answer of the command channel.
type ScreenCommandsPage struct {
	Commands []vault.ScreenCommand `json:"commands"`
	Seq      int64                 `json:"seq"`
}

// ScreenCommands is an agent's srs asking for commands after afterSeq,
// waiting up to wait for one. afterSeq < 0 is srs starting (or logging in
// again): it records nothing, so a capture the server thinks open is
// closed ("srs restarted"), and if a call of the agent is in progress a
// new capture starts; the answer is the current state at once.
func (s *Service) ScreenCommands(ctx context.Context, caller *vault.User, afterSeq int64, wait time.Duration) (*ScreenCommandsPage, error) {
	if err := requireRole(caller, vault.RoleAgent); err != nil {
		return nil, err
	}
	tenant, user := caller.Tenant, caller.Name
	if err := s.Store.TouchScreenAgent(ctx, tenant, user, s.now()); err != nil {
		return nil, err
	}
	if afterSeq < 0 {
		if c, err := s.Store.OpenScreenCaptureOf(ctx, tenant, user); err == nil {
			if _, err := s.Store.CloseScreenCapture(ctx, tenant, c.RecordingID, c.MediaID, "srs restarted", s.now(), false); err != nil {
				return nil, err
			}
			s.log().Info("screen capture closed: srs started again", "tenant", tenant, "agent", user, "recording", c.RecordingID, "media", c.MediaID)
		} else if !errors.Is(err, vault.ErrNotFound) {
			return nil, err
		}
		if err := s.followAgent(ctx, caller); err != nil {
			return nil, err
		}
		_, latest, err := s.Store.ScreenCommands(ctx, tenant, user, 0, 0)
		if err != nil {
			return nil, err
		}
		page := &ScreenCommandsPage{Commands: []vault.ScreenCommand{}, Seq: latest}
		if c, err := s.Store.OpenScreenCaptureOf(ctx, tenant, user); err == nil {
			page.Commands = append(page.Commands, vault.ScreenCommand{Seq: latest, Command: vault.ScreenStart, RecordingID: c.RecordingID, MediaID: c.MediaID, IssuedAt: c.StartedAt})
			if c.Paused {
				page.Commands = append(page.Commands, vault.ScreenCommand{Seq: latest, Command: vault.ScreenPause, RecordingID: c.RecordingID, MediaID: c.MediaID, IssuedAt: s.now()})
			}
		}
		return page, nil
	}
	wait = min(max(wait, 0), MaxScreenWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	woken, done := s.screen.wait(agentKey(tenant, user))
	defer done()
	for {
		cmds, latest, err := s.Store.ScreenCommands(ctx, tenant, user, afterSeq, 100)
		if err != nil {
			return nil, err
		}
		if len(cmds) > 0 || wait == 0 {
			return &ScreenCommandsPage{Commands: append([]vault.ScreenCommand{}, cmds...), Seq: latest}, nil
		}
		select {
		case <-ctx.Done():
			return &ScreenCommandsPage{Commands: []vault.ScreenCommand{}, Seq: latest}, nil
		case <-deadline.C:
			return &ScreenCommandsPage{Commands: []vault.ScreenCommand{}, Seq: latest}, nil
		case <-woken:
		case <-tick.C:
			// Presence is refreshed while the poll waits, so an srs
			// that is polling is never taken for gone.
			if err := s.Store.TouchScreenAgent(ctx, tenant, user, s.now()); err != nil {
				return nil, err
			}
		}
	}
}

// ScreenStopped is srs saying it stopped a capture on its own (the
// desktop stopped pinging, the disk is full, it found the file of a
// capture a crash cut short): the capture is closed, so that a call still
// in progress gets a new capture when srs is back.
func (s *Service) ScreenStopped(ctx context.Context, caller *vault.User, recordingID, mediaID, reason string) error {
	if err := requireRole(caller, vault.RoleAgent); err != nil {
		return err
	}
	c, err := s.Store.ScreenCapture(ctx, caller.Tenant, recordingID, mediaID)
	if err != nil || c.UserName != caller.Name {
		return vault.Errorf(vault.ENOTFOUND, "no screen capture %s of recording %s was asked of you", mediaID, recordingID)
	}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	if _, err := s.Store.CloseScreenCapture(ctx, caller.Tenant, recordingID, mediaID, "srs: "+reason, s.now(), false); err != nil {
		return err
	}
	s.log().Info("screen capture stopped by srs", "tenant", caller.Tenant, "agent", caller.Name, "recording", recordingID, "media", mediaID, "reason", reason)
	return nil
}

// StartScreen is the explicit start (POST /recordings/{id}/screen/start,
// admins and recorders): a capture of the agent's screen for the
// recording, whatever its metadata says. userName "" picks the
// recording's only agent.
func (s *Service) StartScreen(ctx context.Context, caller *vault.User, recordingID, userName string) (*vault.ScreenCapture, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleRecorder); err != nil {
		return nil, err
	}
	rec, _, err := s.Store.Recording(ctx, caller.Tenant, recordingID, vault.Access{All: true})
	if err != nil {
		return nil, err
	}
	if userName == "" {
		if len(rec.Agents) != 1 {
			return nil, vault.Errorf(vault.EINVALID, "recording %s has %d agents: say whose screen to record (userName)", recordingID, len(rec.Agents))
		}
		userName = rec.Agents[0]
	}
	if _, err := s.Store.User(ctx, caller.Tenant, userName); err != nil {
		return nil, vault.Errorf(vault.ENOTFOUND, "no user %q in this tenant", userName)
	}
	ss, err := s.Store.ScreenSettings(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	if ss.RecordingWhen == vault.ScreenWhenOff {
		return nil, vault.Errorf(vault.ECONFLICT, "screen recording is off for this tenant (recordingWhen)")
	}
	c, opened, err := s.openCapture(ctx, caller.Tenant, recordingID, userName, caller)
	if err != nil {
		return nil, err
	}
	if !opened && c.RecordingID != recordingID {
		return nil, vault.Errorf(vault.ECONFLICT, "%s's screen is being recorded for recording %s already", userName, c.RecordingID)
	}
	return &c, nil
}

// StopScreen closes the open captures of a recording (admins, recorders).
func (s *Service) StopScreen(ctx context.Context, caller *vault.User, recordingID string) (int, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleRecorder); err != nil {
		return 0, err
	}
	return s.closeCaptures(ctx, caller.Tenant, recordingID, "stopped by "+caller.Name, func(vault.ScreenCapture) bool { return true })
}

// PauseScreen masks (paused true) or unmasks the open captures of a
// recording (admins, recorders): PCI pauses driven from the server.
func (s *Service) PauseScreen(ctx context.Context, caller *vault.User, recordingID string, paused bool) (int, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleRecorder); err != nil {
		return 0, err
	}
	list, err := s.Store.ScreenCaptures(ctx, caller.Tenant, recordingID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if !c.StoppedAt.IsZero() {
			continue
		}
		changed, err := s.Store.PauseScreenCapture(ctx, caller.Tenant, recordingID, c.MediaID, paused, s.now())
		if err != nil {
			return n, err
		}
		if changed {
			n++
			s.screen.wake(agentKey(caller.Tenant, c.UserName))
		}
	}
	return n, nil
}

// ScreenCapturesOf lists a recording's captures for one who may see it.
func (s *Service) ScreenCapturesOf(ctx context.Context, caller *vault.User, recordingID string) ([]vault.ScreenCapture, error) {
	if _, _, err := s.recording(ctx, caller, recordingID); err != nil {
		return nil, err
	}
	return s.Store.ScreenCaptures(ctx, caller.Tenant, recordingID)
}

// newScreenMediaID names a screen file as the guide does:
// <call id>_<32 hex>_<yyyy_MM_dd_HH_mm_ss>, short enough that the muxed
// file's id (22 characters and '_' in front) stays within MaxIDLength.
func newScreenMediaID(recordingID string, at time.Time) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b) + "_" + at.UTC().Format("2006_01_02_15_04_05")
	if len(recordingID)+1+len(id)+23 <= vault.MaxIDLength {
		id = recordingID + "_" + id
	}
	return id, nil
}

// MuxedMediaID is the id of the muxed file made from a screen file: as in
// the guide's example, a 22-character prefix, '_', the screen file's id.
func MuxedMediaID(screenMediaID string) string {
	sum := sha256.Sum256([]byte(screenMediaID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:22] + "_" + screenMediaID
}

// openCapture opens a capture of user's screen for the recording and
// wakes the agent's poll; by is who asked (nil: the metadata).
func (s *Service) openCapture(ctx context.Context, tenant, recordingID, user string, by *vault.User) (vault.ScreenCapture, bool, error) {
	now := s.now()
	mediaID, err := newScreenMediaID(recordingID, now)
	if err != nil {
		return vault.ScreenCapture{}, false, err
	}
	details := map[string]any{"agent": user, "mediaId": mediaID}
	fx := vault.Effects{}.Add(s.entry(ctx, tenant, by, "screen.start", recordingID, vault.OutcomeOK, audit.Canonical(details)))
	c, opened, err := s.Store.OpenScreenCapture(ctx, vault.ScreenCapture{Tenant: tenant, RecordingID: recordingID, MediaID: mediaID, UserName: user, StartedAt: now}, s.effects(fx))
	if err != nil {
		return c, false, err
	}
	if opened {
		s.log().Info("screen capture asked", "tenant", tenant, "agent", user, "recording", recordingID, "media", mediaID)
		s.screen.wake(agentKey(tenant, user))
	}
	return c, opened, nil
}

// closeCaptures closes the open captures of a recording that match and
// tells their srs to stop.
func (s *Service) closeCaptures(ctx context.Context, tenant, recordingID, reason string, match func(vault.ScreenCapture) bool) (int, error) {
	list, err := s.Store.ScreenCaptures(ctx, tenant, recordingID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if !c.StoppedAt.IsZero() || !match(c) {
			continue
		}
		closed, err := s.Store.CloseScreenCapture(ctx, tenant, recordingID, c.MediaID, reason, s.now(), true)
		if err != nil {
			return n, err
		}
		if closed {
			n++
			s.log().Info("screen capture stopped", "tenant", tenant, "agent", c.UserName, "recording", recordingID, "media", c.MediaID, "reason", reason)
			s.screen.wake(agentKey(tenant, c.UserName))
		}
	}
	return n, nil
}

// followRecording starts and stops screen captures as a recording's
// metadata says: a capture for each agent in the call whose srs is
// present while the call has no stop time; stopped when the call stops or
// the agent leaves. Called after each metadata change; errors are logged,
// not returned: the metadata is stored whatever happens to the screens.
func (s *Service) followRecording(ctx context.Context, tenant string, rec *vault.Recording) {
	inCall, err := record.AgentsInCall(rec.Doc)
	if err != nil {
		s.log().Warn("cannot follow screen recording", "tenant", tenant, "recording", rec.ID, "err", err)
		return
	}
	stopped := !rec.StopTime.IsZero()
	if _, err := s.closeCaptures(ctx, tenant, rec.ID, "call stopped", func(vault.ScreenCapture) bool { return stopped }); err != nil {
		s.log().Warn("cannot stop screen captures", "tenant", tenant, "recording", rec.ID, "err", err)
	}
	if _, err := s.closeCaptures(ctx, tenant, rec.ID, "agent left", func(c vault.ScreenCapture) bool { return !slices.Contains(inCall, c.UserName) }); err != nil {
		s.log().Warn("cannot stop screen captures", "tenant", tenant, "recording", rec.ID, "err", err)
	}
	if stopped || len(inCall) == 0 {
		return
	}
	ss, err := s.Store.ScreenSettings(ctx, tenant)
	if err != nil || ss.RecordingWhen != vault.ScreenWhenVoice {
		return
	}
	for _, user := range inCall {
		seen, err := s.Store.ScreenAgentSeen(ctx, tenant, user)
		if err != nil || seen.IsZero() || s.now().Sub(seen) > ScreenPresence {
			continue // no srs of this agent is listening
		}
		if _, _, err := s.openCapture(ctx, tenant, rec.ID, user, nil); err != nil {
			s.log().Warn("cannot start screen capture", "tenant", tenant, "recording", rec.ID, "agent", user, "err", err)
		}
	}
}

// followAgent starts a capture for a call of the agent in progress, when
// the agent's srs (re)appears mid-call.
func (s *Service) followAgent(ctx context.Context, caller *vault.User) error {
	ss, err := s.Store.ScreenSettings(ctx, caller.Tenant)
	if err != nil || ss.RecordingWhen != vault.ScreenWhenVoice {
		return err
	}
	// Calls of the last day without a stop time, newest first.
	recs, err := s.Store.SearchRecordings(ctx, caller.Tenant, vault.SearchFilter{UserName: caller.Name,
		StartFrom: s.now().Add(-24 * time.Hour), Limit: 100}, vault.Access{All: true})
	if err != nil {
		return err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if !r.StopTime.IsZero() {
			continue
		}
		full, _, err := s.Store.Recording(ctx, caller.Tenant, r.ID, vault.Access{All: true})
		if err != nil {
			continue
		}
		inCall, err := record.AgentsInCall(full.Doc)
		if err != nil || !slices.Contains(inCall, caller.Name) {
			continue
		}
		_, _, err = s.openCapture(ctx, caller.Tenant, r.ID, caller.Name, nil)
		return err
	}
	return nil
}

// screenUploadAllowed reports whether an agent may store mediaID of the
// recording: only the screen file the server asked of them.
func (s *Service) screenUploadAllowed(ctx context.Context, caller *vault.User, recordingID, mediaID string) error {
	if !caller.HasRole(vault.RoleAgent) {
		return errForbidden
	}
	c, err := s.Store.ScreenCapture(ctx, caller.Tenant, recordingID, mediaID)
	if err != nil || c.UserName != caller.Name {
		return vault.Errorf(vault.EFORBIDDEN, "agents may store only the screen recordings asked of them; %s of recording %s was not", mediaID, recordingID)
	}
	return nil
}

// screenEntryAllowed checks a metadata piece an agent sends: only the
// mediaFiles entries of screen files asked of them, of a video type.
func (s *Service) screenEntryAllowed(ctx context.Context, caller *vault.User, id string, body []byte, doc *record.Doc) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return vault.Errorf(vault.EINVALID, "the body is not a JSON object")
	}
	for k := range top {
		if k != "id" && k != "mediaFiles" {
			return vault.Errorf(vault.EFORBIDDEN, "agents may send only the mediaFiles entry of their screen recording, not %q", k)
		}
	}
	if len(doc.MediaFiles) == 0 {
		return vault.Errorf(vault.EINVALID, "no mediaFiles entry")
	}
	for _, mediaID := range doc.MediaIDs() {
		if err := s.screenUploadAllowed(ctx, caller, id, mediaID); err != nil {
			return err
		}
	}
	for _, m := range doc.MediaFiles {
		var typ string
		if json.Unmarshal(m["type"], &typ) != nil || !slices.Contains([]string{"video/mp4", "video/webm"}, vault.NormalizeMediaType(typ)) {
			return vault.Errorf(vault.EINVALID, "a screen recording's entry has type video/mp4")
		}
		// Nothing that decides who sees the call: no access groups or
		// partitions, and no agent but the caller.
		for k := range m {
			if !screenEntryFields[k] {
				return vault.Errorf(vault.EFORBIDDEN, "a screen recording's entry sent by an agent may not carry %q", k)
			}
		}
		var params map[string]json.RawMessage
		if raw, ok := m["parameters"]; ok && json.Unmarshal(raw, &params) != nil {
			return vault.Errorf(vault.EINVALID, "parameters must be an object")
		}
		if _, ok := params["username"]; ok {
			return vault.Errorf(vault.EFORBIDDEN, "a screen recording's entry sent by an agent may not carry parameters.username")
		}
		if raw, ok := params["contact"]; ok {
			var contact struct {
				UserName *string `json:"userName"`
			}
			if json.Unmarshal(raw, &contact) != nil || contact.UserName != nil && *contact.UserName != caller.Name {
				return vault.Errorf(vault.EFORBIDDEN, "parameters.contact.userName of a screen recording sent by %s must be %s", caller.Name, caller.Name)
			}
		}
	}
	return nil
}

// screenEntryFields are the fields of the guide's screen media entry that
// srs sends.
var screenEntryFields = map[string]bool{"mediaId": true, "type": true, "startTime": true, "stopTime": true, "duration": true,
	"parameters": true, "masks": true, "callUUID": true}
