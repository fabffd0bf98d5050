package srs

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// agentSession is the logged-in agent: the loopback session the desktop
// holds and the server session srs holds for it.
type agentSession struct {
	id        string // the loopback cookie's value
	credMAC   []byte // HMAC of the Basic credentials, to check later Basic pings without keeping the password
	loginName string // the user name of the Basic credentials
	userName  string // the user name the server knows the agent by
	server    string
	me        Me
	meRaw     json.RawMessage
	client    *Client
	desktop   DesktopConfig
	since     time.Time

	settings ScreenSettings
	certs    []*x509.Certificate
	aliases  []string
	certErr  error // the settings' certificates could not be read: nothing is recorded

	ctx    context.Context // ends at logout: stops the poller and this session's uploads
	cancel context.CancelFunc

	lastPing time.Time // under Service.mu
}

// DesktopConfig is what the desktop sent at login besides the server.
type DesktopConfig struct {
	PeerServer string          `json:"peerServer,omitempty"`
	Place      string          `json:"place,omitempty"`
	Devices    []DesktopDevice `json:"devices,omitempty"`
}

// DesktopDevice is one device of the desktop's configuration.
type DesktopDevice struct {
	DN     string `json:"dn"`
	Switch string `json:"switch"`
}

// loginError is a refused login, answered to the desktop with Status.
type loginError struct {
	Status  int
	Code    string
	Message string
}

func (e *loginError) Error() string { return e.Message }

func (s *Service) credMAC(userName, password string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(userName))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return m.Sum(nil)
}

// login logs the agent in to server. With the same credentials as the
// current session it only refreshes that session (a desktop logs in
// again after a reload); otherwise it opens a server session, fetches
// the user and the screen settings and replaces the current session.
func (s *Service) login(ctx context.Context, userName, password, server string, desktop *DesktopConfig) (*agentSession, error) {
	mac := s.credMAC(userName, password)
	if cur := s.session(); cur != nil && cur.loginName == userName && cur.server == server && hmac.Equal(cur.credMAC, mac) {
		s.mu.Lock()
		cur.lastPing = s.opts.Now()
		if desktop != nil {
			cur.desktop = *desktop
		}
		s.mu.Unlock()
		return cur, nil
	}
	client := NewClient(server, s.http)
	// The password is used for this one request and kept nowhere.
	info, err := client.Login(ctx, userName, password)
	if err != nil {
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == 401:
			msg := apiErr.Message
			if msg == "" {
				msg = "wrong user name or password"
			}
			s.log.Warnf("ServiceHandler: the server refused the login of %s: %s", userName, msg)
			return nil, &loginError{401, "LOGIN_FAILED", "the server refused the login: " + msg}
		case errors.As(err, &apiErr) && apiErr.Status < 500:
			s.log.Warnf("ServiceHandler: the server refused the login of %s: %v", userName, err)
			return nil, &loginError{apiErr.Status, "LOGIN_FAILED", "the server refused the login: " + apiErr.Error()}
		}
		s.setLastError("ServiceHandler: cannot log %s in: %v", userName, err)
		return nil, &loginError{502, "SERVER_UNREACHABLE", fmt.Sprintf("cannot reach the server %s: %v", server, err)}
	}
	for _, secret := range client.secrets() {
		s.log.hide(secret)
	}
	me, raw, err := client.Me(ctx)
	if err != nil {
		s.setLastError("ServiceHandler: %s logged in but %v", userName, err)
		_ = client.Logout(context.WithoutCancel(ctx))
		return nil, &loginError{502, "SERVER_ERROR", err.Error()}
	}
	if me.UserName == "" {
		me.UserName = info.UserName
	}
	sess := &agentSession{
		credMAC: mac, loginName: userName, userName: me.UserName, server: server, me: me, meRaw: raw,
		client: client, since: s.opts.Now(),
	}
	if desktop != nil {
		sess.desktop = *desktop
	}
	if settings, err := client.ScreenSettings(ctx); err != nil {
		// Fetched again at each start; until then nothing is recorded.
		s.setLastError("ServiceHandler: %v", err)
		sess.certErr = err
	} else {
		sess.setSettings(settings)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, &loginError{500, "INTERNAL", "cannot make a session id"}
	}
	sess.id = hex.EncodeToString(id)
	s.log.hide(sess.id)

	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.ctx.Err() != nil {
		_ = client.Logout(context.WithoutCancel(ctx))
		return nil, &loginError{503, "STOPPING", "srs is stopping"}
	}
	if old := s.session(); old != nil {
		s.endSessionLocked(ctx, old, ReasonLogout, true)
	}
	sess.ctx, sess.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	sess.lastPing = s.opts.Now()
	s.sess = sess
	s.mu.Unlock()
	s.log.Infof("ServiceHandler: %s logged in to %s (%s)", sess.userName, server, sess.describeSettings())
	s.goRun(func() { s.poll(sess) })
	if s.cfg.PreLoad {
		s.goRun(func() { s.preload(sess) })
	}
	s.wakeUploader()
	return sess, nil
}

