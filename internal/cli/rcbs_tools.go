package cli

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"path/filepath"

	"callvault/internal/backup"
	"callvault/internal/backup/config"
)

// checkMain is "rcbs check": the chain of every tenant's manifests, every
// file they list (present, the size and SHA-256 written), and with a key,
// that every media file decrypts to its contentSha256.
type checkMain struct {
	app     *App
	target  string
	config  string
	key     keyFlags
	workers int
	verbose bool
}

// keyFlags are -inkey and -passin, as decrypt takes them.
type keyFlags struct{ inkey, passin string }

func (m *checkMain) ParseFlags(args []string) error {
	fs := newFlagSet("check")
	fs.StringVar(&m.target, "target", "", "the targetDir to check")
	fs.StringVar(&m.config, "config", "", "or: the config.properties whose targetDir to check")
	fs.StringVar(&m.key.inkey, "inkey", "", "private key, PEM: every media file must decrypt with it to its contentSha256 (default: no decryption)")
	fs.StringVar(&m.key.passin, "passin", "", "private key password source: pass:PASSWORD, env:VAR, file:PATH, fd:N or stdin")
	fs.IntVar(&m.workers, "workers", 0, "files read at once (default: the number of CPUs)")
	fs.BoolVar(&m.verbose, "v", false, "also print what is not wrong but worth knowing: unfinished downloads and manifests, files no manifest lists")
	positional, err := m.app.parseFlags(fs, "(-target DIR | -config config.properties) [-inkey KEY.pem [-passin SOURCE]] [-workers N] [-v]", args)
	if err != nil {
		return err
	}
	switch {
	case (m.target == "") == (m.config == ""):
		return usagef("give -target DIR or -config FILE")
	case m.key.passin != "" && m.key.inkey == "":
		return usagef("-passin needs -inkey")
	case m.workers < 0:
		return usagef("-workers must be 1 or more")
	}
	if err := checkPassSource(m.key.passin); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *checkMain) Run(ctx context.Context) error {
	if m.config != "" {
		cfg, err := config.Load(m.config)
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			return &usageError{msg: cfgErr.Error()}
		}
		if err != nil {
			return err
		}
		m.target = filepath.FromSlash(cfg.TargetDir)
	}
	var key *rsa.PrivateKey
	if m.key.inkey != "" {
		dm := &decryptMain{app: m.app, inkey: m.key.inkey, passin: m.key.passin}
		var err error
		if key, err = dm.readKey(); err != nil {
			return err
		}
	}
	res, err := backup.Check(ctx, m.target, backup.CheckOptions{Key: key, Workers: m.workers})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot check %s: %w", m.target, pathless(err))
	}
	if m.verbose {
		for _, n := range res.Notes {
			fmt.Fprintln(m.app.Stdout, "NOTE          "+n)
		}
	}
	for _, p := range res.Problems {
		fmt.Fprintln(m.app.Stdout, p.String())
	}
	fmt.Fprintln(m.app.Stdout, res.Summary())
	if !res.OK() {
		return fmt.Errorf("%d problem(s) found; each is named above", len(res.Problems))
	}
	return nil
}
