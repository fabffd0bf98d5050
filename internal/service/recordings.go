package service

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"callvault/internal/access"
	"callvault/internal/certs"
	"callvault/internal/cms"
	"callvault/internal/record"
	"callvault/internal/vault"
)

// CMSType is the Content-Type of media that arrives encrypted already.
const CMSType = "application/pkcs7-mime"

// mediaUsages are the plaintext media types accepted (as
// vault.NormalizeMediaType names them), and which certificates encrypt
// each: voice for audio, screen for video. Nothing else is stored, so that
// playback never serves a type a browser would run (text/html, SVG, …).
var mediaUsages = map[string]vault.Usage{
	"audio/mp3":  vault.UsageVoice,
	"audio/wav":  vault.UsageVoice,
	"audio/ogg":  vault.UsageVoice,
	"audio/opus": vault.UsageVoice,
	"video/mp4":  vault.UsageScreen,
	"video/webm": vault.UsageScreen,
}

// MediaTypes lists the accepted plaintext media types.
func MediaTypes() []string {
	return slices.Sorted(maps.Keys(mediaUsages))
}

// AcceptedMediaType reports whether t (normalised) is a media type the
// server stores and plays.
func AcceptedMediaType(t string) bool {
	_, ok := mediaUsages[vault.NormalizeMediaType(t)]
	return ok
}

// PutMediaInput is one media upload.
type PutMediaInput struct {
	RecordingID string
	MediaID     string
	ContentType string // of the body: a media type above, or CMSType
	// MediaType is the plaintext type of a body that arrives encrypted;
	// guessed from the media id when empty.
	MediaType string
	Size      int64 // -1 when unknown (chunked upload)
	Body      io.Reader
	// Truncated says the file was cut short (srs crashed while writing
	// it): its complete part is recovered and stored as a proper file.
	Truncated bool
}

// PutMediaResult says what was stored.
type PutMediaResult struct {
	Media vault.Media
	// Created is false when the same file was stored already (a
	// recorder's retry): nothing changed.
	Created bool
	Warning string // e.g. stored unencrypted because no screen certificate is assigned
}

// upload is a media upload once its type is known: how it is stored.
type upload struct {
	media      vault.Media
	body       io.Reader
	cms        bool                // arrived encrypted; stored as it came
	recipients []*x509.Certificate // encrypt for these (plaintext uploads)
	openKey    *rsa.PrivateKey     // opens a CMS upload, for its content hash
	warning    string
	salvage    *salvage // a cut-short file being recovered (body is its plaintext)
}

