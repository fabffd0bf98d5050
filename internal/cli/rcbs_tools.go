package cli

import (
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
	"path/filepath"
	"strings"

	"callvault/internal/apiclient"
	"callvault/internal/backup/config"
	"callvault/internal/cms"
	"callvault/internal/vault"
)

// checkMain is "rcbs check": every downloaded media file must match the
// size and SHA-256 its record gives and open with the key.
type checkMain struct {
	app    *App
	target string
	config string
	key    keyFlags
}

// keyFlags are -inkey and -passin, as decrypt takes them.
type keyFlags struct{ inkey, passin string }

func (m *checkMain) ParseFlags(args []string) error {
	fs := newFlagSet("check")
	fs.StringVar(&m.target, "target", "", "the targetDir to check")
	fs.StringVar(&m.config, "config", "", "or: the config.properties whose targetDir to check")
	fs.StringVar(&m.key.inkey, "inkey", "", "private key that must open every file, PEM (required)")
	fs.StringVar(&m.key.passin, "passin", "", "private key password source: pass:PASSWORD, env:VAR, file:PATH, fd:N or stdin")
	positional, err := m.app.parseFlags(fs, "-inkey KEY.pem (-target DIR | -config config.properties) [-passin SOURCE]", args)
	if err != nil {
		return err
	}
	switch {
	case m.key.inkey == "":
		return usagef("-inkey is required")
	case (m.target == "") == (m.config == ""):
		return usagef("give -target DIR or -config FILE")
	}
	if err := checkPassSource(m.key.passin); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *checkMain) Run(ctx context.Context) error {
	if m.config != "" {
		cfg, err := config.Load(m.config)
		if err != nil {
			return err
		}
		m.target = filepath.FromSlash(cfg.TargetDir)
	}
	dm := &decryptMain{app: m.app, inkey: m.key.inkey, passin: m.key.passin}
	key, err := dm.readKey()
	if err != nil {
		return err
	}
	var ok, bad, missing, records int
	report := func(format string, args ...any) {
		fmt.Fprintf(m.app.Stdout, format+"\n", args...)
	}
	err = filepath.WalkDir(m.target, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := d.Name()
		switch {
		case d.IsDir():
			return nil
		case strings.HasSuffix(name, ".partial"):
			report("PARTIAL  %s (an unfinished download; the next run completes it)", path)
			return nil
		case !strings.HasSuffix(name, ".json") || strings.TrimSuffix(name, ".json") != filepath.Base(filepath.Dir(path)):
			return nil
		}
		records++
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rec apiclient.Recording
		if err := json.Unmarshal(raw, &rec); err != nil {
			bad++
			report("BAD      %s: not a readable record: %v", path, err)
			return nil
		}
		for _, mf := range rec.MediaFiles {
			if safeErr := vault.CheckMediaID("media id", rec.ID, mf.MediaID); safeErr != nil {
				bad++
				report("BAD      %s: media id %q: %v", path, mf.MediaID, safeErr)
				continue
			}
			file := filepath.Join(filepath.Dir(path), mf.MediaID)
			if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
				missing++
				report("MISSING  %s (not downloaded: pending, excluded by mediaTypePattern, or metadataOnly)", file)
				continue
			}
			if problem := checkMedia(file, mf, key); problem != "" {
				bad++
				report("BAD      %s: %s", file, problem)
				continue
			}
			ok++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot walk %s: %w", m.target, pathless(err))
	}
	report("checked %d records: %d media files ok, %d bad, %d not downloaded", records, ok, bad, missing)
	if bad > 0 {
		return fmt.Errorf("%d file(s) do not match their records or do not open with the key", bad)
	}
	return nil
}

// checkMedia compares a file with its record and decrypts it to nothing;
// it returns the problem, or "".
func checkMedia(path string, mf apiclient.MediaFile, key *rsa.PrivateKey) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	h := sha256.New()
	plain := sha256.New()
	// The hash sees every byte read from the file, by the decryption
	// and after it.
	if _, err := cms.Decrypt(plain, io.TeeReader(f, h), key, nil); err != nil {
		return "does not decrypt with the key: " + err.Error()
	}
	if got := hex.EncodeToString(plain.Sum(nil)); mf.ContentSHA256 != "" && got != mf.ContentSHA256 {
		return fmt.Sprintf("decrypts to content with SHA-256 %s, the record's contentSha256 is %s", got, mf.ContentSHA256)
	}
	if len(mf.CertAlias) == 0 {
		// Encrypted by rcbs itself (the server stored it in clear): its
		// bytes are not the server's; decryption is the check.
		return ""
	}
	if _, err := io.Copy(h, f); err != nil {
		return err.Error()
	}
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if want := mf.StoredSize(); want >= 0 && st.Size() != want {
		return fmt.Sprintf("size %d, the record says %d", st.Size(), want)
	}
	if got := hex.EncodeToString(h.Sum(nil)); mf.SHA256 != "" && got != mf.SHA256 {
		return fmt.Sprintf("SHA-256 %s, the record says %s", got, mf.SHA256)
	}
	return ""
}
