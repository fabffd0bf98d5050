package vault

import (
	"context"
	"time"
)

// Screen recording: which calls an agent's screen is recorded for.
// "voice" (the default) records the screen during every recorded call of
// an agent whose srs is present; "off" never does.
const (
	ScreenWhenVoice = "voice"
	ScreenWhenOff   = "off"
)

// ScreenSettings are a tenant's screen-recording settings.
type ScreenSettings struct {
	RecordingWhen string `json:"recordingWhen"` // ScreenWhenVoice | ScreenWhenOff
}

// Screen commands srs receives on its command channel.
const (
	ScreenStart  = "start"
	ScreenStop   = "stop"
	ScreenPause  = "pause"
	ScreenResume = "resume"
)

// ScreenCapture is one screen recording the server asked an agent's srs
// for: the media id it will upload under. An agent has at most one
// capture open (StoppedAt zero) at a time. The row also authorises the
// agent to upload that one media file and merge its entry.
type ScreenCapture struct {
	Tenant      string
	RecordingID string
	MediaID     string
	UserName    string // the agent
	StartedAt   time.Time
	StoppedAt   time.Time // zero while open
	Reason      string    // why it stopped: call stopped, agent left, srs stopped, …
	Paused      bool
}

// ScreenCommand is one command on an agent's channel. Seq grows by one
// per command of that agent, in the order they were issued.
type ScreenCommand struct {
	Seq         int64     `json:"seq"`
	Command     string    `json:"command"`
	RecordingID string    `json:"recordingId"`
	MediaID     string    `json:"mediaId"`
	IssuedAt    time.Time `json:"issuedAt"`
}

// ScreenStore is the part of the metadata store that keeps screen
// recording's state: captures, each agent's command channel and presence.
type ScreenStore interface {
	// ScreenSettings returns a tenant's settings (RecordingWhen "voice"
	// when never set); ErrNotFound for an unknown tenant.
	ScreenSettings(ctx context.Context, tenant string) (ScreenSettings, error)
	// SetScreenSettings replaces them, with fx in the same transaction.
	SetScreenSettings(ctx context.Context, tenant string, ss ScreenSettings, fx Effects) error

	// TouchScreenAgent records that the agent's srs asked for commands at
	// at (its presence).
	TouchScreenAgent(ctx context.Context, tenant, userName string, at time.Time) error
	// ScreenAgentSeen is when the agent's srs last asked (zero: never).
	ScreenAgentSeen(ctx context.Context, tenant, userName string) (time.Time, error)

	// OpenScreenCapture opens c (StoppedAt zero) and issues its start
	// command in one transaction, unless the agent has a capture open
	// already: then it returns that one and opened false, and changes
	// nothing. The recording must exist (ErrNotFound).
	OpenScreenCapture(ctx context.Context, c ScreenCapture, fx Effects) (capture ScreenCapture, opened bool, err error)
	// CloseScreenCapture closes an open capture (reason, at) and, when
	// issue is true, issues its stop command. closed is false when it
	// was not open (nothing changes); ErrNotFound when unknown.
	CloseScreenCapture(ctx context.Context, tenant, recordingID, mediaID, reason string, at time.Time, issue bool) (closed bool, err error)
	// PauseScreenCapture sets an open capture's Paused and issues the
	// pause or resume command; changed is false when it was already so
	// or not open.
	PauseScreenCapture(ctx context.Context, tenant, recordingID, mediaID string, paused bool, at time.Time) (changed bool, err error)
	// OpenScreenCaptureOf returns the agent's open capture; ErrNotFound.
	OpenScreenCaptureOf(ctx context.Context, tenant, userName string) (ScreenCapture, error)
	// ScreenCapture returns one capture, open or closed; ErrNotFound.
	ScreenCapture(ctx context.Context, tenant, recordingID, mediaID string) (ScreenCapture, error)
	// ScreenCaptures lists a recording's captures by start time.
	ScreenCaptures(ctx context.Context, tenant, recordingID string) ([]ScreenCapture, error)
	// ScreenCommands returns up to limit of the agent's commands with Seq
	// > afterSeq in order, and the agent's latest Seq (0: none yet).
	ScreenCommands(ctx context.Context, tenant, userName string, afterSeq int64, limit int) ([]ScreenCommand, int64, error)

	// DeleteMedia removes one media file's row, with fx (which queues the
	// deletion of its object) in the same transaction; ErrNotFound. The
	// muxing job uses it to replace a screen file by the muxed one.
	DeleteMedia(ctx context.Context, tenant, recordingID, mediaID string, fx Effects) (Media, error)
}
