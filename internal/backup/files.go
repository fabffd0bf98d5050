package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"callvault/internal/apiclient"
	"callvault/internal/cms"
	"callvault/internal/vault"
)

// StateFile is where the end of the last completed period is kept.
const StateFile = "last_recording_endtime.txt"

// partialName is the temporary name of a download in progress: hidden,
// and never mistaken for a finished file.
func partialName(final string) string {
	return filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".partial")
}

// fileSHA256 hashes a file and returns its size too.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// VerifiedFile, in each recording folder, remembers what earlier runs
// proved of the media files there: size, modification time, SHA-256 and
// the server's contentSha256. A file whose size and modification time
// still match is not read again, so a run with nothing new does not
// re-hash the whole backup; a file that was changed on disk no longer
// matches and is hashed. The contentSha256 is what tells a re-wrapped file
// on the server (same content: replaced) from different content (kept).
const VerifiedFile = vault.VerifiedFileName

// verifiedFile is one entry of VerifiedFile.
type verifiedFile struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtimeNs"`
	SHA256  string `json:"sha256"` // of the bytes on disk
	// ContentSHA256 is the plaintext's, as the server gave it when the
	// copy was verified (or as rcbs hashed it, for media it encrypted
	// itself); "" when the server gave none.
	ContentSHA256 string `json:"contentSha256,omitempty"`
}

// verifiedSet is a folder's VerifiedFile in memory.
type verifiedSet struct {
	files   map[string]verifiedFile
	changed bool
}

func loadVerified(dir string) *verifiedSet {
	v := &verifiedSet{files: map[string]verifiedFile{}}
	if b, err := os.ReadFile(filepath.Join(dir, VerifiedFile)); err == nil {
		_ = json.Unmarshal(b, &v.files) // a damaged list only costs re-hashing
	}
	return v
}

// matches reports whether the file at path is the one recorded as
// verified with this SHA-256 and size.
func (v *verifiedSet) matches(name string, fi os.FileInfo, sha string, size int64) bool {
	rec, ok := v.files[name]
	return ok && rec.SHA256 == sha && rec.Size == size && fi.Size() == size && rec.ModTime == fi.ModTime().UnixNano()
}

func (v *verifiedSet) add(name, path, sha, contentSHA string) {
	if fi, err := os.Stat(path); err == nil {
		v.files[name] = verifiedFile{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: sha, ContentSHA256: contentSHA}
		v.changed = true
	}
}

// learnContent records a contentSha256 for an entry verified before rcbs
// kept them.
func (v *verifiedSet) learnContent(name, contentSHA string) {
	if f, ok := v.files[name]; ok && f.ContentSHA256 == "" && contentSHA != "" {
		f.ContentSHA256 = contentSHA
		v.files[name] = f
		v.changed = true
	}
}

// copyRecord is what rcbs recorded of a copy it verified: the SHA-256 of
// its bytes and the content's.
type copyRecord struct{ SHA256, ContentSHA256 string }

