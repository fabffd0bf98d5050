package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
)

// testScreenCaptures pins down vault.ScreenStore: settings, presence, one
// open capture per agent (also under concurrent opens), the command
// channel's order and pruning-free reads, captures deleted with their
// recording, and DeleteMedia with its effects.
func testScreenCaptures(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	ctx := t.Context()
	s, q := fresh(t)
	mustTenants(t, s, "acme", "globex")

	ss, err := s.ScreenSettings(ctx, "acme")
	if err != nil || ss.RecordingWhen != vault.ScreenWhenVoice {
		t.Fatalf("ScreenSettings of a new tenant = %+v, %v; want voice", ss, err)
	}
	if _, err := s.ScreenSettings(ctx, "nobody"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("ScreenSettings of an unknown tenant: %v, want ErrNotFound", err)
	}
	if err := s.SetScreenSettings(ctx, "acme", vault.ScreenSettings{RecordingWhen: vault.ScreenWhenOff},
		vault.Effects{}.Add(entry("acme", "admin", "settings.screen", "acme", 1))); err != nil {
		t.Fatal(err)
	}
	if ss, _ := s.ScreenSettings(ctx, "acme"); ss.RecordingWhen != vault.ScreenWhenOff {
		t.Fatalf("after SetScreenSettings: %+v", ss)
	}
	if ss, _ := s.ScreenSettings(ctx, "globex"); ss.RecordingWhen != vault.ScreenWhenVoice {
		t.Fatalf("another tenant's settings changed: %+v", ss)
	}

	// Presence.
	if seen, err := s.ScreenAgentSeen(ctx, "acme", "ann"); err != nil || !seen.IsZero() {
		t.Fatalf("ScreenAgentSeen before any poll = %v, %v", seen, err)
	}
	if err := s.TouchScreenAgent(ctx, "acme", "ann", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An older touch (a slow replica) does not move presence back.
	if err := s.TouchScreenAgent(ctx, "acme", "ann", base); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.ScreenAgentSeen(ctx, "acme", "ann"); !seen.Equal(base.Add(time.Minute)) {
		t.Fatalf("ScreenAgentSeen = %v, want %v", seen, base.Add(time.Minute))
	}
	if seen, _ := s.ScreenAgentSeen(ctx, "globex", "ann"); !seen.IsZero() {
		t.Fatalf("presence leaked to another tenant: %v", seen)
	}

	// A capture needs its recording.
	if _, _, err := s.OpenScreenCapture(ctx, vault.ScreenCapture{Tenant: "acme", RecordingID: "nope", MediaID: "s0", UserName: "ann", StartedAt: base}, vault.Effects{}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("OpenScreenCapture of a missing recording: %v, want ErrNotFound", err)
	}
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r1", MediaID: "a1", Type: "audio/mp3", BlobKey: "k-a1"})
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r2", MediaID: "a2", Type: "audio/mp3", BlobKey: "k-a2"})

	c1 := vault.ScreenCapture{Tenant: "acme", RecordingID: "r1", MediaID: "s1", UserName: "ann", StartedAt: base}
	got, opened, err := s.OpenScreenCapture(ctx, c1, vault.Effects{}.Add(entry("acme", "", "screen.start", "r1", 2)))
	if err != nil || !opened || got.MediaID != "s1" {
		t.Fatalf("OpenScreenCapture = %+v, %v, %v", got, opened, err)
	}
	// One open capture per agent: a second is refused with the first.
	got, opened, err = s.OpenScreenCapture(ctx, vault.ScreenCapture{Tenant: "acme", RecordingID: "r2", MediaID: "s2", UserName: "ann", StartedAt: base}, vault.Effects{})
	if err != nil || opened || got.MediaID != "s1" || got.RecordingID != "r1" {
		t.Fatalf("second OpenScreenCapture = %+v, %v, %v; want the open s1", got, opened, err)
	}
	if open, err := s.OpenScreenCaptureOf(ctx, "acme", "ann"); err != nil || open.MediaID != "s1" || !open.StoppedAt.IsZero() {
		t.Fatalf("OpenScreenCaptureOf = %+v, %v", open, err)
	}
	if _, err := s.OpenScreenCaptureOf(ctx, "acme", "bob"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("OpenScreenCaptureOf an agent with none: %v", err)
	}

	changed, err := s.PauseScreenCapture(ctx, "acme", "r1", "s1", true, base.Add(time.Second))
	if err != nil || !changed {
		t.Fatalf("PauseScreenCapture = %v, %v", changed, err)
	}
	if changed, _ := s.PauseScreenCapture(ctx, "acme", "r1", "s1", true, base.Add(time.Second)); changed {
		t.Fatal("pausing a paused capture changed it")
	}
	if _, err := s.PauseScreenCapture(ctx, "acme", "r1", "nope", true, base); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("PauseScreenCapture of an unknown capture: %v", err)
	}
	if _, err := s.PauseScreenCapture(ctx, "acme", "r1", "s1", false, base.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	closed, err := s.CloseScreenCapture(ctx, "acme", "r1", "s1", "call stopped", base.Add(3*time.Second), true)
	if err != nil || !closed {
		t.Fatalf("CloseScreenCapture = %v, %v", closed, err)
	}
	if closed, err := s.CloseScreenCapture(ctx, "acme", "r1", "s1", "again", base.Add(4*time.Second), true); err != nil || closed {
		t.Fatalf("closing a closed capture = %v, %v", closed, err)
	}
	if _, err := s.CloseScreenCapture(ctx, "acme", "r1", "nope", "x", base, true); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("CloseScreenCapture of an unknown capture: %v", err)
	}
	c, err := s.ScreenCapture(ctx, "acme", "r1", "s1")
	if err != nil || c.Reason != "call stopped" || !c.StoppedAt.Equal(base.Add(3*time.Second)) || c.UserName != "ann" || c.Paused {
		t.Fatalf("ScreenCapture after close = %+v, %v", c, err)
	}
	if _, err := s.ScreenCapture(ctx, "globex", "r1", "s1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a capture leaked to another tenant: %v", err)
	}

	// The channel: start, pause, resume, stop in order, seq 1..4.
	cmds, latest, err := s.ScreenCommands(ctx, "acme", "ann", 0, 100)
	if err != nil || latest != 4 || len(cmds) != 4 {
		t.Fatalf("ScreenCommands = %+v, %d, %v; want 4 commands", cmds, latest, err)
	}
	for i, want := range []string{vault.ScreenStart, vault.ScreenPause, vault.ScreenResume, vault.ScreenStop} {
		if cmds[i].Seq != int64(i+1) || cmds[i].Command != want || cmds[i].RecordingID != "r1" || cmds[i].MediaID != "s1" {
			t.Fatalf("command %d = %+v, want %s seq %d", i, cmds[i], want, i+1)
		}
	}
	if cmds, latest, _ := s.ScreenCommands(ctx, "acme", "ann", 2, 1); len(cmds) != 1 || cmds[0].Seq != 3 || latest != 4 {
		t.Fatalf("ScreenCommands after 2, limit 1 = %+v, %d", cmds, latest)
	}
	if cmds, latest, _ := s.ScreenCommands(ctx, "acme", "bob", 0, 100); len(cmds) != 0 || latest != 0 {
		t.Fatalf("commands of an agent with none = %+v, %d", cmds, latest)
	}
	// Closing without issuing (srs said it stopped) adds no command.
	if _, opened, err := s.OpenScreenCapture(ctx, vault.ScreenCapture{Tenant: "acme", RecordingID: "r2", MediaID: "s2", UserName: "ann", StartedAt: base.Add(time.Minute)}, vault.Effects{}); err != nil || !opened {
		t.Fatalf("OpenScreenCapture after the first closed: %v, %v", opened, err)
	}
	if _, err := s.CloseScreenCapture(ctx, "acme", "r2", "s2", "srs restarted", base.Add(2*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if _, latest, _ := s.ScreenCommands(ctx, "acme", "ann", 0, 0); latest != 5 {
		t.Fatalf("latest seq = %d, want 5 (one start, no stop)", latest)
	}
	list, err := s.ScreenCaptures(ctx, "acme", "r1")
	if err != nil || len(list) != 1 || list[0].MediaID != "s1" {
		t.Fatalf("ScreenCaptures(r1) = %+v, %v", list, err)
	}

	// Concurrent opens for one agent: exactly one wins.
	putMedia(t, s, vault.Media{Tenant: "acme", RecordingID: "r3", MediaID: "a3", Type: "audio/mp3", BlobKey: "k-a3"})
	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a'+i)) + "-screen"
			_, opened, err := s.OpenScreenCapture(ctx, vault.ScreenCapture{Tenant: "acme", RecordingID: "r3", MediaID: id, UserName: "cat", StartedAt: base}, vault.Effects{})
			if err != nil {
				t.Errorf("concurrent OpenScreenCapture: %v", err)
			}
			if opened {
				wins <- id
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Fatalf("%d concurrent opens for one agent won, want 1", n)
	}

	// DeleteMedia removes one row with its effects; a recording's
	// deletion takes its captures.
	q.mu.Lock()
	before := len(q.jobs)
	q.mu.Unlock()
	m, err := s.DeleteMedia(ctx, "acme", "r1", "a1", vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "delete_blobs", Args: []byte(`{"keys":["k-a1"]}`)}}})
	if err != nil || m.BlobKey != "k-a1" {
		t.Fatalf("DeleteMedia = %+v, %v", m, err)
	}
	q.mu.Lock()
	n := len(q.jobs)
	q.mu.Unlock()
	if n != before+1 {
		t.Fatalf("DeleteMedia queued %d jobs, want 1", n-before)
	}
	if _, err := s.DeleteMedia(ctx, "acme", "r1", "a1", vault.Effects{}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("DeleteMedia again: %v, want ErrNotFound", err)
	}
	if _, media, err := s.Recording(ctx, "acme", "r1", all); err != nil || len(media) != 0 {
		t.Fatalf("recording r1 after DeleteMedia: %d media, %v", len(media), err)
	}
	if _, err := s.DeleteRecordingFx(ctx, "acme", "r1", func([]vault.Media) vault.Effects { return vault.Effects{} }); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ScreenCaptures(ctx, "acme", "r1"); err != nil || len(list) != 0 {
		t.Fatalf("captures of a deleted recording = %+v, %v", list, err)
	}
}
