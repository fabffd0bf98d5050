// Command callvault is the recording vault: the server (init, serve, demo),
// certificate generation, and CMS encryption and decryption of recording
// files. The commands live in internal/cli, shared with rcbs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"callvault/internal/cli"
)

func main() {
	// Catching the signals lets a running command remove its temporary file
	// (and the server shut down gracefully) instead of dying mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