// priorRecord reads the mediaFiles of the <id>.json rcbs wrote in dir
// earlier: what the server said of each file when it was backed up. It
// stands in for .rcbs-verified.json entries that are missing or predate
// contentSha256.
func priorRecord(dir, recID string) map[string]copyRecord {
	out := map[string]copyRecord{}
	b, err := os.ReadFile(filepath.Join(dir, recID+".json"))
	if err != nil {
		return out
	}
	var doc struct {
		MediaFiles []apiclient.MediaFile `json:"mediaFiles"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return out
	}
	for _, m := range doc.MediaFiles {
		if m.MediaID != "" && m.SHA256 != "" && len(m.CertAlias) > 0 {
			out[m.MediaID] = copyRecord{SHA256: m.SHA256, ContentSHA256: m.ContentSHA256}
		}
	}
	return out
}

// recorded is what rcbs knows of its copy of mediaID: the verified entry,
// completed from <id>.json when it lacks the contentSha256.
func (v *verifiedSet) recorded(mediaID string, prior func() map[string]copyRecord) (copyRecord, bool) {
	fromJSON, inJSON := prior()[mediaID]
	f, ok := v.files[mediaID]
	if !ok || f.SHA256 == "" {
		return fromJSON, inJSON
	}
	r := copyRecord{SHA256: f.SHA256, ContentSHA256: f.ContentSHA256}
	if r.ContentSHA256 == "" && inJSON && fromJSON.SHA256 == r.SHA256 {
		r.ContentSHA256 = fromJSON.ContentSHA256
	}
	return r, true
}

// ErrContentChanged is the cause of every *ConflictError.
var ErrContentChanged = errors.New("the server's content differs from the verified copy")

// ConflictError is a media file whose bytes on the server differ from the
// verified copy on disk without the same contentSha256 to show that only
// the encryption changed. The copy on disk is kept as it is.
type ConflictError struct {
	RecordingID, MediaID string
	ServerContent        string // the server's contentSha256; "" when it gave none
	VerifiedSHA256       string // what rcbs verified of its copy; "" when unknown
	VerifiedContent      string // its contentSha256; "" when unknown
}

func (e *ConflictError) Error() string {
	why := "the server's content differs from the verified copy"
	switch {
	case e.VerifiedSHA256 == "":
		why = "the server's file differs from the copy on disk, which rcbs has no record of verifying"
	case e.ServerContent == "" || e.VerifiedContent == "":
		why = "the server's file differs from the verified copy, and no contentSha256 shows that its content is the same"
	}
	return fmt.Sprintf("recording %s, media %s: %s; the copy on disk was kept unchanged", e.RecordingID, e.MediaID, why)
}

func (e *ConflictError) Unwrap() error { return ErrContentChanged }

// mediaResult is what media did with a file.
type mediaResult int

const (
	mediaDownloaded mediaResult = iota // fetched: it was not on disk
	mediaSkipped                       // on disk and verified already
	mediaRewrapped                     // replaced by the server's re-wrapped file (same content)
	mediaRepaired                      // a copy damaged on disk fetched again
)

func (v *verifiedSet) save(dir string) error {
	if !v.changed {
		return nil
	}
	b, err := json.Marshal(v.files)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, VerifiedFile), b)
}

// media makes sure one media file is on disk, complete and verified. A
// file already under its final name is kept when it is the server's
// file; otherwise it is replaced only when the server's file has the same
// content as what rcbs verified (a re-wrap), or holds exactly the bytes
// rcbs verified (the copy was damaged on disk). Anything else is a
// *ConflictError and the copy stays as it is.
func (e *Engine) media(ctx context.Context, dir, recID string, m apiclient.MediaFile, verified *verifiedSet, prior func() map[string]copyRecord) (mediaResult, error) {
	final := filepath.Join(dir, m.MediaID)
	if err := within(e.Options.TargetDir, final); err != nil {
		return 0, err
	}
	wantSize := m.StoredSize()
	encryptHere := len(m.CertAlias) == 0
	if encryptHere && e.Options.EncryptFor == nil {
		return 0, errors.New("arrived unencrypted and no encryptionCertificate is configured: not written, so that nothing lands in clear")
	}
	if m.SHA256 == "" || wantSize < 0 {
		return 0, errors.New("the server gave no size or SHA-256 to verify against")
	}
	// Stored unencrypted, the server's sha256 is the plaintext's.
	content := m.ContentSHA256
	if encryptHere && content == "" {
		content = m.SHA256
	}
	result := mediaDownloaded
	if fi, err := os.Stat(final); err == nil {
		if encryptHere {
			// Encrypted here with a fresh key: its bytes are not the
			// server's, only its plaintext hash was checked, before the
			// rename that made it final. Different content is still told.
			if v, ok := verified.files[m.MediaID]; ok && v.ContentSHA256 != "" && v.ContentSHA256 != content {
				return 0, &ConflictError{RecordingID: recID, MediaID: m.MediaID, ServerContent: content, VerifiedSHA256: v.SHA256, VerifiedContent: v.ContentSHA256}
			}
			return mediaSkipped, nil
		}
		if verified.matches(m.MediaID, fi, m.SHA256, wantSize) {
			verified.learnContent(m.MediaID, m.ContentSHA256)
			return mediaSkipped, nil
		}
		sum, size, err := fileSHA256(final)
		if err != nil {
			return 0, fmt.Errorf("cannot read the copy on disk: %w", err)
		}
		if size == wantSize && sum == m.SHA256 {
			verified.add(m.MediaID, final, sum, m.ContentSHA256)
			return mediaSkipped, nil
		}
		known, ok := verified.recorded(m.MediaID, prior)
		intact := ok && sum == known.SHA256
		switch {
		case ok && known.SHA256 == m.SHA256:
			// The server still holds the very bytes rcbs verified: the
			// copy was changed on disk. Fetching them again loses nothing.
			result = mediaRepaired
			e.Log.Warn("the copy on disk no longer matches what rcbs verified; fetching the same file again", "recording", recID, "media", m.MediaID, "sha256", m.SHA256, "onDisk", sum)
		case ok && m.ContentSHA256 != "" && known.ContentSHA256 == m.ContentSHA256:
			// Same content, new encryption: a certificate rotation.
			result = mediaRewrapped
			if !intact {
				result = mediaRepaired
				e.Log.Warn("the copy on disk no longer matches what rcbs verified; fetching the server's file of the same content", "recording", recID, "media", m.MediaID, "contentSha256", m.ContentSHA256, "onDisk", sum)
			}
		default:
			return 0, &ConflictError{RecordingID: recID, MediaID: m.MediaID, ServerContent: m.ContentSHA256, VerifiedSHA256: known.SHA256, VerifiedContent: known.ContentSHA256}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	partial := partialName(final)
	open := func(offset int64) (io.ReadCloser, error) { return e.Client.OpenMedia(ctx, *m.MediaURI, offset) }
	if e.S3 != nil && m.StorageKey != "" {
		open = func(offset int64) (io.ReadCloser, error) { return e.S3.Open(ctx, m.StorageKey, offset) }
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		err = e.fetch(partial, open, wantSize, m.SHA256, encryptHere)
		if err == nil {
			break
		}
		if apiclient.IsAuth(err) || errors.Is(err, ErrS3Auth) || errors.Is(err, apiclient.ErrForeignURL) || ctx.Err() != nil {
			return 0, err
		}
		if errors.Is(err, errVerify) {
			os.Remove(partial) // start over, not from a bad prefix
		}
		e.Log.Warn("download attempt failed", "recording", recID, "media", m.MediaID, "attempt", attempt, "err", err)
	}
	if err != nil {
		return 0, err
	}
	old := verified.files[m.MediaID]
	if err := os.Rename(partial, final); err != nil {
		return 0, fmt.Errorf("cannot rename %s: %w", partial, err)
	}
	sum, size := m.SHA256, wantSize
	if encryptHere {
		// Its bytes are rcbs's own CMS, not the server's: listed as
		// written.
		if sum, size, err = fileSHA256(final); err != nil {
			return 0, fmt.Errorf("cannot read the file just written: %w", err)
		}
		verified.add(m.MediaID, final, sum, content)
	} else {
		verified.add(m.MediaID, final, m.SHA256, m.ContentSHA256)
	}
	if err := e.list(final, size, sum, content, recID, m.MediaID); err != nil {
		return 0, err
	}
	switch result {
	case mediaRewrapped:
		e.Log.Info("re-wrapped on the server (same content, new encryption): the verified copy was replaced", "recording", recID, "media", m.MediaID,
			"contentSha256", m.ContentSHA256, "oldSha256", old.SHA256, "sha256", m.SHA256, "certAlias", strings.Join(m.CertAlias, ","))
	case mediaRepaired:
		e.Log.Warn("damaged copy replaced by the server's verified file", "recording", recID, "media", m.MediaID, "sha256", m.SHA256)
	}
	return result, syncDir(dir)
}

var errVerify = errors.New("verification failed")

type countingWriter struct {
	w io.Writer
	e *Engine
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.e.Reporter.Transferred(int64(n))
	return n, err
}

// fetch downloads into partial what open gives (the API or S3), resuming
// a partial file of stored bytes by range, and verifies size and SHA-256
// before fsyncing it. Media encrypted here is checked on its plaintext as
// it streams, then written as CMS.
func (e *Engine) fetch(partial string, open func(offset int64) (io.ReadCloser, error), wantSize int64, wantSHA string, encryptHere bool) error {
	h := sha256.New()
	var offset int64
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if !encryptHere {
		if f, err := os.Open(partial); err == nil {
			n, err := io.Copy(h, f)
			f.Close()
			if err == nil && n <= wantSize {
				offset = n
				flags = os.O_WRONLY | os.O_APPEND
			} else {
				h.Reset()
			}
		}
	}
	if offset == wantSize && offset > 0 {
		if hex.EncodeToString(h.Sum(nil)) == wantSHA {
			return syncFile(partial)
		}
		return fmt.Errorf("%w: the partial file has the full size but another SHA-256", errVerify)
	}
	body, err := open(offset)
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.OpenFile(partial, flags, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", partial, err)
	}
	defer f.Close()
	// One byte more than the record says is enough to tell a wrong size:
	// a server that sends without end does not fill the disk.
	src := io.LimitReader(body, wantSize-offset+1)
	var n int64
	if encryptHere {
		n, err = encryptTo(f, io.TeeReader(src, h), wantSize, e.Options.EncryptFor, e.Options.Cipher, e)
	} else {
		n, err = io.Copy(countingWriter{w: io.MultiWriter(f, h), e: e}, src)
	}
	if err != nil {
		return fmt.Errorf("cannot download: %w", err)
	}
	if got := offset + n; got > wantSize {
		return fmt.Errorf("%w: more than the %d bytes the server said; the rest was not read", errVerify, wantSize)
	} else if got != wantSize {
		return fmt.Errorf("%w: %d bytes, the server said %d", errVerify, got, wantSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		return fmt.Errorf("%w: SHA-256 %s, the server said %s", errVerify, got, wantSHA)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", partial, err)
	}
	return f.Close()
}

// encryptTo writes size plaintext bytes of src to f as CMS for cert.
func encryptTo(f io.Writer, src io.Reader, size int64, cert *x509.Certificate, c cms.Cipher, e *Engine) (int64, error) {
	w, err := cms.NewWriter(countingWriter{w: f, e: e}, size, []*x509.Certificate{cert}, cms.Options{Cipher: c})
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, err
	}
	return n, w.Close()
}

// metadata writes <id>.json when it is missing or differs; it reports
// whether it wrote.
func (e *Engine) metadata(dir string, rec apiclient.Recording) (bool, error) {
	doc, err := filterRecord(rec.Raw, e.Options.Include, e.Options.Exclude)
	if err != nil {
		return false, err
	}
	final := filepath.Join(dir, rec.ID+".json")
	if old, err := os.ReadFile(final); err == nil {
		if bytes.Equal(old, doc) {
			return false, nil
		}
		// Never over another recording's record (a disk that ignores
		// case opens R1.json for r1.json).
		if err := recordOwner(final, old, rec.ID); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	if err := writeAtomic(final, doc); err != nil {
		return false, err
	}
	sum := sha256.Sum256(doc)
	if err := e.list(final, int64(len(doc)), hex.EncodeToString(sum[:]), "", rec.ID, ""); err != nil {
		return false, err
	}
	e.Reporter.Transferred(int64(len(doc)))
	return true, nil
}

// list adds the file just written at path to the run's manifest.
func (e *Engine) list(path string, size int64, sha, content, recID, mediaID string) error {
	if e.manifest == nil {
		return nil
	}
	rel, err := filepath.Rel(e.tenantDir, path)
	if err != nil {
		return err
	}
	if err := e.manifest.Add(ManifestLine{Path: filepath.ToSlash(rel), Size: size, SHA256: sha, ContentSHA256: content, RecordingID: recID, MediaID: mediaID}); err != nil {
		return fmt.Errorf("stored, but not listed in the manifest: %w", err)
	}
	return nil
}

// filterRecord keeps the attributes the include/exclude lists allow, in
// the order the server gave them, indented as the guide prints records.
func filterRecord(raw json.RawMessage, include, exclude []string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("the record is not a JSON object")
	}
	var keys []string
	values := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := values[key]; !dup {
			keys = append(keys, key)
		}
		values[key] = v
	}
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, k := range filterAttributes(keys, include, exclude) {
		if i > 0 {
			buf.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteString(":")
		buf.Write(values[k])
	}
	buf.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteString("\n")
	return out.Bytes(), nil
}

// writeAtomic writes data to a temporary name, fsyncs, and renames.
func writeAtomic(final string, data []byte) error {
	tmp := partialName(final)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", final, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write %s: %w", final, err)
	}
	return syncDir(filepath.Dir(final))
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // NTFS journals renames; directory handles cannot be flushed
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

// ReadState reads targetDir/last_recording_endtime.txt; nil when absent.
func ReadState(targetDir string) (*time.Time, error) {
	b, err := os.ReadFile(filepath.Join(targetDir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", StateFile, err)
	}
	t, err := ParseState(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", StateFile, err)
	}
	return &t, nil
}

// writeState records the end of the period now safely on disk.
func writeState(targetDir string, t time.Time) error {
	return writeAtomic(filepath.Join(targetDir, StateFile), []byte(FormatState(t)))
}
