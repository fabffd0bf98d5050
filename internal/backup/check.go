package backup

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"callvault/internal/apiclient"
	"callvault/internal/cms"
	"callvault/internal/vault"
)

// What rcbs check finds wrong.
const (
	ProblemMissing       = "MISSING"       // listed, not on disk
	ProblemAltered       = "ALTERED"       // another size or SHA-256 than listed, or decrypts to other content
	ProblemUndecryptable = "UNDECRYPTABLE" // the key does not open it
	ProblemChain         = "CHAIN"         // a manifest edited, removed or unreadable
)

// CheckOptions say how Check works.
type CheckOptions struct {
	// Key, when set, must open every media file, which must decrypt to
	// its contentSha256.
	Key *rsa.PrivateKey
	// Workers is how many files are read at once (default GOMAXPROCS).
	Workers int
}

// CheckProblem is one thing wrong: Kind is one of the Problem constants,
// Path the file (or the manifest, for the chain) and Detail what.
type CheckProblem struct {
	Kind, Path, Detail string
}

func (p CheckProblem) String() string {
	return fmt.Sprintf("%-13s %s: %s", p.Kind, p.Path, p.Detail)
}

// CheckResult is what Check found. Every file checked is counted once:
// verified, missing, altered or undecryptable.
type CheckResult struct {
	Verified, Missing, Altered, Undecryptable int
	Manifests                                 int
	// Problems are the chain's in the order of the chains, then the
	// files', by path.
	Problems []CheckProblem
	// Notes are what is worth knowing but not wrong: unfinished
	// downloads and manifests, files no manifest lists.
	Notes []string
}

// OK reports whether nothing is wrong.
func (r *CheckResult) OK() bool { return len(r.Problems) == 0 }

// Summary is the one closing line.
func (r *CheckResult) Summary() string {
	return fmt.Sprintf("%d files verified, %d missing, %d altered, %d undecryptable", r.Verified, r.Missing, r.Altered, r.Undecryptable)
}

// checkJob is one file to read.
type checkJob struct {
	path    string // on disk
	show    string // as reported
	size    int64  // -1: not known
	sha     string // "": not known
	content string // contentSha256; "": not known
	media   bool   // decrypted when there is a key
	source  string // what says so: "manifests/X.jsonl line 3", "record R1.json"
}

// listed is the newest manifest line of a path.
type listed struct {
	line   ManifestLine
	source string
}

// Check verifies a targetDir: for each tenant folder, the chain of its
// manifests; every file they list (the newest line of each path) for
// presence, size and SHA-256, and with a key that each media file
// decrypts to its contentSha256. Media files no manifest lists (backed up
// before rcbs kept manifests) are checked against their <id>.json as far
// as it tells. Files are read by a pool of workers, each streaming one
// file at a time through SHA-256 (and the decryption).
func Check(ctx context.Context, target string, opts CheckOptions) (*CheckResult, error) {
	entries, err := os.ReadDir(target)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{}
	var jobs []checkJob
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		tj, err := checkTenant(ctx, filepath.Join(target, e.Name()), res)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, tj...)
	}
	if len(jobs) == 0 && res.Manifests == 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%s holds no manifest and no backed-up record: is it a targetDir?", target))
	}
	fileProblems := runChecks(ctx, jobs, opts, res)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(fileProblems, func(a, b CheckProblem) int { return strings.Compare(a.Path, b.Path) })
	res.Problems = append(res.Problems, fileProblems...)
	return res, nil
}

