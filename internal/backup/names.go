package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"callvault/internal/apiclient"
	"callvault/internal/vault"
)

// Windows and macOS disks ignore case (and macOS also Unicode
// normalisation) in file names, so two names that differ only in that way
// are one file there. These checks keep a server from making rcbs write
// one recording's files over another's, or one media file over another.

// nameKey is the same for two names that are one file on a disk that
// ignores case and Unicode normalisation: each rune of the NFC form is
// replaced by the smallest rune of its simple case folding orbit, so
// nameKey(a) == nameKey(b) exactly when strings.EqualFold holds for
// their NFC forms.
func nameKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, norm.NFC.String(s))
}

// SameName reports whether a and b name one file on a disk that ignores
// case and Unicode normalisation: strings.EqualFold after NFC.
func SameName(a, b string) bool {
	return strings.EqualFold(norm.NFC.String(a), norm.NFC.String(b))
}

// checkMediaNames refuses a record whose media ids would share a file on
// such a disk: two ids equal but for case or normalisation, or one id
// listed twice. Ids refused on their own (checkMediaID) are never
// written, so they take part in no collision.
func checkMediaNames(rec apiclient.Recording) error {
	seen := make(map[string]string, len(rec.MediaFiles))
	for _, m := range rec.MediaFiles {
		if checkMediaID(rec.ID, m.MediaID) != nil {
			continue
		}
		key := nameKey(m.MediaID)
		prev, dup := seen[key]
		switch {
		case dup && prev == m.MediaID:
			return fmt.Errorf("the record lists media id %q twice", m.MediaID)
		case dup:
			return fmt.Errorf("media ids %q and %q differ only in case or Unicode normalisation, so on Windows and macOS they would be one file", prev, m.MediaID)
		}
		seen[key] = m.MediaID
	}
	return nil
}

// checkMediaID is vault.CheckMediaID, which refuses <recID>.json in any
// case, that also ignores Unicode normalisation, as macOS does.
func checkMediaID(recID, mediaID string) error {
	if err := vault.CheckMediaID("media id", recID, mediaID); err != nil {
		return err
	}
	if SameName(mediaID, recID+".json") {
		return fmt.Errorf("media id must not be %q: on macOS that is the recording's metadata file %s.json", mediaID, recID)
	}
	return nil
}

// ErrFolderOwned is the cause of a recording refused because its folder
// holds another recording's <id>.json.
var ErrFolderOwned = errors.New("the folder belongs to another recording")

// checkFolderOwner makes sure that the <recID>.json in dir, if there is
// one, is recID's: on a disk that ignores case, the folder and record of
// a recording R1 are also those of r1, and r1's files would land among
// R1's.
func checkFolderOwner(dir, recID string) error {
	path := filepath.Join(dir, recID+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read %s to see which recording it belongs to: %w", path, err)
	}
	return recordOwner(path, b, recID)
}

// recordOwner checks that b, the <recID>.json at path, is recID's record:
// its "id" is exactly recID. One that cannot be read is not taken as
// recID's either.
func recordOwner(path string, b []byte, recID string) error {
	var doc struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.ID == nil {
		return fmt.Errorf("%w: %s has no readable id, so rcbs cannot tell whose record it is; nothing written (move it away if it is damaged)", ErrFolderOwned, path)
	}
	if *doc.ID != recID {
		return fmt.Errorf("%w: %s is the record of %q, not of %q (on Windows and macOS, recordings whose ids differ only in case share a folder); nothing written", ErrFolderOwned, path, *doc.ID, recID)
	}
	return nil
}

// claimFolder waits until no other recording of this run is being
// written to a folder that is dir on a disk that ignores case, then holds
// it until release is called: two such recordings are handled one after
// the other, so that the second sees the first's <id>.json.
func (e *Engine) claimFolder(dir string) (release func()) {
	key := nameKey(dir)
	for {
		e.foldersMu.Lock()
		if e.folders == nil {
			e.folders = map[string]chan struct{}{}
		}
		busy, ok := e.folders[key]
		if !ok {
			done := make(chan struct{})
			e.folders[key] = done
			e.foldersMu.Unlock()
			return func() {
				e.foldersMu.Lock()
				delete(e.folders, key)
				e.foldersMu.Unlock()
				close(done)
			}
		}
		e.foldersMu.Unlock()
		<-busy
	}
}

// CheckFolderRoot refuses a recording folder (recordingFolderFormat for a
// stop time, slash-separated) whose first folder, in targetDir/<tenant>,
// would be one of the names rcbs keeps there: the manifests folder and
// the receipts file (and its temporary name). Date fields give digits, so
// only a format that starts with such literal text ('manifests'/yyyy)
// meets one.
func CheckFolderRoot(folder string) error {
	first, _, _ := strings.Cut(folder, "/")
	for _, own := range []struct{ name, what string }{
		{ManifestDir, "manifests folder"},
		{ReceiptsFile, "file of unsent receipts"},
		{"." + ReceiptsFile + vault.PartialSuffix, "temporary file of unsent receipts"},
	} {
		if SameName(first, own.name) {
			return fmt.Errorf("its first folder %q is the name of rcbs's own %s in targetDir/<tenant>; start the format with a date field or other text", first, own.what)
		}
	}
	return nil
}
