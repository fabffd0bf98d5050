package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/backup"
)

// Tests of the manifests every run writes and of rcbs check, against the
// real server, with the real openssl where a file is encrypted or
// decrypted.

// manifestsOf lists the complete manifests of the test tenant, in order.
func manifestsOf(t *testing.T, target string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(target, rcbsTenant, backup.ManifestDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // no two in one second in these tests
	return names
}

// manifest is one manifest read back: its lines and its seal, raw and
// decoded.
type manifest struct {
	path  string
	raw   []string // lines with their newlines
	lines []backup.ManifestLine
	seal  backup.ManifestSeal
}

func readManifest(t *testing.T, target, name string) *manifest {
	t.Helper()
	m := &manifest{path: filepath.Join(target, rcbsTenant, backup.ManifestDir, name)}
	b, err := os.ReadFile(m.path)
	if err != nil {
		t.Fatal(err)
	}
	m.raw = strings.SplitAfter(string(b), "\n")
	if m.raw[len(m.raw)-1] != "" {
		t.Fatalf("%s does not end with a newline", name)
	}
	m.raw = m.raw[:len(m.raw)-1]
	for i, l := range m.raw {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		var err error
		if i == len(m.raw)-1 {
			err = dec.Decode(&m.seal)
		} else {
			var ml backup.ManifestLine
			err = dec.Decode(&ml)
			m.lines = append(m.lines, ml)
		}
		if err != nil {
			t.Fatalf("%s line %d %q: %v", name, i+1, l, err)
		}
	}
	return m
}

// write puts the manifest back, with the seal's linesSha256 made to
// match its lines when reseal is true: a consistent forgery.
func (m *manifest) write(t *testing.T, reseal bool) {
	t.Helper()
	body := strings.Join(m.raw[:len(m.raw)-1], "")
	if reseal {
		sum := sha256.Sum256([]byte(body))
		m.seal.LinesSHA256 = hex.EncodeToString(sum[:])
		b, _ := json.Marshal(m.seal)
		m.raw[len(m.raw)-1] = string(b) + "\n"
	}
	if err := os.WriteFile(m.path, []byte(body+m.raw[len(m.raw)-1]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setLine replaces the line listing rel with l.
func (m *manifest) setLine(t *testing.T, rel string, l backup.ManifestLine) int {
	t.Helper()
	for i, ml := range m.lines {
		if ml.Path == rel {
			b, _ := json.Marshal(l)
			m.raw[i] = string(b) + "\n"
			m.lines[i] = l
			return i + 1
		}
	}
	t.Fatalf("%s does not list %s", m.path, rel)
	return 0
}

func fileSum(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), int64(len(b))
}

// relPath is the manifest path of a recording's file.
func relPath(rec *ingested, name string) string {
	return rec.stop.UTC().Format("2006/01/02/15") + "/" + rec.id + "/" + name
}

var checkSummary = regexp.MustCompile(`(?m)^(\d+) files verified, (\d+) missing, (\d+) altered, (\d+) undecryptable$`)

// wantCheck runs rcbs check with args and wants exit code and the
// summary numbers; it returns stdout.
func wantCheck(t *testing.T, code int, verified, missing, altered, undecryptable int, args ...string) string {
	t.Helper()
	r := runRCBS(t, rcbsPassword, nil, append([]string{"check"}, args...)...)
	want := fmt.Sprintf("%d files verified, %d missing, %d altered, %d undecryptable", verified, missing, altered, undecryptable)
	if all := checkSummary.FindAllString(r.stdout, -1); len(all) != 1 || all[0] != want {
		t.Errorf("check %v: summary %q, want %q\n%s", args, all, want, r.stdout)
	}
	if !strings.HasSuffix(r.stdout, want+"\n") {
		t.Errorf("check %v: the summary is not the last line:\n%s", args, r.stdout)
	}
	if r.code != code {
		t.Errorf("check %v: exit %d, want %d\n%s%s", args, r.code, code, r.stdout, r.stderr)
	}
	if code == 0 && r.stderr != "" {
		t.Errorf("check %v: stderr %q", args, r.stderr)
	}
	if code == 1 && (strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rcbs check: ")) {
		t.Errorf("check %v: stderr %q, want one line", args, r.stderr)
	}
	return r.stdout
}

// TestRCBSManifestChain: each run that writes files appends a manifest
// listing each file it wrote as written, chained to the one before; a run
// that writes nothing writes none.
func TestRCBSManifestChain(t *testing.T) {
	e := newVaultEnv(t, true)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	e.putRecording("M1", day.Add(9*time.Hour),
		testMedia{"m1.mp3", "audio/mp3", plaintext(1, 5000)}, testMedia{"m1.mp4", "video/mp4", plaintext(2, 7000)})
	e.putRecording("M2", day.Add(10*time.Hour), testMedia{"m2.mp3", "audio/mp3", plaintext(3, 3000)})
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-04", "minDate", "2026-03-05")...)
	backupOK(t, cfg, nil)

	names := manifestsOf(t, target)
	if len(names) != 1 || !regexp.MustCompile(`^\d{8}T\d{6}Z\.jsonl$`).MatchString(names[0]) {
		t.Fatalf("manifests %v", names)
	}
	first := readManifest(t, target, names[0])
	want := map[string]bool{}
	for id, rec := range e.recs {
		want[relPath(rec, id+".json")] = true
		for mediaID := range rec.media {
			want[relPath(rec, mediaID)] = true
		}
	}
	if len(first.lines) != len(want) || first.seal.Files != len(want) || first.seal.PrevManifest != "" || first.seal.PrevSHA256 != "" || first.seal.Recovered {
		t.Errorf("first manifest: %d lines, seal %+v; want %d files", len(first.lines), first.seal, len(want))
	}
	for _, l := range first.lines {
		if !want[l.Path] {
			t.Errorf("unexpected line %+v", l)
			continue
		}
		delete(want, l.Path)
		rec := e.recs[l.RecordingID]
		sum, size := fileSum(t, filepath.Join(target, rcbsTenant, filepath.FromSlash(l.Path)))
		if rec == nil || sum != l.SHA256 || size != l.Size {
			t.Errorf("line %+v: the file has %d bytes, SHA-256 %s", l, size, sum)
			continue
		}
		if m := rec.media[l.MediaID]; m != nil {
			plain := sha256.Sum256(m.plain)
			if l.ContentSHA256 != hex.EncodeToString(plain[:]) || l.Path != relPath(rec, l.MediaID) || l.SHA256 != m.sha256 {
				t.Errorf("media line %+v: want contentSha256 %x, sha256 %s", l, plain, m.sha256)
			}
		} else if l.MediaID != "" || l.ContentSHA256 != "" || l.Path != relPath(rec, rec.id+".json") {
			t.Errorf("record line %+v", l)
		}
	}
	body := strings.Join(first.raw[:len(first.raw)-1], "")
	if sum := sha256.Sum256([]byte(body)); first.seal.LinesSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("linesSha256 %s, want %x", first.seal.LinesSHA256, sum)
	}

	// Nothing new: no manifest.
	time.Sleep(1100 * time.Millisecond) // another second for the next name
	backupOK(t, cfg, nil)
	if got := manifestsOf(t, target); len(got) != 1 {
		t.Errorf("a run that wrote nothing wrote a manifest: %v", got)
	}

	// A new recording: a second manifest with its two files, chained.
	e.putRecording("M3", day.Add(11*time.Hour), testMedia{"m3.mp3", "audio/mp3", plaintext(4, 2000)})
	backupOK(t, cfg, nil)
	names = manifestsOf(t, target)
	if len(names) != 2 {
		t.Fatalf("manifests %v", names)
	}
	second := readManifest(t, target, names[1])
	prevSum, _ := fileSum(t, first.path)
	if second.seal.PrevManifest != names[0] || second.seal.PrevSHA256 != prevSum || second.seal.Files != 2 || len(second.lines) != 2 {
		t.Errorf("second manifest: seal %+v, lines %+v; want it chained to %s (%s)", second.seal, second.lines, names[0], prevSum)
	}
	if _, err := os.Stat(filepath.Join(target, rcbsTenant, backup.ManifestDir, names[1]+".partial")); err == nil {
		t.Error("partial left")
	}
	wantCheck(t, 0, 7, 0, 0, 0, "-target", target)
	wantCheck(t, 0, 7, 0, 0, 0, "-inkey", e.keyPath, "-config", cfg)
}

// TestRCBSCheckFindsDamage: a media file altered, one removed, a manifest
// line edited, a manifest removed from the middle of the chain or edited:
// each is named, the counts add up, exit 1; a clean target exits 0.
func TestRCBSCheckFindsDamage(t *testing.T) {
	e := newVaultEnv(t, false)
	day := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	ids := []string{"D1", "D2", "D3", "D4"}
	for i, id := range ids {
		e.putRecording(id, day.Add(time.Duration(8+i)*time.Hour), testMedia{strings.ToLower(id) + ".mp3", "audio/mp3", plaintext(uint64(10+i), 4000+i)})
	}
	target := t.TempDir()
	// Three runs, three manifests: D1 and D2, then D3, then D4.
	for i, end := range []string{"2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z", "2026-03-05T12:00:00Z"} {
		stop, _ := time.Parse(time.RFC3339, end)
		cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-05", "minDate", fmt.Sprint(stop.UnixMilli()))...)
		backupOK(t, cfg, nil)
		if i < 2 {
			time.Sleep(1100 * time.Millisecond)
		}
	}
	names := manifestsOf(t, target)
	if len(names) != 3 {
		t.Fatalf("manifests %v", names)
	}
	wantCheck(t, 0, 8, 0, 0, 0, "-target", target)
	wantCheck(t, 0, 8, 0, 0, 0, "-target", target, "-inkey", e.keyPath)
	pristine := t.TempDir()
	if err := os.CopyFS(pristine, os.DirFS(target)); err != nil {
		t.Fatal(err)
	}
	reset := func() {
		t.Helper()
		os.RemoveAll(target)
		if err := os.CopyFS(target, os.DirFS(pristine)); err != nil {
			t.Fatal(err)
		}
	}
	file := func(id string) string {
		return filepath.Join(recordDir(target, e.recs[id]), strings.ToLower(id)+".mp3")
	}
	mdir := filepath.Join(target, rcbsTenant, backup.ManifestDir)

	t.Run("altered, removed, line edited", func(t *testing.T) {
		reset()
		b, _ := os.ReadFile(file("D1"))
		b[100] ^= 0x40
		os.WriteFile(file("D1"), b, 0o644)
		os.Remove(file("D2"))
		// D3's record line says another recording: only the chain shows it.
		m := readManifest(t, target, names[1])
		l := m.lines[0]
		for _, ml := range m.lines {
			if ml.MediaID == "" {
				l = ml
			}
		}
		l.RecordingID = "D9"
		m.setLine(t, l.Path, l)
		m.write(t, false)
		out := wantCheck(t, 1, 6, 1, 1, 0, "-target", target)
		for _, say := range []string{
			"ALTERED       " + file("D1") + ": SHA-256 ",
			"MISSING       " + file("D2") + ": listed in manifests/" + names[0] + " line ",
			"CHAIN         " + filepath.Join(mdir, names[1]) + fmt.Sprintf(" line %d: linesSha256 ", len(m.raw)),
			fmt.Sprintf("but lines 1-%d hash to", len(m.raw)-1),
			"CHAIN         " + filepath.Join(mdir, names[2]) + " line 3: prevSha256 ",
			"but " + names[1] + " has SHA-256",
		} {
			if !strings.Contains(out, say) {
				t.Errorf("check does not say %q:\n%s", say, out)
			}
		}
		if n := strings.Count(out, "\n"); n != 5 {
			t.Errorf("%d lines, want 4 problems and the summary:\n%s", n, out)
		}
		// With the key: the same, and the altered file is not also counted
		// as undecryptable.
		wantCheck(t, 1, 6, 1, 1, 0, "-target", target, "-inkey", e.keyPath)
	})

	t.Run("a line edited to another hash", func(t *testing.T) {
		reset()
		m := readManifest(t, target, names[2])
		l := m.lines[0]
		if l.MediaID == "" {
			l = m.lines[1]
		}
		l.SHA256 = strings.Repeat("0", 64)
		line := m.setLine(t, l.Path, l)
		m.write(t, false)
		out := wantCheck(t, 1, 7, 0, 1, 0, "-target", target)
		if !strings.Contains(out, fmt.Sprintf("ALTERED       %s: SHA-256 %s, manifests/%s line %d says %s", file("D4"), e.recs["D4"].media["d4.mp3"].sha256, names[2], line, l.SHA256)) {
			t.Errorf("the edited line is not named:\n%s", out)
		}
		if !strings.Contains(out, "CHAIN         "+filepath.Join(mdir, names[2])+" line 3: linesSha256") {
			t.Errorf("the broken seal is not named:\n%s", out)
		}
	})

	t.Run("manifest removed from the middle", func(t *testing.T) {
		reset()
		os.Remove(filepath.Join(mdir, names[1]))
		// D3's media is checked against its record still; its record is
		// listed nowhere, so not counted.
		out := wantCheck(t, 1, 7, 0, 0, 0, "-target", target, "-v")
		if !strings.Contains(out, "CHAIN         "+filepath.Join(mdir, names[2])+" line 3: prevManifest "+names[1]+" is not in "+mdir+": a manifest was removed") {
			t.Errorf("the removal is not named:\n%s", out)
		}
		if !strings.Contains(out, "1 media file(s) listed in no manifest") {
			t.Errorf("no note of the unlisted file:\n%s", out)
		}
	})

	t.Run("first manifest edited", func(t *testing.T) {
		reset()
		m := readManifest(t, target, names[0])
		m.raw[0] = strings.Replace(m.raw[0], `"size":`, `"size": `, 1)
		m.write(t, true) // even with its own seal made to match
		out := wantCheck(t, 1, 8, 0, 0, 0, "-target", target)
		if !strings.Contains(out, "CHAIN         "+filepath.Join(mdir, names[1])+" line 3: prevSha256 ") {
			t.Errorf("the edit is not named:\n%s", out)
		}
	})

	t.Run("clean again", func(t *testing.T) {
		reset()
		wantCheck(t, 0, 8, 0, 0, 0, "-target", target)
	})
}

// TestRCBSCheckContent: a media file and its manifest line replaced
// consistently (the seal too) by a CMS file of other content passes
// without a key; with -inkey it is altered, and one encrypted for
// another key is undecryptable.
func TestRCBSCheckContent(t *testing.T) {
	e := newVaultEnv(t, false)
	day := time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
	e.putRecording("X1", day.Add(8*time.Hour), testMedia{"x1.mp3", "audio/mp3", plaintext(21, 6000)})
	e.putRecording("X2", day.Add(9*time.Hour), testMedia{"x2.mp3", "audio/mp3", plaintext(22, 6000)})
	e.putRecording("X3", day.Add(10*time.Hour), testMedia{"x3.mp3", "audio/mp3", plaintext(23, 6000)})
	target := t.TempDir()
	backupOK(t, rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-06", "minDate", "2026-03-07")...), nil)
	wantCheck(t, 0, 6, 0, 0, 0, "-target", target, "-inkey", e.keyPath)

	other := filepath.Join(t.TempDir(), "other.bin")
	os.WriteFile(other, plaintext(99, 6000), 0o644)
	strangerCert, _ := opensslCert(t, t.TempDir(), "stranger")
	m := readManifest(t, target, manifestsOf(t, target)[0])
	forge := func(id, cert string) string {
		rec := e.recs[id]
		path := filepath.Join(recordDir(target, rec), strings.ToLower(id)+".mp3")
		runOpenSSL(t, "cms", "-encrypt", "-binary", "-aes128", "-outform", "DER", "-in", other, "-out", path, cert)
		sum, size := fileSum(t, path)
		rel := relPath(rec, strings.ToLower(id)+".mp3")
		for _, l := range m.lines {
			if l.Path == rel {
				l.SHA256, l.Size = sum, size
				m.setLine(t, rel, l)
			}
		}
		return path
	}
	altered := forge("X1", e.certPath)
	undecryptable := forge("X2", strangerCert)
	m.write(t, true)

	// Without the key, nothing shows: the forgery is consistent.
	wantCheck(t, 0, 6, 0, 0, 0, "-target", target)
	out := wantCheck(t, 1, 4, 0, 1, 1, "-target", target, "-inkey", e.keyPath)
	plain := sha256.Sum256(plaintext(99, 6000))
	want := sha256.Sum256(e.recs["X1"].media["x1.mp3"].plain)
	for _, say := range []string{
		fmt.Sprintf("ALTERED       %s: decrypts to content with SHA-256 %x, manifests/", altered, plain),
		fmt.Sprintf("says contentSha256 %x", want),
		"UNDECRYPTABLE " + undecryptable + ": does not decrypt with the key: cms: no recipient matches the key",
	} {
		if !strings.Contains(out, say) {
			t.Errorf("check does not say %q:\n%s", say, out)
		}
	}
	// One worker gives the same answer.
	if again := wantCheck(t, 1, 4, 0, 1, 1, "-target", target, "-inkey", e.keyPath, "-workers", "1"); again != out {
		t.Errorf("-workers 1 answers otherwise:\n%s\n%s", again, out)
	}
}

// TestRCBSCheckLegacyTarget: a backup made before rcbs kept manifests
// (here: its manifests removed) is checked against its records, as
// rcbs check always did.
func TestRCBSCheckLegacyTarget(t *testing.T) {
	e := newVaultEnv(t, false)
	e.putRecording("L1", time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), testMedia{"l1.mp3", "audio/mp3", plaintext(31, 3000)})
	target := t.TempDir()
	backupOK(t, rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-07", "minDate", "2026-03-08")...), nil)
	os.RemoveAll(filepath.Join(target, rcbsTenant, backup.ManifestDir))
	wantCheck(t, 0, 1, 0, 0, 0, "-target", target, "-inkey", e.keyPath)
	file := filepath.Join(recordDir(target, e.recs["L1"]), "l1.mp3")
	b, _ := os.ReadFile(file)
	os.WriteFile(file, append(b, 0), 0o644)
	out := wantCheck(t, 1, 0, 0, 1, 0, "-target", target)
	if !strings.Contains(out, "ALTERED       "+file+": size ") || !strings.Contains(out, "record L1.json says") {
		t.Errorf("%s", out)
	}
	// An empty folder is no backup, but nothing in it is wrong.
	r := runRCBS(t, rcbsPassword, nil, "check", "-target", t.TempDir(), "-v")
	if r.code != 0 || !strings.Contains(r.stdout, "no manifest and no backed-up record") {
		t.Errorf("empty target: exit %d\n%s", r.code, r.stdout)
	}
	if r := runRCBS(t, rcbsPassword, nil, "check", "-target", target, "-passin", "pass:x"); r.code != 2 || r.stderr != "rcbs check: -passin needs -inkey\n" {
		t.Errorf("-passin alone: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestRCBSFolderFormatReserved: a recordingFolderFormat whose first
// folder is rcbs's own manifests folder is refused before anything runs.
func TestRCBSFolderFormatReserved(t *testing.T) {
	target := filepath.Join(t.TempDir(), "target")
	cfg := rcbsConfig(t, "gwsUriPrefix", "http://127.0.0.1:9/api/v2", "targetDir", filepath.ToSlash(target), "recordingFolderFormat", "'manifests'/yyyy")
	r := runRCBS(t, rcbsPassword, nil, "-config", cfg)
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "recordingFolderFormat") || !strings.Contains(r.stderr, "manifests") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("targetDir created")
	}
}
