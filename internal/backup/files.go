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
// proved of the media files there: size, modification time and SHA-256.
// A file whose size and modification time still match is not read again,
// so a run with nothing new does not re-hash the whole backup; a file that
// was changed on disk no longer matches and is hashed (and fetched again
// when it differs from the server's).
const VerifiedFile = ".rcbs-verified.json"

// verifiedFile is one entry of VerifiedFile.
type verifiedFile struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtimeNs"`
	SHA256  string `json:"sha256"`
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

func (v *verifiedSet) add(name, path, sha string) {
	if fi, err := os.Stat(path); err == nil {
		v.files[name] = verifiedFile{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), SHA256: sha}
		v.changed = true
	}
}

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

// media makes sure one media file is on disk, complete and verified. It
// reports skipped when the file was there already.
func (e *Engine) media(ctx context.Context, dir, recID string, m apiclient.MediaFile, verified *verifiedSet) (skipped bool, err error) {
	final := filepath.Join(dir, m.MediaID)
	wantSize := m.StoredSize()
	encryptHere := len(m.CertAlias) == 0
	if encryptHere && e.Options.EncryptFor == nil {
		return false, errors.New("arrived unencrypted and no encryptionCertificate is configured: not written, so that nothing lands in clear")
	}
	if m.SHA256 == "" || wantSize < 0 {
		return false, errors.New("the server gave no size or SHA-256 to verify against")
	}
	if fi, err := os.Stat(final); err == nil {
		if encryptHere {
			// Encrypted here with a fresh key: only its plaintext hash
			// was checked, before the rename that made it final.
			return true, nil
		}
		if verified.matches(m.MediaID, fi, m.SHA256, wantSize) {
			return true, nil
		}
		sum, size, err := fileSHA256(final)
		if err == nil && size == wantSize && sum == m.SHA256 {
			verified.add(m.MediaID, final, sum)
			return true, nil
		}
		e.Log.Warn("existing file differs from the server's; fetching it again", "recording", recID, "media", m.MediaID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	partial := partialName(final)
	open := func(offset int64) (io.ReadCloser, error) { return e.Client.OpenMedia(ctx, *m.MediaURI, offset) }
	if e.S3 != nil && m.StorageKey != "" {
		open = func(offset int64) (io.ReadCloser, error) { return e.S3.Open(ctx, m.StorageKey, offset) }
	}
	for attempt := 1; attempt <= 3; attempt++ {
		err = e.fetch(partial, open, wantSize, m.SHA256, encryptHere)
		if err == nil {
			break
		}
		if apiclient.IsAuth(err) || errors.Is(err, ErrS3Auth) || ctx.Err() != nil {
			return false, err
		}
		if errors.Is(err, errVerify) {
			os.Remove(partial) // start over, not from a bad prefix
		}
		e.Log.Warn("download attempt failed", "recording", recID, "media", m.MediaID, "attempt", attempt, "err", err)
	}
	if err != nil {
		return false, err
	}
	if err := os.Rename(partial, final); err != nil {
		return false, fmt.Errorf("cannot rename %s: %w", partial, err)
	}
	if !encryptHere {
		verified.add(m.MediaID, final, m.SHA256)
	}
	return false, syncDir(dir)
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
	var n int64
	if encryptHere {
		n, err = encryptTo(f, io.TeeReader(body, h), wantSize, e.Options.EncryptFor, e.Options.Cipher, e)
	} else {
		n, err = io.Copy(countingWriter{w: io.MultiWriter(f, h), e: e}, body)
	}
	if err != nil {
		return fmt.Errorf("cannot download: %w", err)
	}
	if got := offset + n; got != wantSize {
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
	if old, err := os.ReadFile(final); err == nil && bytes.Equal(old, doc) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	if err := writeAtomic(final, doc); err != nil {
		return false, err
	}
	e.Reporter.Transferred(int64(len(doc)))
	return true, nil
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
