package service

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"callvault/internal/audit"
	"callvault/internal/certs"
	"callvault/internal/cms"
	"callvault/internal/record"
	"callvault/internal/vault"
)

// KindMux muxes a recording's screen file with its call audio into the
// video/mp4 file the recording, the player and rcbs show.
const KindMux = "mux"

// MuxArgs are a KindMux job's arguments: the screen file to mux.
type MuxArgs struct {
	Tenant      string `json:"tenant"`
	RecordingID string `json:"recordingId"`
	MediaID     string `json:"mediaId"`
}

// VideoTool is what the server needs of ffmpeg (internal/ffmpeg, wired by
// the server): muxing through pipes, and the complete part of a cut-short
// MP4.
type VideoTool interface {
	// Mux copies video's stream and adds audio's, aligned so that
	// audioOffset (screen start − audio start) of the audio is skipped
	// (negative: the audio is delayed), to out as fragmented MP4.
	Mux(ctx context.Context, video, audio io.Reader, audioOffset time.Duration, out io.Writer) error
	// CompleteBoxes copies the whole top-level boxes of a possibly
	// cut-short MP4.
	CompleteBoxes(dst io.Writer, src io.Reader) (int64, error)
}

// salvage is the goroutine that turns a cut-short upload into the
// plaintext of its complete part.
type salvage struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (sv *salvage) stop() {
	sv.pr.CloseWithError(io.ErrClosedPipe)
	<-sv.done
}

// salvageUpload makes up's body the complete part of a file srs could not
// finish (it crashed, or the desktop lost power): the CMS chunks that came
// whole are decrypted, the MP4 cut after its last whole box, and the
// result stored as a plaintext upload encrypted afresh for the same
// certificates. Salvaging the same file again gives the same plaintext,
// so a retried upload is recognised by its content hash.
func (s *Service) salvageUpload(ctx context.Context, up *upload) error {
	if !strings.HasPrefix(up.media.Type, "video/") {
		return vault.Errorf(vault.EINVALID, "X-Media-Truncated is for screen recordings (video/*), not %s", up.media.Type)
	}
	src := up.body
	var key *rsa.PrivateKey
	if up.cms {
		if up.openKey == nil {
			// No key of ours opens it: it is stored as it came.
			up.warning = "the file was cut short and none of this tenant's keys opens it: stored as it came"
			return nil
		}
		recipients, err := s.certsFor(ctx, up.media.Tenant, up.media.CertAliases)
		if err != nil {
			return err
		}
		key = up.openKey
		up.cms, up.openKey, up.recipients = false, nil, recipients
	}
	pr, pw := io.Pipe()
	sv := &salvage{pr: pr, done: make(chan struct{})}
	tenant, recordingID, mediaID := up.media.Tenant, up.media.RecordingID, up.media.MediaID
	go func() {
		defer close(sv.done)
		var err error
		switch {
		case key != nil:
			dec, dpw := io.Pipe()
			decrypted := make(chan struct{})
			go func() {
				defer close(decrypted)
				res, err := cms.Salvage(dpw, src, key, nil)
				if err != nil && !errors.Is(err, io.ErrClosedPipe) {
					err = vault.Wrap(vault.EINVALID, err, "the cut-short file cannot be salvaged; nothing was stored")
				}
				s.log().Info("cut-short file salvaged", "tenant", tenant, "recording", recordingID, "media", mediaID,
					"read", res.Read, "decrypted", res.Written, "dropped", res.Dropped, "complete", res.Complete, "err", err)
				dpw.CloseWithError(err)
			}()
			_, err = s.completeBoxes(pw, dec)
			dec.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
			<-decrypted
		default:
			_, err = s.completeBoxes(pw, src)
		}
		pw.CloseWithError(err)
	}()
	up.body, up.salvage = pr, sv
	up.warning = "the file was cut short: its complete part was kept"
	return nil
}

func (s *Service) completeBoxes(dst io.Writer, src io.Reader) (int64, error) {
	if s.Video == nil {
		return io.Copy(dst, src)
	}
	return s.Video.CompleteBoxes(dst, src)
}

// certsFor returns the tenant's certificates of the aliases.
func (s *Service) certsFor(ctx context.Context, tenant string, aliases []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, alias := range aliases {
		c, err := s.Store.Certificate(ctx, tenant, alias)
		if err != nil {
			return nil, errf(err, "cannot read certificate %s", alias)
		}
		cert, err := certs.ParseCertificatePEM([]byte(c.CertPEM))
		if err != nil {
			return nil, errf(err, "cannot read certificate %s", alias)
		}
		out = append(out, cert)
	}
	return out, nil
}