// setSettings keeps settings and reads their certificates.
func (sess *agentSession) setSettings(settings ScreenSettings) {
	sess.settings = settings
	sess.certs, sess.aliases, sess.certErr = nil, nil, nil
	for _, c := range settings.Certificates {
		cert, err := parseCertificate(c.Certificate)
		if err != nil {
			sess.certErr = fmt.Errorf("screen certificate %q: %w", c.Alias, err)
			sess.certs, sess.aliases = nil, nil
			return
		}
		sess.certs = append(sess.certs, cert)
		sess.aliases = append(sess.aliases, c.Alias)
	}
}

func (sess *agentSession) describeSettings() string {
	switch {
	case sess.certErr != nil:
		return "screen recording settings not usable: " + sess.certErr.Error()
	case sess.settings.RecordingWhen == "off":
		return "screen recording off"
	case len(sess.certs) == 0:
		return "screen recording " + sess.settings.RecordingWhen + ", no screen certificate: recordings are not encrypted"
	}
	return fmt.Sprintf("screen recording %s, encrypted for %s", sess.settings.RecordingWhen, strings.Join(sess.aliases, ", "))
}

func parseCertificate(pemText string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse: %w", err)
	}
	return cert, nil
}

// logout ends sess at the desktop's request.
func (s *Service) logout(ctx context.Context, sess *agentSession) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.session() == sess {
		s.endSessionLocked(ctx, sess, ReasonLogout, true)
	}
}

// endSession ends sess if it is still current.
func (s *Service) endSession(sess *agentSession, reason string, tellServer bool) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.session() == sess {
		s.endSessionLocked(context.Background(), sess, reason, tellServer)
	}
}

// endSessionLocked stops a capture (queued for upload), stops the
// session's poller and uploads, and, with tellServer, reports the stop and
// logs out of the server. s.ctl is held.
func (s *Service) endSessionLocked(ctx context.Context, sess *agentSession, reason string, tellServer bool) {
	var stopped *Item
	if rec := s.rec; rec != nil && rec.sess == sess {
		stopped = s.finishRecording(rec, reason)
	}
	s.mu.Lock()
	if s.sess == sess {
		s.sess = nil
	}
	s.mu.Unlock()
	sess.cancel()
	if tellServer {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if stopped != nil {
			s.reportStop(ctx, sess, stopped)
		}
		if err := sess.client.Logout(ctx); err != nil {
			s.log.Warnf("ServiceHandler: %v", err)
		}
		cancel()
	}
	for _, secret := range sess.client.secrets() {
		s.log.forget(secret)
	}
	s.log.forget(sess.id)
	s.log.Infof("ServiceHandler: %s logged out (%s)", sess.userName, reason)
}

// watchdog logs the agent out when the desktop stops pinging.
func (s *Service) watchdog() {
	every := min(time.Second, s.opts.PingTimeout/4)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		sess := s.sess
		var quiet time.Duration
		if sess != nil {
			quiet = s.opts.Now().Sub(sess.lastPing)
		}
		s.mu.Unlock()
		if sess != nil && quiet > s.opts.PingTimeout {
			s.log.Warnf("ServiceHandler: no ping from the desktop for %s: logging %s out", quiet.Round(time.Second), sess.userName)
			s.endSession(sess, ReasonPingTimeout, true)
		}
	}
}

// ping records a ping of sess; false when sess is no longer current.
func (s *Service) ping(sess *agentSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != sess {
		return false
	}
	sess.lastPing = s.opts.Now()
	return true
}