// PutMedia stores one media file. Plaintext is encrypted on the way in for
// every certificate assigned for its kind, streaming, never held whole;
// CMS is stored as it came (and decrypted in the same pass, when a tenant
// key opens it, for its content hash). The object becomes visible, and
// the metadata row points to it, only once it is complete.
//
// Stored media are evidence and never replaced: the same file again is a
// no-op (Created false), other bytes for a stored media id are refused
// with ECONFLICT and the stored file stays.
func (s *Service) PutMedia(ctx context.Context, caller *vault.User, in PutMediaInput) (*PutMediaResult, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleRecorder, vault.RoleAgent); err != nil {
		return nil, err
	}
	if err := vault.CheckID("recording id", in.RecordingID); err != nil {
		return nil, err
	}
	if err := vault.CheckMediaID("media id", in.RecordingID, in.MediaID); err != nil {
		return nil, err
	}
	if !caller.HasRole(vault.RoleAdmin) && !caller.HasRole(vault.RoleRecorder) {
		// An agent's srs: only the screen file asked of them.
		if err := s.screenUploadAllowed(ctx, caller, in.RecordingID, in.MediaID); err != nil {
			return nil, err
		}
	}
	up, err := s.prepareUpload(ctx, caller.Tenant, in)
	if err != nil {
		return nil, err
	}
	if up.salvage != nil {
		defer up.salvage.stop()
		in.Size = -1 // what is stored is the salvaged part, not the body
	}
	m := &up.media
	// A stored file is compared with the upload, which is then only
	// hashed: no blob is written for a retry.
	if existing, found, err := s.storedMedia(ctx, caller.Tenant, in.RecordingID, in.MediaID); err != nil {
		return nil, err
	} else if found && existing.MediaID != in.MediaID {
		return nil, vault.Errorf(vault.EINVALID, "media id %q differs only in case from the stored media file %q", in.MediaID, existing.MediaID)
	} else if found {
		if err := s.hashUpload(up, in.Size); err != nil {
			return nil, err
		}
		return s.sameOrConflict(existing, up)
	}

	if res, ok, err := s.muxedAway(ctx, caller.Tenant, in.RecordingID, in.MediaID); err != nil || ok {
		return res, err
	}

	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	// A fresh key per upload: two racing uploads of one media id never
	// write to the same object; the store keeps the first.
	m.BlobKey = path.Join(caller.Tenant, in.RecordingID, in.MediaID, hex.EncodeToString(suffix))
	if err := s.writeBlob(ctx, up, in.Size); err != nil {
		return nil, err
	}
	existing, stored, err := s.Store.PutMedia(ctx, *m)
	if err != nil {
		s.deleteBlob(m.BlobKey)
		if errors.Is(err, vault.ErrConflict) {
			return nil, vault.Wrap(vault.ECONFLICT, err, "a certificate this file was encrypted for was deleted during the upload; nothing was stored: retry")
		}
		return nil, errf(err, "cannot record media %s", in.MediaID)
	}
	if !stored {
		// Another upload of this media id won the race.
		s.deleteBlob(m.BlobKey)
		return s.sameOrConflict(existing, up)
	}
	// Search by media type also finds media whose metadata has not come.
	if m.Type != "" {
		err := s.Store.UpdateRecording(ctx, caller.Tenant, in.RecordingID, func(r *vault.Recording, _ []vault.Media) error {
			if !slices.Contains(r.MediaTypes, m.Type) {
				r.MediaTypes = slices.Sorted(slices.Values(append(r.MediaTypes, m.Type)))
			}
			if r.CreatedAt.IsZero() {
				r.CreatedAt = s.now()
			}
			r.UpdatedAt = s.now()
			return nil
		})
		if err != nil {
			return nil, errf(err, "cannot index media %s", in.MediaID)
		}
	}
	s.log().Info("media stored", "tenant", caller.Tenant, "recording", in.RecordingID, "media", in.MediaID, "type", m.Type,
		"size", m.Size, "encrypted", m.Encrypted, "certAlias", m.CertAliases, "by", caller.Name, "salvaged", up.salvage != nil)
	s.queueMux(ctx, caller.Tenant, in.RecordingID)
	s.queueAnalysis(ctx, caller.Tenant, in.RecordingID)
	return &PutMediaResult{Media: *m, Created: true, Warning: up.warning}, nil
}

// prepareUpload decides how an upload is stored from its Content-Type:
// plaintext of an accepted type is encrypted for the certificates assigned
// for its kind; CMS is kept as it is, its plaintext type taken from
// X-Media-Type or the media id.
func (s *Service) prepareUpload(ctx context.Context, tenant string, in PutMediaInput) (*upload, error) {
	contentType, _, err := mime.ParseMediaType(in.ContentType)
	if err != nil {
		return nil, vault.Errorf(vault.EUNSUPPORTED, "Content-Type %q: give the media type, such as audio/mp3, video/mp4 or %s", in.ContentType, CMSType)
	}
	contentType = vault.NormalizeMediaType(contentType)
	up := &upload{media: vault.Media{Tenant: tenant, RecordingID: in.RecordingID, MediaID: in.MediaID, CreatedAt: s.now()}, body: in.Body}
	m := &up.media
	if contentType == CMSType {
		up.cms, m.Encrypted = true, true
		if m.Type, err = cmsMediaType(in.MediaType, in.MediaID); err != nil {
			return nil, err
		}
		br := bufio.NewReaderSize(in.Body, 64<<10)
		head, _ := br.Peek(64 << 10)
		ids, err := cms.Inspect(bytes.NewReader(head))
		if err != nil {
			return nil, vault.Wrap(vault.EINVALID, err, "the body is %s but not a CMS EnvelopedData message this server can open", CMSType)
		}
		if m.CertAliases, err = s.aliasesFor(ctx, tenant, ids); err != nil {
			return nil, err
		}
		if len(m.CertAliases) == 0 {
			up.warning = "none of this tenant's certificates is a recipient of the file: it is stored but cannot be played here, and its content hash is unknown"
		} else if up.openKey, err = s.keyFor(ctx, tenant, m.CertAliases); err != nil {
			return nil, err
		}
		up.body = br
		if in.Truncated {
			if err := s.salvageUpload(ctx, up); err != nil {
				return nil, err
			}
		}
		return up, nil
	}
	usage, ok := mediaUsages[contentType]
	if !ok {
		return nil, vault.Errorf(vault.EUNSUPPORTED, "media type %q is not accepted; use one of %s or %s", contentType, strings.Join(MediaTypes(), ", "), CMSType)
	}
	m.Type = contentType
	certList, aliases, err := s.encryptionCerts(ctx, tenant, usage)
	if err != nil {
		return nil, err
	}
	switch {
	case len(certList) > 0:
		m.Encrypted, m.CertAliases, up.recipients = true, aliases, certList
	case usage == vault.UsageScreen:
		// The guide: with no screen certificate, screen recordings are
		// not encrypted.
		up.warning = "no certificate is assigned for screen recordings: stored unencrypted"
	default:
		return nil, vault.Errorf(vault.ECONFLICT, "no valid certificate is assigned for voice recordings: upload one and assign it (POST /api/v2/certificates/{alias}/assign?usage=voice), then retry")
	}
	if in.Truncated {
		if err := s.salvageUpload(ctx, up); err != nil {
			return nil, err
		}
	}
	return up, nil
}

