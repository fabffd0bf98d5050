// Command srs is the Screen Recording Service of an agent desktop: it
// serves the desktop's loopback API, captures the screen during the
// agent's calls, encrypts it for the tenant's screen certificates and
// uploads it to the vault.
//
//	srs -config config.json
//	srs -version
//
// On Windows, started by the service control manager, it runs as a
// Windows service; elsewhere SIGINT and SIGTERM stop it cleanly (a capture
// in progress is closed and queued for upload).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"callvault/internal/srs"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // srs could not start or stopped on an error
	exitUsage  = 2 // bad flags or a bad config.json
)

func main() {
	if code, ok := runAsService(os.Args[1:]); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is srs with its arguments, until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("srs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", defaultConfig(), "the config.json file")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: srs [-config config.json] | srs -version")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "srs: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *version {
		fmt.Fprintln(stdout, srs.Version)
		return exitOK
	}
	cfg, err := srs.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "srs: %v\n", err)
		return exitUsage
	}
	// Best effort: an old kernel without the setting only costs memory.
	_ = srs.DisableHugePages()
	svc, err := srs.New(cfg, srs.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "srs: %v\n", err)
		return exitFailed
	}
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "srs: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// defaultConfig is config.json beside the executable, where the guide
// keeps it (a service starts in another working folder).
func defaultConfig() string {
	exe, err := os.Executable()
	if err != nil {
		return "config.json"
	}
	return filepath.Join(filepath.Dir(exe), "config.json")
}
