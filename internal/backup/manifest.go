package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Each run lists the files it wrote in a manifest,
// targetDir/<tenant>/manifests/<runEndUTC>.jsonl: one JSON line per file
// (ManifestLine), then a last line (ManifestSeal) that holds the SHA-256
// of the previous manifest's bytes and of this one's lines. The manifests
// of a tenant thus form a chain that rcbs check verifies: an edited line,
// an edited or removed manifest shows. The chain is only hashes, not
// signatures: someone who can write targetDir can rewrite every manifest
// from the edited one on.

const (
	// ManifestDir is the folder of a tenant's manifests, in
	// targetDir/<tenant>.
	ManifestDir = "manifests"
	// ReceiptsFile, in targetDir/<tenant>, holds the backup receipts not
	// sent yet.
	ReceiptsFile = ".rcbs-receipts.jsonl"

	manifestExt   = ".jsonl"
	manifestStamp = "20060102T150405Z"
)

// ManifestLine is one file a run wrote: its slash path relative to
// targetDir/<tenant>, its size and SHA-256 as written, and for media the
// contentSha256 (of the plaintext; "" when unknown) and the media id.
type ManifestLine struct {
	Path          string `json:"path"`
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256"`
	ContentSHA256 string `json:"contentSha256,omitempty"`
	RecordingID   string `json:"recordingId"`
	MediaID       string `json:"mediaId,omitempty"`
}

// ManifestSeal is a manifest's last line.
type ManifestSeal struct {
	// PrevManifest is the file name of the manifest before this one in
	// targetDir/<tenant>/manifests, "" for the first.
	PrevManifest string `json:"prevManifest"`
	// PrevSHA256 is the hex SHA-256 of that file's bytes, "" for the
	// first.
	PrevSHA256 string `json:"prevSha256"`
	// LinesSHA256 is the hex SHA-256 of this manifest's bytes before the
	// seal, newlines included.
	LinesSHA256 string `json:"linesSha256"`
	Files       int    `json:"files"`
	// Recovered marks a manifest a run left unfinished (it was stopped)
	// that the next run sealed.
	Recovered bool `json:"recovered,omitempty"`
}

// ManifestName is the file name of a manifest of a run that ended at t:
// 20261201T110203Z.jsonl, or with _N (N ≥ 2) when an earlier manifest
// has the same second, so that names sort in the order of the chain.
func ManifestName(t time.Time, n int) string {
	name := t.UTC().Format(manifestStamp)
	if n > 1 {
		name += "_" + strconv.Itoa(n)
	}
	return name + manifestExt
}

// parseManifestName reads a name ManifestName writes.
func parseManifestName(name string) (stamp string, n int, ok bool) {
	base, found := strings.CutSuffix(name, manifestExt)
	if !found {
		return "", 0, false
	}
	stamp, suffix, hasSuffix := strings.Cut(base, "_")
	if _, err := time.Parse(manifestStamp, stamp); err != nil || len(stamp) != len(manifestStamp) {
		return "", 0, false
	}
	n = 1
	if hasSuffix {
		v, err := strconv.Atoi(suffix)
		if err != nil || v < 2 || strconv.Itoa(v) != suffix {
			return "", 0, false
		}
		n = v
	}
	return stamp, n, true
}

// compareManifestNames orders names by their time, then their suffix.
func compareManifestNames(a, b string) int {
	sa, na, _ := parseManifestName(a)
	sb, nb, _ := parseManifestName(b)
	if c := strings.Compare(sa, sb); c != 0 {
		return c
	}
	return na - nb
}

// manifestFiles lists the manifests of dir in chain order, the
// unfinished ones (.partial) and the .jsonl files whose names rcbs does
// not write.
func manifestFiles(dir string) (complete, partial, foreign []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(name, manifestExt+".partial"):
			partial = append(partial, name)
		case strings.HasSuffix(name, manifestExt):
			if _, _, ok := parseManifestName(name); ok {
				complete = append(complete, name)
			} else {
				foreign = append(foreign, name)
			}
		}
	}
	slices.SortFunc(complete, compareManifestNames)
	slices.Sort(partial)
	return complete, partial, foreign, nil
}

// nextManifestName is the name for a manifest ending at t that sorts
// after every one in complete (sorted), even when the clock went back.
func nextManifestName(complete []string, t time.Time) string {
	stamp, n := t.UTC().Format(manifestStamp), 1
	if len(complete) > 0 {
		lastStamp, lastN, _ := parseManifestName(complete[len(complete)-1])
		if lastStamp >= stamp {
			stamp, n = lastStamp, lastN+1
		}
	}
	st, _ := time.Parse(manifestStamp, stamp)
	return ManifestName(st, n)
}