// cmsMediaType names the plaintext type of a pre-encrypted file: the
// X-Media-Type given, else a guess from the media id's extension. It must
// be a type the server accepts for plaintext too.
func cmsMediaType(given, mediaID string) (string, error) {
	if given != "" {
		t, _, err := mime.ParseMediaType(given)
		if err != nil || !AcceptedMediaType(t) {
			return "", vault.Errorf(vault.EUNSUPPORTED, "X-Media-Type %q is not accepted; use one of %s", given, strings.Join(MediaTypes(), ", "))
		}
		return vault.NormalizeMediaType(t), nil
	}
	lower := strings.ToLower(mediaID)
	for _, guess := range []struct{ ext, typ string }{
		{".mp3", "audio/mp3"}, {".wav", "audio/wav"}, {".ogg", "audio/ogg"}, {".opus", "audio/opus"},
		{".mp4", "video/mp4"}, {".webm", "video/webm"},
	} {
		if strings.Contains(lower, guess.ext) {
			return guess.typ, nil
		}
	}
	return "", vault.Errorf(vault.EUNSUPPORTED, "say what the encrypted file holds: X-Media-Type: one of %s", strings.Join(MediaTypes(), ", "))
}

// storedMedia returns the stored row of a media id, if any, or of one that
// differs from it only in case.
func (s *Service) storedMedia(ctx context.Context, tenant, recordingID, mediaID string) (vault.Media, bool, error) {
	_, media, err := s.Store.Recording(ctx, tenant, recordingID, vault.Access{All: true})
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Media{}, false, nil
	}
	if err != nil {
		return vault.Media{}, false, err
	}
	for _, m := range media {
		if m.MediaID == mediaID {
			return m, true, nil
		}
	}
	for _, m := range media {
		if strings.EqualFold(m.MediaID, mediaID) {
			return m, true, nil // the caller refuses it: only the case differs
		}
	}
	return vault.Media{}, false, nil
}

// sameOrConflict answers an upload of a media id that is stored already:
// the same file (the same stored bytes for CMS, the same plaintext
// otherwise) is a no-op; anything else is refused.
func (s *Service) sameOrConflict(existing vault.Media, up *upload) (*PutMediaResult, error) {
	m := &up.media
	same := false
	switch {
	case up.cms:
		same = m.SHA256 == existing.SHA256
	default:
		same = existing.ContentSHA256 != "" && m.ContentSHA256 == existing.ContentSHA256
	}
	if !same {
		s.log().Warn("refused to replace stored media", "tenant", m.Tenant, "recording", m.RecordingID, "media", m.MediaID,
			"storedSha256", existing.SHA256, "storedContentSha256", existing.ContentSHA256)
		return nil, vault.Errorf(vault.ECONFLICT, "media %s of recording %s is stored already with other content; stored media are never replaced", m.MediaID, m.RecordingID)
	}
	return &PutMediaResult{Media: existing}, nil
}