// muxedAway answers an upload of a screen file that the muxing job has
// replaced already (srs retrying after the server stored it): a no-op
// naming the muxed file.
func (s *Service) muxedAway(ctx context.Context, tenant, recordingID, mediaID string) (*PutMediaResult, bool, error) {
	rec, media, err := s.Store.Recording(ctx, tenant, recordingID, vault.Access{All: true})
	if errors.Is(err, vault.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	muxedID, ok := record.MuxedAway(rec.Doc, mediaID)
	if !ok {
		return nil, false, nil
	}
	for _, m := range media {
		if m.MediaID == muxedID {
			return &PutMediaResult{Media: m, Warning: fmt.Sprintf("%s was muxed into %s already", mediaID, muxedID)}, true, nil
		}
	}
	return nil, false, nil
}

// muxPlan is what a recording needs muxed: each stored screen file that
// has its entry, with the call audio to add.
type muxPlan struct {
	screen, audio record.MediaEntry
}

// muxPlans lists the screen files of a stopped recording that can be
// muxed now: stored, with an entry that has a start time, not muxed yet,
// and a stored audio file with a start time.
func muxPlans(rec *vault.Recording, media []vault.Media) ([]muxPlan, error) {
	if rec.StopTime.IsZero() {
		return nil, nil
	}
	entries, err := record.MediaEntries(rec.Doc)
	if err != nil {
		return nil, err
	}
	stored := map[string]vault.Media{}
	for _, m := range media {
		stored[m.MediaID] = m
	}
	var audio *record.MediaEntry
	muxed := map[string]bool{}
	for i, e := range entries {
		if _, ok := stored[e.MediaID]; !ok || e.StartTime.IsZero() {
			continue
		}
		for _, src := range e.MuxedFrom {
			muxed[src] = true
		}
		if strings.HasPrefix(e.Type, "audio/") && (audio == nil || e.StartTime.Before(audio.StartTime)) {
			audio = &entries[i]
		}
	}
	if audio == nil {
		return nil, nil
	}
	var out []muxPlan
	for _, e := range entries {
		if _, ok := stored[e.MediaID]; !ok || e.Type != "video/mp4" || e.StartTime.IsZero() || len(e.MuxedFrom) > 0 || muxed[e.MediaID] {
			continue
		}
		out = append(out, muxPlan{screen: e, audio: *audio})
	}
	return out, nil
}

// queueMux queues the muxing of what a recording has ready. Errors are
// logged: the upload or metadata that called it is stored either way, and
// the next change of the recording tries again.
func (s *Service) queueMux(ctx context.Context, tenant, recordingID string) {
	rec, media, err := s.Store.Recording(ctx, tenant, recordingID, vault.Access{All: true})
	if err != nil {
		return
	}
	plans, err := muxPlans(&rec, media)
	if err != nil || len(plans) == 0 {
		return
	}
	var fx vault.Effects
	for _, p := range plans {
		args, _ := json.Marshal(MuxArgs{Tenant: tenant, RecordingID: recordingID, MediaID: p.screen.MediaID})
		fx.Jobs = append(fx.Jobs, vault.Job{Tenant: tenant, Kind: KindMux, Args: args, Unique: true, MaxAttempts: 5})
	}
	if err := s.Store.Commit(ctx, fx); err != nil {
		s.log().Warn("cannot queue muxing", "tenant", tenant, "recording", recordingID, "err", err)
	}
}

// muxJob muxes one screen file with the call audio: both decrypted into
// pipes to ffmpeg, the output encrypted on its way into the store for the
// screen certificates; then the recording's entry of the screen file is
// replaced by the muxed file's (parameters.muxed_mediaIds naming both
// sources) and the screen file's object deleted. Every step can be run
// again after a crash.
func (s *Service) muxJob(ctx context.Context, run JobRun, a MuxArgs) error {
	if s.Video == nil {
		return errors.New("this server has no ffmpeg to mux with")
	}
	rec, media, err := s.Store.Recording(ctx, a.Tenant, a.RecordingID, vault.Access{All: true})
	if errors.Is(err, vault.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	plans, err := muxPlans(&rec, media)
	if err != nil {
		return err
	}
	find := func(id string) (vault.Media, bool) {
		j := slices.IndexFunc(media, func(m vault.Media) bool { return m.MediaID == id })
		if j < 0 {
			return vault.Media{}, false
		}
		return media[j], true
	}
	i := slices.IndexFunc(plans, func(p muxPlan) bool { return p.screen.MediaID == a.MediaID })
	if i < 0 {
		// Muxed already; a crash may have left the screen file's row.
		if screen, ok := find(a.MediaID); ok {
			if _, away := record.MuxedAway(rec.Doc, a.MediaID); away {
				if err := s.dropMuxedSource(ctx, a.Tenant, rec.ID, screen, nil); err != nil {
					return err
				}
			}
		}
		return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1})
	}
	p := plans[i]
	screen, _ := find(p.screen.MediaID)
	audioMedia, _ := find(p.audio.MediaID)
	muxedID := MuxedMediaID(p.screen.MediaID)
	started := s.now()
	muxed, ok := find(muxedID)
	if !ok {
		stored, err := s.muxInto(ctx, a.Tenant, rec.ID, muxedID, screen, audioMedia, p.screen.StartTime.Sub(p.audio.StartTime))
		if err != nil {
			return err
		}
		muxed = stored
	}
	// The entry: the screen file's, under the muxed id, naming its sources.
	var entry map[string]json.RawMessage
	if err := json.Unmarshal(p.screen.Raw, &entry); err != nil {
		return fmt.Errorf("cannot read the screen file's entry: %w", err)
	}
	params := map[string]json.RawMessage{}
	if raw, ok := entry["parameters"]; ok {
		_ = json.Unmarshal(raw, &params)
	}
	params["muxed_mediaIds"], _ = json.Marshal([]string{p.screen.MediaID, p.audio.MediaID})
	entry["parameters"], _ = json.Marshal(params)
	entry["mediaId"], _ = json.Marshal(muxedID)
	entry["type"] = json.RawMessage(`"video/mp4"`)
	err = s.Store.UpdateRecording(ctx, a.Tenant, rec.ID, func(r *vault.Recording, _ []vault.Media) error {
		doc, err := record.ReplaceMedia(r.Doc, p.screen.MediaID, entry)
		if err != nil {
			return err
		}
		r.Doc, r.UpdatedAt = doc, s.now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot record the muxed file: %w", err)
	}
	if err := s.dropMuxedSource(ctx, a.Tenant, rec.ID, screen, map[string]any{
		"screen": p.screen.MediaID, "audio": p.audio.MediaID, "muxed": muxedID, "sha256": muxed.SHA256}); err != nil {
		return err
	}
	s.log().Info("screen muxed", "tenant", a.Tenant, "recording", rec.ID, "screen", p.screen.MediaID, "audio", p.audio.MediaID,
		"muxed", muxedID, "size", muxed.Size, "took", s.now().Sub(started))
	return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1})
}