// Manifest is the manifest of one run, written as files are verified:
// each line is appended to manifests/<runStartUTC>.jsonl.partial as the
// file it lists is renamed into place, and Close seals it and gives it
// its final name. Nothing is created until the first line.
type Manifest struct {
	dir   string // targetDir/<tenant>/manifests
	start time.Time

	mu      sync.Mutex
	f       *os.File
	partial string
	lines   hash.Hash
	n       int
	err     error // the first failure; every later Add returns it
}

// NewManifest is the manifest of a run of the tenant folder tenantDir
// that started at start.
func NewManifest(tenantDir string, start time.Time) *Manifest {
	return &Manifest{dir: filepath.Join(tenantDir, ManifestDir), start: start, lines: sha256.New()}
}

// Add appends one line; safe for concurrent use.
func (m *Manifest) Add(l ManifestLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.f == nil {
		if m.err = m.open(); m.err != nil {
			return m.err
		}
	}
	// One write per line: a run that is killed leaves whole lines.
	if _, err := m.f.Write(b); err != nil {
		m.err = fmt.Errorf("cannot write the manifest %s: %w", m.partial, err)
		return m.err
	}
	m.lines.Write(b)
	m.n++
	return nil
}

func (m *Manifest) open() error {
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", m.dir, err)
	}
	for n := 1; ; n++ {
		m.partial = filepath.Join(m.dir, ManifestName(m.start, n)+".partial")
		f, err := os.OpenFile(m.partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
		if errors.Is(err, fs.ErrExist) && n < 1000 {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot create the manifest %s: %w", m.partial, err)
		}
		m.f = f
		return nil
	}
}

// Files is how many lines were added.
func (m *Manifest) Files() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// Close seals the manifest for a run that ended at end: its last line,
// an fsync, and the rename to its final name, which it returns ("" when
// no line was added: a run that wrote nothing writes no manifest).
func (m *Manifest) Close(end time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return "", m.err
	}
	f := m.f
	m.f = nil
	if m.err != nil {
		f.Close()
		return "", m.err // the partial stays; the next run seals it
	}
	name, err := seal(m.dir, f, m.partial, hex.EncodeToString(m.lines.Sum(nil)), m.n, end, false)
	if err != nil {
		m.err = err
	}
	return name, err
}