// hashUpload reads an upload to its end for its hashes only (a retry of a
// stored file): the SHA-256 of the bytes as sent, and of the plaintext
// for plaintext uploads.
func (s *Service) hashUpload(up *upload, size int64) error {
	h := sha256.New()
	n, err := io.Copy(h, up.body)
	if err == nil && size >= 0 && n != size {
		err = vault.Errorf(vault.EINVALID, "the body has %d bytes, Content-Length said %d", n, size)
	}
	if err != nil {
		return uploadError(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	up.media.SHA256 = sum
	if !up.cms {
		up.media.ContentSHA256 = sum
	}
	return nil
}

// writeBlob streams the upload into a new blob, encrypting it for the
// recipients when there are any, and fills Size, SHA256 (of the stored
// bytes) and ContentSHA256 (of the plaintext; for CMS uploads by
// decrypting them in the same pass). On any failure the blob write is
// aborted: nothing appears under the key.
func (s *Service) writeBlob(ctx context.Context, up *upload, size int64) error {
	m := &up.media
	storedType := m.Type
	if m.Encrypted {
		storedType = CMSType
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw, err := s.Blobs.NewWriter(wctx, m.BlobKey, storedType)
	if err != nil {
		return errf(err, "cannot store media")
	}
	stored := sha256.New()
	counter := &countingWriter{}
	writers := []io.Writer{bw, stored, counter}
	var content *contentHash
	if up.cms && up.openKey != nil {
		content = newCMSContentHash(up.openKey)
		writers = append(writers, content)
	}
	out := io.MultiWriter(writers...)
	plain := sha256.New()
	switch {
	case len(up.recipients) > 0:
		err = cms.Encrypt(out, io.TeeReader(up.body, plain), size, up.recipients, cms.Options{Cipher: cms.AES128CBC})
	default:
		var n int64
		n, err = io.Copy(out, up.body)
		if err == nil && size >= 0 && n != size {
			err = vault.Errorf(vault.EINVALID, "the body has %d bytes, Content-Length said %d", n, size)
		}
	}
	if content != nil {
		early := content.decryptErr()
		sum, decErr := content.finish(err)
		switch {
		case early != nil || err == nil && decErr != nil:
			err = vault.Wrap(vault.EINVALID, cmp.Or(early, decErr), "the file does not decrypt with the key of certificate %s; nothing was stored",
				strings.Join(m.CertAliases, ", "))
		case err == nil:
			m.ContentSHA256 = sum
		}
	}
	if err != nil {
		cancel()
		bw.Close() // aborts: the context is cancelled
		return uploadError(err)
	}
	if err := bw.Close(); err != nil {
		return errf(err, "cannot store media")
	}
	m.Size = counter.n
	m.SHA256 = hex.EncodeToString(stored.Sum(nil))
	switch {
	case len(up.recipients) > 0:
		m.ContentSHA256 = hex.EncodeToString(plain.Sum(nil))
	case !up.cms: // stored in clear: the stored bytes are the content
		m.ContentSHA256 = m.SHA256
	}
	return nil
}

// contentHash decrypts a CMS stream written to it, in a goroutine fed by
// a pipe, and hashes the plaintext: the content hash of a pre-encrypted
// upload without holding it or writing plaintext anywhere.
type contentHash struct {
	pw     *io.PipeWriter
	h      hash.Hash
	done   chan struct{}
	err    error        // the decrypter's, valid once done is closed
	failed atomic.Value // the decrypter's error, set before the pipe fails the writer
}

func newCMSContentHash(key *rsa.PrivateKey) *contentHash {
	pr, pw := io.Pipe()
	c := &contentHash{pw: pw, h: sha256.New(), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		_, err := cms.Decrypt(c.h, pr, key, nil)
		if err == nil {
			// Bytes after the message are stored as they came; read
			// them so the writer is not blocked.
			_, err = io.Copy(io.Discard, pr)
		}
		if err != nil {
			c.failed.Store(err)
		}
		c.err = err
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
	}()
	return c
}

// Write feeds the decrypter; it fails once decryption has failed, which
// stops the upload.
func (c *contentHash) Write(p []byte) (int, error) { return c.pw.Write(p) }

// decryptErr is the decrypter's error if it has failed already (so a
// failed write was its doing, not the client's).
func (c *contentHash) decryptErr() error {
	err, _ := c.failed.Load().(error)
	return err
}

// finish ends the stream (cut short when the upload failed) and returns
// the plaintext's hash.
func (c *contentHash) finish(uploadErr error) (string, error) {
	if uploadErr != nil {
		c.pw.CloseWithError(uploadErr)
	} else {
		c.pw.Close()
	}
	<-c.done
	if c.err != nil {
		return "", c.err
	}
	return hex.EncodeToString(c.h.Sum(nil)), nil
}

// uploadError keeps caller errors (body too large, size mismatch) and
// wraps the rest.
func uploadError(err error) error {
	var ve *vault.Error
	switch {
	case errors.As(err, &ve):
		return err
	case errors.Is(err, cms.ErrSize):
		return vault.Wrap(vault.EINVALID, err, "the body's length differs from its Content-Length")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return vault.Wrap(vault.EINVALID, err, "the upload was cut short; nothing was stored")
	}
	return errf(err, "cannot store media")
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func (s *Service) deleteBlob(key string) {
	s.played.forget(key)
	// Detached from the request: the clean-up must happen even when the
	// client has gone.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Blobs.Delete(ctx, key); err != nil {
		s.log().Warn("cannot delete blob", "key", key, "err", err)
	}
}

// aliasesFor returns the aliases of the tenant's certificates that the
// recipients name.
func (s *Service) aliasesFor(ctx context.Context, tenant string, ids []cms.RecipientID) ([]string, error) {
	list, err := s.Store.RecipientCertificates(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range list {
		cert, err := certs.ParseCertificatePEM([]byte(c.CertPEM))
		if err != nil {
			continue
		}
		for _, id := range ids {
			if id.Matches(cert) {
				out = append(out, c.Alias)
				break
			}
		}
	}
	return out, nil
}

// PutMetadata validates a metadata record (or piece of one) in the guide's
// format and merges it into the stored record. Access groups come from the
// recorded agents' hierarchies, the record's accessgroups and its
// partitions, as they are when the record is stored.
func (s *Service) PutMetadata(ctx context.Context, caller *vault.User, id string, body []byte) (*vault.Recording, []vault.Media, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleRecorder, vault.RoleAgent); err != nil {
		return nil, nil, err
	}
	if err := vault.CheckID("recording id", id); err != nil {
		return nil, nil, err
	}
	doc, err := record.Parse(id, body)
	if err != nil {
		return nil, nil, err
	}
	screenEntry := !caller.HasRole(vault.RoleAdmin) && !caller.HasRole(vault.RoleRecorder)
	if screenEntry {
		// An agent's srs merges the entry of its screen file, nothing else.
		if err := s.screenEntryAllowed(ctx, caller, id, body, doc); err != nil {
			return nil, nil, err
		}
	}
	// Media ids become file names on the backup client's disk.
	for i, mediaID := range doc.MediaIDs() {
		if err := vault.CheckMediaID(fmt.Sprintf("mediaFiles[%d].mediaId", i), id, mediaID); err != nil {
			return nil, nil, err
		}
	}
	tenant := caller.Tenant
	// Look the agents up before the transaction, so that it stays short.
	var stored json.RawMessage
	if cur, _, err := s.Store.Recording(ctx, tenant, id, vault.Access{All: true}); err == nil {
		stored = cur.Doc
	} else if !errors.Is(err, vault.ErrNotFound) {
		return nil, nil, err
	}
	preview, err := record.Merge(stored, doc)
	if err != nil {
		return nil, nil, err
	}
	idx, err := record.IndexOf(preview)
	if err != nil {
		return nil, nil, err
	}
	hierarchies := map[string]string{}
	for _, agent := range idx.Agents {
		if u, err := s.Store.User(ctx, tenant, agent); err == nil && u.AgentHierarchy != "" {
			hierarchies[agent] = u.AgentHierarchy
		}
	}
	// The facts of a call that has stopped are evidence: a recorder (the
	// media side, or a compromised account of it) may add to the record
	// but not move its times (which decide retention), parties or agents.
	fixed := !caller.HasRole(vault.RoleAdmin)
	var saved vault.Recording
	var savedMedia []vault.Media
	err = s.Store.UpdateRecording(ctx, tenant, id, func(r *vault.Recording, media []vault.Media) error {
		merged, err := record.Merge(r.Doc, doc)
		if err != nil {
			return err
		}
		idx, err := record.IndexOf(merged)
		if err != nil {
			return err
		}
		frozen := fixed && !r.StopTime.IsZero()
		if frozen {
			if what := changedFacts(r, idx); what != "" {
				return vault.Errorf(vault.ECONFLICT, "recording %s has stopped: its %s cannot be changed by a recorder", id, what)
			}
		}
		if err := caseCollision(doc.MediaIDs(), media); err != nil {
			return err
		}
		var hs []string
		for _, agent := range idx.Agents {
			if h, ok := hierarchies[agent]; ok {
				hs = append(hs, h)
			}
		}
		groups := access.RecordingGroups(hs, idx.AccessGroups, idx.Partitions)
		if frozen {
			// Who may see a stopped call is fixed too: a recorder cannot
			// widen it with new accessgroups (the groups stay as stored,
			// as DIFFERENCES.md says of later hierarchy changes).
			for _, g := range access.RecordingGroups(nil, idx.AccessGroups, nil) {
				if !slices.Contains(r.Groups, g) {
					return vault.Errorf(vault.ECONFLICT, "recording %s has stopped: its accessgroups cannot be widened by a recorder (%s)", id, g)
				}
			}
			groups = r.Groups
		}
		types := slices.Clone(idx.MediaTypes)
		for _, m := range media {
			if m.Type != "" {
				types = append(types, m.Type)
			}
		}
		r.Doc = merged
		r.StartTime, r.StopTime = idx.StartTime, idx.StopTime
		r.CallerPhoneNumber, r.DialedPhoneNumber = idx.Caller, idx.Dialed
		r.Agents = idx.Agents
		r.Partitions = idx.Partitions
		r.Groups = groups
		r.MediaTypes = slices.Compact(slices.Sorted(slices.Values(types)))
		if r.CreatedAt.IsZero() {
			r.CreatedAt = s.now()
		}
		r.UpdatedAt = s.now()
		saved, savedMedia = *r, media
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.log().Info("metadata stored", "tenant", tenant, "recording", id, "agents", saved.Agents, "groups", saved.Groups, "by", caller.Name)
	if !screenEntry {
		s.followRecording(ctx, tenant, &saved)
	}
	s.queueMux(ctx, tenant, id)
	s.queueAnalysis(ctx, tenant, id)
	return &saved, savedMedia, nil
}

// caseCollision refuses media ids that differ only in case from one
// another or from a stored media file of the recording: on the
// case-insensitive disks of Windows and macOS, rcbs would write both to
// one file.
func caseCollision(mediaIDs []string, stored []vault.Media) error {
	for i, a := range mediaIDs {
		for _, b := range mediaIDs[i+1:] {
			if a != b && strings.EqualFold(a, b) {
				return vault.Errorf(vault.EINVALID, "media ids %q and %q differ only in case", a, b)
			}
		}
		for _, m := range stored {
			if a != m.MediaID && strings.EqualFold(a, m.MediaID) {
				return vault.Errorf(vault.EINVALID, "media id %q differs only in case from the stored media file %q", a, m.MediaID)
			}
		}
	}
	return nil
}

// changedFacts names the first fact of a stored recording that the merged
// index changes: start or stop time, caller or dialed number, agents,
// partitions.
func changedFacts(r *vault.Recording, idx record.Index) string {
	// The store keeps times to the millisecond.
	ms := func(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
	switch {
	case !ms(idx.StartTime).Equal(ms(r.StartTime)):
		return "startTime"
	case !ms(idx.StopTime).Equal(ms(r.StopTime)):
		return "stopTime"
	case idx.Caller != r.CallerPhoneNumber:
		return "callerPhoneNumber"
	case idx.Dialed != r.DialedPhoneNumber:
		return "dialedPhoneNumber"
	case !slices.Equal(idx.Agents, r.Agents):
		return "agents"
	case !slices.Equal(idx.Partitions, r.Partitions):
		return "partitions"
	}
	return ""
}

// MaxSearchLimit bounds one page of search results.
const MaxSearchLimit = 1000

// Search returns a page of the recordings the caller may see, with their
// media.
func (s *Service) Search(ctx context.Context, caller *vault.User, f vault.SearchFilter) ([]vault.Recording, map[string][]vault.Media, error) {
	acc, err := viewer(caller)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > MaxSearchLimit:
		return nil, nil, vault.Errorf(vault.EINVALID, "limit must be between 1 and %d", MaxSearchLimit)
	}
	if err := s.record(ctx, s.entry(ctx, "", caller, "recording.search", "", vault.OutcomeOK, filterDetails(f))); err != nil {
		return nil, nil, err
	}
	recs, err := s.Store.SearchRecordings(ctx, caller.Tenant, f, acc)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	media, err := s.Store.MediaOf(ctx, caller.Tenant, ids)
	if err != nil {
		return nil, nil, err
	}
	return recs, media, nil
}

// Recording returns one recording the caller may see; the view is in the
// audit trail.
func (s *Service) Recording(ctx context.Context, caller *vault.User, id string) (*vault.Recording, []vault.Media, error) {
	r, media, err := s.recording(ctx, caller, id)
	if err != nil {
		return nil, nil, err
	}
	if err := s.record(ctx, s.entry(ctx, "", caller, "recording.view", id, vault.OutcomeOK, nil)); err != nil {
		return nil, nil, err
	}
	return r, media, nil
}

// recording is Recording without the audit entry, for callers that write
// their own (a play, a fetch, a deletion).
func (s *Service) recording(ctx context.Context, caller *vault.User, id string) (*vault.Recording, []vault.Media, error) {
	acc, err := viewer(caller)
	if err != nil {
		return nil, nil, err
	}
	r, media, err := s.Store.Recording(ctx, caller.Tenant, id, acc)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil, notVisible("recording", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return &r, media, nil
}

// MediaReader is stored or decrypted media, for random access.
type MediaReader struct {
	Media vault.Media
	io.ReaderAt
	Size    int64
	closeFn func() error
}

// Close releases the underlying blob reader.
func (m *MediaReader) Close() error { return m.closeFn() }

func (s *Service) findMedia(ctx context.Context, caller *vault.User, id, mediaID string) (*vault.Media, error) {
	_, media, err := s.recording(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	for i := range media {
		if media[i].MediaID == mediaID {
			return &media[i], nil
		}
	}
	return nil, notVisible("media file", mediaID)
}

// OpenStored opens a media file's stored bytes (encrypted as stored), for
// backup.
func (s *Service) OpenStored(ctx context.Context, caller *vault.User, id, mediaID string) (*MediaReader, error) {
	m, err := s.findMedia(ctx, caller, id, mediaID)
	if err != nil {
		return nil, err
	}
	ra := vault.NewBlobReaderAt(ctx, s.Blobs, m.BlobKey, m.Size)
	return &MediaReader{Media: *m, ReaderAt: ra, Size: m.Size, closeFn: ra.Close}, nil
}

// OpenPlay opens a media file decrypted with the tenant's key, for
// playback with seeking.
func (s *Service) OpenPlay(ctx context.Context, caller *vault.User, id, mediaID string) (*MediaReader, error) {
	mr, err := s.OpenStored(ctx, caller, id, mediaID)
	if err != nil || !mr.Media.Encrypted {
		return mr, err
	}
	if opened := s.played.get(mr.Media.BlobKey); opened != nil {
		plain := opened.Rebind(mr.ReaderAt)
		mr.ReaderAt, mr.Size = plain, plain.Size()
		return mr, nil
	}
	key, err := s.keyFor(ctx, caller.Tenant, mr.Media.CertAliases)
	if err != nil {
		mr.Close()
		return nil, err
	}
	plain, err := cms.NewReaderAt(mr.ReaderAt, mr.Size, key, nil)
	if err != nil {
		mr.Close()
		return nil, errf(err, "cannot open media %s for playback", mediaID)
	}
	s.played.put(mr.Media.BlobKey, plain)
	mr.ReaderAt, mr.Size = plain, plain.Size()
	return mr, nil
}

// DeleteRecording removes a recording, its metadata and its media (admins
// only, and only what they may see); a legal hold refuses it (ECONFLICT
// naming the hold).
func (s *Service) DeleteRecording(ctx context.Context, caller *vault.User, id string) error {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return err
	}
	if _, _, err := s.recording(ctx, caller, id); err != nil {
		return err
	}
	if err := s.deleteRecording(ctx, caller.Tenant, id, caller, map[string]any{"reason": "deleted by an administrator"}); err != nil {
		return err
	}
	s.log().Info("recording deleted", "tenant", caller.Tenant, "recording", id, "by", caller.Name)
	return nil
}

// ReplicaID names this process among the replicas: host, pid and a random
// part (a restarted process is a new holder).
func ReplicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}