// checkTenant verifies the chain of one tenant folder and returns the
// files to read.
func checkTenant(ctx context.Context, tenantDir string, res *CheckResult) ([]checkJob, error) {
	paths, err := checkChain(tenantDir, res)
	if err != nil {
		return nil, err
	}
	var jobs []checkJob
	keys := make([]string, 0, len(paths))
	for p := range paths {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	for _, p := range keys {
		l := paths[p]
		jobs = append(jobs, checkJob{
			path: filepath.Join(tenantDir, filepath.FromSlash(p)), show: filepath.Join(tenantDir, filepath.FromSlash(p)),
			size: l.line.Size, sha: l.line.SHA256, content: l.line.ContentSHA256, media: l.line.MediaID != "", source: l.source,
		})
	}
	legacy, err := unlistedFiles(ctx, tenantDir, paths, res)
	if err != nil {
		return nil, err
	}
	return append(jobs, legacy...), nil
}

// checkChain reads the manifests of tenantDir in order, reporting what
// breaks the chain, and returns the newest line of each path listed.
func checkChain(tenantDir string, res *CheckResult) (map[string]listed, error) {
	dir := filepath.Join(tenantDir, ManifestDir)
	complete, partials, foreign, err := manifestFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	paths := map[string]listed{}
	chain := func(name string, line int, format string, args ...any) {
		where := filepath.Join(dir, name)
		if line > 0 {
			where += fmt.Sprintf(" line %d", line)
		}
		res.Problems = append(res.Problems, CheckProblem{Kind: ProblemChain, Path: where, Detail: fmt.Sprintf(format, args...)})
	}
	for _, name := range foreign {
		chain(name, 0, "not a name rcbs gives a manifest (YYYYMMDDTHHMMSSZ.jsonl): not part of the chain")
	}
	present := map[string]bool{}
	for _, name := range complete {
		present[name] = true
	}
	prevName, prevSHA := "", ""
	for _, name := range complete {
		res.Manifests++
		fileSHA, err := readManifest(filepath.Join(dir, name), name, paths, chain, func(s ManifestSeal, line int) {
			switch {
			case s.PrevManifest == prevName && s.PrevSHA256 == prevSHA:
				// the link holds
			case s.PrevManifest == prevName && s.PrevSHA256 != prevSHA && prevName != "":
				chain(name, line, "prevSha256 %s, but %s has SHA-256 %s: that manifest was changed after this one was written", s.PrevSHA256, prevName, prevSHA)
			case s.PrevManifest == prevName && s.PrevSHA256 != prevSHA:
				chain(name, line, "prevSha256 %q for no previous manifest", s.PrevSHA256)
			case s.PrevManifest == "":
				chain(name, line, "the first manifest of its chain, but %s comes before it: the chain was spliced", prevName)
			case !present[s.PrevManifest]:
				chain(name, line, "prevManifest %s is not in %s: a manifest was removed", s.PrevManifest, dir)
			default:
				chain(name, line, "prevManifest %s, but the manifest before it is %s: a manifest was removed or renamed", s.PrevManifest, orNone(prevName))
			}
		})
		if err != nil {
			chain(name, 0, "cannot read: %v", err)
			prevName, prevSHA = name, ""
			continue
		}
		prevName, prevSHA = name, fileSHA
	}
	for _, name := range partials {
		// A run in progress, or one that stopped: its lines are the
		// newest, though not sealed yet.
		res.Notes = append(res.Notes, fmt.Sprintf("%s: an unfinished manifest (a run in progress, or one that stopped; the next run seals it); its lines are checked", filepath.Join(dir, name)))
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			chain(name, 0, "cannot read: %v", err)
			continue
		}
		r := newManifestReader(f)
		for {
			ok, err := r.next()
			if err != nil || !ok {
				break
			}
			if l, ok := parseFileLine(trimNewline(r.line)); ok && r.line[len(r.line)-1] == '\n' && checkListedPath(l.Path) == nil {
				paths[l.Path] = listed{line: l, source: fmt.Sprintf("%s line %d", filepath.Join(ManifestDir, name), r.no)}
			}
		}
		f.Close()
	}
	return paths, nil
}

func orNone(name string) string {
	if name == "" {
		return "none"
	}
	return name
}

// readManifest reads one manifest, recording its file lines in paths and
// reporting lines that are not manifest lines and a seal that does not
// hold; link checks a readable seal's prevManifest and prevSha256, which
// only the caller knows. It returns the SHA-256 of the file's bytes.
func readManifest(file, name string, paths map[string]listed, chain func(string, int, string, ...any), link func(ManifestSeal, int)) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := newManifestReader(f)
	var lines []listedLine
	more, err := r.next()
	for more && err == nil {
		cur, no := r.line, r.no
		if more, err = r.next(); err != nil || !more {
			break // cur is the last line
		}
		lines = append(lines, checkLine(name, cur, no, chain))
	}
	if err != nil {
		return "", err
	}
	fileSum := hex.EncodeToString(r.file.Sum(nil))
	if r.line == nil {
		chain(name, 0, "empty: no seal line")
		return fileSum, nil
	}
	last, lastNo := r.line, r.no
	s, ok := parseSeal(trimNewline(last))
	switch {
	case !ok:
		chain(name, lastNo, "the last line is not a seal {prevManifest, prevSha256, linesSha256, files}: the manifest was cut short or a line was added after it")
		lines = append(lines, checkLine(name, last, lastNo, chain))
	case last[len(last)-1] != '\n':
		chain(name, lastNo, "the seal has no newline at its end")
	}
	if ok {
		if got := hex.EncodeToString(r.before.Sum(nil)); s.LinesSHA256 != got {
			chain(name, lastNo, "linesSha256 %s, but lines 1-%d hash to %s: a line was edited, added or removed", s.LinesSHA256, lastNo-1, got)
		}
		if s.Files != lastNo-1 {
			chain(name, lastNo, "files %d, but %d lines come before the seal", s.Files, lastNo-1)
		}
		link(s, lastNo)
	}
	for _, l := range lines {
		if l.ok {
			paths[l.line.Path] = listed{line: l.line, source: fmt.Sprintf("%s line %d", filepath.Join(ManifestDir, name), l.no)}
		}
	}
	return fileSum, nil
}