// seal appends the seal line to f, the partial manifest at partial with
// n lines that hash to linesSHA, chained to the newest complete manifest
// of dir; fsyncs, closes and renames it. It returns the final name.
func seal(dir string, f *os.File, partial, linesSHA string, n int, end time.Time, recovered bool) (string, error) {
	defer f.Close()
	complete, _, _, err := manifestFiles(dir)
	if err != nil {
		return "", fmt.Errorf("cannot list %s: %w", dir, err)
	}
	s := ManifestSeal{LinesSHA256: linesSHA, Files: n, Recovered: recovered}
	if len(complete) > 0 {
		s.PrevManifest = complete[len(complete)-1]
		if s.PrevSHA256, _, err = fileSHA256(filepath.Join(dir, s.PrevManifest)); err != nil {
			return "", fmt.Errorf("cannot read the previous manifest: %w", err)
		}
	}
	b, _ := json.Marshal(s)
	if _, err := f.Write(append(b, '\n')); err != nil {
		return "", fmt.Errorf("cannot write the manifest %s: %w", partial, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("cannot sync the manifest %s: %w", partial, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("cannot write the manifest %s: %w", partial, err)
	}
	name := nextManifestName(complete, end)
	if err := os.Rename(partial, filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("cannot rename the manifest %s: %w", partial, err)
	}
	return name, syncDir(dir)
}

// SealedPartial is an unfinished manifest that SealPartials sealed.
type SealedPartial struct {
	Partial, Name string
	Files         int
	// Dropped is how many bytes at its end were not whole lines (a run
	// killed while writing one) and were cut off.
	Dropped int64
}

// SealPartials seals the manifests that runs left unfinished in
// tenantDir (a run that was killed): the whole lines they hold are kept,
// chained to the newest complete manifest, and the manifest is named by
// the time it was last written. One with no whole line is removed.
func SealPartials(tenantDir string) ([]SealedPartial, error) {
	dir := filepath.Join(tenantDir, ManifestDir)
	_, partials, _, err := manifestFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	var out []SealedPartial
	for _, name := range partials {
		s, err := sealPartial(dir, name)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

func sealPartial(dir, name string) (SealedPartial, error) {
	path := filepath.Join(dir, name)
	sp := SealedPartial{Partial: name}
	data, err := os.ReadFile(path)
	if err != nil {
		return sp, fmt.Errorf("cannot read the unfinished manifest %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return sp, err
	}
	keep, n := wholeLines(data)
	sp.Files, sp.Dropped = n, int64(len(data)-keep)
	if n == 0 {
		if err := os.Remove(path); err != nil {
			return sp, fmt.Errorf("cannot remove the empty manifest %s: %w", path, err)
		}
		return sp, nil
	}
	if err := os.Truncate(path, int64(keep)); err != nil {
		return sp, fmt.Errorf("cannot repair the unfinished manifest %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return sp, fmt.Errorf("cannot repair the unfinished manifest %s: %w", path, err)
	}
	sum := sha256.Sum256(data[:keep])
	sp.Name, err = seal(dir, f, path, hex.EncodeToString(sum[:]), n, st.ModTime(), true)
	return sp, err
}

// wholeLines is the length of the longest prefix of data made of whole
// manifest lines (a seal line a run wrote before it was stopped is left
// out, to be written again), and how many.
func wholeLines(data []byte) (keep, n int) {
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			break
		}
		if _, ok := parseFileLine(data[off : off+end]); !ok {
			break
		}
		off += end + 1
		keep, n = off, n+1
	}
	return keep, n
}

// manifestEntry is any line of a manifest, to tell file lines from the
// seal and from what is neither.
type manifestEntry struct {
	Path          *string `json:"path"`
	Size          *int64  `json:"size"`
	SHA256        *string `json:"sha256"`
	ContentSHA256 string  `json:"contentSha256"`
	RecordingID   string  `json:"recordingId"`
	MediaID       string  `json:"mediaId"`

	PrevManifest *string `json:"prevManifest"`
	PrevSHA256   *string `json:"prevSha256"`
	LinesSHA256  *string `json:"linesSha256"`
	Files        *int    `json:"files"`
	Recovered    bool    `json:"recovered"`
}

// parseFileLine reads a file line (without its newline).
func parseFileLine(b []byte) (ManifestLine, bool) {
	var e manifestEntry
	if json.Unmarshal(b, &e) != nil || e.Path == nil || e.Size == nil || e.SHA256 == nil || *e.Path == "" || e.LinesSHA256 != nil {
		return ManifestLine{}, false
	}
	return ManifestLine{Path: *e.Path, Size: *e.Size, SHA256: *e.SHA256, ContentSHA256: e.ContentSHA256, RecordingID: e.RecordingID, MediaID: e.MediaID}, true
}

// parseSeal reads a seal line (without its newline).
func parseSeal(b []byte) (ManifestSeal, bool) {
	var e manifestEntry
	if json.Unmarshal(b, &e) != nil || e.LinesSHA256 == nil || e.PrevManifest == nil || e.PrevSHA256 == nil || e.Files == nil || e.Path != nil {
		return ManifestSeal{}, false
	}
	return ManifestSeal{PrevManifest: *e.PrevManifest, PrevSHA256: *e.PrevSHA256, LinesSHA256: *e.LinesSHA256, Files: *e.Files, Recovered: e.Recovered}, true
}

// manifestReader reads a manifest line by line, one line ahead, hashing
// the whole file and every line but the last.
type manifestReader struct {
	r      *bufio.Reader
	file   hash.Hash // every byte
	before hash.Hash // every line before the pending one
	line   []byte    // the pending line, newline included (none at its end: a cut-off line)
	no     int       // its number, from 1
}

func newManifestReader(r io.Reader) *manifestReader {
	return &manifestReader{r: bufio.NewReaderSize(r, 64<<10), file: sha256.New(), before: sha256.New()}
}

// next reads the following line and makes it pending, the one pending
// until now joining the lines before it. At the end it returns false and
// the last line stays pending (nil for an empty file).
func (m *manifestReader) next() (bool, error) {
	line, err := m.r.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	if len(line) == 0 {
		return false, nil
	}
	m.file.Write(line)
	if m.line != nil {
		m.before.Write(m.line)
	}
	m.line = line
	m.no++
	return true, nil
}