// dropMuxedSource removes the row of a screen file that a muxed file
// replaced, with the audit entry and the job deleting its object.
func (s *Service) dropMuxedSource(ctx context.Context, tenant, recordingID string, screen vault.Media, details map[string]any) error {
	if details == nil {
		details = map[string]any{"screen": screen.MediaID}
	}
	fx := vault.Effects{}.Add(s.entry(ctx, tenant, nil, "media.mux", recordingID, vault.OutcomeOK, audit.Canonical(details)))
	args, _ := json.Marshal(DeleteBlobsArgs{Tenant: tenant, Keys: []string{screen.BlobKey}})
	fx.Jobs = append(fx.Jobs, vault.Job{Tenant: tenant, Kind: KindDeleteBlobs, Args: args})
	if _, err := s.Store.DeleteMedia(ctx, tenant, recordingID, screen.MediaID, s.effects(fx)); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("cannot remove the screen file muxed: %w", err)
	}
	return nil
}

// muxInto runs ffmpeg over the decrypted screen and audio files and stores
// its output as mediaID, encrypted like any screen file.
func (s *Service) muxInto(ctx context.Context, tenant, recordingID, mediaID string, screen, audio vault.Media, audioOffset time.Duration) (vault.Media, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	video, err := s.openPlaintext(ctx, screen)
	if err != nil {
		return vault.Media{}, err
	}
	defer video.Close()
	sound, err := s.openPlaintext(ctx, audio)
	if err != nil {
		return vault.Media{}, err
	}
	defer sound.Close()
	pr, pw := io.Pipe()
	muxErr := make(chan error, 1)
	go func() {
		err := s.Video.Mux(ctx, video, sound, audioOffset, pw)
		pw.CloseWithError(err)
		muxErr <- err
	}()
	system := &vault.User{Tenant: tenant, Name: "", Roles: []vault.Role{vault.RoleRecorder}}
	res, err := s.PutMedia(ctx, system, PutMediaInput{RecordingID: recordingID, MediaID: mediaID, ContentType: "video/mp4", Size: -1, Body: pr})
	pr.CloseWithError(io.ErrClosedPipe)
	if mErr := <-muxErr; mErr != nil && err == nil {
		err = mErr
	}
	if err != nil {
		return vault.Media{}, fmt.Errorf("cannot mux %s with %s: %w", screen.MediaID, audio.MediaID, err)
	}
	return res.Media, nil
}

// openPlaintext streams a stored file's plaintext.
func (s *Service) openPlaintext(ctx context.Context, m vault.Media) (io.ReadCloser, error) {
	rc, err := s.Blobs.NewRangeReader(ctx, m.BlobKey, 0, -1)
	if err != nil {
		return nil, errf(err, "cannot read media %s", m.MediaID)
	}
	if !m.Encrypted {
		return rc, nil
	}
	key, err := s.keyFor(ctx, m.Tenant, m.CertAliases)
	if err != nil {
		rc.Close()
		return nil, err
	}
	dec, err := cms.NewReader(bufio.NewReaderSize(rc, 64<<10), key, nil)
	if err != nil {
		rc.Close()
		return nil, errf(err, "cannot decrypt media %s", m.MediaID)
	}
	return struct {
		io.Reader
		io.Closer
	}{dec, rc}, nil
}