// poll long-polls the server for commands while sess lasts.
func (s *Service) poll(sess *agentSession) {
	after := int64(-1)
	failures := 0
	for sess.ctx.Err() == nil {
		asked, waited := time.Now(), after >= 0
		cmds, err := sess.client.PollCommands(sess.ctx, after, s.opts.PollWait)
		if err != nil {
			if sess.ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrSessionLost) {
				s.log.Warnf("Commands: the server session of %s is gone: logged out", sess.userName)
				s.endSession(sess, ReasonSession, false)
				return
			}
			failures++
			if failures == 1 {
				s.setLastError("Commands: %v (retrying)", err)
			}
			if !sleep(sess.ctx, backoff(failures, s.opts.PollRetryMin, s.opts.PollRetryMax)) {
				return
			}
			continue
		}
		if failures > 0 {
			s.log.Infof("Commands: polling works again after %s", plural(failures, "failure", "failures"))
			failures = 0
		}
		if after >= 0 && cmds.Seq < after {
			// The server's channel starts again below what srs saw (its
			// store was replaced): ask for the current state.
			s.log.Warnf("Commands: the server's latest command is %d, below %d: reading the current state", cmds.Seq, after)
			after = -1
			continue
		}
		sort.SliceStable(cmds.Commands, func(i, j int) bool { return cmds.Commands[i].Seq < cmds.Commands[j].Seq })
		for _, c := range cmds.Commands {
			// The first poll answers the current state: all of it applies.
			if after >= 0 && c.Seq <= after {
				continue
			}
			s.handleCommand(sess, c)
			after = max(after, c.Seq)
		}
		after = max(after, cmds.Seq, 0)
		if waited && len(cmds.Commands) == 0 && time.Since(asked) < s.opts.PollRetryMin {
			// A server that answers at once without waiting is not
			// polled in a tight loop.
			if !sleep(sess.ctx, s.opts.PollRetryMin) {
				return
			}
		}
	}
}

// handleCommand carries out one command of the server.
func (s *Service) handleCommand(sess *agentSession, c Command) {
	if err := checkID(c.RecordingID); err != nil {
		s.setLastError("Commands: %s command %d: recordingId %v", c.Command, c.Seq, err)
		return
	}
	if err := checkID(c.MediaID); err != nil && c.Command == "start" {
		s.setLastError("Commands: start command %d: mediaId %v", c.Seq, err)
		return
	}
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.session() != sess {
		return
	}
	rec := s.rec
	matches := rec != nil && rec.item.RecordingID == c.RecordingID && (c.MediaID == "" || c.MediaID == rec.item.MediaID)
	switch c.Command {
	case "start":
		if rec != nil && rec.item.MediaID == c.MediaID {
			return // already recording it
		}
		s.startRecording(sess, c.RecordingID, c.MediaID)
	case "stop":
		if matches {
			s.finishRecording(rec, "")
		}
	case "pause", "resume":
		if matches {
			if err := s.maskLocked(c.Command == "pause"); err != nil {
				s.setLastError("Recorder: cannot %s %s: %v", c.Command, rec.item.MediaID, err)
			}
		}
	default:
		s.log.Warnf("Commands: ignoring unknown command %q (seq %d)", c.Command, c.Seq)
	}
}

// checkID accepts the ids the server gives: not empty, printable, at most
// 512 bytes.
func checkID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if len(id) > 512 {
		return errors.New("is longer than 512 bytes")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return errors.New("holds a control character")
		}
	}
	return nil
}

// preload checks ffmpeg and the monitors at login (preLoadVlc), so the
// first call starts at once and a broken setup shows in the log early.
func (s *Service) preload(sess *agentSession) {
	ctx, cancel := context.WithTimeout(sess.ctx, 30*time.Second)
	defer cancel()
	layout, err := s.capt.Plan(ctx, s.captureRequest(sess))
	if err != nil {
		if sess.ctx.Err() == nil {
			s.setLastError("Recorder: preLoadVlc: cannot prepare the capture: %v", err)
		}
		return
	}
	s.log.Infof("Recorder: preLoadVlc: ready to capture %s at %dx%d", plural(len(layout.Monitors), "monitor", "monitors"), layout.Width, layout.Height)
}

// captureRequest is config.json's limits, lowered by the tenant's.
func (s *Service) captureRequest(sess *agentSession) CaptureRequest {
	req := CaptureRequest{FrameRate: s.cfg.FrameRate, MaxWidth: s.cfg.MaxWidth}
	if sess != nil {
		if fr := sess.settings.FrameRate; fr > 0 && fr < req.FrameRate {
			req.FrameRate = fr
		}
		if w := sess.settings.MaxWidth; w >= 160 && w < req.MaxWidth {
			req.MaxWidth = w
		}
	}
	return req
}