// listedLine is one file line as read.
type listedLine struct {
	line ManifestLine
	no   int
	ok   bool
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// checkLine reads one file line, reporting one that is not.
func checkLine(name string, raw []byte, no int, chain func(string, int, string, ...any)) listedLine {
	l, ok := parseFileLine(trimNewline(raw))
	if !ok {
		chain(name, no, "not a manifest line {path, size, sha256, recordingId, …}")
		return listedLine{no: no}
	}
	if err := checkListedPath(l.Path); err != nil {
		chain(name, no, "path %q: %v", l.Path, err)
		return listedLine{no: no}
	}
	return listedLine{line: l, no: no, ok: true}
}

// checkListedPath refuses a path that is not a file below the tenant
// folder, nor one rcbs writes there.
func checkListedPath(p string) error {
	if p == "" || path.IsAbs(p) || strings.Contains(p, `\`) || path.Clean(p) != p {
		return errors.New("not a clean relative path")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return errors.New("leaves the tenant folder")
		}
	}
	if first, _, _ := strings.Cut(p, "/"); SameName(first, ManifestDir) {
		return errors.New("inside the manifests folder")
	}
	return nil
}

// unlistedFiles finds the media files below tenantDir that no manifest
// lists and that their record describes, and returns them to check
// against that record; other unlisted files become notes.
func unlistedFiles(ctx context.Context, tenantDir string, paths map[string]listed, res *CheckResult) ([]checkJob, error) {
	folders := map[string][]string{} // folder → unlisted file names
	err := filepath.WalkDir(tenantDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(tenantDir, p)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		switch {
		case d.IsDir():
			if rel == ManifestDir {
				return filepath.SkipDir
			}
			return nil
		case rel == ReceiptsFile, name == VerifiedFile:
			return nil
		case strings.HasSuffix(name, vault.PartialSuffix):
			res.Notes = append(res.Notes, fmt.Sprintf("%s: an unfinished download (the next run completes it)", p))
			return nil
		}
		if _, ok := paths[rel]; !ok {
			folders[filepath.Dir(p)] = append(folders[filepath.Dir(p)], name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot walk %s: %w", tenantDir, err)
	}
	dirs := make([]string, 0, len(folders))
	for d := range folders {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	var jobs []checkJob
	for _, dir := range dirs {
		names := folders[dir]
		recID := filepath.Base(dir)
		described := map[string]bool{recID + ".json": true}
		raw, err := os.ReadFile(filepath.Join(dir, recID+".json"))
		var rec apiclient.Recording
		if err == nil {
			err = json.Unmarshal(raw, &rec)
		}
		if err == nil {
			for _, m := range rec.MediaFiles {
				if vault.CheckMediaID("media id", rec.ID, m.MediaID) != nil || !slices.Contains(names, m.MediaID) {
					continue
				}
				described[m.MediaID] = true
				jobs = append(jobs, recordJob(dir, recID, m))
			}
		}
		for _, n := range names {
			if !described[n] {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: listed in no manifest and no record", filepath.Join(dir, n)))
			}
		}
	}
	if len(jobs) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: %d media file(s) listed in no manifest (backed up before rcbs kept manifests?) were checked against their records", tenantDir, len(jobs)))
	}
	return jobs, nil
}

// recordJob checks a media file against its record: size and SHA-256
// when the server stored it encrypted (rcbs keeps those bytes), and the
// content's SHA-256 when decrypting (the server's plaintext hash, for a
// file rcbs encrypted itself).
func recordJob(dir, recID string, m apiclient.MediaFile) checkJob {
	p := filepath.Join(dir, m.MediaID)
	j := checkJob{path: p, show: p, size: -1, content: m.ContentSHA256, media: true, source: "record " + recID + ".json"}
	if len(m.CertAlias) > 0 {
		j.size, j.sha = m.StoredSize(), m.SHA256
	} else if j.content == "" {
		j.content = m.SHA256
	}
	return j
}

// runChecks reads the files with a pool of workers and counts them in
// res; it returns their problems.
func runChecks(ctx context.Context, jobs []checkJob, opts CheckOptions, res *CheckResult) []CheckProblem {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(jobs)))
	var (
		mu       sync.Mutex
		problems []CheckProblem
		wg       sync.WaitGroup
	)
	ch := make(chan checkJob)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newCheckWorker(opts.Key)
			for j := range ch {
				kind, detail := w.check(j)
				mu.Lock()
				switch kind {
				case "":
					res.Verified++
				case ProblemMissing:
					res.Missing++
				case ProblemAltered:
					res.Altered++
				case ProblemUndecryptable:
					res.Undecryptable++
				}
				if kind != "" {
					problems = append(problems, CheckProblem{Kind: kind, Path: j.show, Detail: detail})
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	return problems
}

// checkWorker reads one file at a time with its own buffer: its memory
// does not grow with the files.
type checkWorker struct {
	key  *rsa.PrivateKey
	buf  []byte
	br   *bufio.Reader
	tee  teeHash
	file hashWriter
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
}

// teeHash passes reads of r through h.
type teeHash struct {
	r io.Reader
	h io.Writer
}

func (t *teeHash) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.h.Write(p[:n])
	}
	return n, err
}

func newCheckWorker(key *rsa.PrivateKey) *checkWorker {
	w := &checkWorker{key: key, buf: make([]byte, 64<<10), file: sha256.New()}
	w.tee.h = w.file
	w.br = bufio.NewReaderSize(&w.tee, 64<<10)
	return w
}

// check reads one file: the problem's kind ("" when none) and what it
// is.
func (w *checkWorker) check(j checkJob) (kind, detail string) {
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return ProblemMissing, "listed in " + j.source + ", not on disk"
	}
	if err != nil {
		return ProblemAltered, "cannot be read: " + pathlessErr(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ProblemAltered, "cannot be read: " + pathlessErr(err)
	}
	if !st.Mode().IsRegular() {
		return ProblemAltered, "not a regular file (" + st.Mode().Type().String() + ")"
	}
	if j.size >= 0 && st.Size() != j.size {
		return ProblemAltered, fmt.Sprintf("size %d, %s says %d", st.Size(), j.source, j.size)
	}
	w.file.Reset()
	var plain string
	var decryptErr error
	if j.media && w.key != nil {
		w.tee.r = f
		w.br.Reset(&w.tee)
		h := sha256.New()
		if _, decryptErr = cms.Decrypt(h, w.br, w.key, nil); decryptErr == nil {
			plain = hex.EncodeToString(h.Sum(nil))
		}
		// Whatever the decryption left unread still counts in the
		// file's hash.
		if _, err := io.CopyBuffer(w.file, onlyReader{f}, w.buf); err != nil {
			return ProblemAltered, "cannot be read: " + pathlessErr(err)
		}
		w.tee.r = nil
	} else if _, err := io.CopyBuffer(w.file, onlyReader{f}, w.buf); err != nil {
		return ProblemAltered, "cannot be read: " + pathlessErr(err)
	}
	if got := hex.EncodeToString(w.file.Sum(nil)); j.sha != "" && got != j.sha {
		return ProblemAltered, fmt.Sprintf("SHA-256 %s, %s says %s", got, j.source, j.sha)
	}
	switch {
	case decryptErr != nil:
		return ProblemUndecryptable, "does not decrypt with the key: " + decryptErr.Error()
	case plain != "" && j.content != "" && plain != j.content:
		return ProblemAltered, fmt.Sprintf("decrypts to content with SHA-256 %s, %s says contentSha256 %s", plain, j.source, j.content)
	}
	return "", ""
}

// onlyReader hides WriterTo/ReaderFrom so that CopyBuffer uses the
// worker's buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// pathlessErr is err's message without the path, which the report
// already names.
func pathlessErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
